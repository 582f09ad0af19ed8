"""The runbook's one view: what every face of the runbook shows, built once from a Plan.

Every section and step in order, with its heading, its source, and each tickable line with its
record key (planning/records.py) and the records the evidence holds for it; the transfer guide,
from the same Upload the transfer scripts are written from; and the wording that is not
presentation (headings, labels, fixed sentences), written here once. The Markdown, the HTML
and the PDF are presentations of this: none reads another's output, and none works out what a
line means from its heading.

Prose is a tuple of parts (text, kind):

- ``text``: fixed wording, written to be literal in Markdown as it stands;
- ``data``: catalogue or inventory text, escaped by each face;
- ``value``: a value (a code span, a monospace run);
- ``strong``: fixed wording in bold;
- ``break``: where the Markdown breaks the line (a space to every other face).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from umrunbook.faces.humanize import window_warning
from umrunbook.faces.uploads import (
    FETCH_SH,
    UPLOAD_SH,
    WINSCP_CMD,
    WINSCP_FETCH_CMD,
    WINSCP_LOG,
    WINSCP_SCRIPT,
    Upload,
    powershell_quote,
    scriptable,
    upload_of,
)
from umrunbook.planning.between import GO_NO_GO_TITLE, NO_REVERT_FROM, is_checkpoint
from umrunbook.planning.night import VERIFY_STEP as NO_RETURN_STEP
from umrunbook.planning.night import ApplianceNight, NightPlan, night_plan
from umrunbook.planning.plan import LABELS, Hop, Plan, PlannedStep, source_label
from umrunbook.planning.records import (
    CERTIFICATES_KEY,
    CLEANUP_KEY,
    SNAPSHOT_PREREQUISITE,
    StepRecord,
    backout_key,
    certificate_key,
    prerequisite_key,
    step_key,
)

Kind = Literal["text", "data", "value", "strong", "break"]
Part = tuple[str, Kind]
Parts = tuple[Part, ...]
Executed = Mapping[str, Sequence[StepRecord]]

# -- the wording ------------------------------------------------------------------------------
TITLE_PLANNED = "Upgrade"
TITLE_EXECUTED = "As executed: upgrade"
PLAN = "Plan"
PREREQUISITES = "Prerequisites"
PREREQUISITES_INTRO = "Check each one before the window starts."
# A prerequisite met by a step in the window is listed apart, with the step that meets it.
IN_WINDOW_LEAD = "Done in the window, at "
IN_WINDOW_TAIL = ", before the upgrade starts:"
PHASES = (("before", "Before the window"), ("window", "In the window"))
CERTIFICATES = "After the upgrade: accept the certificates again"
BACKOUT = "Backout plan"
BACKOUT_WHEN = "Invoke it when:"
CLOSING = "Closing the change"
SIGN_OFF = "Sign-off"
# The sign-off a change board asks for: three roles, what went other than planned, what is
# attached, and which document this is.
SIGN_OFF_ROLES = ("Implementer", "Peer reviewer", "Approver / change manager")
SIGN_OFF_COLUMNS = ("Role", "Name", "Signature", "Date and time")
STATUS = "Status"
STATUS_PLANNED = "Planned"
STATUS_EXECUTED = "As executed"
DEVIATIONS = "Deviations from the plan"
DEVIATIONS_CHOICES = ("none", "as written here")
EVIDENCE_ATTACHED = "Evidence attached"
EVIDENCE_CHOICES = (
    "the agent's evidence file",
    "the ticks exported from the HTML runbook",
    "the as-executed runbook",
)
# The PDF sets the transfer guide's details of a step apart, in an appendix the step points to.
DETAILS_APPENDIX = "Appendix: transfer details"
DETAILS_SEE = "How to do it: see"
# A command line too long for the paper is cut with this mark (in the PDF's monospace font).
CONTINUED = "\u21a9"
WRAP_NOTE = "at a line's end: the line goes on below; type it as one line."
RESULT = "Result"
RESULT_CHOICES = ("upgraded and verified", "backed out", "not started")
REFERENCES = "References"
KNOWN_ERRORS = "Known errors"
KNOWN_ERRORS_INTRO = "What the sources report going wrong in these upgrades, and what they say."
BY_AGENT = "the agent, started by you"
BY_HAND = "you, by hand"
FIELD_REPORT = (
    "Field report, not the vendor's text:",
    "confirm this step against the vendor document for your build before the window.",
)
# What the agent runs is shown for reference, set apart, never as a command to type.
AGENT_RUNS = "The agent runs this: do not type it."
AGENT_RUNS_NOTE = "Shown for reference: the vendor's commands the agent runs in this step."
SNAPSHOT_PREREQUISITE_STEP = "snapshot"  # the step that takes the snapshot to take
SNAPSHOT_AT_DEFAULT = "the VM's location in vCenter"
NO_SERVERS = (
    "The inventory names no metered servers: accept the certificate of every product server "
    "listed in the web interface."
)
UNRECORDED_TIME = "an unrecorded time"
NO_RECORD = "no record in the evidence."
NIGHT_PLAN = "Night plan"
NIGHT_INTRO = (
    "The appliances one after another in this order, each step at its estimate; the first "
    "starts when the window opens. Tick each checkpoint at its step."
)
NIGHT_GO = GO_NO_GO_TITLE
NIGHT_IRREVERSIBLE = "Irreversible"
NIGHT_NO_RETURN = "Point of no return"
NIGHT_LATEST_BACKOUT = "Latest backout start"
NIGHT_FITS = "The window holds the plan and a backout."
NIGHT_READINESS = "Readiness"
READINESS_HEADING = "Readiness (days before the window)"
READINESS_REASON = (
    "what the night depends on (root's password, the host key, free space, the version, tdnf, "
    "the services, the proxy) is checked days before, so a problem is fixed before the window, "
    "not found inside it"
)


@dataclass(frozen=True, slots=True)
class ReadinessPart:
    """How to run the agent's readiness command days before the window: each line is prose
    and, where there is one, the command it gives ("" for none)."""

    heading: str
    source_label: str  # "Added by umrunbook: <why>"
    lines: tuple[tuple[str, str], ...]


NIGHT_NO_RETURN_VENDOR = (
    "once this step passes, do not revert to the snapshot: the vendor advises it for 4.5"
)
NIGHT_NO_RETURN_CARRIED = (
    "once this step passes, do not revert to the snapshot (extrapolated from 4.5)"
)
SHELL_NAMES = {"sh": "Shell", "powershell": "PowerShell", "cmd": "Command Prompt"}


# -- the model --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mark:
    """One record of a tickable line, as the as-executed runbook shows it."""

    result: str
    at: str
    by: str
    detail: str  # only on a step's line, and only when it says more than the step's title

    @property
    def kind(self) -> str:
        """The mark's look: pass, fail, warn, or done for anything else."""
        kind = self.result.strip().lower()
        return kind if kind in ("pass", "fail", "warn") else "done"


