"""The procedure catalogue: one data file per target version, shipped in the package.

A target is data, not code: adding one is adding a file to `umrunbook/catalogue/procedures/`.
A target file may extend a shared base in `procedures/bases/` and state only what differs
(see `inheritance`); a base is never a target by itself. This module only reads and checks
those files; binding them to an appliance is planning's job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# Re-exported: the rest of the package takes the catalogue's error from here.
from umrunbook.catalogue.errors import CatalogueError as CatalogueError
from umrunbook.catalogue.inheritance import BASES, load_yaml, resolve
from umrunbook.versions import Version, VersionRange

PLACES = {
    "workstation": "Workstation",
    "vcenter": "vCenter",
    "console": "Appliance console",
    "ssh": "SSH session",
    "webui": "Web UI",
}
PHASES = ("before", "window", "after")
ACTORS = ("operator", "agent")
SHELLS = ("sh", "powershell", "cmd", "text")  # text: lines typed into a file
SOURCE_KINDS = ("vendor", "field", "tool", "video")
# A step carries one of three labels: the vendor's document, a field report, or umrunbook's own
# step (tool), whose source_note then says why it is there.
STEP_SOURCE_KINDS = ("vendor", "field", "tool")
CHECKS = ("sha256", "sha1-manifest", "certificate", "signature", "none")
DELIVERIES = ("shar", "iso")
# A step only some appliances need: "proxy" where the inventory gives a proxy, "sha256" where it
# gives the bundle's SHA-256 (an ISO's is optional).
CONDITIONS = ("proxy", "sha256")
PLACEHOLDER = re.compile(r"\{([a-z_0-9]+)\}")


@dataclass(frozen=True, slots=True)
class Reference:
    id: str
    kind: str
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class Commands:
    shell: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    title: str
    where: str
    text: str
    source: str
    phase: str = "window"
    by: str = "operator"
    commands: tuple[Commands, ...] = ()
    agent_runs: tuple[str, ...] = ()
    expect: str = ""
    if_not: str = ""
    estimate_minutes: int = 0
    source_note: str = ""
    condition: str = ""  # a step only some appliances need: one of CONDITIONS


@dataclass(frozen=True, slots=True)
class BundleFile:
    role: str
    name: str
    check: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class AgentSettings:
    reboot_required: bool
    ssh_service_manager: str
    free_space_factor: int
    free_space_min_mb: int
    status_timeout_seconds: int
    version_files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Prerequisite:
    id: str
    text: str
    source: str


@dataclass(frozen=True, slots=True)
class Backout:
    when: tuple[str, ...]
    snapshot_until: str
    steps: tuple[Step, ...]
    estimate_minutes: int


@dataclass(frozen=True, slots=True)
class KnownError:
    """An error the sources report for this target, with what they say to do: the runbook's
    troubleshooting."""

    id: str
    symptom: str
    fix: str
    source: str
    source_note: str = ""


@dataclass(frozen=True, slots=True)
class Risk:
    level: str
    impact: str


@dataclass(frozen=True, slots=True)
class Procedure:
    target: str
    product: str
    title: str
    sources: tuple[VersionRange, ...]
    install_dir: str
    backup_dir: str
    references: dict[str, Reference]
    bundle: tuple[BundleFile, ...]
    agent: AgentSettings
    risk: Risk
    prerequisites: tuple[Prerequisite, ...]
    steps: tuple[Step, ...]
    certificates: Step
    backout: Backout
    cleanup: Step
    file: str
    delivery: str = "shar"
    upload_dir: str = ""  # where the bundle and the agent are uploaded; "" = install_dir
    # Said at the top of the runbook, e.g. that the steps are carried over from another version.
    notice: str = ""
    known_errors: tuple[KnownError, ...] = ()

    @property
    def upload_folder(self) -> str:
        return self.upload_dir or self.install_dir

    @property
    def needs_build(self) -> bool:
        return any("{build}" in item.name for item in self.bundle)

    @property
    def target_version(self) -> Version:
        return Version.parse(self.target)

    def accepts(self, version: Version) -> bool:
        return any(version in source for source in self.sources)

    @property
    def sources_text(self) -> str:
        return ", ".join(str(source) for source in self.sources)

    def reference(self, ref_id: str) -> Reference:
        return self.references[ref_id]

    def all_steps(self) -> tuple[Step, ...]:
        return (*self.steps, self.certificates, *self.backout.steps, self.cleanup)


@dataclass(frozen=True, slots=True)
class Catalogue:
    procedures: tuple[Procedure, ...]

    def get(self, target: str) -> Procedure | None:
        try:
            wanted = Version.parse(target)
        except ValueError:
            return None
        for procedure in self.procedures:
            if procedure.target_version == wanted:
                return procedure
        return None

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(p.target for p in self.procedures)


@cache
def load_catalogue() -> Catalogue:
    """Every procedure shipped in the package, ordered by target version."""
    folder = resources.files("umrunbook.catalogue.procedures")
    procedures = []
    for entry in folder.iterdir():
        # Only the files at the top are targets; the bases live in a folder of their own.
        if entry.is_file() and entry.name.endswith(".yaml"):
            procedures.append(parse_procedure(entry.read_text("utf-8"), entry.name))
    procedures.sort(key=lambda p: p.target_version.key())
    return Catalogue(tuple(procedures))


@cache
def packaged_bases() -> Mapping[str, str]:
    """The shipped bases' texts by name (`bases/iso.yaml` is `iso`)."""
    folder = resources.files("umrunbook.catalogue.procedures").joinpath(BASES)
    if not folder.is_dir():
        # A package built without them still loads its standalone targets; one that extends a
        # base then fails naming the missing base.
        return {}
    return {
        entry.name.removesuffix(".yaml"): entry.read_text("utf-8")
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith(".yaml")
    }


