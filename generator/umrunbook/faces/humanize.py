"""Small formatting shared by the faces and the ticket."""

from __future__ import annotations


def duration(minutes: int) -> str:
    """75 -> '1 h 15 min', 60 -> '1 h', 5 -> '5 min'."""
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest:02d} min" if rest else f"{hours} h"
