"""The runbook's view as plain JSON data, for the Typst template of the PDF runbook.

Every value is a string (or a list or mapping of them), so the template never has to format
a number or a date, and inventory text reaches Typst only as data: the template shows strings
as text, and never evaluates them. Prose with the appliance's values is a list of
[text, kind] pairs, kind "value" for a value (set in monospace) and "text" for the rest; the
transfer guide's blocks add "strong". Headings and fixed sentences come from the view, as
they do for the Markdown and the HTML; this module only reshapes it, and reads no other face.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from typing import Any

from umrunbook.faces.humanize import duration, when, when_utc
from umrunbook.faces.view import (
    SHELL_NAMES,
    Block,
    CommandView,
    HopView,
    Mark,
    Parts,
    RunbookView,
    StepView,
    Tick,
)
from umrunbook.planning.plan import Plan, Text


def segments(text: Text) -> list[list[str]]:
    return [[part, "value" if is_value else "text"] for part, is_value in text.segments]


def records_data(tick: Tick) -> list[dict[str, str]]:
    return [mark_data(m) for m in tick.marks]


def mark_data(mark: Mark) -> dict[str, str]:
    return {"result": mark.result, "at": mark.at, "by": mark.by, "detail": mark.detail}


def groups_of_four(text: str) -> str:
    """A checksum as it is read aloud and compared by eye: in groups of four."""
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


# A long file name is set once in a shell variable at the top of the block that types it
# (`ISO=...`, then `"$ISO"`): on paper the operator types it once, not on every line. Only
# the PDF does this: in the Markdown and the HTML each line stays as the vendor writes it, to
# copy whole (the HTML's copy button), and a line copied alone must not lean on a variable
# set in another.
LONG_NAME = 20  # a file name's stem this long or longer is worth a variable
LONG_LINE = 88  # a line longer than this would be cut at 8 pt in a step's card on A4
_PLAIN_NAME = re.compile(r"[A-Za-z0-9._+-]+")
_QUOTING = re.compile(r"[\\'\"$`]")


def name_variables(plan: Plan) -> dict[str, str]:
    """The stem of each long bundle file name of the plan, and its variable's name."""
    out: dict[str, str] = {}
    for hop in plan.hops:
        for item in hop.bundle:
            stem, dot, ext = item.name.rpartition(".")
            if not (dot and len(stem) >= LONG_NAME and _PLAIN_NAME.fullmatch(stem)):
                continue
            if ext.lower() == "iso":
                out[stem] = "ISO"
            else:
                out.setdefault(stem, "BUNDLE")
    return out


def with_variables(lines: tuple[str, ...], names: Mapping[str, str]) -> tuple[str, ...]:
    """A shell block's lines with each long name that is typed twice, or on a long line, set
    once in a variable. A line that quotes or escapes anything keeps the name as written."""
    for stem, var in names.items():
        usable = [line for line in lines if stem in line and not _QUOTING.search(line)]
        uses = sum(line.count(stem) for line in usable)
        if not usable or (uses < 2 and all(len(line) <= LONG_LINE for line in usable)):
            continue
        lines = (
            f"{var}={shlex.quote(stem)}",
            *(line.replace(stem, f'"${var}"') if line in usable else line for line in lines),
        )
        break  # one variable per block: the one its lines are about
    return lines