@dataclass(frozen=True, slots=True)
class Tick:
    """One tickable line: what it is recorded under, and (as executed) what was recorded."""

    key: str  # the record key: what the page exports and the evidence is looked up by
    box_id: str  # the tick box's id in the page: the key, with the upgrade on a route
    number: str  # the step's number ("" for a line that is no step)
    title: str  # as the page's export names it
    marks: tuple[Mark, ...] = ()


@dataclass(frozen=True, slots=True)
class Line:
    """A tickable line of a list (a prerequisite, a certificate): its words and its tick."""

    parts: Parts
    tick: Tick


@dataclass(frozen=True, slots=True)
class Block:
    """One block of the transfer guide."""

    kind: Literal["heading", "para", "item", "enum", "code"]
    parts: Parts = ()
    number: str = ""  # an enum item's
    shell: str = ""  # a code block's
    lines: tuple[str, ...] = ()  # a code block's


@dataclass(frozen=True, slots=True)
class CommandView:
    """One command block of a step: what the operator types, or (by_agent) what the agent
    runs, which every face shows set apart, for reference, with nothing to copy."""

    shell: str
    lines: tuple[str, ...]
    by_agent: bool = False


@dataclass(frozen=True, slots=True)
class StepView:
    step: PlannedStep
    heading: str  # "Step 3: Stop the services", "Backout 1: ..."
    lead: str  # how its tick line starts: "Step 3", "Backout 1"
    tick: Tick
    by: str
    field_report: bool
    commands: tuple[CommandView, ...] = ()  # the typed ones, then what the agent runs
    details: tuple[Block, ...] = ()  # how to do it (the transfer guide's part for this step)
    marker: str = ""  # "Point of no return: ..." at a verify step from 4.5 on


@dataclass(frozen=True, slots=True)
class PhaseView:
    heading: str
    steps: tuple[StepView, ...]
    phase: str = ""  # the catalogue's phase: "before", "window"


@dataclass(frozen=True, slots=True)
class HopView:
    hop: Hop
    index: int  # from 1
    heading: str  # "Upgrade 1 of 2: 4.2.0 → 4.5" on a route, "" for one upgrade
    prefix: str  # "4.5: " on a route
    prerequisites_heading: str
    prerequisites: tuple[Line, ...]  # to check before the window
    prerequisite_blocks: tuple[Block, ...]  # what to do before the window (a host key to read)
    in_window_intro: Parts  # where the next ones are met: "Done in the window, at Step 3 ..."
    in_window: tuple[Line, ...]  # met by a step in the window (the snapshot)
    phases: tuple[PhaseView, ...]
    certificates_heading: str
    certificates: PlannedStep
    certificate_lines: tuple[Line, ...]
    backout_heading: str
    backout: tuple[StepView, ...]


@dataclass(frozen=True, slots=True)
class KnownErrorView:
    """One known error of an upgrade, for the runbook's troubleshooting."""

    target: str
    symptom: str
    fix: str
    source_label: str  # "Vendor document (KB322769)", "Field report (IBM)"


@dataclass(frozen=True, slots=True)
class NightEvent:
    """One moment of the night plan: its clock time, what it is, the step."""

    clock: str  # "23:05"
    label: str  # NIGHT_GO, NIGHT_IRREVERSIBLE or NIGHT_NO_RETURN
    kind: str  # "go", "irreversible", "no-return"
    step: str  # "Step 13"
    title: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class NightAppliance:
    name: str
    route: str
    start: str
    end: str
    takes: int  # minutes
    latest_backout: str
    backout_minutes: int
    late: bool  # planned to end after its latest backout start
    events: tuple[NightEvent, ...]
    this: bool = False  # the runbook's own appliance


@dataclass(frozen=True, slots=True)
class NightView:
    """The night plan as every face shows it: clock times in the window's own offset."""

    heading: str
    intro: str
    window: str  # "2026-12-05 22:00 to 2026-12-06 04:00 (UTC+01:00)"
    offset: str
    appliances: tuple[NightAppliance, ...]
    latest_backout: str  # the fleet's: the window's end less the longest backout
    backout_minutes: int
    fits: bool
    warning: str  # "" when the window holds the plan and a backout
    # The runbook's appliance's readiness run, as ingest read it: "ready (every item is
    # ready), recorded 2026-12-01 10:00"; "" where none is recorded.
    readiness: str = ""
    # In a runbook of a large fleet, where the rows around its appliance stand for the rest:
    # "um-017 is appliance 17 of 500; ..." ("" where every appliance is listed).
    more: str = ""

    @property
    def warning_or_fits(self) -> str:
        return self.warning or NIGHT_FITS


@dataclass(frozen=True, slots=True)
class PathPlace:
    """A tickable line's place on the night's planned path (what the HTML's cockpit reads)."""

    minutes: int | None  # its estimate in the window; None for a line checked before it
    checkpoint: bool  # a GO / NO-GO checkpoint: ticked for GO, with initials, like any step


