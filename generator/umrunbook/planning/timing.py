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
    return timing_of(
        [
            (
                p.appliance.name,
                p.estimate_minutes,
                max(hop.backout.estimate_minutes for hop in p.hops),
            )
            for p in planned
        ],
        change,
    )


def timing_of(planned: Sequence[tuple[str, int, int]], change: Change) -> Timing:
    """The timing of the appliances to upgrade, each as (name, minutes, the longest of its
    backouts in minutes): `check` gives it from summaries, without whole plans."""
    return Timing(
        window_minutes=change.window.minutes,
        plan_minutes=sum(minutes for _name, minutes, _backout in planned),
        backout_minutes=max((backout for _name, _minutes, backout in planned), default=0),
        per_appliance=tuple((name, minutes) for name, minutes, _backout in planned),
    )
