"""The PDF runbook: the plan as JSON data, typeset by Typst from `templates/runbook.typ`.

The plan reaches the template only through `sys.inputs` (see plandata.py), so no inventory
text ever becomes Typst markup. Only the fonts built into the Typst engine are used, never the
system's, and the timestamp is the plan's: every machine gives the same bytes. The result is
PDF/A-2b, tagged, with its title, author and keywords set, for the change ticket's archive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Final

from umrunbook.planning.plan import Plan

if TYPE_CHECKING:
    from umrunbook.faces.registry import RenderOptions
    from umrunbook.planning.records import StepRecord

TEMPLATE = "runbook.typ"
PDF_STANDARD: Final = "a-2b"


class PdfError(RuntimeError):
    """Typst refused the template or the data: a defect of the package, never of the input."""


@cache
def template_bytes() -> bytes:
    return resources.files("umrunbook.templates").joinpath(TEMPLATE).read_bytes()


def qr_svgs(plan: Plan) -> list[str]:
    from umrunbook.faces.qrcodes import qr_svg

    """The QR code of each video reference, in the order the template meets them."""
    return [
        qr_svg(ref.url, 4)
        for hop in plan.hops
        for ref in hop.procedure.references.values()
        if ref.url and ref.kind == "video"
    ]


def typst_inputs(
    plan: Plan,
    paper: str,
    markdown_text: str,
    executed: Mapping[str, Sequence[StepRecord]] | None = None,
    executed_from: Sequence[str] = (),
) -> dict[str, str]:
    from umrunbook.faces.pdf_data import plan_json

    inputs = {"plan": plan_json(plan, markdown_text, executed, executed_from), "paper": paper}
    for n, svg in enumerate(qr_svgs(plan)):
        inputs[f"qr-{n}"] = svg
    return inputs


def compile_pdf(inputs: dict[str, str], timestamp: int) -> bytes:
    import typst

    try:
        # The template goes in as bytes on every call: a reused typst.Compiler fails on the
        # second compile of a bytes input.
        result = typst.compile(
            template_bytes(),
            format="pdf",
            sys_inputs=inputs,
            pdf_standards=[PDF_STANDARD],
            ignore_system_fonts=True,
            timestamp=timestamp,
        )
    except typst.TypstError as exc:
        raise PdfError(f"{TEMPLATE}: {exc.message}\n{exc.diagnostic}") from None
    assert isinstance(result, bytes)
    return result


def render_pdf(
    plan: Plan,
    markdown_text: str,
    options: RenderOptions,
    *,
    executed: Mapping[str, Sequence[StepRecord]] | None = None,
    executed_from: Sequence[str] = (),
) -> bytes:
    """The PDF runbook of one plan, from the plan's data; the Markdown lends it only the
    transfer section, which the transfer files' template writes. With `executed` (records by
    step id), the as-executed runbook: each step with what was recorded there."""
    paper = options.paper if options.paper in ("a4", "letter") else "a4"
    inputs = typst_inputs(plan, paper, markdown_text, executed, executed_from)
    return compile_pdf(inputs, int(plan.generated_at.timestamp()))
