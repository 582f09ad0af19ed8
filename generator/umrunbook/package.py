"""The change package: every appliance's documents and files, and the fleet files, as bytes.

`render_fleet` is the library's entry point; it knows nothing of the command line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from umrunbook.catalogue import Catalogue
from umrunbook.errors import UserError
from umrunbook.model import Inventory
from umrunbook.output import write_package_atomically
from umrunbook.plan import PLANNED, Plan
from umrunbook.planning import plan_fleet

FORMATS = ("md", "html", "pdf")
PAPERS = ("a4", "letter")


@dataclass(frozen=True, slots=True)
class RenderOptions:
    formats: tuple[str, ...] = FORMATS
    paper: str = "a4"


@dataclass(frozen=True, slots=True)
class RenderResult:
    out_dir: Path
    plans: tuple[Plan, ...]
    files: tuple[str, ...]


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
    name = plan.appliance.name
    files: dict[str, bytes] = {}
    markdown_text = _face("md")(plan, options)
    for fmt in options.formats:
        if fmt == "md":
            files[f"{name}/runbook.md"] = markdown_text.encode("utf-8")
        else:
            files[f"{name}/runbook.{fmt}"] = _document(fmt)(plan, markdown_text, options)
    for hop in plan.hops:
        files[f"{name}/agent/{hop.agent.name}"] = hop.agent.text.encode("utf-8")
    files.update(_transfer_files(plan))
    return files


def _face(fmt: str) -> Callable[[Plan, RenderOptions], str]:
    from umrunbook.markdown import render_markdown

    return lambda plan, _options: render_markdown(plan)


def _document(fmt: str) -> Callable[[Plan, str, RenderOptions], bytes]:
    """The renderer of one document format, imported only when that format is asked for."""
    try:
        if fmt == "html":
            from umrunbook.html import render_html

            return render_html
        from umrunbook.pdf import render_pdf

        return render_pdf
    except ImportError:
        raise UserError(
            f"--format {fmt}: the {fmt.upper()} runbook is not available in this version yet; "
            "use --format md"
        ) from None


def _transfer_files(plan: Plan) -> dict[str, bytes]:
    """WinSCP and OpenSSH files for the appliance, keyed by path inside the package."""
    try:
        from umrunbook.transfer import transfer_files
    except ImportError:
        return {}
    return transfer_files(plan)


def _fleet_index(plans: Sequence[Plan], files: dict[str, bytes]) -> dict[str, bytes]:
    try:
        from umrunbook.index import render_index
    except ImportError:
        return {}
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


def package_files(plans: Sequence[Plan], options: RenderOptions) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for plan in plans:
        files.update(appliance_files(plan, options))
    files["fleet.csv"] = fleet_csv(plans)
    files.update(_fleet_index(plans, files))
    return files


def executable_files(files: dict[str, bytes]) -> frozenset[str]:
    return frozenset(name for name in files if name.endswith(".sh"))


def render_fleet(
    inventory: Inventory,
    catalogue: Catalogue,
    out_dir: Path,
    options: RenderOptions = RenderOptions(),
    only: Sequence[str] = (),
) -> RenderResult:
    """Plan every appliance and write the whole change package, or nothing."""
    plans = select(plan_fleet(inventory, catalogue), only)
    files = package_files(plans, options)
    write_package_atomically(out_dir, files, executable_files(files))
    return RenderResult(out_dir, plans, tuple(sorted(files)))
