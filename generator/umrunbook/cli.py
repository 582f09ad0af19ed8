"""The command line: parses arguments, calls the library, maps errors to exit codes.

Exit codes: 0 ok, 1 failure, 2 invalid input or usage. Heavy modules (the Markdown and PDF
engines) are imported by the commands that use them, never at start-up.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer

from umrunbook import __version__
from umrunbook.errors import InputError, UserError

if TYPE_CHECKING:
    from umrunbook.evidence.records import Evidence
    from umrunbook.inventory.model import Inventory

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="umrunbook",
    help="Change packages for in-place upgrades of VMware Usage Meter appliances: runbooks "
    "(Markdown, HTML, PDF), transfer scripts (WinSCP, OpenSSH) and an on-box agent, "
    "from one inventory file.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

BUG_REPORT = "this is a defect in umrunbook; please report it with the command you ran"


def _handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Every command's errors become a message on stderr and an exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except InputError as exc:
            for problem in exc.problems:
                typer.echo(str(problem), err=True)
            count = len(exc.problems)
            typer.echo(
                f"{count} problem{'s' if count != 1 else ''} found; nothing was written.", err=True
            )
            raise typer.Exit(exc.exit_code) from None
        except UserError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; nothing was written.", err=True)
            raise typer.Exit(1) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # a defect: report it briefly, never as a traceback
            typer.echo(f"internal error: {type(exc).__name__}: {exc}\n  {BUG_REPORT}", err=True)
            raise typer.Exit(1) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        typer.echo(f"umrunbook {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Change packages for in-place upgrades of VMware Usage Meter appliances."""


