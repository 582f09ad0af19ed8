"""After the window: the evidence joined to the plans, as a table and as-executed runbooks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from umrunbook.errors import printable
from umrunbook.evidence.records import (
    AgentEvidence,
    Evidence,
    ManualEvidence,
    ReadinessEvidence,
)
from umrunbook.faces.humanize import duration
from umrunbook.planning.plan import Plan
from umrunbook.planning.records import StepRecord

COLUMNS = (
    "appliance",
    "target",
    "phase",
    "result",
    "before",
    "after",
    "started",
    "finished",
    "duration",
)


@dataclass
class Execution:
    """Everything known of one appliance's run: the agent's records and the ticked steps."""

    appliance: str
    agent: list[AgentEvidence] = field(default_factory=list)
    manual: list[ManualEvidence] = field(default_factory=list)
    readiness: list[ReadinessEvidence] = field(default_factory=list)

    @property
    def executed(self) -> bool:
        """Evidence of the night itself (a readiness run alone is not)."""
        return bool(self.agent or self.manual)

    def readiness_text(self) -> str:
        """The latest readiness run's summary, "" where none was read."""
        if not self.readiness:
            return ""
        return max(self.readiness, key=lambda r: r.written_at).summary

    def records(self) -> dict[str, list[StepRecord]]:
        """Every record by its record key (planning/records.py), as the view looks them up."""
        by_step: dict[str, list[StepRecord]] = {}
        items: list[Evidence] = [*self.agent, *self.manual]
        for evidence in items:
            for record in evidence.steps:
                by_step.setdefault(record.step_id, []).append(record)
        return by_step


def fleet_table(evidence: Sequence[Evidence]) -> str:
    rows = [list(COLUMNS)]
    for item in evidence:
        if isinstance(item, AgentEvidence):
            rows.append(
                [
                    item.appliance,
                    item.target,
                    item.phase,
                    item.result,
                    item.version_before or "?",
                    item.version_after or "-",
                    _short(item.started),
                    _short(item.finished),
                    duration(item.duration_s // 60) if item.duration_s is not None else "-",
                ]
            )
        elif isinstance(item, ReadinessEvidence):
            rows.append(
                [
                    item.appliance,
                    item.target,
                    "readiness",
                    item.verdict,
                    "",
                    "",
                    "",
                    _short(item.written_at),
                    "",
                ]
            )
        else:
            rows.append(
                [
                    item.appliance,
                    "",
                    "manual steps",
                    f"{len(item.steps)} ticked",
                    "",
                    "",
                    "",
                    _short(item.exported_at),
                    "",
                ]
            )
    # The cells are the evidence files' text: shown escaped, one line each, so a value can
    # neither drive the terminal nor add a row.
    rows = [[printable(cell, newlines=False) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return (
        "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        )
        + "\n"
    )


def _short(moment: str) -> str:
    return moment.replace("T", " ").removesuffix("Z")[:16] if moment else "-"


def group(evidence: Sequence[Evidence]) -> dict[str, Execution]:
    runs: dict[str, Execution] = {}
    for item in evidence:
        run = runs.setdefault(item.appliance.lower(), Execution(item.appliance))
        if isinstance(item, AgentEvidence):
            run.agent.append(item)
        elif isinstance(item, ReadinessEvidence):
            run.readiness.append(item)
        else:
            run.manual.append(item)
    return runs


def readiness_by_appliance(plans: Sequence[Plan], runs: Mapping[str, Execution]) -> dict[str, str]:
    """Each planned appliance's readiness summary, by its name, where a readiness run was read."""
    found = {}
    for plan in plans:
        run = runs.get(plan.appliance.name.lower())
        text = run.readiness_text() if run is not None else ""
        if text:
            found[plan.appliance.name] = text
    return found


def mismatch(plan: Plan, item: Evidence) -> str | None:
    """Why a piece of evidence cannot belong to this plan, or None."""
    if item.ticket != plan.change.ticket:
        return (
            f"{item.path}: belongs to change {printable(item.ticket, newlines=False)}, but the "
            f"inventory is for {plan.change.ticket}"
        )
    if isinstance(item, AgentEvidence | ReadinessEvidence):
        targets = {hop.procedure.target for hop in plan.hops}
        if targets and item.target not in targets:
            return (
                f"{item.path}: is evidence of an upgrade to "
                f"{printable(item.target, newlines=False)}, but the plan for "
                f"{plan.appliance.name} goes to {', '.join(sorted(targets))}"
            )
    return None


def foreign_agent(item: Evidence, package_agents: set[str]) -> str | None:
    """Why the agent that wrote this evidence is none of the package's agents, or None.

    The evidence's digest proves the file unchanged since it was written, not who wrote it;
    the agent's own file hash, recorded in it, is compared with the agents the package holds
    for that appliance, so evidence from another build of the agent is named."""
    if not isinstance(item, AgentEvidence | ReadinessEvidence) or not package_agents:
        return None
    if item.agent_file_sha256 in package_agents:
        return None
    seen = printable(item.agent_file_sha256, newlines=False) or "no agent file hash"
    return (
        f"{item.path}: was written by an agent (file sha256 {seen}) that is not the package's "
        f"agent for {item.appliance}; if the package was rendered again after the window, "
        "compare the agent kept with the change; otherwise treat this evidence as unproven"
    )


def as_executed_files(
    plans: Sequence[Plan],
    runs: dict[str, Execution],
    formats: Sequence[str],
    paper: str,
    readiness: Mapping[str, str] | None = None,
) -> dict[str, bytes]:
    """The as-executed runbooks of every appliance with evidence of the night, keyed by
    package path; `readiness` (by appliance name) goes into their night plans."""
    from umrunbook.faces.registry import RenderOptions, face
    from umrunbook.faces.view import runbook_view
    from umrunbook.planning.night import night_plan

    options = RenderOptions(formats=tuple(formats), paper=paper)
    files: dict[str, bytes] = {}
    night = night_plan(plans, plans[0].change) if plans else None
    for plan in plans:
        run = runs.get(plan.appliance.name.lower())
        if run is None or not run.executed or not plan.hops:
            continue
        items: list[Evidence] = [*run.agent, *run.manual, *run.readiness]
        sources = [e.path for e in items]
        records = run.records()
        ready = (readiness or {}).get(plan.appliance.name, "")
        view = runbook_view(plan, records, sources, night, ready)
        name = plan.appliance.name
        for fmt in formats:
            files[f"{name}/as-executed.{fmt}"] = face(fmt).renderer()(view, options)
    return files
