"""The one set of options every Typst compile of umrunbook uses: the PDF standard, and the fonts.

The runbook's PDF and `check`'s glyph probe must see the same fonts, or `check` would accept a
character the PDF then cannot show. Only the fonts built into Typst and those shipped in
templates/fonts/ are used, never the system's: every machine gives the same bytes.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Final

PDF_STANDARD: Final = "a-2b"


@cache
def font_paths() -> tuple[str, ...]:
    # The templates are a real folder in a wheel, an editable install and the PyInstaller
    # binary alike (it unpacks its data), so the path can be handed to the engine as it is.
    return (str(resources.files("umrunbook.templates").joinpath("fonts")),)


def engine_options() -> dict[str, object]:
    """The keyword arguments of every compile: PDF/A, and only umrunbook's fonts."""
    return {
        "format": "pdf",
        "pdf_standards": [PDF_STANDARD],
        "ignore_system_fonts": True,
        "font_paths": list(font_paths()),
    }


def compile_pdf(source: bytes, inputs: dict[str, str], timestamp: int | None = None) -> bytes:
    """Typeset `source` with `inputs` as PDF/A; raises typst.TypstError."""
    from umrunbook.engine import make_typst_importable

    make_typst_importable()
    import typst

    options = engine_options()
    if timestamp is not None:
        options["timestamp"] = timestamp
    result = typst.compile(source, sys_inputs=inputs, **options)  # type: ignore[call-overload]
    assert isinstance(result, bytes)
    return result