@dataclass(frozen=True, slots=True)
class SignOffView:
    """The sign-off every face shows: the roles with the names the inventory gives, the boxes
    to fill in, and the document's status."""

    status: str  # "Planned", "As executed"
    roles: tuple[tuple[str, str], ...]  # (role, name; "" where the inventory names nobody)
    attached: tuple[str, ...]  # as executed: the evidence files the records were read from


@dataclass(frozen=True, slots=True)
class RunbookView:
    plan: Plan
    executed: bool
    executed_from: tuple[str, ...]
    title: str
    multi: bool
    hops: tuple[HopView, ...]
    cleanup: PlannedStep
    cleanup_tick: Tick
    cleanup_label: str  # "Snapshot removed", "Snapshots removed"
    # On a route: every upgrade's steps before the window, shown first, ahead of the upgrades.
    before: tuple[PhaseView, ...] = ()
    # Said at the top: (target, notice) of each upgrade that has one (4.8: carried over from 4.7).
    notices: tuple[tuple[str, str], ...] = ()
    known_errors: tuple[KnownErrorView, ...] = ()
    night: NightView | None = None  # the night plan, the runbook's first section
    readiness_part: ReadinessPart | None = None  # how to run the readiness, days before

    @property
    def ticks(self) -> tuple[Tick, ...]:
        """Every tickable line, in the order the runbook shows them."""
        found: list[Tick] = [s.tick for phase in self.before for s in phase.steps]
        for hop in self.hops:
            found += [line.tick for line in hop.prerequisites]
            found += [line.tick for line in hop.in_window]
            found += [s.tick for phase in hop.phases for s in phase.steps]
            found += [line.tick for line in hop.certificate_lines]
            found += [s.tick for s in hop.backout]
        return (*found, self.cleanup_tick)

    @property
    def boxes(self) -> tuple[tuple[Tick, Mark | None], ...]:
        """Every box of the document in order: one per tick; as executed, one per record
        (a tick with no record keeps one empty box)."""
        if not self.executed:
            return tuple((tick, None) for tick in self.ticks)
        return tuple((tick, mark) for tick in self.ticks for mark in (tick.marks or (None,)))

    @property
    def planned_path(self) -> dict[str, PathPlace]:
        """The planned path's lines by box id, in the runbook's order: every tickable line but
        the backout's (done only if the night goes wrong) and the clean-up's (after the change).
        A step in the window carries its estimate, each certificate line one pass of the
        certificates' estimate (as the hop's estimate counts them)."""
        found: dict[str, PathPlace] = {}

        def steps(phases: tuple[PhaseView, ...]) -> None:
            for phase in phases:
                for s in phase.steps:
                    minutes = s.step.estimate_minutes if phase.phase == "window" else None
                    found[s.tick.box_id] = PathPlace(minutes, is_checkpoint(s.step))

        steps(self.before)
        for hop in self.hops:
            for line in (*hop.prerequisites, *hop.in_window):
                found[line.tick.box_id] = PathPlace(None, False)
            steps(hop.phases)
            for line in hop.certificate_lines:
                found[line.tick.box_id] = PathPlace(hop.certificates.estimate_minutes, False)
        return found

    @property
    def sign_off(self) -> SignOffView:
        change = self.plan.change
        names = (change.implementer, "", change.approver or "")
        return SignOffView(
            STATUS_EXECUTED if self.executed else STATUS_PLANNED,
            tuple(zip(SIGN_OFF_ROLES, names, strict=True)),
            self.executed_from,
        )


# -- building it ------------------------------------------------------------------------------


