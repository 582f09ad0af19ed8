"""The plan's estimate set against the change's window: appliances are upgraded one after
another, and time is held for a backout. `check`, the ticket and the index show it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from umrunbook.inventory.model import Change
from umrunbook.planning.plan import PLANNED, Plan


@dataclass(frozen=True, slots=True)
class Timing:
    window_minutes: int
    plan_minutes: int
    backout_minutes: int
    per_appliance: tuple[tuple[str, int], ...]

    @property
    def needed_minutes(self) -> int:
        return self.plan_minutes + self.backout_minutes

    @property
    def fits(self) -> bool:
        return self.window_minutes >= self.needed_minutes


def timing(plans: Sequence[Plan], change: Change) -> Timing:
    planned = [p for p in plans if p.state == PLANNED]
    # On a route any upgrade may be the one to back out: hold time for the longest.
    backout = max((hop.backout.estimate_minutes for p in planned for hop in p.hops), default=0)
    return Timing(
        window_minutes=change.window.minutes,
        plan_minutes=sum(p.estimate_minutes for p in planned),
        backout_minutes=backout,
        per_appliance=tuple((p.appliance.name, p.estimate_minutes) for p in planned),
    )
