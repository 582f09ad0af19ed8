"""Change-request fields from the plans, named as ServiceNow's change_request table names them.

Text to paste into any ITSM tool, or JSON to import; nothing here talks to a ticket system.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from umrunbook.faces.humanize import duration
from umrunbook.inventory.model import Change
from umrunbook.planning.plan import PLANNED, Plan

FIELDS = (
    ("short_description", "Short description"),
    ("description", "Description"),
    ("justification", "Justification"),
    ("implementation_plan", "Implementation plan"),
    ("backout_plan", "Backout plan"),
    ("test_plan", "Test plan"),
    ("risk_impact_analysis", "Risk and impact"),
    ("start_date", "Planned start"),
    ("end_date", "Planned end"),
    ("cmdb_ci", "Affected configuration items"),
)


@dataclass(frozen=True, slots=True)
class Timing:
    """The plan's estimate set against the window: appliances are upgraded one after another."""

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

    def warning(self) -> str:
        return (
            f"the window is {duration(self.window_minutes)} but the plan needs "
            f"{duration(self.needed_minutes)} ({duration(self.plan_minutes)} of steps, one "
            f"appliance after another, and {duration(self.backout_minutes)} for a backout); "
            "widen the window or split the fleet over several changes"
        )


def timing(plans: Sequence[Plan], change: Change) -> Timing:
    planned = [p for p in plans if p.state == PLANNED]
    backout = max((p.hops[-1].backout.estimate_minutes for p in planned), default=0)
    return Timing(
        window_minutes=change.window.minutes,
        plan_minutes=sum(p.estimate_minutes for p in planned),
        backout_minutes=backout,
        per_appliance=tuple((p.appliance.name, p.estimate_minutes) for p in planned),
    )


def ticket_fields(plans: Sequence[Plan], change: Change) -> dict[str, str]:
    planned = [p for p in plans if p.state == PLANNED]
    idle = [p for p in plans if p.state != PLANNED]
    if not planned:
        raise ValueError("no appliance needs an upgrade: there is nothing to put in a change")
    first = planned[0]
    target = first.target.short
    names = [p.appliance.name for p in planned]
    when = timing(plans, change)
    hop_titles = sorted({hop.procedure.title for p in planned for hop in p.hops})
    references = sorted(
        {
            f"{ref.title}: {ref.url}"
            for p in planned
            for hop in p.hops
            for ref in hop.procedure.references.values()
            if ref.kind == "vendor"
        }
    )

    short = (
        f"Upgrade Usage Meter appliance {names[0]} to {target}"
        if len(names) == 1
        else f"Upgrade {len(names)} Usage Meter appliances to {target}"
    )

    description = [
        f"In-place upgrade of VMware Usage Meter to {target} by the vendor's procedure "
        f"({'; '.join(hop_titles)}).",
        "",
        "Appliances:",
        *(f"- {p.appliance.name} ({p.appliance.host}): {p.route_text}" for p in planned),
    ]
    if idle:
        description += [
            "",
            "Already at the target, not changed: " + ", ".join(p.appliance.name for p in idle),
        ]
    description += [
        "",
        f"Estimated duration: {duration(when.plan_minutes)} of steps, one "
        "appliance after another (estimate), plus "
        f"{duration(when.backout_minutes)} held for a backout.",
        *(f"- {name}: {duration(m)} (estimate)" for name, m in when.per_appliance),
    ]

    justification = (
        f"Brings the appliances to Usage Meter {target} through the upgrade path the vendor "
        "supports for their versions, keeping usage metering and reporting on a supported "
        "release. References: " + "; ".join(references)
    )

    # Appliances that follow the same steps are listed once, so a fleet's plan stays readable.
    groups: dict[tuple[str, ...], list[Plan]] = {}
    for plan in planned:
        outline = tuple(
            f"{step.number}. {step.title} ({step.where_label})"
            + (" [agent]" if step.by == "agent" else "")
            for hop in plan.hops
            for step in hop.steps
        )
        groups.setdefault(outline, []).append(plan)
    implementation = []
    for outline, members in groups.items():
        implementation.append(
            "For "
            + ", ".join(f"{p.appliance.name} ({p.route_text})" for p in members)
            + ", one after another:"
        )
        implementation += [f"  {line}" for line in outline]
        implementation.append("")
    implementation.append("Then accept the certificates of the metered servers again:")
    implementation += [
        f"  {p.appliance.name}: {', '.join(p.appliance.metered_servers) or 'every server listed'}"
        for p in planned
    ]
    implementation.append("")
    implementation.append(
        "Each appliance's runbook (runbook.pdf) holds every command and expected result."
    )

    backout_plan = []
    last = planned[0].hops[-1].backout
    backout_plan.append("Invoke when: " + " ".join(last.when))
    for step in last.steps:
        detail = f": {step.text.plain}" if len(planned) == 1 else ""
        backout_plan.append(f"{step.number}. {step.title}{detail}")
    backout_plan.append(last.snapshot_until)
    backout_plan.append(
        "Snapshots: "
        + ", ".join(
            f"{p.appliance.name}: {p.hops[0].snapshot_name}"
            + (f" at {p.appliance.snapshot}" if p.appliance.snapshot else "")
            for p in planned
        )
    )

    test_plan = []
    for step in first.hops[-1].steps:
        if step.id in ("preflight", "verify"):
            test_plan.append(f"- {step.title}: {step.expect.plain}")
    test_plan.append(
        f"- {first.hops[-1].certificates.title}: {first.hops[-1].certificates.expect.plain}"
    )
    test_plan.append(
        "- The agent's evidence file (evidence-<appliance>-<ticket>.json) is "
        "attached to this change for every appliance."
    )

    risk = first.hops[-1].procedure.risk
    risk_text = f"Risk: {risk.level}. {risk.impact}"

    values = {
        "short_description": short,
        "description": "\n".join(description),
        "justification": justification,
        "implementation_plan": "\n".join(implementation).strip(),
        "backout_plan": "\n".join(backout_plan),
        "test_plan": "\n".join(test_plan),
        "risk_impact_analysis": risk_text,
        "start_date": _servicenow_time(change.window.start),
        "end_date": _servicenow_time(change.window.end),
        "cmdb_ci": ", ".join(names),
    }
    return values


def render_text(fields: dict[str, str], when: Timing) -> str:
    parts = []
    for key, label in FIELDS:
        value = fields[key]
        if key in ("start_date", "end_date"):
            value += " UTC"
        parts.append(f"{label} ({key}):\n{_indent(value)}")
    status = "fits" if when.fits else "TOO SHORT"
    parts.append(
        f"Window against plan:\n  window {duration(when.window_minutes)}, plan "
        f"{duration(when.plan_minutes)} + backout {duration(when.backout_minutes)}: {status}"
    )
    return "\n\n".join(parts) + "\n"


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else "" for line in text.splitlines())


def _servicenow_time(moment: datetime) -> str:
    # ServiceNow imports date-times as 'YYYY-MM-DD HH:MM:SS'; UTC says which zone they are in.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
