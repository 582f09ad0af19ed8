"""The library behind the command line: one function per command, knowing nothing of typer.

Each function takes plain values and returns what the command prints, or raises a
`UserError`; `cli.py` only parses arguments, prints and maps errors to exit codes. Heavy
modules (the Markdown and PDF engines) are imported by the functions that use them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from umrunbook.errors import OutputError, UserError

if TYPE_CHECKING:
    from umrunbook.catalogue.procedure import Procedure
    from umrunbook.evidence.records import Evidence
    from umrunbook.faces.ticket import Timing
    from umrunbook.inventory.model import Inventory
    from umrunbook.package.build import RenderResult
    from umrunbook.planning.plan import Plan

Progress = Callable[[str, str], None]  # (appliance name, "rendered" or "unchanged")


# The engines whose versions shape the documents: a PDF or HTML page is reproduced only
# with the same ones.
ENGINES = (("Typst", "typst"), ("markdown-it-py", "markdown-it-py"), ("Jinja2", "jinja2"))


def version_text() -> str:
    """`--version`: umrunbook's version and its engines', read from the installed metadata."""
    from importlib.metadata import PackageNotFoundError, version

    from umrunbook import __version__

    engines = []
    for label, distribution in ENGINES:
        try:
            engines.append(f"{label} {version(distribution)}")
        except PackageNotFoundError:
            engines.append(f"{label} (version not recorded in this build)")
    return f"umrunbook {__version__} ({', '.join(engines)})"


def load(inventory: Path | None) -> Inventory:
    """The inventory at `inventory`, or the built-in example fleet."""
    if inventory is None:
        from umrunbook.inventory.example import example_inventory

        return example_inventory()
    from umrunbook.inventory.load import load_inventory

    return load_inventory(inventory)


def plans_of(inventory: Inventory, only: Sequence[str] = ()) -> tuple[Plan, ...]:
    from umrunbook.catalogue.procedure import load_catalogue
    from umrunbook.package.build import select
    from umrunbook.planning.bind import plan_fleet

    return select(plan_fleet(inventory, load_catalogue()), only)


def write_example(path: Path, force: bool) -> None:
    """`init`: the commented example inventory, never over a file without `force`."""
    from umrunbook.inventory.example import example_text

    if path.exists() and not force:
        raise UserError(
            f"{path}: already exists; nothing was written\n"
            "  hint: choose another path, or add --force to overwrite it"
        )
    try:
        path.write_text(example_text(), encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror}") from None


@dataclass(frozen=True, slots=True)
class CheckReport:
    summary: tuple[str, ...]  # printed on stdout
    warnings: tuple[str, ...]  # printed on stderr; the inventory is still valid


def check(path: Path) -> CheckReport:
    """`check`: the inventory loaded and planned; every problem raises, all at once."""
    from umrunbook.catalogue.procedure import load_catalogue
    from umrunbook.faces.humanize import window_warning
    from umrunbook.planning.plan import PLANNED
    from umrunbook.planning.summary import summarize_fleet
    from umrunbook.planning.timing import timing_of
    from umrunbook.versions import Version

    loaded = load(path)
    # Summaries, not plans: a fleet of thousands is checked without binding every runbook.
    plans = summarize_fleet(loaded, load_catalogue())
    targets = sorted({p.target for p in plans}, key=lambda t: Version.parse(t).key())
    lines = [
        f"{path}: valid: change {loaded.change.ticket}, "
        f"{len(plans)} appliance{'s' if len(plans) != 1 else ''}, "
        f"target{'s' if len(targets) > 1 else ''} {', '.join(targets)}"
    ]
    width = max(len(p.name) for p in plans)
    for p in plans:
        lines.append(f"  {p.name:<{width}}  {p.route_text:<16}  {p.state}")
        if p.route_reason:
            lines.append(f"  {'':<{width}}  route: {p.route_reason}")
    warnings = []
    when = timing_of(
        [(p.name, p.estimate_minutes, p.backout_minutes) for p in plans if p.state == PLANNED],
        loaded.change,
    )
    if not when.fits:
        line = loaded.lines.get("change.window.end")
        warnings.append(f"warning: {path}:{line}: change.window: {window_warning(when)}")
    return CheckReport(tuple(lines), tuple(warnings))


def paths() -> tuple[str, ...]:
    """`paths`: the catalogue's in-place upgrades, and the routes of several hops they make."""
    from umrunbook.catalogue.procedure import load_catalogue
    from umrunbook.planning.routes import choose_route
    from umrunbook.versions import Version

    catalogue = load_catalogue()
    lines = ["In-place upgrades (source versions -> target, bundle):"]
    for procedure in catalogue.procedures:
        reboot = _reboot_label(procedure)
        lines.append(
            f"  {procedure.sources_text:<14} -> {procedure.target:<5} "
            f"{procedure.bundle[0].name} ({reboot})"
        )
    lines.append(
        "Routes (fewest upgrades; among as few, the most steps from vendor documents; "
        "then through the highest versions; upgrade.via in the inventory pins another):"
    )
    starts = sorted({p.target_version.key()[:2] for p in catalogue.procedures} | {(4, 1)})
    for start in starts:
        version = Version.parse(f"{start[0]}.{start[1]}")
        for procedure in catalogue.procedures:
            choice = choose_route(version, procedure.target_version, catalogue)
            if choice and len(choice.procedures) > 1:
                stops = [version.short, *(p.target for p in choice.procedures)]
                lines.append("  " + " -> ".join(stops))
                lines.append("    why: " + choice.reason.replace(" → ", " -> "))
    lines.append(
        "From 3.x there is no in-place upgrade: deploy a new appliance and migrate its data."
    )
    return tuple(lines)


