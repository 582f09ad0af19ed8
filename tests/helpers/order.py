"""What every face is held to on order and repetition: the headings follow the plan's steps,
the transfer detail stands at the step that uses it, and each checksum command is shown once."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers import NOW, route_inventory_text
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.inventory.load import parse_inventory
from umrunbook.planning.bind import plan_fleet
from umrunbook.planning.plan import Hop, Plan, PlannedStep

# The headings of the transfer detail, under the step they belong to (by step id).
DETAIL_HEADINGS = {
    "check-bundle": {"iso": ("Check the ISO against the vendor's manifest",), "shar": ()},
    "upload": {
        "iso": ("Upload with WinSCP (graphical)", "Or upload with the generated scripts"),
        "shar": ("Upload with WinSCP (graphical)", "Or upload with the generated scripts"),
    },
    "evidence": {
        "iso": ("Copy the evidence back to the workstation",),
        "shar": ("Copy the evidence back to the workstation",),
    },
}

# A checksum command as typed, up to its file: `sha256sum x`, `Get-FileHash -Algorithm SHA1`.
# The on-box form names its file in the line it checks: `echo 'HASH  FILE' | sha256sum -c -`.
CHECKSUM = re.compile(
    r"Get-FileHash -Algorithm \w+|certutil -hashfile \S+ \w+|shasum -a \d+ \S+"
    r"|echo '\S+\s+\S+' \| sha(?:1|256)sum -c -|sha(?:1|256)sum(?: -c)? (?!-)\S+"
)


def iso_route_plan(host_key: bool = True) -> Plan:
    """4.2 → 4.5 → 4.7: two ISO upgrades (without the host key: its reading comes first)."""
    text = route_inventory_text() if host_key else route_inventory_text(host_key=None)
    (plan,) = plan_fleet(parse_inventory(text, Path("route.yaml")), load_catalogue(), NOW)
    return plan


def expected_headings(plan: Plan) -> list[str]:
    """Every step's heading in the order the steps are done, each followed by its detail's
    headings (the workstation's check at the download where the upgrade has no check step).
    On a route every upgrade's steps before the window come first, then each upgrade's
    steps in the window."""

    def headings(hop: Hop, step: PlannedStep) -> list[str]:
        ids = {s.id for s in hop.steps}
        key = step.id
        if step.id == "download-bundle" and "check-bundle" not in ids:
            key = "check-bundle"
        details = DETAIL_HEADINGS.get(key, {}).get(hop.procedure.delivery, ())
        return [f"Step {step.number}: {step.title}", *details]

    out: list[str] = []
    if len(plan.hops) > 1:
        for hop in plan.hops:
            for step in hop.steps:
                if step.phase == "before":
                    out += headings(hop, step)
    for hop in plan.hops:
        for step in hop.steps:
            if len(plan.hops) == 1 or step.phase != "before":
                out += headings(hop, step)
    return out


def sha256_checks(plan: Plan) -> int:
    """How many upgrades of the plan check the bundle's SHA-256 on the workstation."""
    return sum(any(s.id == "check-bundle" for s in hop.steps) for hop in plan.hops)


def assert_headings_follow_the_steps(
    plan: Plan, headings: list[str], *, appendix: bool = False
) -> None:
    """`headings`: a face's headings in document order. With `appendix` (the PDF), the
    details stand apart after the steps, each under "A.n" and its step's heading."""
    wanted = expected_headings(plan)
    if appendix:
        wanted = appendix_order(plan, wanted)
    names = set(wanted)
    assert [h for h in headings if h in names] == wanted
    # No transfer section of its own before the first step.
    assert not [h for h in headings if h == "Transfer" or h.endswith(": Transfer")]
    first = headings.index(wanted[0])
    assert not [h for h in headings[:first] if h in names]


def appendix_order(plan: Plan, wanted: list[str]) -> list[str]:
    """The steps' headings, then for each step with details "A.n" and its heading, then the
    details' headings."""
    from umrunbook.faces.view import runbook_view

    steps = {f"Step {s.number}: {s.title}" for hop in plan.hops for s in hop.steps}
    body = [h for h in wanted if h in steps]
    entries: list[tuple[str, list[str]]] = []
    for h in wanted:
        if h in steps:
            entries.append((h, []))
        else:
            entries[-1][1].append(h)
    view = runbook_view(plan)
    phases = [*view.before, *(phase for hop in view.hops for phase in hop.phases)]
    detailed = [sv.heading for phase in phases for sv in phase.steps if sv.details]
    appendix: list[str] = []
    n = 0
    for h, details in entries:
        if detailed[:1] == [h]:
            detailed.pop(0)
            n += 1
            appendix += [f"A.{n} {h}", *details]
        else:
            assert not details, h
    assert not detailed, detailed
    return body + appendix


def checksum_commands(text: str) -> list[str]:
    return CHECKSUM.findall(text)
