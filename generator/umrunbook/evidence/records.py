"""Evidence files: the agent's (JSON with a digest) and the manual steps ticked in the HTML
runbook (JSON exported from the page). Read, checked, and turned into typed records."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from umrunbook.inventory.files import NotRegularFile, TooLarge, read_bounded
from umrunbook.inventory.glyphs import shown
from umrunbook.planning.agent_file import (
    EVIDENCE_SCHEMA,
    READINESS_SCHEMA,
    verify_evidence_digest,
)
from umrunbook.planning.records import SNAPSHOT_PREREQUISITE, StepRecord, prerequisite_key

MANUAL_SCHEMA = "umrunbook-manual-steps/1"
MAX_BYTES = 16 * 1024 * 1024


class EvidenceError(ValueError):
    """One evidence file cannot be used; the message names the file and what to do."""


@dataclass(frozen=True, slots=True)
class AgentEvidence:
    path: str
    appliance: str
    ticket: str
    target: str
    phase: str
    result: str
    version_before: str
    version_after: str
    started: str
    finished: str
    duration_s: int | None
    steps: tuple[StepRecord, ...]
    agent_file_sha256: str = ""  # the SHA-256 of the agent file that wrote it, as it recorded


@dataclass(frozen=True, slots=True)
class ManualEvidence:
    path: str
    appliance: str
    ticket: str
    exported_at: str
    steps: tuple[StepRecord, ...]


@dataclass(frozen=True, slots=True)
class ReadinessItem:
    item: str
    verdict: str  # "ready", "not ready" or "unknown"
    why: str


@dataclass(frozen=True, slots=True)
class ReadinessEvidence:
    """What the agent's readiness command found, days before the window."""

    path: str
    appliance: str
    ticket: str
    target: str
    written_at: str
    verdict: str  # "ready", "not ready" or "unknown"
    items: tuple[ReadinessItem, ...]
    host_keys: tuple[str, ...] = ()
    agent_file_sha256: str = ""
    steps: tuple[StepRecord, ...] = ()  # none: no runbook step is done days before

    @property
    def summary(self) -> str:
        """ "not ready (root password: ...; free space: ...), recorded 2026-12-01 10:00"."""
        worst = [i for i in self.items if i.verdict == self.verdict]
        if self.verdict == "ready" or not worst:
            why = "every item ready"
        else:
            why = "; ".join(f"{i.item}: {i.why}" for i in worst)
        recorded = self.written_at.replace("T", " ").removesuffix("Z")[:16]
        return f"{self.verdict} ({why})" + (f", recorded {recorded} UTC" if recorded else "")


Evidence = AgentEvidence | ManualEvidence | ReadinessEvidence

READINESS_VERDICTS = ("ready", "not ready", "unknown")


