"""Small formatting shared by the faces and the ticket."""

from __future__ import annotations

from datetime import datetime

from umrunbook.planning.timing import Timing


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


def window_warning(timing: Timing) -> str:
    """A window shorter than the plan: what `check`, the ticket and the index say of it."""
    return (
        f"the window is {duration(timing.window_minutes)} but the plan needs "
        f"{duration(timing.needed_minutes)} ({duration(timing.plan_minutes)} of steps, one "
        f"appliance after another, and {duration(timing.backout_minutes)} for a backout); "
        "widen the window or split the fleet over several changes"
    )
