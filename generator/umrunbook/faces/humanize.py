"""Small formatting shared by the faces and the ticket."""

from __future__ import annotations

from datetime import datetime


def duration(minutes: int) -> str:
    """75 -> '1 h 15 min', 60 -> '1 h', 5 -> '5 min'."""
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest:02d} min" if rest else f"{hours} h"


def when(moment: datetime) -> str:
    offset = moment.strftime("%z")
    zone = f"UTC{offset[:3]}:{offset[3:]}" if offset not in ("", "+0000") else "UTC"
    return moment.strftime("%Y-%m-%d %H:%M ") + f"({zone})"


def when_utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
