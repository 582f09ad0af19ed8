"""The plan as plain JSON data, for the Typst template of the PDF runbook.

Every value is a string (or a list or mapping of them), so the template never has to format
a number or a date, and inventory text reaches Typst only as data: the template shows strings
as text, and never evaluates them. Prose with the appliance's values is a list of
[text, kind] pairs, kind "value" for a value (set in monospace) and "text" for the rest.

What the Markdown runbook shows, this carries: the two are held against each other by a test.
With `executed` (records by step id, as `ingest` joins them), it is the as-executed runbook's
data: each tickable line carries its records, as the as-executed Markdown shows them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from umrunbook.faces.humanize import duration, when, when_utc
from umrunbook.planning.plan import Hop, Plan, PlannedStep, Text

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

    from umrunbook.planning.records import StepRecord

Executed = Mapping[str, Sequence["StepRecord"]]

PHASES = (("before", "Before the window"), ("window", "In the window"))
SHELL_NAMES = {"sh": "Shell", "powershell": "PowerShell", "cmd": "Command Prompt"}


def segments(text: Text) -> list[list[str]]:
    return [[part, "value" if is_value else "text"] for part, is_value in text.segments]


def records_data(
    executed: Executed | None, key: str, title: str | None = None, target: str = ""
) -> list[dict[str, str]]:
    """The records of one line, as the as-executed Markdown prints them: a detail only on a
    step's line, and only when it says more than the step's title."""
    return [
        {
            "result": r.result,
            "at": r.at or "an unrecorded time",
            "by": r.by,
            "detail": r.detail if title is not None and r.detail and r.detail != title else "",
        }
        for r in (executed or {}).get(key, ())
        if not target or r.belongs_to(target)
    ]


def step_data(
    step: PlannedStep, executed: Executed | None = None, key: str | None = None, target: str = ""
) -> dict[str, Any]:
    return {
        "records": records_data(executed, key or step.id, step.title, target),
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
        "field_report": "yes" if step.source.kind == "field" else "",
        "expect": segments(step.expect),
        "if_not": segments(step.if_not),
    }


def hop_data(
    plan: Plan,
    hop: Hop,
    index: int,
    transfer: list[dict[str, Any]],
    executed: Executed | None = None,
) -> dict[str, Any]:
    multi = len(plan.hops) > 1
    a = plan.appliance
    servers = a.metered_servers
    return {
        "index": str(index + 1),
        "source": str(hop.source_version) if index == 0 else hop.source_version.short,
        "target": hop.target_version.short,
        "prefix": f"{hop.target_version.short}: " if multi else "",
        "bundle": [{"name": item.name, "sha256": item.sha256} for item in hop.bundle],
        "agent": {"name": hop.agent.name, "sha256": hop.agent.sha256},
        "snapshot_name": hop.snapshot_name,
        "snapshot_at": a.snapshot or "the VM's location in vCenter",
        "prerequisites": [
            {"text": p.text, "records": records_data(executed, f"prerequisite:{p.id}")}
            for p in hop.procedure.prerequisites
        ],
        "snapshot_records": records_data(executed, "prerequisite:snapshot-name"),
        "transfer": transfer,
        "phases": [
            {
                "heading": heading,
                "steps": [
                    step_data(s, executed, target=hop.procedure.target)
                    for s in hop.steps
                    if s.phase == phase
                ],
            }
            for phase, heading in PHASES
            if any(s.phase == phase for s in hop.steps)
        ],
        "certificates": step_data(hop.certificates),
        "certificate_checks": [
            {"server": server, "records": records_data(executed, f"certificate:{server}")}
            for server in servers
        ]
        or [{"server": "", "records": records_data(executed, "certificates")}],
        "backout": {
            "when": list(hop.backout.when),
            "snapshot_until": hop.backout.snapshot_until,
            "steps": [step_data(s, executed, f"backout:{s.number}") for s in hop.backout.steps],
        },
        "cleanup": segments(hop.cleanup.text),
    }


@cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _sections_text(markdown_text: str, title: str) -> str:
    """Only the `## ...TITLE` sections of the runbook, each cut at the next `## ` heading
    outside a fence: parsing a few sections, not the whole runbook, is most of the speed."""
    kept: list[str] = []
    keep = False
    fence = ""
    for line in markdown_text.splitlines(keepends=True):
        stripped = line.lstrip()
        if fence:
            if stripped.startswith(fence) and not stripped[len(fence) :].strip():
                fence = ""
        elif stripped.startswith(("```", "~~~")):
            marker = stripped[0]
            fence = marker * (len(stripped) - len(stripped.lstrip(marker)))
        elif line.startswith(("# ", "## ")):
            keep = line.startswith("## ") and line.rstrip().endswith(title)
        if keep:
            kept.append(line)
    return "".join(kept)


def markdown_sections(markdown_text: str, title: str) -> list[list[dict[str, Any]]]:
    """The blocks of each `## ...TITLE` section of the Markdown runbook, as data.

    The transfer section is written by the transfer files' own template; the PDF takes it
    from the Markdown, so the two faces say the same even as that template changes.
    Each block is {"kind": "heading" | "para" | "item" | "enum" | "code", "parts": [[text,
    kind, url], ...]}; a code block also has "shell", an enum item its "number".
    """
    tokens = _parser().parse(_sections_text(markdown_text, title))
    sections: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] | None = None
    lists: list[str] = []  # the kinds of the lists we are in, innermost last
    numbers: list[int] = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag in ("h1", "h2"):
            heading = tokens[i + 1].content
            current = [] if token.tag == "h2" and heading.endswith(title) else None
            if current is not None:
                sections.append(current)
        elif current is None:
            continue
        elif token.type == "heading_open":
            current.append({"kind": "heading", "parts": inline_parts(tokens[i + 1])})
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            lists.append("item" if token.type == "bullet_list_open" else "enum")
            numbers.append(int(str(token.attrGet("start") or 1)) - 1)
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            numbers.pop()
        elif token.type == "list_item_open":
            numbers[-1] += 1
        elif token.type == "fence":
            shell = token.info.strip().split(" ")[0]
            current.append(
                {
                    "kind": "code",
                    "shell": SHELL_NAMES.get(shell, shell.capitalize() or "Text"),
                    "parts": [[token.content.rstrip("\n"), "code", ""]],
                }
            )
        elif token.type == "inline" and tokens[i - 1].type == "paragraph_open":
            block: dict[str, Any] = {"kind": lists[-1] if lists else "para"}
            if lists:
                block["number"] = str(numbers[-1])
            block["parts"] = inline_parts(token)
            current.append(block)
    return sections


def inline_parts(token: Token) -> list[list[str]]:
    parts: list[list[str]] = []
    strong = 0
    url = ""
    for child in token.children or ():
        if child.type == "strong_open":
            strong += 1
        elif child.type == "strong_close":
            strong -= 1
        elif child.type == "link_open":
            url = str(child.attrGet("href") or "")
        elif child.type == "link_close":
            url = ""
        elif child.type in ("softbreak", "hardbreak"):
            parts.append([" ", "text", ""])
        elif child.type == "code_inline":
            parts.append([child.content, "value", ""])
        elif child.type == "text" and child.content:
            kind = "link" if url else "strong" if strong else "text"
            parts.append([child.content, kind, url])
    return parts


def plan_data(
    plan: Plan,
    markdown_text: str,
    executed: Executed | None = None,
    executed_from: Sequence[str] = (),
) -> dict[str, Any]:
    a = plan.appliance
    change = plan.change
    last = plan.hops[-1]
    transfers = markdown_sections(markdown_text, "Transfer")
    references = [
        {"title": ref.title, "url": ref.url, "kind": ref.kind}
        for hop in plan.hops
        for ref in hop.procedure.references.values()
        if ref.url
    ]
    return {
        "title": f"{'As executed: upgrade' if executed is not None else 'Upgrade'} {a.name} "
        f"to Usage Meter {plan.target.short}",
        "executed": "yes" if executed is not None else "",
        "executed_from": list(executed_from),
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
        "hops": [
            hop_data(plan, hop, i, transfers[i] if i < len(transfers) else [], executed)
            for i, hop in enumerate(plan.hops)
        ],
        "cleanup": step_data(last.cleanup),
        "cleanup_records": records_data(executed, "cleanup"),
        "references": references,
    }


def plan_json(
    plan: Plan,
    markdown_text: str,
    executed: Executed | None = None,
    executed_from: Sequence[str] = (),
) -> str:
    data = plan_data(plan, markdown_text, executed, executed_from)
    return json.dumps(data, ensure_ascii=False, sort_keys=True)