def _reboot_label(procedure: Procedure) -> str:
    """Whether the upgrade restarts the appliance, and on whose word: a reboot that only field
    reports give is not stated as a fact."""
    if not procedure.agent.reboot_required:
        return "no reboot"
    step = next((s for s in procedure.steps if s.id == "reboot"), None)
    kind = procedure.reference(step.source).kind if step is not None else "tool"
    if kind == "vendor":
        return "reboot"
    if kind == "field":
        return "reboot: field reports, not the vendor's pages"
    return "reboot assumed by umrunbook"


TICKET_FORMATS = ("text", "json")


def ticket(path: Path, only: str | None, output: str) -> str:
    """`ticket`: the change request's fields, as text to paste or ServiceNow JSON."""
    from umrunbook.faces.ticket import render_text, ticket_fields, timing

    if output not in TICKET_FORMATS:
        raise UserError(f"--format {output!r}: choose {' or '.join(TICKET_FORMATS)}")
    loaded = load(path)
    plans = plans_of(loaded, [only] if only else [])
    try:
        fields = ticket_fields(plans, loaded.change)
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None
    if output == "json":
        return json.dumps(fields, indent=2, ensure_ascii=False) + "\n"
    when: Timing = timing(plans, loaded.change)
    return render_text(fields, when, loaded.change)


def render(
    inventory: Path | None,
    out: Path,
    formats: str,
    paper: str,
    only: Sequence[str],
    jobs: int | None,
    force: bool,
    prune: bool = False,
    progress: Callable[[int], AbstractContextManager[Progress]] | None = None,
) -> RenderResult:
    """`render`: the change package. `progress(total)` opens the display that is told of
    each appliance as it is rendered or kept."""
    from umrunbook.catalogue.procedure import load_catalogue
    from umrunbook.faces.registry import RenderOptions, parse_formats, parse_paper
    from umrunbook.package.build import default_jobs, render_fleet

    options = RenderOptions(formats=parse_formats(formats), paper=parse_paper(paper))
    if jobs is not None and jobs < 1:
        raise UserError(f"--jobs {jobs}: give 1 or more")
    loaded = load(inventory)
    total = len(only) if only else len(loaded.appliances)
    with progress(total) if progress else nullcontext(None) as shown:
        return render_fleet(
            loaded,
            load_catalogue(),
            out,
            options,
            only,
            jobs=jobs or default_jobs(),
            force=force,
            prune=prune,
            progress=shown,
        )


def rehearse(name: str, inventory: Path | None, stream: TextIO) -> int:
    """`rehearse`: the appliance's runbook, every hop, on a simulated appliance; its exit code."""
    from umrunbook.rehearsal.rehearse import RehearsalUnavailable, rehearse_plan

    plan = plans_of(load(inventory), [name])[0]
    if not plan.hops:
        raise UserError(f"{name}: already at {plan.target.short}: there is nothing to rehearse")
    try:
        return rehearse_plan(plan, stream)
    except RehearsalUnavailable as exc:
        raise UserError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class IngestReport:
    table: str  # the fleet's state, "" when no file could be read
    errors: tuple[str, ...]  # one per evidence file that could not be used
    written: str  # what was written, "" when nothing was
    warnings: tuple[str, ...] = ()  # evidence used, with a doubt named


