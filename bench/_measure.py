"""Whole-process timing for the benchmarks: wall time, CPU time and peak memory of a command.

A command is started with an empty standard input and its output thrown away; its figures are
the operating system's own (os.wait4). Two commands are compared in pairs, run in turn
(A B A B ...), the ratio taken pair by pair, so that a machine whose speed drifts (other work
on it) moves both sides of a ratio alike. Every figure is a median. Nothing is asserted.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds, the waited-for children included
    peak_mb: float  # the largest resident set of the process or one of its children


class CommandFailed(RuntimeError):
    pass


def run(command: Sequence[str], env: Mapping[str, str] | None = None) -> Run:
    """One run of `command`; CommandFailed with its output when it exits non-zero."""
    with tempfile.TemporaryFile() as output:
        start = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            output.seek(0)
            text = output.read().decode("utf-8", "replace")[-2000:]
            raise CommandFailed(f"{' '.join(command)}: exit {process.returncode}\n{text}")
    # ru_maxrss is in kilobytes on Linux
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def median_run(runs: Sequence[Run]) -> Run:
    return Run(
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        statistics.median(r.peak_mb for r in runs),
    )


@dataclass(frozen=True, slots=True)
class Pair:
    a: Run  # medians
    b: Run
    ratio: float  # median of the pairs' wall-time ratios a / b
    ratios: tuple[float, ...]


def paired(
    a: Sequence[str],
    b: Sequence[str],
    runs: int,
    warmup: int = 1,
    env: Mapping[str, str] | None = None,
) -> Pair:
    """`a` and `b` run in turn, `runs` times each after `warmup` uncounted runs of each."""
    for _ in range(warmup):
        run(a, env)
        run(b, env)
    a_runs, b_runs = [], []
    for _ in range(runs):
        a_runs.append(run(a, env))
        b_runs.append(run(b, env))
    ratios = tuple(x.wall / y.wall for x, y in zip(a_runs, b_runs, strict=True))
    return Pair(median_run(a_runs), median_run(b_runs), statistics.median(ratios), ratios)


def repeated(command: Sequence[str], runs: int, warmup: int = 1) -> Run:
    for _ in range(warmup):
        run(command)
    return median_run([run(command) for _ in range(runs)])


def verdict(value: float, target: float) -> str:
    """`within` or `OVER`, for a figure whose target is an upper bound."""
    return "within" if value <= target else "OVER"
