"""Change-request fields from the plans, named as ServiceNow's change_request table names them.

Text to paste into any ITSM tool, or JSON to import; nothing here talks to a ticket system.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from umrunbook.faces.humanize import duration
from umrunbook.faces.view import NightView, night_view
from umrunbook.inventory.model import Change
from umrunbook.planning.night import night_plan
from umrunbook.planning.plan import PLANNED, Hop, Plan
from umrunbook.planning.timing import Timing as Timing
from umrunbook.planning.timing import timing as timing
from umrunbook.versions import Version

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
    ("cmdb_ci", "Configuration item"),
    ("affected_cis", "Affected configuration items"),
)
# ServiceNow's cmdb_ci names one item; every appliance of the change is in affected_cis, a list
# (the change's Affected CIs related list), so that each one resolves on its own.
Fields = dict[str, str | list[str]]


def ticket_fields(plans: Sequence[Plan], change: Change) -> Fields:
    planned = [p for p in plans if p.state == PLANNED]
    idle = [p for p in plans if p.state != PLANNED]
    if not planned:
        raise ValueError("no appliance needs an upgrade: there is nothing to put in a change")
    # A mixed fleet is one change: every target it reaches, lowest first ("4.3 and 4.7").
    targets = sorted({p.target.short for p in planned}, key=lambda t: Version.parse(t).key())
    target = targets[-1] if len(targets) == 1 else f"{', '.join(targets[:-1])} and {targets[-1]}"
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
        "Window: " + _window_text(change),
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
            for step in sorted(
                (step for hop in plan.hops for step in hop.steps), key=lambda s: int(s.number)
            )
        )
        groups.setdefault(outline, []).append(plan)
    implementation = night_lines(night_view(night_plan(plans, change)))
    implementation.append("")
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

    backout_plan = _backout(planned)

    # The checks of each final upgrade the fleet makes, once per target.
    last_hops: dict[str, Hop] = {}
    for plan in planned:
        last_hops.setdefault(plan.target.short, plan.hops[-1])
    test_plan = []
    for hop_target in targets:
        hop = last_hops[hop_target]
        label = f"{hop_target}: " if len(targets) > 1 else ""
        for step in hop.steps:
            if step.id in ("preflight", "verify"):
                test_plan.append(f"- {label}{step.title}: {step.expect.plain}")
        test_plan.append(f"- {label}{hop.certificates.title}: {hop.certificates.expect.plain}")
    test_plan.append(
        "- The agent's evidence files, one pair (.json and .md) per upgrade, are attached to "
        "this change: "
        + ", ".join(
            f"evidence-{p.appliance.name}-{change.ticket}-{hop.procedure.target}.json"
            for p in planned
            for hop in p.hops
        )
    )

    risk_text = "\n".join(_risk(planned))

    values: Fields = {
        "short_description": short,
        "description": "\n".join(description),
        "justification": justification,
        "implementation_plan": "\n".join(implementation).strip(),
        "backout_plan": "\n".join(backout_plan),
        "test_plan": "\n".join(test_plan),
        "risk_impact_analysis": risk_text,
        "start_date": _servicenow_time(change.window.start),
        "end_date": _servicenow_time(change.window.end),
        "cmdb_ci": names[0],
        "affected_cis": names,
    }
    return values


def render_text(fields: Fields, when: Timing, change: Change) -> str:
    parts = []
    for key, label in FIELDS:
        field = fields[key]
        value = "\n".join(f"- {item}" for item in field) if isinstance(field, list) else field
        if key in ("start_date", "end_date"):
            moment = change.window.start if key == "start_date" else change.window.end
            value += f" UTC (local: {_local(moment)})"
        parts.append(f"{label} ({key}):\n{_indent(value)}")
    status = "fits" if when.fits else "TOO SHORT"
    parts.append(
        f"Window against plan:\n  window {duration(when.window_minutes)}, plan "
        f"{duration(when.plan_minutes)} + backout {duration(when.backout_minutes)}: {status}"
    )
    return "\n\n".join(parts) + "\n"


def night_lines(night: NightView) -> list[str]:
    """The fleet's night plan as plain lines: the appliances in order, their clock times, the
    checkpoints and irreversible steps, the latest backout start."""
    lines = [f"{night.heading}, {night.window}: {night.intro}"]
    for a in night.appliances:
        late = " (ends after its latest backout start)" if a.late else ""
        lines.append(f"{a.start}-{a.end} {a.name} ({a.route}), about {duration(a.takes)}{late}")
        for e in a.events:
            note = f": {e.note}" if e.note else ""
            lines.append(f"  {e.clock} {e.label}: {e.step}, {e.title}{note}")
    lines.append(
        f"Latest backout start: {night.latest_backout} (the window's end less "
        f"{duration(night.backout_minutes)} for a backout)"
    )
    if night.warning:
        lines.append(f"Window TOO SHORT: {night.warning}")
    return lines


def _backout(planned: Sequence[Plan]) -> list[str]:
    """Every upgrade's backout, in the order of the route, each with its own snapshots: on a
    route, a failed second upgrade reverts to the second snapshot, not the first."""
    lines: list[str] = []
    targets: dict[str, list[Plan]] = {}
    for plan in planned:
        for hop in plan.hops:
            targets.setdefault(hop.procedure.target, []).append(plan)
    multi = len(targets) > 1 or any(len(p.hops) > 1 for p in planned)
    for target in sorted(targets, key=lambda t: Version.parse(t).key()):
        members = targets[target]
        hop = next(h for h in members[0].hops if h.procedure.target == target)
        backout = hop.backout
        if multi:
            lines.append(f"If the upgrade to {target} fails ({', '.join(_names(members))}):")
        lines.append("Invoke when: " + " ".join(backout.when))
        for step in backout.steps:
            detail = f": {step.text.plain}" if len(planned) == 1 else ""
            lines.append(f"{step.number}. {step.title}{detail}")
        lines.append(backout.snapshot_until)
        lines.append(
            "Snapshots to revert to: "
            + ", ".join(
                f"{p.appliance.name}: {h.snapshot_name}"
                + (f" at {p.appliance.snapshot}" if p.appliance.snapshot else "")
                for p in members
                for h in p.hops
                if h.procedure.target == target
            )
        )
        lines.append("")
    return lines[:-1]


def _risk(planned: Sequence[Plan]) -> list[str]:
    """The catalogue's risk of each upgrade, and the steps that come from field reports."""
    lines = []
    seen: dict[str, Hop] = {}
    for plan in planned:
        for hop in plan.hops:
            seen.setdefault(hop.procedure.target, hop)
    hops = [seen[t] for t in sorted(seen, key=lambda t: Version.parse(t).key())]
    for hop in hops:
        risk = hop.procedure.risk
        label = f"{hop.procedure.target}: " if len(hops) > 1 else ""
        lines.append(f"{label}Risk: {risk.level}. {risk.impact}")
    field = [(hop, [step for step in hop.steps if step.source.kind == "field"]) for hop in hops]
    field = [(hop, steps) for hop, steps in field if steps]
    if field:
        lines.append("")
        lines.append(
            "Steps from field reports, not from a vendor document; each runbook flags them, "
            "and each is to be confirmed against the vendor document for the build before the "
            "window:"
        )
        for hop, steps in field:
            titles = sorted({step.source.title for step in steps})
            lines.append(
                f"- {hop.procedure.target}: "
                + "; ".join(step.title for step in steps)
                + f" (source: {'; '.join(titles)})"
            )
    return lines


def _names(plans: Sequence[Plan]) -> list[str]:
    return [p.appliance.name for p in plans]


def _window_text(change: Change) -> str:
    start, end = change.window.start, change.window.end
    return (
        f"{_local(start)} to {_local(end)} (local); "
        f"{_servicenow_time(start)} to {_servicenow_time(end)} UTC"
    )


def _local(moment: datetime) -> str:
    """The time as the inventory wrote it, with its offset from UTC."""
    offset = moment.strftime("%z")
    shown = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    return f"{moment.strftime('%Y-%m-%d %H:%M')} {shown}"


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else "" for line in text.splitlines())


def _servicenow_time(moment: datetime) -> str:
    # ServiceNow imports date-times as 'YYYY-MM-DD HH:MM:SS'; UTC says which zone they are in.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
