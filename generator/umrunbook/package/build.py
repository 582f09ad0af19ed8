"""The change package: every appliance's documents and files, and the fleet files.

`render_fleet` is the library's entry point; it knows nothing of the command line. It
renders appliances in parallel processes, and only those whose inputs changed since the
package in the output folder was written.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from umrunbook.catalogue.procedure import Catalogue
from umrunbook.errors import UserError
from umrunbook.faces.registry import RenderOptions, face
from umrunbook.inventory.model import Inventory
from umrunbook.package.fingerprint import plan_fingerprint
from umrunbook.package.write import write_package_atomically
from umrunbook.planning.bind import plan_fleet
from umrunbook.planning.plan import PLANNED, Plan

# Written into the package: each appliance's input digest and its files, so that the next
# render knows what it may keep.
FINGERPRINTS = ".umrunbook-fingerprints.json"

Progress = Callable[[str, str], None]  # (appliance name, "rendered" or "unchanged")


@dataclass(frozen=True, slots=True)
class RenderResult:
    out_dir: Path
    plans: tuple[Plan, ...]
    files: tuple[str, ...]
    rendered: tuple[str, ...]
    unchanged: tuple[str, ...]


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


def appliance_files(plan: Plan, options: RenderOptions) -> dict[str, bytes]:
    """The files of one appliance, keyed by their path inside the package."""
    if plan.state != PLANNED:
        return {}
    from umrunbook.faces.transfer import transfer_files
    from umrunbook.faces.view import runbook_view

    name = plan.appliance.name
    files: dict[str, bytes] = {}
    view = runbook_view(plan)
    for fmt in options.formats:
        files[f"{name}/runbook.{fmt}"] = face(fmt).renderer()(view, options)
    for hop in plan.hops:
        files[f"{name}/{hop.folder}agent/{hop.agent.name}"] = hop.agent.text.encode("utf-8")
    files.update(transfer_files(plan))
    return files


def _fleet_index(plans: Sequence[Plan], files: dict[str, bytes]) -> dict[str, bytes]:
    from umrunbook.faces.index import render_index

    return {"index.html": render_index(plans, files)}


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
    progress: Progress | None = None,
) -> RenderResult:
    """Plan every appliance and write the whole change package, or nothing."""
    options = options or RenderOptions()
    for fmt in options.formats:
        face(fmt)  # an unknown format fails before any work
    plans = select(plan_fleet(inventory, catalogue), only)
    fingerprints = {p.appliance.name: plan_fingerprint(p, options) for p in plans}
    previous = {} if force else _previous(out_dir)

    kept: dict[str, Path] = {}
    to_render: list[Plan] = []
    unchanged: list[str] = []
    for plan in plans:
        name = plan.appliance.name
        old = previous.get(name)
        if (
            old
            and old.fingerprint == fingerprints[name]
            and all((out_dir / f).is_file() for f in old.files)
        ):
            kept.update({f: out_dir / f for f in old.files})
            unchanged.append(name)
            if progress:
                progress(name, "unchanged")
        else:
            to_render.append(plan)

    files: dict[str, bytes] = {}
    for _name, rendered in _render_all(to_render, options, jobs, progress):
        files.update(rendered)

    record = {
        p.appliance.name: {
            "fingerprint": fingerprints[p.appliance.name],
            "files": sorted(f for f in [*files, *kept] if f.startswith(f"{p.appliance.name}/")),
        }
        for p in plans
    }
    fleet_view = {**files, **{f: b"" for f in kept}}
    files["fleet.csv"] = fleet_csv(plans)
    files.update(_fleet_index(plans, fleet_view))
    files[FINGERPRINTS] = json.dumps(record, indent=1, sort_keys=True).encode()
    names = [*files, *kept]
    write_package_atomically(out_dir, files, executable_files(names), kept)
    return RenderResult(
        out_dir,
        plans,
        tuple(sorted(names)),
        tuple(p.appliance.name for p in to_render),
        tuple(unchanged),
    )


def update_package(out_dir: Path, plans: Sequence[Plan], files: dict[str, bytes]) -> None:
    """Add or replace files in an existing package (as-executed runbooks), with the fleet
    index written again; everything else is carried over as it is."""
    from umrunbook.package.write import MARKER

    if not (out_dir / MARKER).is_file():
        raise UserError(
            f"{out_dir}: not a change package written by umrunbook\n"
            "  hint: give the folder `umrunbook render` wrote (it holds SHA256SUMS)"
        )
    regenerated = {"index.html", MARKER}
    kept = {
        str(path.relative_to(out_dir)): path
        for path in sorted(out_dir.rglob("*"))
        if path.is_file() and str(path.relative_to(out_dir)) not in {*files, *regenerated}
    }
    new = dict(files)
    view = {**{name: b"" for name in kept}, **new}
    new.update(_fleet_index(plans, view))
    write_package_atomically(out_dir, new, executable_files(list(kept)), kept)


def _previous(out_dir: Path) -> dict[str, _Record]:
    """What the package in out_dir was rendered from; nothing usable means render all."""
    try:
        data = json.loads((out_dir / FINGERPRINTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    records = {}
    for name, entry in data.items():
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("fingerprint"), str)
            and isinstance(entry.get("files"), list)
            and all(isinstance(f, str) and ".." not in f.split("/") for f in entry["files"])
        ):
            records[name] = _Record(entry["fingerprint"], tuple(entry["files"]))
    return records


@dataclass(frozen=True, slots=True)
class _Record:
    fingerprint: str
    files: tuple[str, ...]


def _render_one(plan: Plan, options: RenderOptions) -> tuple[str, dict[str, bytes]]:
    return plan.appliance.name, appliance_files(plan, options)


def _render_all(
    plans: Sequence[Plan], options: RenderOptions, jobs: int, progress: Progress | None
) -> list[tuple[str, dict[str, bytes]]]:
    results: list[tuple[str, dict[str, bytes]]] = []
    if jobs <= 1 or len(plans) <= 1:
        for plan in plans:
            results.append(_render_one(plan, options))
            if progress:
                progress(plan.appliance.name, "rendered")
        return results
    # Workers come from a fresh server process, never forked from this one: a fork of a
    # process whose threads hold locks (Typst compiles with a thread pool) can hang.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=min(jobs, len(plans)), mp_context=context) as pool:
        futures = [pool.submit(_render_one, plan, options) for plan in plans]
        for future in as_completed(futures):
            name, rendered = future.result()
            results.append((name, rendered))
            if progress:
                progress(name, "rendered")
    return results


def default_jobs() -> int:
    return max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
