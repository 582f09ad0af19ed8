"""The plan as plain JSON data, for the Typst template of the PDF runbook.

Every value is a string (or a list or mapping of them), so the template never has to format
a number or a date, and inventory text reaches Typst only as data: the template shows strings
as text, and never evaluates them. Prose with the appliance's values is a list of
[text, kind] pairs, kind "value" for a value (set in monospace) and "text" for the rest.

What the Markdown runbook shows, this carries: the two are held against each other by a test.
"""

from __future__ import annotations

import json
from typing import Any

from umrunbook.humanize import duration
from umrunbook.markdown import when, when_utc
from umrunbook.plan import Hop, Plan, PlannedStep, Text

PHASES = (("before", "Before the window"), ("window", "In the window"))
SHELL_NAMES = {"sh": "Shell", "powershell": "PowerShell", "cmd": "Command Prompt"}


def segments(text: Text) -> list[list[str]]:
    return [[part, "value" if is_value else "text"] for part, is_value in text.segments]


def step_data(step: PlannedStep) -> dict[str, Any]:
    return {
        "number": step.number,
        "id": step.id,
        "title": step.title,
        "where": step.where,
        "where_label": step.where_label,
        "by": "the agent, started by you" if step.by == "agent" else "you, by hand",
        "estimate": duration(step.estimate_minutes),
        "source": step.source_label,
        "text": segments(step.text),
        "commands": [
            {
                "shell": block.shell,
                "shell_name": SHELL_NAMES.get(block.shell, block.shell),
                "text": "\n".join(block.lines),
            }
            for block in step.commands
        ],
        "agent_runs": "\n".join(step.agent_runs),
        "expect": segments(step.expect),
        "if_not": segments(step.if_not),
    }


def hop_data(plan: Plan, hop: Hop, index: int) -> dict[str, Any]:
    multi = len(plan.hops) > 1
    a = plan.appliance
    key = a.ssh_host_key
    return {
        "index": str(index + 1),
        "source": hop.source_version.short,
        "target": hop.target_version.short,
        "prefix": f"{hop.target_version.short}: " if multi else "",
        "bundle": [{"name": item.name, "sha256": item.sha256} for item in hop.bundle],
        "agent": {"name": hop.agent.name, "sha256": hop.agent.sha256},
        "snapshot_name": hop.snapshot_name,
        "snapshot_at": a.snapshot or "the VM's location in vCenter",
        "prerequisites": [p.text for p in hop.procedure.prerequisites],
        "transfer": {
            "protocol": plan.transfer.protocol.upper(),
            "host": a.host,
            "port": str(a.ssh_port),
            "user": "root",
            "folder": hop.procedure.install_dir,
            "files": [item.name for item in hop.bundle] + [hop.agent.name],
            "key_sha256": key.sha256 if key else "",
            "key_type": key.key_type if key else "",
            "key_winscp": key.winscp if key else "",
        },
        "phases": [
            {"heading": heading, "steps": [step_data(s) for s in hop.steps if s.phase == phase]}
            for phase, heading in PHASES
            if any(s.phase == phase for s in hop.steps)
        ],
        "certificates": step_data(hop.certificates),
    }


def plan_data(plan: Plan) -> dict[str, Any]:
    a = plan.appliance
    change = plan.change
    last = plan.hops[-1]
    references = [
        {"title": ref.title, "url": ref.url, "kind": ref.kind}
        for hop in plan.hops
        for ref in hop.procedure.references.values()
        if ref.url
    ]
    return {
        "title": f"Upgrade {a.name} to Usage Meter {plan.target.short}",
        "appliance": {
            "name": a.name,
            "host": a.host,
            "ssh_port": str(a.ssh_port),
            "version": str(a.version),
            "snapshot": a.snapshot or "",
            "metered_servers": list(a.metered_servers),
            "notes": (a.notes or "").splitlines(),
        },
        "change": {
            "ticket": change.ticket,
            "window_start": when(change.window.start),
            "window_end": when(change.window.end),
            "implementer": change.implementer,
            "approver": change.approver or "",
        },
        "target": plan.target.short,
        "route": plan.route_text,
        "hop_count": str(len(plan.hops)),
        "estimate": duration(plan.estimate_minutes),
        "backout_estimate": duration(plan.hops[0].backout.estimate_minutes),
        "generated": when_utc(plan.generated_at),
        "generated_date": plan.generated_at.strftime("%Y-%m-%d"),
        "generator": plan.generator,
        "inventory_path": plan.inventory_path,
        "hops": [hop_data(plan, hop, i) for i, hop in enumerate(plan.hops)],
        "backout": {
            "when": list(last.backout.when),
            "snapshot_until": last.backout.snapshot_until,
            "steps": [step_data(s) for s in last.backout.steps],
        },
        "cleanup": step_data(last.cleanup),
        "references": references,
    }


def plan_json(plan: Plan) -> str:
    return json.dumps(plan_data(plan), ensure_ascii=False, sort_keys=True)