def clock(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def night_view(night: NightPlan, this: str = "", readiness: str = "") -> NightView:
    """The night plan's view; `this` marks the runbook's own appliance, `readiness` is what
    its readiness run found ("" where none is recorded)."""
    shown, more = _night_rows(night, this)
    return NightView(
        heading=NIGHT_PLAN,
        intro=NIGHT_INTRO,
        window=(
            f"{night.window_start.strftime('%Y-%m-%d %H:%M')} to "
            f"{night.window_end.strftime('%Y-%m-%d %H:%M')} ({night.offset})"
        ),
        offset=night.offset,
        appliances=tuple(_night_appliance(a, a.name == this) for a in shown),
        latest_backout=clock(night.latest_backout_start),
        backout_minutes=night.timing.backout_minutes,
        fits=night.fits,
        warning="" if night.fits else window_warning(night.timing),
        readiness=readiness,
        more=more,
    )


# The rows a runbook's cover holds beside its summary and sign-off: a layout limit, not a rule
# of the night. A larger fleet shows its appliance with the two before and after it (who hands
# over to whom); the index and the ticket list the whole fleet.
RUNBOOK_NIGHT_ROWS = 10
NIGHT_NEIGHBOURS = 2


def _night_rows(night: NightPlan, this: str) -> tuple[tuple[ApplianceNight, ...], str]:
    rows = night.appliances
    names = [a.name for a in rows]
    if not this or len(rows) <= RUNBOOK_NIGHT_ROWS or this not in names:
        return rows, ""
    at = names.index(this)
    low, high = max(0, at - NIGHT_NEIGHBOURS), min(len(rows), at + NIGHT_NEIGHBOURS + 1)
    more = (
        f"{this} is appliance {at + 1} of {len(rows)}; this table shows it with the appliances "
        f"just before and after it. The fleet's whole night plan is in the package's index.html "
        f"and in the ticket."
    )
    return rows[low:high], more


def _night_appliance(a: ApplianceNight, this: bool) -> NightAppliance:
    labels = {"go": NIGHT_GO, "irreversible": NIGHT_IRREVERSIBLE, "no-return": NIGHT_NO_RETURN}
    events = []
    for m in a.markers:
        title = m.title.removeprefix(f"{GO_NO_GO_TITLE}: ") if m.kind == "go" else m.title
        note = ""
        if m.kind == "no-return":
            note = NIGHT_NO_RETURN_VENDOR if m.vendor_says else NIGHT_NO_RETURN_CARRIED
        events.append(
            NightEvent(clock(m.at), labels[m.kind], m.kind, f"Step {m.number}", title, note)
        )
    return NightAppliance(
        name=a.name,
        route=a.route,
        start=clock(a.start),
        end=clock(a.end),
        takes=a.minutes,
        latest_backout=clock(a.latest_backout_start),
        backout_minutes=a.backout_minutes,
        late=a.late,
        events=tuple(events),
        this=this,
    )


def runbook_view(
    plan: Plan,
    executed: Executed | None = None,
    executed_from: Sequence[str] = (),
    night: NightPlan | None = None,
    readiness: str = "",
) -> RunbookView:
    """The view of one plan; with `executed` (records by record key), the as-executed one.
    `night` is the fleet's night plan; without it, this appliance's alone. `readiness`: what
    the appliance's readiness run found, for the night plan ("" where none is recorded)."""
    multi = len(plan.hops) > 1
    a = plan.appliance
    title = TITLE_EXECUTED if executed is not None else TITLE_PLANNED
    hops = tuple(_hop_view(plan, hop, n, executed) for n, hop in enumerate(plan.hops))
    before: tuple[PhaseView, ...] = ()
    if multi:
        # What is done before the window comes first, for every upgrade: a route's second
        # download is not found in the middle of the night.
        before = tuple(p for hv in hops for p in hv.phases if p.phase == "before")
        hops = tuple(
            replace(hv, phases=tuple(p for p in hv.phases if p.phase != "before")) for hv in hops
        )
    label = "Snapshots removed" if multi else "Snapshot removed"
    return RunbookView(
        plan=plan,
        executed=executed is not None,
        executed_from=tuple(executed_from),
        title=f"{title} {a.name} to Usage Meter {plan.target.short}",
        multi=multi,
        hops=hops,
        cleanup=plan.hops[-1].cleanup,
        cleanup_tick=_tick(CLEANUP_KEY, CLEANUP_KEY, "", label, executed),
        cleanup_label=label,
        before=before,
        notices=tuple(
            (h.procedure.target, h.procedure.notice) for h in plan.hops if h.procedure.notice
        ),
        known_errors=_known_errors(plan),
        night=night_view(night or night_plan((plan,), plan.change), a.name, readiness),
        readiness_part=readiness_part(plan) if plan.hops else None,
    )


def readiness_part(plan: Plan) -> ReadinessPart:
    """The runbook's "Readiness (days before the window)" part, with the first upgrade's
    agent and evidence fetch (the readiness describes the appliance as it is before it)."""
    import re

    from umrunbook.planning.agent_manifest import STATE_DIR

    hop = plan.hops[0]
    name = plan.appliance.name
    ticket = re.sub(r"[^A-Za-z0-9._-]", "_", plan.change.ticket) or "none"
    readiness_file = f"{STATE_DIR}/readiness-{name}-{ticket}.json"
    fetched = f"{name}/evidence/um-upgrade-agent/readiness-{name}-{ticket}.json"
    agent = f"{name}/{hop.folder}agent/{hop.agent.name}"
    return ReadinessPart(
        heading=READINESS_HEADING,
        source_label=f"{LABELS['tool']}: {READINESS_REASON}",
        lines=(
            (
                f"A few days before the window, copy this appliance's agent, {agent} in the "
                "change package, to root's home folder /root on the appliance (binary mode: "
                "over SSH once the SSH step is done, or as the runbook's upload does).",
                "",
            ),
            ("As root on the appliance, run:", f"bash /root/{hop.agent.name} readiness"),
            (
                "It only reads: it changes nothing but its own records, and writes "
                f"{readiness_file}: each item READY, NOT READY or UNKNOWN, and why. Fix what "
                "is NOT READY before the window; check what is UNKNOWN by hand.",
                "",
            ),
            (
                "Copy the agent's folder back with the evidence fetch of this package "
                f"({name}/{hop.folder}transfer/fetch-evidence.sh, or winscp-fetch-evidence.cmd "
                "on Windows), then read it in:",
                f"umrunbook ingest {fetched} --inventory INVENTORY --out PACKAGE",
            ),
            (
                "The night plan of this runbook and the fleet index then show its readiness "
                "(ready / not ready, and why).",
                "",
            ),
        ),
    )


def _known_errors(plan: Plan) -> tuple[KnownErrorView, ...]:
    """Each known error of the route once, with the upgrades it applies to (9.0.1, 9.1)."""
    targets: dict[tuple[str, str, str], list[str]] = {}
    for hop in plan.hops:
        for known in hop.procedure.known_errors:
            label = source_label(hop.procedure.reference(known.source), known.source_note)
            targets.setdefault((known.symptom, known.fix, label), []).append(hop.procedure.target)
    return tuple(
        KnownErrorView(", ".join(names), symptom, fix, label)
        for (symptom, fix, label), names in targets.items()
    )


def _marks(
    executed: Executed | None, key: str, title: str | None = None, target: str = ""
) -> tuple[Mark, ...]:
    return tuple(
        Mark(
            r.result,
            r.at or UNRECORDED_TIME,
            r.by,
            r.detail if title is not None and r.detail and r.detail != title else "",
        )
        for r in (executed or {}).get(key, ())
        if not target or r.belongs_to(target)
    )


def _tick(
    key: str,
    box_id: str,
    number: str,
    title: str,
    executed: Executed | None,
    *,
    step_title: str | None = None,
    target: str = "",
) -> Tick:
    return Tick(key, box_id, number, title, _marks(executed, key, step_title, target))


def _hop_view(plan: Plan, hop: Hop, n: int, executed: Executed | None) -> HopView:
    multi = len(plan.hops) > 1
    a = plan.appliance
    prefix = f"{hop.target_version.short}: " if multi else ""
    target = hop.procedure.target

    def box(key: str) -> str:
        # A route has the same lines in every upgrade: the page's ids must still be unique.
        return f"hop-{n + 1}:{key}" if multi else key

    # A prerequisite that a step of the window meets (the snapshot) is listed apart, with that
    # step: "check each one before the window starts" is then true of every other line.
    window_steps = {s.id: s for s in hop.steps if s.phase == "window"}
    before: list[Line] = []
    in_window: list[Line] = []
    for p in hop.procedure.prerequisites:
        line = Line(
            ((p.text, "data"),),
            # step_title: what the agent recorded (the snapshot's name) shows on the line.
            _tick(
                prerequisite_key(p.id),
                box(prerequisite_key(p.id)),
                "",
                p.text,
                executed,
                step_title=p.text,
            ),
        )
        (in_window if p.id in window_steps else before).append(line)
    snapshot_at = a.snapshot or SNAPSHOT_AT_DEFAULT
    snapshot_key = prerequisite_key(SNAPSHOT_PREREQUISITE)
    snapshot_line = Line(
        (
            ("Snapshot to take: ", "text"),
            (hop.snapshot_name, "value"),
            (" at ", "text"),
            (snapshot_at, "data"),
        ),
        _tick(
            snapshot_key,
            box(snapshot_key),
            "",
            f"Snapshot to take: {hop.snapshot_name}",
            executed,
            step_title=f"Snapshot to take: {hop.snapshot_name}",
        ),
    )
    (in_window if SNAPSHOT_PREREQUISITE_STEP in window_steps else before).append(snapshot_line)
    meeting = [window_steps[p.id] for p in hop.procedure.prerequisites if p.id in window_steps]
    if SNAPSHOT_PREREQUISITE_STEP in window_steps:
        meeting.append(window_steps[SNAPSHOT_PREREQUISITE_STEP])
    in_window_intro: list[Part] = [_t(IN_WINDOW_LEAD)]
    for i, s in enumerate(dict.fromkeys(meeting)):
        in_window_intro += [_t(", " if i else ""), _b(f"Step {s.number}"), _t(f" ({s.title})")]
    in_window_intro.append(_t(IN_WINDOW_TAIL))
    guide = transfer_guide(plan, hop, prefix)
    # The workstation's check stands at its step; where the hop has none (an ISO without a
    # SHA-256 in the inventory), at the download, before the upload.
    ids = {s.id for s in hop.steps}
    check_at = "check-bundle" if "check-bundle" in ids else "download-bundle"
    details = {check_at: guide.check, "upload": guide.upload, "evidence": guide.fetch}

    def commands_of(step: PlannedStep) -> tuple[CommandView, ...]:
        typed = tuple(CommandView(c.shell, c.lines) for c in step.commands)
        if not step.agent_runs:
            return typed
        return (*typed, CommandView("sh", step.agent_runs, by_agent=True))

    no_return = ""
    if hop.target_version >= NO_REVERT_FROM:
        said = hop.target_version.key() == NO_REVERT_FROM.key()
        no_return = (
            f"{NIGHT_NO_RETURN}: "
            + (NIGHT_NO_RETURN_VENDOR if said else NIGHT_NO_RETURN_CARRIED)
            + "; a failure after it is fixed forward, with the vendor's support."
        )

    def step_view(step: PlannedStep) -> StepView:
        key = step_key(step.id)
        tick = _tick(
            key,
            box(key),
            step.number,
            step.title,
            executed,
            step_title=step.title,
            target=target,
        )
        return StepView(
            step,
            f"Step {step.number}: {step.title}",
            f"Step {step.number}",
            tick,
            BY_AGENT if step.by == "agent" else BY_HAND,
            step.source.kind == "field",
            commands_of(step),
            details.get(step.id, ()),
            no_return if step.id == NO_RETURN_STEP else "",
        )

    def backout_view(step: PlannedStep) -> StepView:
        key = backout_key(step.number)
        tick = _tick(key, box(key), step.number, step.title, executed, step_title=step.title)
        return StepView(
            step,
            f"Backout {step.number}: {step.title}",
            f"Backout {step.number}",
            tick,
            BY_AGENT if step.by == "agent" else BY_HAND,
            step.source.kind == "field",
            commands_of(step),
        )

    phases = tuple(
        PhaseView(
            prefix + heading, tuple(step_view(s) for s in hop.steps if s.phase == phase), phase
        )
        for phase, heading in PHASES
        if any(s.phase == phase for s in hop.steps)
    )
    certificate_lines = tuple(
        Line(
            ((server, "value"), (": certificate accepted", "text")),
            _tick(
                certificate_key(server),
                box(certificate_key(server)),
                "",
                f"{server}: certificate accepted",
                executed,
            ),
        )
        for server in a.metered_servers
    ) or (
        Line(
            ((NO_SERVERS, "text"),),
            _tick(CERTIFICATES_KEY, box(CERTIFICATES_KEY), "", "Certificates accepted", executed),
        ),
    )
    source = str(hop.source_version) if n == 0 else hop.source_version.short
    return HopView(
        hop=hop,
        index=n + 1,
        heading=(
            f"Upgrade {n + 1} of {len(plan.hops)}: {source} → {hop.target_version.short}"
            if multi
            else ""
        ),
        prefix=prefix,
        prerequisites_heading=prefix + PREREQUISITES,
        prerequisites=tuple(before),
        prerequisite_blocks=guide.host_key,
        in_window_intro=tuple(in_window_intro) if in_window else (),
        in_window=tuple(in_window),
        phases=phases,
        certificates_heading=prefix + CERTIFICATES,
        certificates=hop.certificates,
        certificate_lines=certificate_lines,
        backout_heading=prefix + BACKOUT,
        backout=tuple(backout_view(s) for s in hop.backout.steps),
    )


# -- the transfer guide -----------------------------------------------------------------------


class _Guide:
    """Collects the guide's blocks, in order. Parts are split where the Markdown breaks its
    lines, so that the Markdown runbook keeps its line ends byte for byte."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []

    def add(self, kind: Literal["heading", "para", "item", "enum"], *parts: Part) -> None:
        self.blocks.append(Block(kind, tuple(parts)))

    def enum(self, number: int, *parts: Part) -> None:
        self.blocks.append(Block("enum", tuple(parts), number=str(number)))

    def code(self, shell: str, *lines: str) -> None:
        self.blocks.append(Block("code", shell=shell, lines=tuple(lines)))


def _t(text: str) -> Part:
    return (text, "text")


def _v(text: str) -> Part:
    return (text, "value")


def _b(text: str) -> Part:
    return (text, "strong")


def _d(text: str) -> Part:
    return (text, "data")


BR: Part = ("", "break")


@dataclass(frozen=True, slots=True)
class TransferGuide:
    """The transfer guide of one upgrade, in the parts the runbook shows where they are done:
    reading a missing host key before the window (with the prerequisites), checking the ISO
    against its manifest (at the workstation's check step), the upload (at the upload step)
    and the evidence's fetch back (at the evidence step, which the backout points to). Each
    check is shown once: the steps' own commands are not repeated here."""

    host_key: tuple[Block, ...]
    check: tuple[Block, ...]
    upload: tuple[Block, ...]
    fetch: tuple[Block, ...]  # the evidence back to the workstation, at the evidence step


def transfer_guide(plan: Plan, hop: Hop, prefix: str) -> TransferGuide:
    """The runbook's transfer guide of one upgrade, from the data of its transfer scripts."""
    a = plan.appliance
    # The Upload the transfer scripts are written from (they exist only when scriptable).
    u = upload_of(plan, hop)
    key = a.ssh_host_key
    bundle = u.bundle
    agent_name = u.agent_name
    folder = u.remote_dir
    protocol = u.protocol.upper()
    iso = u.iso
    scripted = scriptable(hop)
    transfer_dir = f"{hop.folder}transfer"
    agent_folder = f"{hop.folder}agent"
    folder_parent = folder.rstrip("/").rsplit("/", 1)[0] or "/"
    folder_leaf = folder.rstrip("/").rsplit("/", 1)[1]
    ps_path = powershell_quote(bundle.local_path)
    cmd_path = f'"{bundle.local_path}"'
    g = _Guide()  # the upload step's
    k = _Guide()  # before the window: the host key to read
    c = _Guide()  # the workstation's check step's

    g.add("item", _b("Protocol:"), _t(f" {protocol}, binary transfer mode"))
    g.add(
        "item",
        _b("Host:"),
        _t(" "),
        _v(a.host),
        _t(f", port {a.ssh_port}, user "),
        _v("root"),
        _t(" with the appliance's root password (never written here)"),
    )
    g.add(
        "item",
        _b("Remote folder:"),
        _t(" "),
        _v(folder),
        *((_t(" (create it if missing)"),) if iso else ()),
    )
    files: list[Part] = [_b("Files:"), _t(" ")]
    for item in hop.bundle:
        files += [_v(item.name), _t(", ")]
    files += [_v(agent_name), _t(" (from the package's "), _v(agent_folder), _t(" folder)")]
    g.add("item", *files)
    if key:
        g.add(
            "item",
            _b("Host key to expect:"),
            _t(" "),
            _v(key.sha256),
            _t(f" ({key.key_type}); WinSCP shows it as "),
            _v(key.winscp),
            _t(". Accept no other."),
        )
    else:
        g.add(
            "item",
            _b("Host key:"),
            _t(
                " not in the inventory. Read it on the console before the window (see the "
                "prerequisites); until it is in the inventory, the generated scripts refuse to run."
            ),
        )
        k.add("heading", _t(f"{prefix}Before the window: read the host key on the console"))
        k.add(
            "para",
            _t("The inventory has no SSH host key for "),
            _d(a.name),
            _t(", so nothing can check that the upload reaches"),
            BR,
            _t("this appliance. Never accept an unknown host key on trust. On the appliance's "),
            _t("console, logged in"),
            BR,
            _t("as root, print the fingerprint of each host key type:"),
        )
        k.code(
            "sh",
            "ssh-keygen -l -E sha256 -f /etc/ssh/ssh_host_ed25519_key.pub",
            "ssh-keygen -l -E sha256 -f /etc/ssh/ssh_host_ecdsa_key.pub",
            "ssh-keygen -l -E sha256 -f /etc/ssh/ssh_host_rsa_key.pub",
            "cat /etc/ssh/ssh_host_ed25519_key.pub",
        )
        k.add(
            "para",
            _t("Copy the line "),
            _v("cat"),
            _t(" prints ("),
            _v("ssh-ed25519 AAAA..."),
            _t(") into the inventory as"),
            BR,
            _v("ssh_host_key"),
            _t(" of "),
            _v(a.name),
            _t(", and render the change package again: the"),
            BR,
            _t("runbook then names the fingerprint to expect, and the scripts pin it. A file "),
            _t("missing on the"),
            BR,
            _t("console means the appliance has no key of that type."),
        )
        k.add(
            "para",
            _t("If you must go on without that, compare by eye: WinSCP shows "),
            _v("ssh-ed25519 255 <fingerprint>"),
            _t(";"),
            BR,
            _t("the part after "),
            _v("255"),
            _t(" must equal the part after "),
            _v("SHA256:"),
            _t(" in the"),
            BR,
            _v("ssh_host_ed25519_key.pub"),
            _t(" line above, character for character."),
        )

    if iso:
        # The step itself checks the inventory's SHA-256 where there is one; this is the
        # vendor's SHA-1, against the manifest.
        manifest = u.item("manifest")
        c.add("heading", _t("Check the ISO against the vendor's manifest"))
        c.add(
            "para",
            _t("Compare the ISO's SHA-1 with the value the vendor's manifest "),
            _v(manifest.name),
            _t(" gives for"),
            BR,
            _v(bundle.name),
            _t(" (open the manifest in a text editor). In PowerShell:"),
        )
        c.code("powershell", f"Get-FileHash -Algorithm SHA1 -LiteralPath {ps_path}")
        c.add("para", _t("Or in a Command Prompt:"))
        c.code("cmd", f"certutil -hashfile {cmd_path} SHA1")
        c.add(
            "para",
            _t("On Linux or macOS: "),
            _v(f"sha1sum {bundle.name}"),
            _t(" (or "),
            _v(f"shasum -a 1 {bundle.name}"),
            _t(")"),
            BR,
            _t("and compare with the manifest. With "),
            _v("openssl"),
            _t(" installed you may also check the"),
            BR,
            _t('signature there, as the appliance does (optional: the step "Check the files on '),
            _t('the appliance"'),
            BR,
            _t("runs it in any case)."),
        )
        c.add(
            "para",
            _b("Expected SHA-1:"),
            _t(" the manifest's value for "),
            _v(bundle.name),
            _t(" (Get-FileHash prints the letters in"),
            BR,
            _t("capitals: the same value). Any other value, or no line for the ISO in the "),
            _t("manifest: do not"),
            BR,
            _t("upload it; download the ISO and its manifest again."),
        )
    else:
        c.add(
            "para",
            _t("Get-FileHash prints the letters in capitals: the same value."),
        )

    g.add("heading", _t("Upload with WinSCP (graphical)"))
    g.enum(
        1,
        _t("Start WinSCP. In the Login dialog choose "),
        _b("New Site"),
        _t(" and set "),
        _b("File protocol"),
        _t(f" {protocol},"),
        BR,
        _b("Host name"),
        _t(" "),
        _v(a.host),
        _t(", "),
        _b("Port number"),
        _t(f" {a.ssh_port}, "),
        _b("User name"),
        _t(" "),
        _v("root"),
        _t("."),
        BR,
        _t("Leave "),
        _b("Password"),
        _t(" empty: WinSCP asks for it."),
    )
    g.enum(
        2,
        _t("Under "),
        _b("Advanced"),
        _t(" > "),
        _b("Environment"),
        _t(" > "),
        _b("Directories"),
        _t(", set "),
        _b("Remote directory"),
        _t(" to"),
        BR,
        _v(folder_parent if iso else folder),
        _t(". Then choose "),
        _b("Login"),
        _t("."),
    )
    if key:
        g.enum(
            3,
            _t("WinSCP shows the server's host key on the first connection. Its fingerprint "),
            _t("must read"),
            BR,
            _t("exactly "),
            _v(key.winscp),
            _t(". If it differs in any character, choose "),
            _b("Cancel"),
            _t(" and stop:"),
            BR,
            _t("the connection does not reach this appliance, or its key changed. Only if it "),
            _t("matches,"),
            BR,
            _t("choose "),
            _b("Accept"),
            _t(". WinSCP before 5.20 shows the same fingerprint with a"),
            BR,
            _t("trailing "),
            _v("="),
            _t(": "),
            _v(key.winscp + "="),
            _t(" is the"),
            BR,
            _t("same key; any other difference is not."),
        )
    else:
        g.enum(
            3,
            _t("WinSCP shows the server's host key on the first connection. Accept it only if "),
            _t("it matches the"),
            BR,
            _t("fingerprint read on the console (above), character for character; otherwise "),
            _t("choose"),
            BR,
            _b("Cancel"),
            _t(" and stop."),
        )
    if iso:
        g.enum(
            4,
            _t("In the remote panel, create the folder "),
            _v(folder_leaf),
            _t(" unless it exists ("),
            _b("F7"),
            _t(", or"),
            BR,
            _t("right-click > "),
            _b("New"),
            _t(" > "),
            _b("Directory"),
            _t("), open it, and check that the panel shows"),
            BR,
            _v(folder),
            _t("."),
        )
        drag: list[Part] = [_t("Drag the four files ")]
        for item in hop.bundle:
            drag += [_v(item.name), _t(", ")]
        drag += [
            _t("and"),
            BR,
            _v(agent_name),
            _t(" (from the package's "),
            _v(agent_folder),
            _t(" folder) into the remote"),
            BR,
            _t("panel. In the upload dialog open "),
            _b("Transfer settings"),
            _t(" and choose "),
            _b("Transfer mode: Binary"),
            _t(":"),
            BR,
            _t("text mode changes line ends and corrupts the files."),
        ]
        g.enum(5, *drag)
        g.enum(
            6,
            _t("When all five transfers are done, compare the sizes in the remote panel with "),
            _t("the local ones."),
        )
    else:
        g.enum(
            4,
            _t("Check that the remote panel shows "),
            _v(folder),
            _t(" (type it into the panel's address bar if"),
            BR,
            _t("not)."),
        )
        g.enum(
            5,
            _t("Drag "),
            _v(bundle.name),
            _t(" and "),
            _v(agent_name),
            _t(" (from the package's "),
            _v("agent"),
            BR,
            _t("folder) into the remote panel. In the upload dialog open "),
            _b("Transfer settings"),
            _t(" and choose"),
            BR,
            _b("Transfer mode: Binary"),
            _t(": text mode changes line ends and corrupts both files."),
        )
        g.enum(
            6,
            _t("When both transfers are done, compare the sizes in the remote panel with the "),
            _t("local ones."),
        )

    if scripted:
        _scripts(g, plan, u, transfer_dir, cmd_path)

    f = _Guide()  # the evidence step's: the fetch back to the workstation
    _fetch_guide(f, plan, u, transfer_dir, scripted)
    return TransferGuide(tuple(k.blocks), tuple(c.blocks), tuple(g.blocks), tuple(f.blocks))


def _fetch_guide(g: _Guide, plan: Plan, u: Upload, transfer_dir: str, scripted: bool) -> None:
    """How the agent's evidence and the upgrade logs come back to the workstation: before a
    backout reverts the snapshot (which deletes them), and after a good night, for the ticket."""
    a = plan.appliance
    # The agent's report, which writes the evidence, is the step's own command: not repeated.
    g.add("heading", _t("Copy the evidence back to the workstation"))
    g.add(
        "para",
        _t("Before a backout reverts the snapshot (the revert deletes them), and after a good "),
        _t("night for the"),
        BR,
        _t("ticket, once the agent's report has written the evidence, copy "),
        _v(u.state_dir),
        _t(" and the "),
        _v("inplaceupgradeum-*"),
        _t(" logs of"),
        BR,
        _v(u.install_logs),
        _t(" and"),
        BR,
        _v(u.backup_logs),
        _t(" in binary mode."),
    )
    if scripted and u.host_key is not None:
        g.add(
            "para",
            _t("On Windows, from a Command Prompt in the package's "),
            _v(f"{a.name}/{transfer_dir}"),
            _t(" folder (WinSCP"),
            BR,
            _t("installed): it copies them into "),
            _v(u.evidence_folder),
            _t(" (or a new folder named after it), host"),
            BR,
            _t("key pinned, then checks the digest the evidence records:"),
        )
        g.code("cmd", WINSCP_FETCH_CMD)
        g.add(
            "para",
            _t("On Linux or macOS (OpenSSH), from the change package's folder: the same copy, "),
            _t("and every file's"),
            BR,
            _t("size compared with the appliance's listing:"),
        )
        g.code("sh", f"sh {a.name}/{transfer_dir}/{FETCH_SH}")
        g.add(
            "para",
            _t("Both end with "),
            _v("FETCHED"),
            _t(" and name the files to attach; "),
            _v("REFUSED"),
            _t(" or "),
            _v("FAILED"),
            _t(" says what to fix."),
        )
    else:
        g.add(
            "para",
            _t("With WinSCP (graphical), connected as for the upload: drag "),
            _v(u.state_dir),
            _t(" and the logs into a new"),
            BR,
            _t("folder on the workstation, with "),
            _b("Transfer mode: Binary"),
            _t("."),
        )


def _scripts(g: _Guide, plan: Plan, u: Upload, transfer_dir: str, cmd_path: str) -> None:
    a = plan.appliance
    folder = u.remote_dir
    bundle = u.bundle
    g.add("heading", _t("Or upload with the generated scripts"))
    both_end = (
        _t("Both end with "),
        _v("UPLOADED"),
        _t("; "),
        _v("REFUSED"),
        _t(" or "),
        _v("FAILED"),
        _t(" says what to"),
        BR,
        _t("fix, and a file cut off mid-transfer never sits under its real name."),
    )
    if u.host_key is not None and u.iso:
        # The .cmd's own default, so that the runbook says what the script does.
        local_folder = u.local_folder_default
        g.add(
            "para",
            _t("On Windows, from a Command Prompt in the package's "),
            _v(f"{a.name}/{transfer_dir}"),
            _t(" folder"),
            BR,
            _t("(WinSCP installed), naming the folder that holds the four files: it checks the "),
            _t("ISO against the"),
            BR,
            _t("manifest (SHA-1)"),
            *((_t(" and the inventory's SHA-256"),) if bundle.sha256 else ()),
            _t(", the agent's SHA-256 and that the"),
            BR,
            _t("certificate and the signature are there, then runs "),
            _v(WINSCP_SCRIPT),
            _t(" with"),
            BR,
            _v("winscp.com"),
            _t(" (no stored settings, the host key pinned), which creates"),
            BR,
            _v(folder),
            _t(" if missing; it asks for root's password and writes"),
            BR,
            _v(WINSCP_LOG),
            _t(" next to itself:"),
        )
        if local_folder:
            g.code("cmd", f'{WINSCP_CMD} "{local_folder}"')
        else:
            # No folder in the inventory: the words say what to add, no code stands in for it.
            g.add(
                "para",
                _t("The inventory names no folder for the four files: type the folder, in "),
                _t("double quotes,"),
                BR,
                _t("after the script's name."),
            )
            g.code("cmd", WINSCP_CMD)
        g.add(
            "para",
            _t("On Linux or macOS (OpenSSH), from the change package's folder, with the folder "),
            _t("that holds the"),
            BR,
            _t("four files typed after the script's name: it makes the same checks before "),
            _t("connecting, trusts only "),
            _t("the host key in"),
            BR,
            _v("known_hosts"),
            _t(", creates "),
            _v(folder),
            _t(" if missing, uploads under temporary names and"),
            BR,
            _t("renames after a complete transfer, then compares the sizes. sftp asks for "),
            _t("root's password"),
            BR,
            _t("unless a key is accepted:"),
        )
        g.code("sh", f"sh {a.name}/{transfer_dir}/{UPLOAD_SH}")
        g.add("para", *both_end)
    elif u.host_key is not None:
        g.add(
            "para",
            _t("On Windows, from a Command Prompt in the package's "),
            _v(f"{a.name}/{transfer_dir}"),
            _t(" folder"),
            BR,
            _t("(WinSCP installed): it checks both files' SHA-256, then runs "),
            _v(WINSCP_SCRIPT),
            _t(" with"),
            BR,
            _v("winscp.com"),
            _t(" (no stored settings, the host key pinned), asks for root's password and"),
            BR,
            _t("writes "),
            _v(WINSCP_LOG),
            _t(" next to itself:"),
        )
        g.code("cmd", f"{WINSCP_CMD} {cmd_path}")
        g.add(
            "para",
            _t("On Linux or macOS (OpenSSH), from the change package's folder (or from "),
            _t("anywhere, with full"),
            BR,
            _t("paths): it checks both files' SHA-256 before connecting,"),
            BR,
            _t("trusts only the host key in "),
            _v("known_hosts"),
            _t(", uploads under temporary names and renames"),
            BR,
            _t("after a complete transfer, then compares the sizes. sftp asks for root's "),
            _t("password unless a key"),
            BR,
            _t("is accepted:"),
        )
        g.code("sh", f"sh {a.name}/{transfer_dir}/{UPLOAD_SH} {bundle.name}")
        g.add("para", *both_end)
    else:
        g.add(
            "para",
            _v(WINSCP_CMD),
            _t(" and "),
            _v(UPLOAD_SH),
            _t(" refuse to run until the inventory has"),
            BR,
            _t("the host key and the package is rendered again."),
        )