def step_data(
    sv: StepView | None, step: Any = None, names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    step = sv.step if sv is not None else step
    return {
        # Where its transfer details stand in the appendix: a label the step points to.
        # (its tick's box id is unique in the document, on a route too).
        "anchor": f"details:{sv.tick.box_id}" if sv is not None and sv.details else "",
        "heading": sv.heading if sv is not None else "",
        "records": records_data(sv.tick) if sv is not None else [],
        "number": step.number,
        "id": step.id,
        "title": step.title,
        "where": step.where,
        "where_label": step.where_label,
        "by": sv.by if sv is not None else _by(step.by),
        "estimate": duration(step.estimate_minutes),
        "source": step.source_label,
        "text": segments(step.text),
        # What the agent runs is marked: the template sets it apart, under the words.
        "commands": [
            {
                "shell": block.shell,
                "shell_name": SHELL_NAMES.get(block.shell, block.shell),
                "text": "\n".join(
                    with_variables(block.lines, names or {})
                    if block.shell == "sh" and not block.by_agent
                    else block.lines
                ),
                "by_agent": "yes" if block.by_agent else "",
            }
            for block in (
                sv.commands
                if sv is not None
                else tuple(CommandView(c.shell, c.lines) for c in step.commands)
            )
        ],
        "details": blocks_data(sv.details) if sv is not None else [],
        "field_report": "yes" if step.source.kind == "field" else "",
        "marker": _typographic(sv.marker) if sv is not None else "",
        "expect": segments(step.expect),
        "if_not": segments(step.if_not),
    }


def _by(by: str) -> str:
    from umrunbook.faces.view import BY_AGENT, BY_HAND

    return BY_AGENT if by == "agent" else BY_HAND


def parts_data(parts: Parts) -> list[list[str]]:
    """The view's prose as [text, kind, url] runs: text and data in one run up to the next
    value, bold or break; a break is a space."""
    out: list[list[str]] = []
    for text, kind in parts:
        if kind == "break":
            out.append([" ", "text", ""])
        elif kind in ("text", "data"):
            if out and out[-1][1] == "text" and out[-1][0] != " ":
                out[-1][0] += text
            elif text:
                out.append([text, "text", ""])
        elif kind == "value":
            # An empty value keeps its place, as its empty code span does in the other faces.
            out.append([text or " ", kind, ""])
        elif text:
            out.append([text, kind, ""])
    return out


def blocks_data(blocks: tuple[Block, ...]) -> list[dict[str, Any]]:
    """The transfer guide's blocks; list items numbered within their list."""
    out: list[dict[str, Any]] = []
    previous, count = "", 0
    for block in blocks:
        count = count + 1 if block.kind == previous else 1
        previous = block.kind
        if block.kind == "code":
            shell = SHELL_NAMES.get(block.shell, block.shell.capitalize() or "Text")
            out.append(
                {"kind": "code", "shell": shell, "parts": [["\n".join(block.lines), "code", ""]]}
            )
            continue
        data: dict[str, Any] = {"kind": block.kind, "parts": parts_data(block.parts)}
        if block.kind == "enum":
            data["number"] = block.number
        elif block.kind == "item":
            data["number"] = str(count)
        out.append(data)
    return out


def hop_data(view: RunbookView, hv: HopView) -> dict[str, Any]:
    hop = hv.hop
    a = view.plan.appliance
    names = name_variables(view.plan)
    return {
        "index": str(hv.index),
        "heading": hv.heading,
        "prefix": hv.prefix,
        "target": hop.target_version.short,
        "bundle": [
            {"name": item.name, "sha256": item.sha256, "sha256_groups": groups_of_four(item.sha256)}
            for item in hop.bundle
        ],
        "agent": {
            "name": hop.agent.name,
            "sha256": hop.agent.sha256,
            "sha256_groups": groups_of_four(hop.agent.sha256),
        },
        "prerequisites_heading": hv.prerequisites_heading,
        "prerequisites": [
            {"parts": parts_data(line.parts), "records": records_data(line.tick)}
            for line in hv.prerequisites
        ],
        "in_window_intro": parts_data(hv.in_window_intro),
        "in_window": [
            {"parts": parts_data(line.parts), "records": records_data(line.tick)}
            for line in hv.in_window
        ],
        "prerequisite_blocks": blocks_data(hv.prerequisite_blocks),
        "phases": [
            {"heading": phase.heading, "steps": [step_data(sv, names=names) for sv in phase.steps]}
            for phase in hv.phases
        ],
        "certificates_heading": hv.certificates_heading,
        "certificates": step_data(None, hv.certificates),
        "certificate_checks": [
            {"parts": parts_data(line.parts), "records": records_data(line.tick)}
            for line in hv.certificate_lines
        ],
        "backout_heading": hv.backout_heading,
        "backout": {
            "when": list(hop.backout.when),
            "snapshot_until": hop.backout.snapshot_until,
            "steps": [step_data(sv, names=names) for sv in hv.backout],
        },
        "cleanup": segments(hop.cleanup.text),
        "snapshot": a.snapshot or "",
    }


def view_data(view: RunbookView) -> dict[str, Any]:
    from umrunbook.faces import view as words

    plan = view.plan
    a = plan.appliance
    change = plan.change
    references = [
        {"title": ref.title, "url": ref.url, "kind": ref.kind}
        for hop in plan.hops
        for ref in hop.procedure.references.values()
        if ref.url
    ]
    return {
        "title": view.title,
        "executed": "yes" if view.executed else "",
        "executed_from": list(view.executed_from),
        "words": {
            "plan": words.PLAN,
            "prerequisites_intro": words.PREREQUISITES_INTRO,
            "field_report": [_typographic(w) for w in words.FIELD_REPORT],
            "agent_runs": _typographic(words.AGENT_RUNS),
            "agent_runs_note": _typographic(words.AGENT_RUNS_NOTE),
            "backout_when": words.BACKOUT_WHEN,
            "closing": words.CLOSING,
            "sign_off": words.SIGN_OFF,
            "sign_off_columns": list(words.SIGN_OFF_COLUMNS),
            "status": words.STATUS,
            "result": words.RESULT,
            "result_choices": list(words.RESULT_CHOICES),
            "deviations": words.DEVIATIONS,
            "deviations_choices": list(words.DEVIATIONS_CHOICES),
            "evidence_attached": words.EVIDENCE_ATTACHED,
            "evidence_choices": [_typographic(w) for w in words.EVIDENCE_CHOICES],
            "details_appendix": words.DETAILS_APPENDIX,
            "details_see": words.DETAILS_SEE,
            "continued": words.CONTINUED,
            "wrap_note": _typographic(words.WRAP_NOTE),
            "references": words.REFERENCES,
            "known_errors": words.KNOWN_ERRORS,
            "known_errors_intro": words.KNOWN_ERRORS_INTRO,
            "no_record": words.NO_RECORD,
            "cleanup": view.cleanup_label,
        },
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
        "before": [
            {
                "heading": phase.heading,
                "steps": [step_data(sv, names=name_variables(plan)) for sv in phase.steps],
            }
            for phase in view.before
        ],
        "hops": [hop_data(view, hv) for hv in view.hops],
        "cleanup": step_data(None, view.cleanup),
        "cleanup_records": records_data(view.cleanup_tick),
        "references": references,
        "notices": [{"target": target, "text": text} for target, text in view.notices],
        "known_errors": [
            {
                "target": known.target,
                "symptom": known.symptom,
                "fix": known.fix,
                "source": known.source_label,
            }
            for known in view.known_errors
        ],
        "sign_off": {
            "status": view.sign_off.status,
            "roles": [{"role": role, "name": name} for role, name in view.sign_off.roles],
            "attached": list(view.sign_off.attached),
        },
        "night": _night_data(view),
        "readiness_part": _readiness_part_data(view),
    }


def _night_data(view: RunbookView) -> dict[str, Any]:
    """The night plan, the PDF body's first section (all strings; "" for no)."""
    from umrunbook.faces import view as words

    night = view.night
    if night is None:
        return {}
    return {
        "heading": night.heading,
        "intro": _typographic(night.intro),
        "window": night.window,
        "latest_label": words.NIGHT_LATEST_BACKOUT,
        "latest": night.latest_backout,
        "warning": _typographic(night.warning),
        "fits": _typographic(words.NIGHT_FITS),
        "readiness_label": words.NIGHT_READINESS,
        "readiness": night.readiness,
        "more": _typographic(night.more),
        "appliances": [
            {
                "name": n.name,
                "route": n.route,
                "start": n.start,
                "end": n.end,
                "takes": duration(n.takes),
                "latest": n.latest_backout,
                "backout": duration(n.backout_minutes),
                "late": "yes" if n.late else "",
                "this": "yes" if n.this else "",
                "events": [
                    {
                        "clock": e.clock,
                        "label": e.label,
                        "kind": e.kind,
                        "step": e.step,
                        "title": e.title,
                        "note": _typographic(e.note),
                    }
                    for e in n.events
                ],
            }
            for n in night.appliances
        ],
    }


def _readiness_part_data(view: RunbookView) -> dict[str, Any]:
    """The "Readiness (days before the window)" part ({} where the runbook has none)."""
    part = view.readiness_part
    if part is None:
        return {}
    return {
        "heading": part.heading,
        "source": _typographic(part.source_label),
        "lines": [{"text": _typographic(t), "command": c} for t, c in part.lines],
    }


def _typographic(text: str) -> str:
    """The PDF sets the runbook's own sentences with typographic apostrophes (data from the
    catalogue and the inventory stays as written)."""
    return text.replace("'", "\u2019")


def view_json(view: RunbookView) -> str:
    return json.dumps(view_data(view), ensure_ascii=False, sort_keys=True)