def parse_procedure(text: str, file: str, bases: Mapping[str, str] | None = None) -> Procedure:
    """One target file's procedure, its base merged in; `bases` (name: text) stands in for the
    shipped ones."""
    data, label = resolve(load_yaml(text, file), file, packaged_bases() if bases is None else bases)
    reader = _Reader(file, label)
    procedure = reader.procedure(data)
    reader.check_references(procedure)
    return procedure


class _Reader:
    def __init__(self, file: str, label: str = "") -> None:
        self.file = file
        # A target merged with its base is reported under both names: the fault may be in either.
        self.label = label or file

    def fail(self, where: str, message: str) -> CatalogueError:
        return CatalogueError(f"{self.label}: {where}: {message}")

    def keys(self, data: Any, where: str, required: set[str], optional: set[str]) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(where, "expected a mapping")
        unknown = set(data) - required - optional
        if unknown:
            raise self.fail(where, f"unknown keys {sorted(unknown)}")
        missing = required - set(data)
        if missing:
            raise self.fail(where, f"missing keys {sorted(missing)}")
        return data

    def one_of(self, value: Any, options: tuple[str, ...] | dict[str, str], where: str) -> str:
        if value not in options:
            raise self.fail(where, f"{value!r} is not one of {sorted(options)}")
        return str(value)

    def procedure(self, data: Any) -> Procedure:
        d = self.keys(
            data,
            "top",
            {
                "schema",
                "target",
                "product",
                "title",
                "sources",
                "install_dir",
                "backup_dir",
                "references",
                "bundle",
                "agent",
                "risk",
                "prerequisites",
                "steps",
                "certificates",
                "backout",
                "cleanup",
            },
            {"delivery", "upload_dir", "notice", "known_errors"},
        )
        if d["schema"] != 1:
            raise self.fail("schema", f"unsupported schema {d['schema']!r}")
        Version.parse(str(d["target"]))
        references = {
            ref_id: Reference(
                ref_id,
                self.one_of(r.get("kind"), SOURCE_KINDS, f"references.{ref_id}"),
                str(r["title"]),
                str(r.get("url") or ""),
            )
            for ref_id, r in d["references"].items()
        }
        agent = self.keys(
            d["agent"],
            "agent",
            {
                "reboot_required",
                "ssh_service_manager",
                "free_space_factor",
                "free_space_min_mb",
                "status_timeout_seconds",
            },
            {"version_files"},
        )
        return Procedure(
            target=str(d["target"]),
            product=str(d["product"]),
            title=str(d["title"]),
            sources=tuple(VersionRange.parse(str(s)) for s in d["sources"]),
            install_dir=str(d["install_dir"]),
            backup_dir=str(d["backup_dir"]),
            references=references,
            bundle=tuple(self.bundle_file(b, f"bundle[{i}]") for i, b in enumerate(d["bundle"])),
            agent=AgentSettings(
                reboot_required=bool(agent["reboot_required"]),
                ssh_service_manager=self.one_of(
                    agent["ssh_service_manager"], ("service", "systemctl"), "agent"
                ),
                free_space_factor=int(agent["free_space_factor"]),
                free_space_min_mb=int(agent["free_space_min_mb"]),
                status_timeout_seconds=int(agent["status_timeout_seconds"]),
                version_files=tuple(str(v) for v in agent.get("version_files") or ()),
            ),
            risk=Risk(**self.keys(d["risk"], "risk", {"level", "impact"}, set())),
            prerequisites=tuple(
                Prerequisite(**self.keys(p, f"prerequisites[{i}]", {"id", "text", "source"}, set()))
                for i, p in enumerate(d["prerequisites"])
            ),
            steps=tuple(self.step(s, f"steps[{i}]") for i, s in enumerate(d["steps"])),
            certificates=self.step(d["certificates"], "certificates"),
            backout=self.backout(d["backout"]),
            cleanup=self.step(d["cleanup"], "cleanup"),
            file=self.file,
            delivery=self.one_of(d.get("delivery", "shar"), DELIVERIES, "delivery"),
            upload_dir=str(d.get("upload_dir") or ""),
            notice=" ".join(str(d.get("notice") or "").split()),
            known_errors=tuple(
                self.known_error(k, f"known_errors[{i}]")
                for i, k in enumerate(d.get("known_errors") or ())
            ),
        )

    def known_error(self, data: Any, where: str) -> KnownError:
        d = self.keys(data, where, {"id", "symptom", "fix", "source"}, {"source_note"})
        return KnownError(
            id=str(d["id"]),
            symptom=str(d["symptom"]).strip(),
            fix=str(d["fix"]).strip(),
            source=str(d["source"]),
            source_note=str(d.get("source_note", "")),
        )

    def bundle_file(self, data: Any, where: str) -> BundleFile:
        d = self.keys(data, where, {"role", "name", "check"}, {"description"})
        return BundleFile(
            str(d["role"]),
            str(d["name"]),
            self.one_of(d["check"], CHECKS, where),
            str(d.get("description", "")),
        )

    def step(self, data: Any, where: str) -> Step:
        d = self.keys(
            data,
            where,
            {"title", "where", "text", "source"},
            {
                "id",
                "phase",
                "by",
                "commands",
                "agent_runs",
                "expect",
                "if_not",
                "estimate_minutes",
                "source_note",
                "condition",
            },
        )
        commands = []
        for i, block in enumerate(d.get("commands") or ()):
            b = self.keys(block, f"{where}.commands[{i}]", {"shell", "lines"}, set())
            commands.append(
                Commands(
                    self.one_of(b["shell"], SHELLS, where), tuple(str(line) for line in b["lines"])
                )
            )
        return Step(
            id=str(d.get("id") or where),
            title=str(d["title"]),
            where=self.one_of(d["where"], PLACES, f"{where}.where"),
            text=str(d["text"]).strip(),
            source=str(d["source"]),
            phase=self.one_of(d.get("phase", "window"), PHASES, f"{where}.phase"),
            by=self.one_of(d.get("by", "operator"), ACTORS, f"{where}.by"),
            commands=tuple(commands),
            agent_runs=tuple(str(c) for c in d.get("agent_runs") or ()),
            expect=str(d.get("expect", "")).strip(),
            if_not=str(d.get("if_not", "")).strip(),
            estimate_minutes=int(d.get("estimate_minutes", 0)),
            source_note=str(d.get("source_note", "")),
            condition=(
                self.one_of(d["condition"], CONDITIONS, f"{where}.condition")
                if "condition" in d
                else ""
            ),
        )

    def backout(self, data: Any) -> Backout:
        d = self.keys(
            data, "backout", {"when", "steps", "snapshot_until", "estimate_minutes"}, set()
        )
        return Backout(
            when=tuple(str(w) for w in d["when"]),
            snapshot_until=str(d["snapshot_until"]).strip(),
            steps=tuple(self.step(s, f"backout.steps[{i}]") for i, s in enumerate(d["steps"])),
            estimate_minutes=int(d["estimate_minutes"]),
        )

    def check_references(self, procedure: Procedure) -> None:
        ids = set(procedure.references)
        for step in procedure.all_steps():
            if step.source not in ids:
                raise self.fail(step.id, f"source {step.source!r} is not among the references")
            kind = procedure.references[step.source].kind
            if kind not in STEP_SOURCE_KINDS:
                raise self.fail(
                    step.id,
                    f"source {step.source!r} is a {kind}: a step's source is a vendor document, "
                    "a field report or umrunbook itself (tool)",
                )
            if kind == "tool" and not step.source_note.strip():
                raise self.fail(
                    step.id,
                    "a step umrunbook adds (source of kind tool) needs its reason in source_note",
                )
        for known in procedure.known_errors:
            if known.source not in ids:
                raise self.fail(known.id, f"source {known.source!r} is not among the references")
            if procedure.references[known.source].kind not in ("vendor", "field"):
                raise self.fail(
                    known.id, "a known error's source is a vendor document or a field report"
                )
        for prerequisite in procedure.prerequisites:
            if prerequisite.source not in ids:
                raise self.fail(prerequisite.id, f"source {prerequisite.source!r} is unknown")
        seen: set[str] = set()
        for step in procedure.steps:
            if step.id in seen:
                raise self.fail(step.id, "duplicate step id")
            seen.add(step.id)
