"""The night plan: the fleet's appliances against the window's clock.

A pure function of the plans and the window. The appliances are upgraded one after another
in the inventory's order: the first starts at the window's start, each next one when the one
before it is planned to end, and every step takes its estimate from the catalogue. The times
are in the window's own UTC offset (its start's). From that come the planned time of every
GO / NO-GO checkpoint and every step that only the snapshot can undo, the latest time a
backout can start and still end in the window, and, from 4.5 on, the verify step after which
the snapshot is not to be reverted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from umrunbook.inventory.model import Change
from umrunbook.planning.between import IRREVERSIBLE, NO_REVERT_FROM, is_checkpoint
from umrunbook.planning.plan import PLANNED, Hop, Plan
from umrunbook.planning.timing import Timing, timing_of

MarkerKind = Literal["go", "irreversible", "no-return"]
VERIFY_STEP = "verify"


@dataclass(frozen=True, slots=True)
class Marker:
    """One moment of the night to watch: a checkpoint, an irreversible step, the point of no
    return (the verify step of an upgrade whose snapshot is then not to be reverted)."""

    kind: MarkerKind
    at: datetime  # a checkpoint's and a step's start; the point of no return's end of verify
    number: str  # the step's number in the runbook
    title: str
    target: str  # the upgrade it belongs to
    vendor_says: bool = True  # no-return: the vendor says it (4.5), or umrunbook extends it


@dataclass(frozen=True, slots=True)
class ApplianceNight:
    name: str
    route: str
    start: datetime
    end: datetime
    minutes: int
    backout_minutes: int
    latest_backout_start: datetime  # the window's end less this appliance's backout
    markers: tuple[Marker, ...]

    @property
    def late(self) -> bool:
        """Planned to end after the latest backout start: a failure then has no room."""
        return self.end > self.latest_backout_start


@dataclass(frozen=True, slots=True)
class NightPlan:
    window_start: datetime
    window_end: datetime  # in the start's offset
    appliances: tuple[ApplianceNight, ...]
    timing: Timing
    latest_backout_start: datetime  # the window's end less the longest backout of the fleet

    @property
    def fits(self) -> bool:
        return self.timing.fits

    @property
    def offset(self) -> str:
        """The window's offset as "UTC+01:00" ("UTC" at +00:00)."""
        text = self.window_start.strftime("%z")
        return f"UTC{text[:3]}:{text[3:]}" if text not in ("", "+0000") else "UTC"

    def of(self, name: str) -> ApplianceNight | None:
        return next((a for a in self.appliances if a.name == name), None)


def night_plan(plans: Sequence[Plan], change: Change) -> NightPlan:
    """The fleet's night: every planned appliance in order, its times and its markers."""
    start = change.window.start
    end = change.window.end.astimezone(start.tzinfo)
    planned = [p for p in plans if p.state == PLANNED]
    nights = []
    cursor = start
    for plan in planned:
        backout = max(hop.backout.estimate_minutes for hop in plan.hops)
        markers: list[Marker] = []
        at = cursor
        for hop in plan.hops:
            at = _walk(hop, at, markers)
        finish = cursor + timedelta(minutes=plan.estimate_minutes)
        nights.append(
            ApplianceNight(
                name=plan.appliance.name,
                route=plan.route_text,
                start=cursor,
                end=finish,
                minutes=plan.estimate_minutes,
                backout_minutes=backout,
                latest_backout_start=end - timedelta(minutes=backout),
                markers=tuple(markers),
            )
        )
        cursor = finish
    # On a route any upgrade may be the one to back out: hold time for the longest.
    timing = timing_of([(a.name, a.minutes, a.backout_minutes) for a in nights], change)
    return NightPlan(
        window_start=start,
        window_end=end,
        appliances=tuple(nights),
        timing=timing,
        latest_backout_start=end - timedelta(minutes=timing.backout_minutes),
    )


def _walk(hop: Hop, at: datetime, markers: list[Marker]) -> datetime:
    """The hop's steps in the window, in order from `at`; returns the hop's end (the
    certificates after its steps, as in its estimate)."""
    target = hop.target_version.short
    begin = at
    for step in hop.steps:
        if step.phase != "window":
            continue
        if is_checkpoint(step):
            markers.append(Marker("go", at, step.number, step.title, target))
        elif step.id in IRREVERSIBLE:
            markers.append(Marker("irreversible", at, step.number, step.title, target))
        at += timedelta(minutes=step.estimate_minutes)
        if step.id == VERIFY_STEP and hop.target_version >= NO_REVERT_FROM:
            said = hop.target_version.key() == NO_REVERT_FROM.key()
            markers.append(Marker("no-return", at, step.number, step.title, target, said))
    return begin + timedelta(minutes=hop.estimate_minutes)
