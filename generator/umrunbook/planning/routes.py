"""Routes: which in-place upgrades, in which order, take an appliance to the target.

A route is a chain of procedures, each accepting the version the one before it left. Of the
routes the catalogue allows, the planner takes one with the fewest upgrades (each is a night's
work and a snapshot); among as few, the one whose steps the vendor's documents cover most
(a field-report step is one the operator must confirm before the window); among those, the
one through the highest versions. The inventory's `upgrade.via` pins the stops instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from umrunbook.catalogue.procedure import Catalogue, Procedure
from umrunbook.versions import Version

Route = tuple[Procedure, ...]


@dataclass(frozen=True, slots=True)
class RouteChoice:
    """The route taken, and why: the words `check` and `paths` show."""

    procedures: Route
    reason: str  # "" for no upgrade or a single one


def vendor_steps(procedure: Procedure) -> int:
    """How many of the procedure's steps a vendor document gives."""
    return sum(1 for step in procedure.steps if procedure.reference(step.source).kind == "vendor")


def route_vendor_steps(route: Route) -> tuple[int, int]:
    """(vendor-documented steps, all steps) over the route's upgrades."""
    return sum(vendor_steps(p) for p in route), sum(len(p.steps) for p in route)


def shortest_routes(version: Version, target: Version, catalogue: Catalogue) -> list[Route]:
    """Every route with the fewest upgrades; [()] at the target, [] when there is none."""
    if version.key() == target.key():
        return [()]
    routes: list[Route] = [()]
    for _ in range(len(catalogue.procedures)):
        extended: list[Route] = []
        for route in routes:
            at = route[-1].target_version if route else version
            for procedure in catalogue.procedures:
                step_to = procedure.target_version
                if at < step_to <= target and procedure.accepts(at):
                    extended.append((*route, procedure))
        done = [r for r in extended if r[-1].target_version.key() == target.key()]
        if done:
            return done
        routes = extended
        if not routes:
            break
    return []


def _rank(route: Route) -> tuple[int, tuple[tuple[int, int, int, int], ...]]:
    return route_vendor_steps(route)[0], tuple(p.target_version.key() for p in route)


def choose_route(version: Version, target: Version, catalogue: Catalogue) -> RouteChoice | None:
    """The route the planner takes, with the reason; None when there is none."""
    candidates = shortest_routes(version, target, catalogue)
    if not candidates:
        return None
    best = max(candidates, key=_rank)
    if len(best) < 2:
        return RouteChoice(best, "")
    others = sorted((r for r in candidates if r != best), key=_rank, reverse=True)
    vendor, total = route_vendor_steps(best)
    reason = (
        f"fewest upgrades ({len(best)}), and the most steps from vendor documents: "
        f"{vendor} of {total}"
    )
    if others:
        reason += (
            " ("
            + "; ".join(
                "{}: {} of {}".format(stops_text(version, r), *route_vendor_steps(r))
                for r in others
            )
            + ")"
        )
        if any(_rank(r)[0] == vendor for r in others):
            reason += "; of those as high, the one through the highest versions"
    return RouteChoice(best, reason)


def find_route(version: Version, target: Version, catalogue: Catalogue) -> Route | None:
    """The chosen route's procedures; None when there is none, () at the target."""
    choice = choose_route(version, target, catalogue)
    return None if choice is None else choice.procedures


def pinned_route(
    version: Version, target: Version, via: tuple[str, ...], catalogue: Catalogue
) -> Route | str:
    """The route through the `via` stops that lie after `version`, or why there is none.

    Stops at or below the appliance's version are behind it and left out, so that one
    inventory serves a fleet at several versions.
    """
    stops = [Version.parse(v) for v in via]
    for earlier, later in pairwise(stops):
        if later <= earlier:
            return f"the stops must rise: {earlier.short} then {later.short}"
    for stop in stops:
        if stop >= target:
            return f"{stop.short} is not before the target {target.short}"
    ahead = [stop for stop in stops if stop > version]
    route: list[Procedure] = []
    at = version
    for stop in [*ahead, target]:
        procedure = next(
            (p for p in catalogue.procedures if p.target_version.key() == stop.key()), None
        )
        if procedure is None:
            return f"{stop.short} is not a target in the procedure catalogue"
        if not procedure.accepts(at):
            return (
                f"the catalogue has no upgrade from {at} to {stop.short} "
                f"(the {procedure.target} procedure accepts {procedure.sources_text})"
            )
        route.append(procedure)
        at = stop
    return tuple(route)


def stops_text(version: Version, route: Route) -> str:
    return " → ".join([str(version), *(p.target for p in route)])
