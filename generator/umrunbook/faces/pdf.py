"""The PDF runbook: the plan as JSON data, typeset by Typst from `templates/runbook.typ`.

The plan reaches the template only through `sys.inputs` (see pdf_data.py), so no inventory
text ever becomes Typst markup. Only the fonts built into the Typst engine and those shipped
in templates/fonts/ are used, never the system's (typesetting.py), and the timestamp is the
plan's: every machine gives the same bytes. The result is PDF/A-2b, tagged, with its title,
author and keywords set, for the change ticket's archive.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from umrunbook import typesetting
from umrunbook.planning.plan import Plan

if TYPE_CHECKING:
    from umrunbook.faces.registry import RenderOptions
    from umrunbook.faces.view import RunbookView

TEMPLATE = "runbook.typ"


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


def typst_inputs(view: RunbookView, paper: str) -> dict[str, str]:
    from umrunbook.faces.pdf_data import view_json

    inputs = {"plan": view_json(view), "paper": paper}
    for n, svg in enumerate(qr_svgs(view.plan)):
        inputs[f"qr-{n}"] = svg
    return inputs


def compile_pdf(inputs: dict[str, str], timestamp: int) -> bytes:
    from umrunbook.engine import make_typst_importable

    make_typst_importable()
    import typst

    try:
        # The template goes in as bytes on every call: a reused typst.Compiler fails on the
        # second compile of a bytes input.
        return typesetting.compile_pdf(template_bytes(), inputs, timestamp)
    except typst.TypstError as exc:
        raise PdfError(f"{TEMPLATE}: {exc.message}\n{exc.diagnostic}") from None


def render_pdf(view: RunbookView, options: RenderOptions) -> bytes:
    """The PDF runbook of one plan, from its view; from an as-executed view, the as-executed
    runbook: each step with what was recorded there."""
    paper = options.paper if options.paper in ("a4", "letter") else "a4"
    inputs = typst_inputs(view, paper)
    return compile_pdf(inputs, int(view.plan.generated_at.timestamp()))
