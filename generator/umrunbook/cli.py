"""The command line: parses arguments, calls the library, maps errors to exit codes.

Exit codes: 0 ok, 1 failure, 2 invalid input or usage. Heavy modules (the Markdown and PDF
engines) are imported by the commands that use them, never at start-up.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

from umrunbook.errors import (
    INTERRUPTED_AFTER,
    INTERRUPTED_NOTHING,
    InputError,
    Interrupted,
    UserError,
    printable,
)
from umrunbook.faces.registry import FORMATS, PAPERS, formats_help

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

ALL_FORMATS = ",".join(FORMATS)
PAPER_HELP = f"PDF paper size: {' or '.join(PAPERS)}."
BUG_REPORT = "this is a defect in umrunbook; please report it with the command you ran"


def _handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Every command's errors become a message on stderr and an exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            _arm_signals()
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
            typer.echo(printable(f"error: {exc}"), err=True)
            raise typer.Exit(exc.exit_code) from None
        except Interrupted as exc:  # the package writer says what it left
            typer.echo(exc.message, err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo(INTERRUPTED_NOTHING, err=True)
            raise typer.Exit(1) from None
        except (typer.Exit, typer.Abort):
            raise
        except BrokenPipeError:  # the reader went away (`| head -1`): stop quietly
            _quiet_stdout()
            raise typer.Exit(1) from None
        except Exception as exc:  # a defect: report it briefly, never as a traceback
            message = printable(f"internal error: {type(exc).__name__}: {exc}")
            typer.echo(f"{message}\n  {BUG_REPORT}", err=True)
            raise typer.Exit(1) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        from umrunbook.library import version_text

        typer.echo(version_text())
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
    from umrunbook.library import write_example

    write_example(path, force)
    typer.echo(f"Wrote {path}. Replace the values marked REPLACE, then run: umrunbook check {path}")


@app.command()
@_handle_errors
def check(
    inventory: Annotated[Path, typer.Argument(help="The inventory file (YAML).", readable=False)],
) -> None:
    """Validate an inventory; every problem is printed as FILE:LINE: FIELD: message."""
    from umrunbook.library import check as check_inventory

    report = check_inventory(inventory)
    for line in report.summary:
        typer.echo(printable(line))
    for line in report.warnings:
        typer.echo(printable(line), err=True)


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
    from umrunbook.library import ticket as ticket_text

    typer.echo(ticket_text(inventory, only, output), nl=False)


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
    from umrunbook.library import rehearse as run_rehearsal

    raise typer.Exit(run_rehearsal(name, inventory, sys.stdout))


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
        str, typer.Option("--format", help=formats_help("As-executed formats"))
    ] = ALL_FORMATS,
    paper: Annotated[str, typer.Option("--paper", help=PAPER_HELP)] = PAPERS[0],
) -> None:
    """Read the agents' evidence, print the fleet's state, write as-executed runbooks.

    A bad or changed file is reported on stderr and the others are still read (exit 1).
    With --inventory and --out, DIR/<name>/as-executed.md, .html and .pdf are written beside
    the planned runbooks and the fleet index is updated. An evidence file's digest proves
    it was not changed after it was written, not who wrote it: with --out, evidence whose
    recorded agent file hash is none of the package's agents is named in a warning. Keep the
    files with the change, as fetched from the appliances.
    """
    from umrunbook.library import ingest as ingest_evidence

    report = ingest_evidence(evidence, inventory, out, formats, paper)
    for line in (*report.errors, *report.warnings):  # they quote the evidence: escaped
        typer.echo(printable(line), err=True)
    if report.table:
        typer.echo(report.table, nl=False)
    if report.written:
        typer.echo(report.written)
    failed = len(report.errors)
    if failed:
        typer.echo(
            f"{failed} evidence file{'s' if failed != 1 else ''} could not be used.", err=True
        )
        raise typer.Exit(1)


@app.command()
@_handle_errors
def paths() -> None:
    """List the supported upgrade paths, and the routes of several hops they make."""
    from umrunbook.library import paths as supported_paths

    for line in supported_paths():
        typer.echo(line)


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
    formats: Annotated[str, typer.Option("--format", help=formats_help())] = ALL_FORMATS,
    paper: Annotated[str, typer.Option("--paper", help=PAPER_HELP)] = PAPERS[0],
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Render only this appliance (repeatable).")
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", help="Parallel processes (default: the number of CPUs)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Render every appliance, changed or not.")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Remove the appliances of the package that this render does not cover "
            "(not in the inventory, or left out by --only), as-executed runbooks included.",
        ),
    ] = False,
) -> None:
    """Write the change package: runbooks, transfer files and agents for every appliance.

    Appliances whose inventory entry, templates and generator version are unchanged since
    the package in --out was written are kept as they are; --force renders them all. Only
    the files umrunbook wrote are replaced: anything else in --out stays as it is.
    """
    from umrunbook.library import render as render_package

    result = render_package(
        inventory, out, formats, paper, only or (), jobs, force, prune, _progress_display
    )
    try:
        for note in result.notes:
            typer.echo(note, err=True)
        for plan in result.plans:
            if plan.state != "planned":
                typer.echo(f"{plan.appliance.name}: {plan.route_text}: {plan.state}")
        index = out / "index.html" if (out / "index.html").exists() else out / "fleet.csv"
        typer.echo(
            f"Wrote {out}: {len(result.rendered)} rendered, {len(result.unchanged)} unchanged, "
            f"{len(result.files)} files (open {index})"
        )
    except KeyboardInterrupt:
        raise Interrupted(INTERRUPTED_AFTER) from None


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


def _utf8_where_needed() -> None:
    """Output redirected on Windows goes through the ANSI code page (cp1252...), which has no
    arrow or quote marks we print: such a stream writes UTF-8 instead of failing. Any other
    character a stream's encoding lacks (a name in an error, PYTHONIOENCODING=cp936) is
    written as a backslash escape, never an error."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None:
            continue
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            "\u2192 \u00b7".encode(encoding)  # the arrow and the middle dot we print
        except (UnicodeEncodeError, LookupError):
            reconfigure(encoding="utf-8", errors="backslashreplace")
        else:
            reconfigure(errors="backslashreplace")