def load_evidence(path: Path) -> Evidence:
    name = str(path)
    try:
        data = read_bounded(path, MAX_BYTES)
    except TooLarge:
        raise EvidenceError(
            f"{name}: more than {MAX_BYTES} bytes, too large for an evidence file"
        ) from None
    except NotRegularFile:
        raise EvidenceError(f"{name}: not a regular file (a device, a pipe or a socket)") from None
    except FileNotFoundError:
        raise EvidenceError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise EvidenceError(f"{name}: is a folder; give the evidence files themselves") from None
    except OSError as exc:
        raise EvidenceError(f"{name}: cannot be read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise EvidenceError(f"{name}: not UTF-8 text, so not an evidence file") from None
    try:
        document = json.loads(text)
    except RecursionError:  # nested hundreds deep: no evidence file is
        raise EvidenceError(f"{name}: its JSON is nested too deep to be an evidence file") from None
    except ValueError as exc:
        raise EvidenceError(
            f"{name}: not valid JSON ({exc}); the file is truncated or damaged\n"
            "  hint: copy it from the appliance again (WinSCP in binary mode), or run the "
            "agent's report command to write it again"
        ) from None
    schema = document.get("schema") if isinstance(document, dict) else None
    if schema == EVIDENCE_SCHEMA:
        if not verify_evidence_digest(text):
            raise EvidenceError(
                f"{name}: its digest does not match its content: the file was changed after "
                "the agent wrote it\n  hint: use the file exactly as the agent wrote it; "
                "run the agent's report command to write it again"
            )
        return _agent_evidence(name, document)
    if schema == READINESS_SCHEMA:
        if not verify_evidence_digest(text, READINESS_SCHEMA):
            raise EvidenceError(
                f"{name}: its digest does not match its content: the file was changed after "
                "the agent wrote it\n  hint: use the file exactly as the agent wrote it; "
                "run the agent's readiness command again"
            )
        return _readiness_evidence(name, document)
    if schema == MANUAL_SCHEMA:
        return _manual_evidence(name, document)
    raise EvidenceError(
        f"{name}: not an umrunbook evidence file (schema {schema!r}; expected "
        f"{EVIDENCE_SCHEMA!r} or {READINESS_SCHEMA!r} from the agent or {MANUAL_SCHEMA!r} "
        "from the HTML runbook)"
    )


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _text(value: Any) -> str:
    # Evidence is shown in every face, and never passed `check`: what no face can show is
    # written as its code point instead.
    return "" if value is None else shown(str(value))


def _agent_evidence(name: str, d: dict[str, Any]) -> AgentEvidence:
    for key in ("appliance", "ticket", "target", "phase", "result"):
        if not isinstance(d.get(key), str) or (key in ("appliance", "ticket") and not d[key]):
            raise EvidenceError(f"{name}: the agent's evidence lacks {key!r}")
    started = _text(_get(d, "preflight", "at")) or _text(_get(d, "bundle", "started_at"))
    finished = _text(_get(d, "verify", "at")) or _text(d.get("written_at"))
    return AgentEvidence(
        path=name,
        appliance=d["appliance"],
        ticket=d["ticket"],
        target=d["target"],
        phase=d["phase"],
        result=d["result"],
        version_before=_text(_get(d, "version_before", "value"))
        or _text(d.get("inventory_version")),
        version_after=_text(_get(d, "version_after", "value")),
        started=started,
        finished=finished,
        duration_s=_seconds_between(started, finished),
        steps=tuple(_agent_steps(d)),
        agent_file_sha256=_text(_get(d, "agent", "file_sha256")),
    )


def _agent_steps(d: dict[str, Any]) -> list[StepRecord]:
    """The runbook steps the agent did or saw, keyed by the catalogue's step ids."""
    records = []
    preflight = _get(d, "preflight")
    if _get(preflight, "at"):
        fails, warns = _get(preflight, "fails"), _get(preflight, "warns")
        detail = f"{fails or 0} FAIL, {warns or 0} WARN"
        space = _free_space_detail(_get(d, "free_space"))
        records.append(
            StepRecord(
                "preflight",
                _text(_get(preflight, "result")).upper() or "DONE",
                _text(_get(preflight, "at")),
                "agent",
                f"{detail}; {space}" if space else detail,
            )
        )
    snapshot = _text(_get(d, "snapshot", "name"))
    if snapshot:
        how = _text(_get(d, "snapshot", "confirmed_by"))
        detail = f"snapshot {snapshot!r}, confirmed with {how}" if how else f"snapshot {snapshot!r}"
        at = _text(_get(preflight, "at"))
        # The snapshot line of the prerequisites, and the step that takes it.
        keys = (prerequisite_key(SNAPSHOT_PREREQUISITE), prerequisite_key("snapshot"), "snapshot")
        for key in keys:
            records.append(StepRecord(key, "PASS", at, "agent", detail))
    iso = _get(d, "iso_checks")
    if _get(iso, "sha1"):
        results = {
            "SHA-1": _text(_get(iso, "sha1")),
            "certificate": _text(_get(iso, "certificate")),
            "chain": _text(_get(iso, "chain")),
            "signature": _text(_get(iso, "signature")),
        }
        verdict = "PASS" if results["SHA-1"] == results["signature"] == "pass" else "FAIL"
        records.append(
            StepRecord(
                "check-upload",
                verdict,
                _text(_get(preflight, "at")),
                "agent",
                ", ".join(f"{k} {v or '?'}" for k, v in results.items())
                + (
                    f" (SHA-1 {_text(_get(iso, 'sha1_expected'))})"
                    if _get(iso, "sha1_expected")
                    else ""
                ),
            )
        )
    bundle = _get(d, "bundle")
    if _get(bundle, "started_at"):
        code = _get(bundle, "exit_code")
        if _get(bundle, "interrupted_at"):
            result, detail = "FAIL", f"interrupted at {_get(bundle, 'interrupted_at')}"
        else:
            result = "PASS" if code == 0 else "FAIL"
            detail = f"{_text(_get(bundle, 'command'))}: exit code {_text(code) or 'none'}"
            if _get(bundle, "duration_s") is not None:
                detail += f", {_get(bundle, 'duration_s')} s"
        records.append(
            StepRecord("upgrade", result, _text(_get(bundle, "started_at")), "agent", detail)
        )
    handed_over = _get(bundle, "handed_over_at")
    if handed_over:  # an ISO hop: the operator runs the vendor's script after this
        records.append(
            StepRecord(
                "record-start",
                "PASS",
                _text(handed_over),
                "agent",
                "ready for the vendor's upgrade script",
            )
        )
    if _get(d, "reboot", "rebooted") in (True, "yes"):
        records.append(
            StepRecord(
                "reboot",
                "PASS",
                _text(_get(d, "verify", "at")),
                "agent",
                "the boot id changed: the appliance was rebooted",
            )
        )
    verify = _get(d, "verify")
    if _get(verify, "at"):
        services = _text(_get(d, "services", "verdict"))
        records.append(
            StepRecord(
                "verify",
                _text(_get(verify, "result")).upper() or "DONE",
                _text(_get(verify, "at")),
                "agent",
                f"version {_text(_get(d, 'version_after', 'value')) or '?'}, "
                f"services {services or '?'}",
            )
        )
    if d.get("written_at"):
        records.append(
            StepRecord("evidence", "PASS", _text(d["written_at"]), "agent", "evidence written")
        )
    ssh = _get(d, "ssh")
    if _get(ssh, "finished_at"):
        back = _get(ssh, "after_running") == "no" and _get(ssh, "before_enabled") in (
            _get(ssh, "after_enabled"),
            "unknown",
        )
        records.append(
            StepRecord(
                "stop-ssh",
                "PASS" if back else "FAIL",
                _text(_get(ssh, "finished_at")),
                "agent",
                f"sshd enabled {_text(_get(ssh, 'after_enabled'))}, running "
                f"{_text(_get(ssh, 'after_running'))}; before the change: enabled "
                f"{_text(_get(ssh, 'before_enabled'))}, "
                f"running {_text(_get(ssh, 'before_running'))}",
            )
        )
    target = _text(d.get("target"))
    target = _text(d.get("target"))
    return [replace(r, target=target) for r in records]


def _free_space_detail(space: Any) -> str:
    free, bundle, margin = (_get(space, k) for k in ("free_kib", "needed_kib", "margin_kib"))
    if free is None:
        return ""
    text = f"{free} KiB free, the bundle {bundle if bundle is not None else '?'} KiB"
    if margin is not None:
        text += f", umrunbook's margin {margin} KiB"
    accepted = _text(_get(space, "accepted"))
    if accepted:
        text += f", below it: accepted with {accepted}"
    return text


def _readiness_evidence(name: str, d: dict[str, Any]) -> ReadinessEvidence:
    for key in ("appliance", "ticket", "target"):
        if not isinstance(d.get(key), str) or (key != "target" and not d[key]):
            raise EvidenceError(f"{name}: the agent's readiness file lacks {key!r}")
    if d.get("verdict") not in READINESS_VERDICTS or not isinstance(d.get("items"), list):
        raise EvidenceError(f"{name}: the agent's readiness file lacks its verdict and items")
    items = []
    for index, item in enumerate(d["items"]):
        if not isinstance(item, dict) or item.get("verdict") not in READINESS_VERDICTS:
            raise EvidenceError(f"{name}: items[{index}] is not a readiness item")
        items.append(
            ReadinessItem(_text(item.get("item")), item["verdict"], _text(item.get("why")))
        )
    keys = d.get("host_keys")
    return ReadinessEvidence(
        path=name,
        appliance=d["appliance"],
        ticket=d["ticket"],
        target=d["target"],
        written_at=_text(d.get("written_at")),
        verdict=d["verdict"],
        items=tuple(items),
        host_keys=tuple(_text(k) for k in keys) if isinstance(keys, list) else (),
        agent_file_sha256=_text(_get(d, "agent", "file_sha256")),
    )


def _manual_evidence(name: str, d: dict[str, Any]) -> ManualEvidence:
    appliance, ticket, steps = d.get("appliance"), d.get("ticket"), d.get("steps")
    if not isinstance(appliance, str) or not isinstance(ticket, str) or not isinstance(steps, list):
        raise EvidenceError(f"{name}: a manual-steps file needs appliance, ticket and steps")
    records = []
    for index, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("id"), str):
            raise EvidenceError(f"{name}: steps[{index}] is not a step record")
        if not step.get("checked"):
            continue
        records.append(
            StepRecord(
                step["id"],
                "done",
                _text(step.get("at")),
                _text(step.get("initials")) or "(no initials)",
                _text(step.get("title")),
            )
        )
    return ManualEvidence(name, appliance, ticket, _text(d.get("exported_at")), tuple(records))


def _seconds_between(start: str, end: str) -> int | None:
    try:
        delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    except (TypeError, ValueError):
        return None
    return int(delta.total_seconds()) if delta.total_seconds() >= 0 else None
