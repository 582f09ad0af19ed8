"""The plan: a procedure bound to one appliance. Every renderer reads only this."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from umrunbook.catalogue.procedure import Commands, Procedure, Reference
from umrunbook.inventory.model import Appliance, Change, Transfer
from umrunbook.versions import Version

PLANNED = "planned"
NOTHING_TO_DO = "nothing to do"
NO_PATH = "no supported path"


@dataclass(frozen=True, slots=True)
class Text:
    """Prose from the catalogue with the appliance's values marked, so each face can show a
    value as a value (a code span, a monospace run) and never as markup."""

    segments: tuple[tuple[str, bool], ...]  # (text, is_value)

    @property
    def plain(self) -> str:
        return "".join(text for text, _ in self.segments)

    def __bool__(self) -> bool:
        return bool(self.segments)


@dataclass(frozen=True, slots=True)
class PlannedStep:
    number: str
    id: str
    title: str
    phase: str
    where: str
    where_label: str
    by: str
    text: Text
    commands: tuple[Commands, ...]
    agent_runs: tuple[str, ...]
    expect: Text
    if_not: Text
    estimate_minutes: int
    source: Reference
    source_note: str

    @property
    def source_label(self) -> str:
        """One of the three labels, with its reference or its reason: "Vendor document (VM45,
        prerequisites)", "Field report (IBM, attach the ISO)", "Added by umrunbook: <why>"."""
        return source_label(self.source, self.source_note)


LABELS = {
    "vendor": "Vendor document",
    "field": "Field report",
    "tool": "Added by umrunbook",
}


def source_label(source: Reference, note: str) -> str:
    """A step's label: the vendor's document or a field report with its reference (and the place
    in it), or umrunbook's own step with the reason it is there."""
    if source.kind == "tool":
        return f"{LABELS['tool']}: {note}" if note else LABELS["tool"]
    label = LABELS.get(source.kind, "Vendor document")
    detail = f", {note}" if note else ""
    return f"{label} ({source.id}{detail})"


@dataclass(frozen=True, slots=True)
class BundleItem:
    role: str
    name: str
    check: str
    sha256: str
    local_path: str


@dataclass(frozen=True, slots=True)
class AgentFile:
    name: str
    text: str
    sha256: str
    manifest: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Backout:
    when: tuple[str, ...]
    snapshot_until: str
    steps: tuple[PlannedStep, ...]
    estimate_minutes: int


@dataclass(frozen=True, slots=True)
class Hop:
    """One in-place upgrade: one procedure from one version to the next."""

    procedure: Procedure
    source_version: Version
    target_version: Version
    bundle: tuple[BundleItem, ...]
    steps: tuple[PlannedStep, ...]
    certificates: PlannedStep
    backout: Backout
    cleanup: PlannedStep
    agent: AgentFile
    snapshot_name: str
    estimate_minutes: int  # the steps in the window, the certificates included
    folder: str = ""  # inside the appliance's folder: "" for one hop, "hop-1-4.3/" for several


@dataclass(frozen=True, slots=True)
class Plan:
    appliance: Appliance
    change: Change
    inventory_path: str
    target: Version
    state: str
    hops: tuple[Hop, ...]
    generated_at: datetime
    generator: str
    transfer: Transfer
    route_reason: str = ""  # why this route of several upgrades: `check` shows it

    @property
    def route(self) -> tuple[Version, ...]:
        if not self.hops:
            return (self.appliance.version,)
        return (self.hops[0].source_version, *(hop.target_version for hop in self.hops))

    @property
    def route_text(self) -> str:
        first, *rest = self.route
        return " → ".join([str(first), *(v.short for v in rest)])

    @property
    def estimate_minutes(self) -> int:
        return sum(hop.estimate_minutes for hop in self.hops)
