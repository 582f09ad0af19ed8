"""What `check` reports of a fleet, found without writing every appliance's runbook.

`check` needs, for each appliance, the problems a render would raise, its route, its state and
its estimate: not the bound steps nor the agent (some 90 KB of text each), which made a check
of 10,000 appliances take seconds and a gigabyte. The route, the bundle specs and the agent's
manifest are checked for every appliance with the functions `plan_for` uses; the first
appliance of each route (with or without a proxy) is planned in full, so a catalogue problem in
binding its steps shows as it would in a render.
"""

from __future__ import annotations

from dataclasses import dataclass

from umrunbook.catalogue.procedure import Catalogue, Procedure
from umrunbook.errors import InputError, Problem
from umrunbook.inventory.model import Appliance, Inventory
from umrunbook.planning.agent_file import validate_manifest
from umrunbook.planning.agent_manifest import manifest_for
from umrunbook.planning.bind import (
    GENERATOR,
    _bundle_spec,
    bundle_items,
    check_target,
    generated_at,
    hop_estimate,
    plan_for,
    route_for,
)
from umrunbook.planning.plan import NOTHING_TO_DO, PLANNED, Plan


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """One appliance's plan as `check` prints it and sets it against the window."""

    name: str
    target: str  # the appliance's target, as "4.7"
    route_text: str
    state: str
    estimate_minutes: int  # the steps of every hop in the window, go / no-go gates included
    backout_minutes: int  # the longest of its hops' backouts; 0 when nothing is to be done
    route_reason: str = ""  # why this route of several upgrades


def summarize_fleet(inventory: Inventory, catalogue: Catalogue) -> tuple[PlanSummary, ...]:
    """A summary for every appliance; InputError with every problem `plan_fleet` would raise."""
    check_target(inventory, catalogue)
    moment = generated_at()
    problems: list[Problem] = []
    # The minutes a route adds to its hops' own (the go / no-go between two upgrades), read
    # from the first appliance planned in full on that route.
    gates: dict[tuple[tuple[str, ...], bool], int] = {}
    # A route (and why it) depends on the version and the appliance's own target alone: found
    # once for each pair.
    routes: dict[tuple[object, ...], tuple[str, tuple[Procedure, ...], str]] = {}
    summaries = []
    for appliance in inventory.appliances:
        try:
            key = (appliance.version.key(), appliance.target)
            found = routes.get(key)
            if found is None:
                target, route, reason = route_for(appliance, inventory, catalogue)
                routes[key] = found = (target.short, route, reason)
            target_text, route, reason = found
            shape = (tuple(p.target for p in route), bool(appliance.proxy))
            if shape not in gates:
                plan = plan_for(appliance, inventory, catalogue, moment)
                summary = _of_plan(plan)
                gates[shape] = summary.estimate_minutes - _hop_minutes(appliance, inventory, route)
                summaries.append(summary)
            else:
                summaries.append(
                    _of_route(appliance, inventory, target_text, route, reason, gates[shape])
                )
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return tuple(summaries)


def _of_plan(plan: Plan) -> PlanSummary:
    return PlanSummary(
        plan.appliance.name,
        plan.target.short,
        plan.route_text,
        plan.state,
        plan.estimate_minutes,
        max((hop.backout.estimate_minutes for hop in plan.hops), default=0),
        plan.route_reason,
    )


def _hop_minutes(appliance: Appliance, inventory: Inventory, route: tuple[Procedure, ...]) -> int:
    minutes = 0
    for index, procedure in enumerate(route):
        spec = _bundle_spec(appliance, inventory, procedure, route, index == len(route) - 1)
        minutes += hop_estimate(procedure, appliance, bundle_items(procedure, spec)[0].sha256)
    return minutes


def _of_route(
    appliance: Appliance,
    inventory: Inventory,
    target: str,
    route: tuple[Procedure, ...],
    reason: str,
    gate_minutes: int,
) -> PlanSummary:
    """The summary `_of_plan(plan_for(...))` gives, the steps left unbound."""
    if not route:
        return PlanSummary(appliance.name, target, str(appliance.version), NOTHING_TO_DO, 0, 0)
    problems: list[Problem] = []
    at = appliance.version
    minutes = 0
    for index, procedure in enumerate(route):
        final = index == len(route) - 1
        try:
            spec = _bundle_spec(appliance, inventory, procedure, route, final)
        except InputError as exc:
            problems.extend(exc.problems)
        else:
            first = at.key() == appliance.version.key()
            bundle = bundle_items(procedure, spec)
            validate_manifest(
                manifest_for(
                    appliance, inventory, procedure, bundle, GENERATOR, None if first else str(at)
                )
            )
            minutes += hop_estimate(procedure, appliance, bundle[0].sha256)
        at = procedure.target_version
    if problems:
        raise InputError(problems)
    return PlanSummary(
        appliance.name,
        target,
        " → ".join([str(appliance.version), *(p.target_version.short for p in route)]),
        PLANNED,
        minutes + gate_minutes,
        max(procedure.backout.estimate_minutes for procedure in route),
        reason,
    )