@app.command()
@_handle_errors
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example.")] = Path(
        "inventory.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example inventory (valid as written; REPLACE marks example values)."""
    from umrunbook.inventory.example import example_text

    if path.exists() and not force:
        raise UserError(
            f"{path}: already exists; nothing was written\n"
            "  hint: choose another path, or add --force to overwrite it"
        )
    try:
        path.write_text(example_text(), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot write: {exc.strerror}") from None
    typer.echo(f"Wrote {path}. Replace the values marked REPLACE, then run: umrunbook check {path}")


@app.command()
@_handle_errors
def check(
    inventory: Annotated[Path, typer.Argument(help="The inventory file (YAML).", readable=False)],
) -> None:
    """Validate an inventory; every problem is printed as FILE:LINE: FIELD: message."""
    from umrunbook.catalogue.procedure import load_catalogue
    from umrunbook.inventory.load import load_inventory
    from umrunbook.planning.bind import plan_fleet

    loaded = load_inventory(inventory)
    plans = plan_fleet(loaded, load_catalogue())
    typer.echo(
        f"{inventory}: valid: change {loaded.change.ticket}, "
        f"{len(plans)} appliance{'s' if len(plans) != 1 else ''}, "
        f"target {loaded.upgrade.target}"
    )
    width = max(len(p.appliance.name) for p in plans)
    for plan in plans:
        typer.echo(f"  {plan.appliance.name:<{width}}  {plan.route_text:<16}  {plan.state}")
    from umrunbook.faces.ticket import timing

    when = timing(plans, loaded.change)
    if not when.fits:
        line = loaded.lines.get("change.window.end")
        typer.echo(f"warning: {inventory}:{line}: change.window: {when.warning()}", err=True)


@app.command()
@_handle_errors
def ticket(
    inventory: Annotated[Path, typer.Argument(help="The inventory file (YAML).", readable=False)],
    only: Annotated[
        str | None, typer.Option("--only", help="The change for this appliance alone.")
    ] = None,
    output: Annotated[
        str, typer.Option("--format", help="text (to paste) or json (ServiceNow field names).")
    ] = "text",
) -> None:
    """Print the change request's fields: plans, window, risk and the affected items."""
    import json

    from umrunbook.catalogue.procedure import load_catalogue
    from umrunbook.faces.ticket import render_text, ticket_fields, timing
    from umrunbook.inventory.load import load_inventory
    from umrunbook.package.build import select
    from umrunbook.planning.bind import plan_fleet

    if output not in ("text", "json"):
        raise UserError(f"--format {output!r}: choose text or json")
    loaded = load_inventory(inventory)
    plans = select(plan_fleet(loaded, load_catalogue()), [only] if only else [])
    try:
        fields = ticket_fields(plans, loaded.change)
    except ValueError as exc:
        raise UserError(f"{inventory}: {exc}") from None
    if output == "json":
        typer.echo(json.dumps(fields, indent=2, ensure_ascii=False))
    else:
        typer.echo(render_text(fields, timing(plans, loaded.change)), nl=False)


@app.command()
@_handle_errors
def rehearse(
    name: Annotated[str, typer.Argument(help="The appliance to rehearse.")],
    inventory: Annotated[
        Path | None,
        typer.Argument(
            help="The inventory file; without it, the built-in example fleet.", readable=False
        ),
    ] = None,
) -> None:
    """Walk one appliance's agent through the whole procedure on a simulated appliance.

    Runs on this workstation (Linux, as root) in a private mount namespace: nothing on the
    machine is touched, and the real appliance is never contacted.
    """
    from umrunbook.catalogue.procedure import load_catalogue
    from umrunbook.package.build import select
    from umrunbook.planning.bind import plan_fleet
    from umrunbook.rehearsal.rehearse import RehearsalUnavailable
    from umrunbook.rehearsal.rehearse import rehearse as run_rehearsal

    plans = select(plan_fleet(_load(inventory), load_catalogue()), [name])
    plan = plans[0]
    if not plan.hops:
        raise UserError(f"{name}: already at {plan.target.short}: there is nothing to rehearse")
    code = 0
    for hop in plan.hops:
        try:
            code = run_rehearsal(dict(hop.agent.manifest), sys.stdout)
        except RehearsalUnavailable as exc:
            raise UserError(str(exc)) from None
        if code:
            break
    raise typer.Exit(code)


@app.command()
@_handle_errors
def ingest(
    evidence: Annotated[
        list[Path], typer.Argument(help="Evidence files (agent or HTML page).", readable=False)
    ],
    inventory: Annotated[
        Path | None,
        typer.Option(
            "--inventory", help="The inventory the change was planned from.", readable=False
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="The change package to add as-executed runbooks to."),
    ] = None,
    formats: Annotated[
        str, typer.Option("--format", help="As-executed formats: md, html, pdf.")
    ] = "md,html,pdf",
    paper: Annotated[str, typer.Option("--paper", help="PDF paper size: a4 or letter.")] = "a4",
) -> None:
    """Read the agents' evidence, print the fleet's state, write as-executed runbooks.

    A bad or changed file is reported on stderr and the others are still read (exit 1).
    With --inventory and --out, DIR/<name>/as-executed.md, .html and .pdf are written beside
    the planned runbooks and the fleet index is updated.
    """
    from umrunbook.evidence.ingest import fleet_table
    from umrunbook.evidence.records import EvidenceError, load_evidence

    if (inventory is None) != (out is None):
        raise UserError("--inventory and --out go together: the as-executed runbooks need both")
    loaded_evidence = []
    failed = 0
    for path in evidence:
        try:
            loaded_evidence.append(load_evidence(path))
        except EvidenceError as exc:
            typer.echo(f"error: {exc}", err=True)
            failed += 1
    if loaded_evidence:
        typer.echo(fleet_table(loaded_evidence), nl=False)
    if inventory is not None and out is not None and loaded_evidence:
        failed += _write_as_executed(inventory, out, loaded_evidence, formats, paper)
    if failed:
        typer.echo(
            f"{failed} evidence file{'s' if failed != 1 else ''} could not be used.", err=True
        )
        raise typer.Exit(1)


def _write_as_executed(
    inventory: Path, out: Path, evidence: list[Evidence], formats: str, paper: str
) -> int:
    from umrunbook.catalogue.procedure import load_catalogue
    from umrunbook.evidence.ingest import as_executed_files, group, mismatch
    from umrunbook.inventory.load import load_inventory
    from umrunbook.package.build import update_package
    from umrunbook.planning.bind import plan_fleet

    chosen = _formats(formats)
    _paper(paper)
    plans = plan_fleet(load_inventory(inventory), load_catalogue())
    by_name = {p.appliance.name.lower(): p for p in plans}
    usable = []
    rejected = 0
    for item in evidence:
        plan = by_name.get(item.appliance.lower())
        reason = (
            f"{item.path}: appliance {item.appliance!r} is not in {inventory}"
            if plan is None
            else mismatch(plan, item)
        )
        if reason:
            typer.echo(f"error: {reason}", err=True)
            rejected += 1
        else:
            usable.append(item)
    files = as_executed_files(plans, group(usable), chosen, paper.lower())
    update_package(out, plans, files)
    typer.echo(f"Wrote {len(files)} as-executed files to {out}")
    return rejected


def _formats(formats: str) -> tuple[str, ...]:
    from umrunbook.package.build import FORMATS

    chosen = tuple(dict.fromkeys(f.strip().lower() for f in formats.split(",") if f.strip()))
    if not chosen or any(f not in FORMATS for f in chosen):
        raise UserError(
            f"--format {formats!r}: choose among {', '.join(FORMATS)}, separated by commas "
            "(for example --format md,pdf)"
        )
    return chosen


def _paper(paper: str) -> str:
    from umrunbook.package.build import PAPERS

    if paper.lower() not in PAPERS:
        raise UserError(f"--paper {paper!r}: choose a4 or letter")
    return paper.lower()


@app.command()
@_handle_errors
def paths() -> None:
    """List the supported upgrade paths, and the routes of several hops they make."""
    from umrunbook.catalogue.procedure import load_catalogue
    from umrunbook.planning.bind import find_route
    from umrunbook.versions import Version

    catalogue = load_catalogue()
    typer.echo("In-place upgrades (source versions -> target, bundle):")
    for procedure in catalogue.procedures:
        reboot = "reboot" if procedure.agent.reboot_required else "no reboot"
        typer.echo(
            f"  {procedure.sources_text:<14} -> {procedure.target:<5} "
            f"{procedure.bundle[0].name} ({reboot})"
        )
    typer.echo("Routes (fewest upgrades; among as few, through the highest version):")
    starts = sorted({p.target_version.key()[:2] for p in catalogue.procedures} | {(4, 1)})
    for start in starts:
        version = Version.parse(f"{start[0]}.{start[1]}")
        for procedure in catalogue.procedures:
            route = find_route(version, procedure.target_version, catalogue)
            if route and len(route) > 1:
                stops = " -> ".join([version.short, *(p.target for p in route)])
                typer.echo(f"  {stops}")
    typer.echo(
        "From 3.x there is no in-place upgrade: deploy a new appliance and migrate its data."
    )


@app.command()
@_handle_errors
def render(
    inventory: Annotated[
        Path | None,
        typer.Argument(
            help="The inventory file; without it, the built-in example fleet.", readable=False
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The package folder.")] = Path(
        "dist/runbooks"
    ),
    formats: Annotated[
        str, typer.Option("--format", help="Comma-separated: md, html, pdf.")
    ] = "md,html,pdf",
    paper: Annotated[str, typer.Option("--paper", help="PDF paper size: a4 or letter.")] = "a4",
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Render only this appliance (repeatable).")
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", help="Parallel processes [default: the number of CPUs]."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Render every appliance, changed or not.")
    ] = False,
) -> None:
    """Write the change package: runbooks, transfer files and agents for every appliance.

    Appliances whose inventory entry, templates and generator version are unchanged since
    the package in --out was written are kept as they are; --force renders them all.
    """
    from umrunbook.catalogue.procedure import load_catalogue
    from umrunbook.package.build import RenderOptions, default_jobs, render_fleet

    chosen = _formats(formats)
    _paper(paper)
    if jobs is not None and jobs < 1:
        raise UserError(f"--jobs {jobs}: give 1 or more")
    loaded = _load(inventory)
    with _progress_display(len(only) if only else len(loaded.appliances)) as progress:
        result = render_fleet(
            loaded,
            load_catalogue(),
            out,
            RenderOptions(formats=chosen, paper=paper.lower()),
            only or (),
            jobs=jobs or default_jobs(),
            force=force,
            progress=progress,
        )
    for plan in result.plans:
        if plan.state != "planned":
            typer.echo(f"{plan.appliance.name}: {plan.route_text}: {plan.state}")
    index = out / "index.html" if (out / "index.html").exists() else out / "fleet.csv"
    typer.echo(
        f"Wrote {out}: {len(result.rendered)} rendered, {len(result.unchanged)} unchanged, "
        f"{len(result.files)} files (open {index})"
    )


