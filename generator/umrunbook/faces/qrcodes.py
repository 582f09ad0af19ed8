"""QR codes of the catalogue's URLs (the vendor's video), for paper: nobody types a URL."""

from __future__ import annotations

from functools import cache


@cache
def qr_svg(url: str, scale: int, omit_size: bool = False) -> str:
    """The URL's QR code as inline SVG; cached, since the same few URLs recur in every
    runbook of a fleet."""
    import segno

    code = segno.make(url, error="m")
    return str(code.svg_inline(scale=scale, dark="#000", light="#fff", omitsize=omit_size))
