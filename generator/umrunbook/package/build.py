"""The change package: every appliance's documents and files, and the fleet files.

`render_fleet` is the library's entry point; it knows nothing of the command line. It
renders appliances in parallel processes, and only those whose inputs changed since the
package in the output folder was written.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from umrunbook.catalogue.procedure import Catalogue
from umrunbook.errors import (
    INTERRUPTED_BEFORE,
    INTERRUPTED_NOTHING,
    Interrupted,
    UserError,
)
from umrunbook.faces.registry import RenderOptions, face
from umrunbook.inventory.model import Inventory
from umrunbook.package.fingerprint import plan_fingerprint
from umrunbook.package.ownership import (
    LEGACY_FINGERPRINTS,
    ApplianceRecord,
    Ownership,
    sha256_file,
)
from umrunbook.package.signals import ignored_by_children, signals_deferred
from umrunbook.package.write import package_folder, prepare, write_package_atomically
from umrunbook.planning.bind import plan_fleet
from umrunbook.planning.night import NightPlan, night_plan
from umrunbook.planning.plan import PLANNED, Plan

# Written again by every command that changes the package: they describe all of it.
FLEET_FILES = frozenset({"index.html", "fleet.csv"})

Progress = Callable[[str, str], None]  # (appliance name, "rendered" or "unchanged")


@dataclass(frozen=True, slots=True)
class RenderResult:
    out_dir: Path
    plans: tuple[Plan, ...]
    files: tuple[str, ...]
    rendered: tuple[str, ...]
    unchanged: tuple[str, ...]
    notes: tuple[str, ...] = ()  # what the operator should know: files changed by hand...


def select(plans: Sequence[Plan], only: Sequence[str]) -> tuple[Plan, ...]:
    if not only:
        return tuple(plans)
    names = {p.appliance.name.lower(): p for p in plans}
    unknown = [name for name in only if name.lower() not in names]
    if unknown:
        raise UserError(
            f"--only: no appliance named {', '.join(unknown)} in the inventory\n"
            f"  hint: the inventory names {', '.join(p.appliance.name for p in plans)}"
        )
    wanted = {name.lower() for name in only}
    return tuple(p for p in plans if p.appliance.name.lower() in wanted)


def appliance_files(
    plan: Plan, options: RenderOptions, night: NightPlan | None = None, readiness: str = ""
) -> dict[str, bytes]:
    """The files of one appliance, keyed by their path inside the package; `night` is the
    fleet's night plan (its times depend on the appliances before this one); `readiness`
    what its readiness run found (ingest's), for the night plan."""
    if plan.state != PLANNED:
        return {}
    from umrunbook.faces.transfer import transfer_files
    from umrunbook.faces.view import runbook_view

    name = plan.appliance.name
    files: dict[str, bytes] = {}
    view = runbook_view(plan, night=night, readiness=readiness)
    for fmt in options.formats:
        files[f"{name}/runbook.{fmt}"] = face(fmt).renderer()(view, options)
    for hop in plan.hops:
        files[f"{name}/{hop.folder}agent/{hop.agent.name}"] = hop.agent.text.encode("utf-8")
    files.update(transfer_files(plan))
    return files


def _fleet_index(
    plans: Sequence[Plan],
    files: dict[str, bytes],
    night: NightPlan | None = None,
    readiness: Mapping[str, str] | None = None,
) -> dict[str, bytes]:
    from umrunbook.faces.index import render_index

    return {"index.html": render_index(plans, files, readiness=readiness, night=night)}


def fleet_csv(plans: Sequence[Plan]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["name", "host", "version", "target", "route", "state", "runbook"])
    for plan in plans:
        a = plan.appliance
        runbook = f"{a.name}/runbook.md" if plan.state == PLANNED else ""
        writer.writerow(
            [
                a.name,
                a.host,
                str(a.version),
                plan.target.short,
                plan.route_text,
                plan.state,
                runbook,
            ]
        )
    return buffer.getvalue().encode("utf-8")


def executable_files(names: Sequence[str]) -> frozenset[str]:
    return frozenset(name for name in names if name.endswith(".sh"))


def render_fleet(
    inventory: Inventory,
    catalogue: Catalogue,
    out_dir: Path,
    options: RenderOptions | None = None,
    only: Sequence[str] = (),
    *,
    jobs: int = 1,
    force: bool = False,
    prune: bool = False,
    progress: Progress | None = None,
) -> RenderResult:
    """Plan every appliance and write the change package, all of it or nothing.

    Only the files umrunbook wrote are replaced; anything else in out_dir stays. Appliances
    of the package that this render does not cover are kept, or removed with `prune`.
    """
    previous = Ownership()
    try:
        options = options or RenderOptions()
        for fmt in options.formats:
            face(fmt)  # an unknown format fails before any work
        out_dir = package_folder(out_dir)
        previous = prepare(out_dir)  # a folder that is not a package fails before any work
        return _render_into(
            inventory, catalogue, out_dir, options, only, jobs, force, prune, progress, previous
        )
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(INTERRUPTED_BEFORE if previous.exists else INTERRUPTED_NOTHING) from None


def _render_into(
    inventory: Inventory,
    catalogue: Catalogue,
    out_dir: Path,
    options: RenderOptions,
    only: Sequence[str],
    jobs: int,
    force: bool,
    prune: bool,
    progress: Progress | None,
    previous: Ownership,
) -> RenderResult:
    every_plan = plan_fleet(inventory, catalogue)
    plans = select(every_plan, only)
    covered = {p.appliance.name for p in plans}
    # The night's times come from the whole fleet's order, with or without --only.
    night = night_plan(every_plan, inventory.change)
    fingerprints = {
        p.appliance.name: plan_fingerprint(p, (options, night.of(p.appliance.name), night.fits))
        for p in plans
    }
    notes: list[str] = []

    kept: dict[str, str] = {}
    records: dict[str, ApplianceRecord] = {}
    to_render: list[Plan] = []
    unchanged: list[str] = []
    for plan in plans:
        name = plan.appliance.name
        old = previous.appliances.get(name)
        states = {f: _state(out_dir, f, previous.files.get(f)) for f in old.rendered} if old else {}
        by_hand = sorted(f for f, state in states.items() if state == "changed")
        notes += [f"{f} was changed by hand: rendered again" for f in by_hand]
        if (
            old
            and not force
            and old.fingerprint == fingerprints[name]
            and all(state == "same" for state in states.values())
        ):
            kept.update({f: previous.files[f] for f in old.rendered})
            records[name] = old
            unchanged.append(name)
            if progress:
                progress(name, "unchanged")
        else:
            to_render.append(plan)

    files: dict[str, bytes] = {}
    for name, rendered in _render_all(to_render, options, jobs, progress, night):
        files.update(rendered)
        records[name] = ApplianceRecord(fingerprints[name], tuple(sorted(rendered)))

    # What else the package owns: as-executed runbooks (ingest's), and the appliances this
    # render does not cover.
    replaced = {
        f for p in plans if (r := previous.appliances.get(p.appliance.name)) for f in r.rendered
    }
    released: set[str] = set()
    others_kept: set[str] = set()
    pruned: set[str] = set()
    for name, digest in sorted(previous.files.items()):
        if name in replaced or name in FLEET_FILES or name == LEGACY_FINGERPRINTS:
            continue
        appliance = name.split("/", 1)[0] if "/" in name else ""
        if not appliance:
            continue  # a fleet file of an earlier version: not written any more
        if appliance not in covered and prune:
            pruned.add(appliance)
            continue
        state = _state(out_dir, name, digest)
        if state == "missing":
            continue
        if state == "changed" and appliance in covered:
            # Not rendered by this command: the operator's now, and left as it is.
            released.add(name)
            notes.append(
                f"{name} was changed by hand: left as it is, and no longer listed in SHA256SUMS"
            )
            continue
        if state == "changed":
            notes.append(
                f"{name} was changed by hand: not rendered by this run, SHA256SUMS flags it"
            )
        kept[name] = digest
        if appliance not in covered:
            others_kept.add(appliance)
    for appliance, record in previous.appliances.items():
        if appliance in covered:
            continue
        if prune:
            pruned.add(appliance)
        else:
            records[appliance] = record
            others_kept.add(appliance)
    notes += [f"{a}: not in this render, kept (--prune removes it)" for a in sorted(others_kept)]
    notes += [f"{a}: removed (--prune)" for a in sorted(pruned)]

    # The fleet files describe every appliance the package holds that the inventory knows.
    listed = [p for p in every_plan if p.appliance.name in covered | others_kept]
    fleet_view = {**files, **{f: b"" for f in kept}}
    files["fleet.csv"] = fleet_csv(listed)
    files.update(_fleet_index(listed, fleet_view, night))
    write_package_atomically(
        out_dir,
        files,
        executable_files(list(files)),
        kept,
        records,
        previous,
        released=frozenset(released),
    )
    return RenderResult(
        out_dir,
        plans,
        tuple(sorted([*files, *kept])),
        tuple(p.appliance.name for p in to_render),
        tuple(unchanged),
        tuple(notes),
    )


def update_package(
    out_dir: Path,
    plans: Sequence[Plan],
    files: dict[str, bytes],
    readiness: Mapping[str, str] | None = None,
) -> tuple[str, ...]:
    """Add or replace files in an existing package (as-executed runbooks, runbooks with their
    readiness), with the fleet index written again (with a Readiness column where `readiness`
    is given); every other file it owns is carried over as it is, and what it does not own is
    not touched. Returns what the operator should know."""
    try:
        out_dir = package_folder(out_dir)
        previous = prepare(out_dir)
        if not previous.exists:
            raise UserError(
                f"{out_dir}: not a change package written by umrunbook\n"
                "  hint: give the folder `umrunbook render` wrote"
            )
        notes = []
        kept = {}
        for name, digest in sorted(previous.files.items()):
            if name in files or name == "index.html" or name == LEGACY_FINGERPRINTS:
                continue
            state = _state(out_dir, name, digest)
            if state == "missing":
                continue
            if state == "changed":
                notes.append(f"{name} was changed by hand: SHA256SUMS flags it; render restores it")
            kept[name] = digest
        new = dict(files)
        view = {**{name: b"" for name in kept}, **new}
        new.update(_fleet_index(plans, view, readiness=readiness))
        write_package_atomically(
            out_dir, new, executable_files(list(new)), kept, previous.appliances, previous
        )
        return tuple(notes)
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(INTERRUPTED_BEFORE) from None


def _state(out_dir: Path, name: str, digest: str | None) -> str:
    """ "same", "changed" (by hand, since umrunbook wrote it) or "missing"."""
    path = out_dir / name
    if not path.is_file():
        return "missing"
    try:
        actual = sha256_file(path)
    except OSError:
        return "missing"
    # A package of the previous version may not list its own bookkeeping file.
    return "same" if not digest or actual == digest else "changed"


def _render_one(
    plan: Plan, options: RenderOptions, night: NightPlan | None = None
) -> tuple[str, dict[str, bytes]]:
    return plan.appliance.name, appliance_files(plan, options, night)


# The fleet's night plan in a worker process: sent once, when the worker starts, rather than
# with each appliance. It grows with the fleet, so sending it with each of n appliances cost
# time in n squared (8 s of the parent's time for 500 appliances, as much again in the workers).
_worker_night: NightPlan | None = None


def _start_worker(night: NightPlan | None) -> None:
    """Workers leave Ctrl-C (sent to the whole process group by a terminal) and SIGTERM to
    the parent, which cancels the pool: no worker prints a traceback of its own."""
    global _worker_night
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _worker_night = night


def _render_in_worker(plan: Plan, options: RenderOptions) -> tuple[str, dict[str, bytes]]:
    return _render_one(plan, options, _worker_night)


def _start_server_quietly(method: str) -> None:
    """The fork server, and so every worker forked from it, ignores Ctrl-C from birth: a
    signal in the moment before `_start_worker` runs is no traceback either."""
    if method != "forkserver":
        return
    from multiprocessing import forkserver

    with ignored_by_children():
        forkserver.ensure_running()


def _render_all(
    plans: Sequence[Plan],
    options: RenderOptions,
    jobs: int,
    progress: Progress | None,
    night: NightPlan | None = None,
) -> list[tuple[str, dict[str, bytes]]]:
    results: list[tuple[str, dict[str, bytes]]] = []
    if jobs <= 1 or len(plans) <= 1:
        for plan in plans:
            results.append(_render_one(plan, options, night))
            if progress:
                progress(plan.appliance.name, "rendered")
        return results
    # Workers come from a fresh server process, never forked from this one: a fork of a
    # process whose threads hold locks (Typst compiles with a thread pool) can hang.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    _start_server_quietly(method)
    with signals_deferred() as caught:
        pool = ProcessPoolExecutor(
            max_workers=min(jobs, len(plans)),
            mp_context=context,
            initializer=_start_worker,
            initargs=(night,),
        )
        try:
            pending = {pool.submit(_render_in_worker, plan, options) for plan in plans}
            while pending and not caught:
                done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                for future in done:
                    name, rendered = future.result()
                    results.append((name, rendered))
                    if progress:
                        progress(name, "rendered")
        finally:
            # On Ctrl-C, what has not started is dropped and what has is waited for (one
            # appliance per worker), so that no worker outlives the message.
            pool.shutdown(wait=True, cancel_futures=True)
    if caught:
        raise KeyboardInterrupt
    return results


def default_jobs() -> int:
    return max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