def _quiet_stdout() -> None:
    """What is still buffered for a closed pipe goes nowhere, and no error is printed at
    exit (as the Python documentation recommends for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - stdout is not a file descriptor
        pass


# Signals that came while the arguments were parsed (typer would end the process on them
# without a word, or Python with a traceback), acted on when the command starts.
_noted: list[int] = []
_deferring = False


def _note(signum: int, _frame: object) -> None:
    _noted.append(signum)


def _terminated(_signum: int, _frame: object) -> None:
    """SIGTERM (a service manager, `kill`) stops a command as Ctrl-C does, cleanly."""
    raise KeyboardInterrupt


def _arm_signals() -> None:
    global _deferring
    if not _deferring:
        return  # called as a library (tests): the host's handlers stay
    _deferring = False
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminated)
    if _noted:
        raise KeyboardInterrupt


def main() -> None:
    global _deferring
    import multiprocessing

    # The single-file binary starts its worker processes by running itself again.
    multiprocessing.freeze_support()
    _utf8_where_needed()
    code: int | str | None = 0
    _deferring = True
    signal.signal(signal.SIGINT, _note)
    signal.signal(signal.SIGTERM, _note)
    try:
        app()
    except SystemExit as exc:
        code = exc.code
        if _deferring and _noted:  # --help, a usage error: no command ran
            print(INTERRUPTED_NOTHING, file=sys.stderr)
            code = 1
    except BrokenPipeError:  # pragma: no cover - raised outside a command
        _quiet_stdout()
        code = 1
    except Exception as exc:  # pragma: no cover - argument parsing itself failed
        message = printable(f"internal error: {type(exc).__name__}: {exc}")
        print(f"{message}\n  {BUG_REPORT}", file=sys.stderr)
        code = 1
    # The command is over and has said how it ended: a Ctrl-C from here on (the interpreter's
    # own shutdown restores the default action, which would end the process by the signal,
    # silently, with the package already complete) changes nothing and is ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    try:
        sys.stdout.flush()  # the last of the output, while a closed pipe can still be told
    except BrokenPipeError:
        _quiet_stdout()
        code = 1
    sys.exit(code)