@contextmanager
def _progress_display(total: int) -> Iterator[Callable[[str, str], None]]:
    """A progress bar on a terminal; one plain line per appliance otherwise (logs, CI)."""
    if not sys.stderr.isatty():
        yield lambda name, what: typer.echo(f"{name}: {what}", err=True)
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("Rendering", total=total)
        yield lambda name, what: bar.update(task, advance=1, description=f"{name} {what}")


def _load(inventory: Path | None) -> Inventory:
    if inventory is None:
        from umrunbook.inventory.example import example_inventory

        return example_inventory()
    from umrunbook.inventory.load import load_inventory

    return load_inventory(inventory)


def _utf8_where_needed() -> None:
    """Output redirected on Windows goes through the ANSI code page (cp1252...), which has no
    arrow or quote marks we print: such a stream writes UTF-8 instead of failing."""
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            "\u2192 \u00b7".encode(encoding)  # the arrow and the middle dot we print
        except (UnicodeEncodeError, LookupError):
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(encoding="utf-8", errors="replace")


def main() -> None:
    import multiprocessing

    # The single-file binary starts its worker processes by running itself again.
    multiprocessing.freeze_support()
    _utf8_where_needed()
    try:
        app()
    except SystemExit:
        raise
    except Exception as exc:  # pragma: no cover - argument parsing itself failed
        print(f"internal error: {type(exc).__name__}: {exc}\n  {BUG_REPORT}", file=sys.stderr)
        sys.exit(1)