def ingest(
    evidence: Sequence[Path],
    inventory: Path | None,
    out: Path | None,
    formats: str,
    paper: str,
) -> IngestReport:
    """`ingest`: every readable evidence file joined into the fleet's state; with the
    inventory and the package, the as-executed runbooks written into it."""
    from umrunbook.evidence.ingest import fleet_table
    from umrunbook.evidence.records import EvidenceError, load_evidence
    from umrunbook.faces.registry import parse_formats, parse_paper

    if (inventory is None) != (out is None):
        raise UserError("--inventory and --out go together: the as-executed runbooks need both")
    if out is not None:
        parse_formats(formats)
        parse_paper(paper)
    loaded: list[Evidence] = []
    errors: list[str] = []
    for path in evidence:
        try:
            loaded.append(load_evidence(path))
        except EvidenceError as exc:
            errors.append(f"error: {exc}")
    table = fleet_table(loaded) if loaded else ""
    written = ""
    warnings: list[str] = []
    if inventory is not None and out is not None and loaded:
        written = _write_as_executed(inventory, out, loaded, formats, paper, errors, warnings)
    return IngestReport(table, tuple(errors), written, tuple(warnings))


def _package_agents(out: Path, appliance: str) -> set[str]:
    """The SHA-256 of every agent the package holds for an appliance (one per upgrade)."""
    import hashlib

    from umrunbook.planning.agent_file import AGENT_FILE_NAME

    folder = out / appliance
    if not folder.is_dir() or folder.is_symlink():
        return set()
    return {
        hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob(AGENT_FILE_NAME))
        if path.is_file() and not path.is_symlink()
    }


def _write_as_executed(
    inventory: Path,
    out: Path,
    evidence: Sequence[Evidence],
    formats: str,
    paper: str,
    errors: list[str],
    warnings: list[str],
) -> str:
    from umrunbook.evidence.ingest import (
        as_executed_files,
        foreign_agent,
        group,
        mismatch,
        readiness_by_appliance,
    )
    from umrunbook.faces.registry import RenderOptions, parse_formats, parse_paper
    from umrunbook.package.build import appliance_files, update_package
    from umrunbook.planning.night import night_plan

    chosen = parse_formats(formats)
    chosen_paper = parse_paper(paper)
    plans = plans_of(load(inventory))
    by_name = {p.appliance.name.lower(): p for p in plans}
    usable = []
    for item in evidence:
        plan = by_name.get(item.appliance.lower())
        reason = (
            f"{item.path}: appliance {item.appliance!r} is not in {inventory}"
            if plan is None
            else mismatch(plan, item)
        )
        if reason:
            errors.append(f"error: {reason}")
            continue
        usable.append(item)
        assert plan is not None  # no reason: the plan was found
        doubt = foreign_agent(item, _package_agents(out, plan.appliance.name))
        if doubt:
            warnings.append(f"warning: {doubt}")
    runs = group(usable)
    readiness = readiness_by_appliance(plans, runs)
    files = as_executed_files(plans, runs, chosen, chosen_paper, readiness)
    written = [f"Wrote {len(files)} as-executed files to {out}"]
    if readiness:
        # The runbooks of the appliances with a readiness run, written again with it in their
        # night plan; the index gets a Readiness column.
        options = RenderOptions(formats=tuple(chosen), paper=chosen_paper)
        night = night_plan(plans, plans[0].change)
        runbooks: dict[str, bytes] = {}
        for plan in plans:
            if plan.appliance.name in readiness:
                rendered = appliance_files(plan, options, night, readiness[plan.appliance.name])
                prefix = f"{plan.appliance.name}/runbook."
                runbooks.update({k: v for k, v in rendered.items() if k.startswith(prefix)})
        files.update(runbooks)
        written.append(
            f"Wrote the readiness of {', '.join(sorted(readiness))} into {len(runbooks)} "
            "runbook files and the index"
        )
    notes = update_package(out, plans, files, readiness or None)
    return "\n".join([*notes, *written])
