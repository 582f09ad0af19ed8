"""Planning binds the catalogue's procedures to one appliance: the route, the values, the steps.

No I/O here beyond reading the packaged agent source: the result is a Plan that every
renderer reads and none changes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from collections.abc import Callable, Mapping, Set
from dataclasses import replace
from datetime import UTC, datetime
from itertools import pairwise

from umrunbook import __version__
from umrunbook.catalogue.procedure import (
    PLACEHOLDER,
    PLACES,
    Catalogue,
    CatalogueError,
    Commands,
    Procedure,
    Step,
)
from umrunbook.errors import InputError, Problem
from umrunbook.inventory.model import Appliance, BundleSpec, Inventory
from umrunbook.planning.agent_manifest import STATE_DIR, manifest_for
from umrunbook.planning.between import (
    CHECKPOINT_MINUTES,
    IRREVERSIBLE,
    go_no_go,
    go_no_go_before,
)
from umrunbook.planning.plan import (
    NOTHING_TO_DO,
    PLANNED,
    AgentFile,
    Backout,
    BundleItem,
    Hop,
    Plan,
    PlannedStep,
    Text,
)
from umrunbook.planning.routes import (
    choose_route,
    pinned_route,
    stops_text,
)
from umrunbook.versions import Version

AGENT_FILE = "um-upgrade-agent.sh"
GENERATOR = f"umrunbook {__version__}"


def plan_fleet(
    inventory: Inventory, catalogue: Catalogue, now: datetime | None = None
) -> tuple[Plan, ...]:
    """A plan for every appliance; InputError naming every appliance that has no route."""
    moment = now or generated_at()
    problems: list[Problem] = []
    check_target(inventory, catalogue)
    plans = []
    for appliance in inventory.appliances:
        try:
            plans.append(plan_for(appliance, inventory, catalogue, moment))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return tuple(plans)


def check_target(inventory: Inventory, catalogue: Catalogue) -> None:
    """InputError when the inventory's target is not one of the catalogue's."""
    if catalogue.get(inventory.upgrade.target) is None:
        raise InputError(
            [
                Problem(
                    inventory.path,
                    inventory.lines.get("upgrade.target"),
                    "upgrade.target",
                    f"{inventory.upgrade.target!r} is not a target in the procedure catalogue",
                    f"use one of: {', '.join(catalogue.targets)} (`umrunbook paths` lists them)",
                )
            ]
        )


def generated_at() -> datetime:
    """Now, or SOURCE_DATE_EPOCH where set, so that builds can be reproduced byte for byte."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isascii() and epoch.isdigit():  # ASCII: '²'.isdigit() is true too
        try:
            return datetime.fromtimestamp(int(epoch), UTC)
        except (OverflowError, ValueError, OSError):
            pass  # out of the calendar: ignored like any other value that is not a time
    return datetime.now(UTC).replace(microsecond=0)


def describe_paths(catalogue: Catalogue) -> str:
    return "; ".join(f"{p.sources_text} → {p.target}" for p in catalogue.procedures)


def route_for(
    appliance: Appliance, inventory: Inventory, catalogue: Catalogue
) -> tuple[Version, tuple[Procedure, ...], str]:
    """The appliance's target (its own, or the inventory's), its route to it and why that
    route (`check` shows it); InputError when it has none."""
    target = _target(appliance, inventory, catalogue)
    version_line = appliance.lines.get("version", appliance.line)
    field = "version"
    if appliance.version > target:
        raise InputError(
            [
                Problem(
                    appliance.source,
                    version_line,
                    field,
                    f"{appliance.name}: {appliance.version} is newer than the target {target}",
                    "check the version in the web interface's About page, or the upgrade target",
                )
            ]
        )
    choice = choose_route(appliance.version, target, catalogue)
    route = None if choice is None else choice.procedures
    reason = "" if choice is None else choice.reason
    via = inventory.upgrade.via
    if target != Version.parse(inventory.upgrade.target):
        # The stops lie before upgrade.target; an appliance with a target of its own takes
        # those before its target (none: the planner's route).
        via = tuple(stop for stop in via if Version.parse(stop) < target)
    if via and route:
        pinned = pinned_route(appliance.version, target, via, catalogue)
        if isinstance(pinned, str):
            raise InputError(
                [
                    Problem(
                        inventory.path,
                        inventory.lines.get("upgrade.via"),
                        "upgrade.via",
                        f"{appliance.name}: {appliance.version} → {target.short} through "
                        f"{', '.join(via)} is not a possible route: {pinned}",
                        f"give stops the catalogue allows (the planner's route: "
                        f"{stops_text(appliance.version, route)}), or remove upgrade.via",
                    )
                ]
            )
        if pinned != route:
            reason = (
                f"pinned by upgrade.via; the planner would take "
                f"{stops_text(appliance.version, route)}"
                + (f" ({choice.reason})" if choice and choice.reason else "")
            )
        elif len(pinned) > 1:
            reason = f"pinned by upgrade.via, as the planner would choose ({reason})"
        route = pinned
    if route is None:
        new_appliance = (
            " (a new appliance with data migration is needed)"
            if appliance.version.parts[0] < 4
            else ""
        )
        raise InputError(
            [
                Problem(
                    appliance.source,
                    version_line,
                    field,
                    f"{appliance.name}: {appliance.version} has no in-place path to {target}"
                    f"{new_appliance}",
                    f"supported: {describe_paths(catalogue)}",
                )
            ]
        )
    return target, route, reason


def plan_for(
    appliance: Appliance, inventory: Inventory, catalogue: Catalogue, now: datetime
) -> Plan:
    target, route, reason = route_for(appliance, inventory, catalogue)
    base = Plan(
        appliance,
        inventory.change,
        inventory.path,
        target,
        NOTHING_TO_DO,
        (),
        now,
        GENERATOR,
        inventory.transfer,
    )
    if not route:
        return base
    hops = []
    problems: list[Problem] = []
    at = appliance.version
    counter = _Counter()
    for index, procedure in enumerate(route):
        final = index == len(route) - 1
        folder = "" if len(route) == 1 else f"hop-{index + 1}-{procedure.target}/"
        try:
            spec = _bundle_spec(appliance, inventory, procedure, route, final)
            hops.append(_hop(appliance, inventory, procedure, spec, at, counter, folder))
        except InputError as exc:
            problems.extend(exc.problems)
        at = procedure.target_version
    if problems:
        raise InputError(problems)
    hops = _route_order(hops, catalogue)
    return Plan(
        appliance,
        inventory.change,
        inventory.path,
        target,
        PLANNED,
        tuple(hops),
        now,
        GENERATOR,
        inventory.transfer,
        reason,
    )


def _target(appliance: Appliance, inventory: Inventory, catalogue: Catalogue) -> Version:
    """The appliance's own target where it names one, else upgrade.target; one the catalogue
    does not have is an error at the appliance's line."""
    if appliance.target is None:
        return Version.parse(inventory.upgrade.target)
    procedure = catalogue.get(appliance.target)
    if procedure is None:
        raise InputError(
            [
                Problem(
                    appliance.source,
                    appliance.lines.get("target", appliance.line),
                    "target",
                    f"{appliance.name}: {appliance.target!r} is not a target in the procedure "
                    "catalogue",
                    f"use one of: {', '.join(catalogue.targets)} (`umrunbook paths` lists them), "
                    "or leave it out to take upgrade.target",
                )
            ]
        )
    return procedure.target_version


def _route_order(hops: list[Hop], catalogue: Catalogue) -> list[Hop]:
    """A route's steps numbered in the order they are done: what comes before the window, for
    every upgrade, first; then each upgrade's window, the second and later ones opened by a
    go / no-go on the one before."""
    if len(hops) < 2:
        return hops
    with_gates = [hops[0]]
    for previous, hop in pairwise(hops):
        gate = go_no_go(previous, hop, catalogue)
        steps = [s for s in hop.steps if s.phase == "before"]
        steps += [gate, *(s for s in hop.steps if s.phase != "before")]
        with_gates.append(
            replace(
                hop,
                steps=tuple(steps),
                estimate_minutes=hop.estimate_minutes + gate.estimate_minutes,
            )
        )
    counter = _Counter()
    numbers: dict[tuple[int, int], str] = {}
    for before in (True, False):
        for h, hop in enumerate(with_gates):
            for i, step in enumerate(hop.steps):
                if (step.phase == "before") is before:
                    numbers[(h, i)] = counter.next()
    return [
        replace(
            hop,
            steps=tuple(replace(step, number=numbers[(h, i)]) for i, step in enumerate(hop.steps)),
        )
        for h, hop in enumerate(with_gates)
    ]


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def next(self) -> str:
        self.count += 1
        return str(self.count)


def _bundle_spec(
    appliance: Appliance,
    inventory: Inventory,
    procedure: Procedure,
    route: tuple[Procedure, ...],
    final: bool,
) -> BundleSpec:
    """The inventory's word on this hop's files, or an error saying what to add."""
    spec = inventory.upgrade.bundle_for(procedure.target)
    route_text = " → ".join([str(appliance.version), *(p.target for p in route)])
    if spec is None:
        fix = f'add under upgrade: `bundles: {{"{procedure.target}": {{' + (
            "build: ..., sha256: ...}}`" if procedure.needs_build else "sha256: ...}}`"
        )
        if final:
            # The appliance's own target (upgrade.target's bundle is always there).
            problem = Problem(
                appliance.source,
                appliance.lines.get("target", appliance.line),
                "target",
                f"{appliance.name}: the target {procedure.target} needs its bundle in "
                f"upgrade.bundles",
                fix,
            )
        else:
            problem = Problem(
                inventory.path,
                inventory.lines.get("upgrade.target"),
                "upgrade.bundles",
                f"{appliance.name}: the route {route_text} needs the bundle for {procedure.target}",
                fix,
            )
        raise InputError([problem])
    where = inventory.upgrade.bundle_field(procedure.target)
    if (procedure.delivery == "shar" or procedure.bundle[0].check == "sha256") and not spec.sha256:
        raise InputError(
            [
                Problem(
                    inventory.path,
                    spec.line,
                    f"{where}.sha256",
                    "is required for a .shar bundle"
                    if procedure.delivery == "shar"
                    else f"is required for the {procedure.target} ISO: its SHA-256 is the "
                    "published check",
                    "copy the 64 hexadecimal digits from the vendor's download page",
                )
            ]
        )
    if procedure.needs_build and not spec.build:
        example = procedure.bundle[0].name.replace("{build}", "20554128")
        raise InputError(
            [
                Problem(
                    inventory.path,
                    spec.line,
                    f"{where}.build",
                    f"is required for the {procedure.target} bundle: its file names hold it",
                    "copy the build number from the downloaded file names, e.g. 20554128 in "
                    + example,
                )
            ]
        )
    return spec


def _hop(
    appliance: Appliance,
    inventory: Inventory,
    procedure: Procedure,
    spec: BundleSpec,
    source: Version,
    counter: _Counter,
    folder: str,
) -> Hop:
    local_folder = spec.local_folder or ""
    bundle = bundle_items(procedure, spec)
    main = bundle[0]
    snapshot_name = f"{inventory.change.ticket}-before-{procedure.target}"
    # The agent's evidence file names: one pair per hop, side by side on the appliance.
    evidence = f"evidence-{appliance.name}-{inventory.change.ticket}-{procedure.target}"
    values: dict[str, str] = {
        "name": appliance.name,
        "host": appliance.host,
        "web_url": _web_url(appliance.host),
        "vami_url": _web_url(appliance.host, 5480),
        "ticket": inventory.change.ticket,
        "target": procedure.target,
        "source_version": str(source),
        "install_dir": procedure.install_dir,
        "backup_dir": procedure.backup_dir,
        "upload_dir": procedure.upload_folder,
        "state_dir": STATE_DIR,
        "agent_file": AGENT_FILE,
        "agent_after": f"{STATE_DIR}/{AGENT_FILE}",
        "bundle_file": main.name,
        "bundle_sha256": main.sha256,
        "bundle_local_path": main.local_path,
        "bundle_local_folder": local_folder or "the workstation's download folder",
        "build": spec.build or "",
        "proxy": appliance.proxy or "",
        "snapshot_location": appliance.snapshot or "the VM's location in vCenter",
        "snapshot_name": snapshot_name,
        "evidence_json": f"{evidence}.json",
        "evidence_md": f"{evidence}.md",
        "upgrade_log": f"{procedure.install_dir}/var/logs/inplaceupgradeum-*",
    }
    for item in bundle:
        values[f"bundle_{item.role}"] = item.name
        values[f"bundle_{item.role}_local_path"] = item.local_path
    if "bundle_certificate" in values:
        values["bundle_key"] = values["bundle_certificate"].removesuffix(".crt") + ".key"
    # Where the inventory gives no value, these read as words, not as a value to type or compare.
    wording = {
        name
        for name, given in (
            ("bundle_local_folder", local_folder),
            ("snapshot_location", appliance.snapshot),
        )
        if not given
    }
    # A later hop starts from the version the previous one left, not the inventory's.
    first = source.key() == appliance.version.key()
    manifest = manifest_for(
        appliance, inventory, procedure, bundle, GENERATOR, None if first else str(source)
    )
    agent = _agent(manifest)
    values["agent_sha256"] = agent.sha256
    binder = _Binder(procedure, values, wording)
    bound: list[PlannedStep] = []
    for step in procedure.steps:
        if not _applies(step, appliance, main.sha256):
            continue
        if step.id in IRREVERSIBLE:
            # A GO / NO-GO checkpoint before each step that only the snapshot can undo.
            gate = binder.step(step, "")
            bound.append(go_no_go_before(gate, procedure, snapshot_name, counter.next()))
        bound.append(binder.step(step, counter.next()))
    steps = tuple(bound)
    certificates = binder.step(procedure.certificates, "")
    backout_steps = tuple(
        binder.step(step, f"B{index}") for index, step in enumerate(procedure.backout.steps, 1)
    )
    return Hop(
        procedure=procedure,
        source_version=source,
        target_version=procedure.target_version,
        bundle=bundle,
        steps=steps,
        certificates=certificates,
        backout=Backout(
            procedure.backout.when,
            binder.text(procedure.backout.snapshot_until).plain,
            backout_steps,
            procedure.backout.estimate_minutes,
        ),
        cleanup=binder.step(procedure.cleanup, ""),
        agent=agent,
        snapshot_name=snapshot_name,
        estimate_minutes=hop_estimate(procedure, appliance, main.sha256),
        folder=folder,
    )


def hop_estimate(procedure: Procedure, appliance: Appliance, sha256: str) -> int:
    """The minutes of one hop's steps in the window, the certificates included; `sha256`:
    the main bundle's, which some steps need."""
    # The certificate estimate is per metered server; with none listed, one pass over the UI.
    # Each irreversible step has its GO / NO-GO checkpoint before it (go_no_go_before).
    return sum(
        step.estimate_minutes + (CHECKPOINT_MINUTES if step.id in IRREVERSIBLE else 0)
        for step in procedure.steps
        if step.phase == "window" and _applies(step, appliance, sha256)
    ) + procedure.certificates.estimate_minutes * max(1, len(appliance.metered_servers))


def bundle_items(procedure: Procedure, spec: BundleSpec) -> tuple[BundleItem, ...]:
    """One hop's files: the catalogue's names with the inventory's build, sha256 and paths."""
    return tuple(
        BundleItem(
            role=item.role,
            name=(
                spec.file
                if spec.file and (procedure.delivery == "shar" or len(procedure.bundle) == 1)
                else item.name.replace("{build}", spec.build or "")
            ),
            check=item.check,
            sha256=(spec.sha256 or "") if index == 0 else "",
            local_path=_local_path(spec, item.name.replace("{build}", spec.build or ""), index),
        )
        for index, item in enumerate(procedure.bundle)
    )


def _applies(step: Step, appliance: Appliance, sha256: str) -> bool:
    if step.condition == "proxy":
        return bool(appliance.proxy)
    if step.condition == "sha256":
        return bool(sha256)
    return True


def _local_path(spec: BundleSpec, name: str, index: int) -> str:
    if index == 0 and spec.local_path:
        return spec.local_path
    if spec.local_folder:
        separator = "\\" if "\\" in spec.local_folder else "/"
        return spec.local_folder.rstrip("\\/") + separator + name
    return name


def _agent(manifest: Mapping[str, str]) -> AgentFile:
    from umrunbook.planning.agent_file import build_agent

    text = build_agent(manifest)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return AgentFile(AGENT_FILE, text, digest, tuple(manifest.items()))


class _Binder:
    """Fills a procedure's placeholders with one appliance's values."""

    def __init__(
        self, procedure: Procedure, values: Mapping[str, str], wording: Set[str] = frozenset()
    ) -> None:
        self.procedure = procedure
        self.values = values
        self.wording = wording

    def value(self, name: str) -> str:
        try:
            return self.values[name]
        except KeyError:
            raise CatalogueError(f"{self.procedure.file}: unknown placeholder {{{name}}}") from None

    def text(self, template: str) -> Text:
        """Prose with its values marked. A `code span` in the catalogue's prose is a value too
        (a command, a file's content): each face shows it as code, never the backticks; a
        placeholder inside one is filled in quoted for the shell, as in a command."""
        segments: list[tuple[str, bool]] = []
        for index, piece in enumerate(_CODE_SPAN.split(template)):
            if index % 2:
                segments.append((self.command(piece, "sh"), True))
                continue
            position = 0
            for match in PLACEHOLDER.finditer(piece):
                if match.start() > position:
                    segments.append((piece[position : match.start()], False))
                name = match.group(1)
                segments.append((self.value(name), name not in self.wording))
                position = match.end()
            if position < len(piece):
                segments.append((piece[position:], False))
        return Text(tuple(segments))

    def command(self, line: str, shell: str) -> str:
        quote = _QUOTERS[shell]
        return PLACEHOLDER.sub(lambda m: quote(self.value(m.group(1))), line)

    def step(self, step: Step, number: str) -> PlannedStep:
        return PlannedStep(
            number=number,
            id=step.id,
            title=step.title,
            phase=step.phase,
            where=step.where,
            where_label=PLACES[step.where],
            by=step.by,
            text=self.text(step.text),
            commands=tuple(
                Commands(
                    block.shell, tuple(self.command(line, block.shell) for line in block.lines)
                )
                for block in step.commands
            ),
            agent_runs=tuple(self.command(line, "sh") for line in step.agent_runs),
            expect=self.text(step.expect),
            if_not=self.text(step.if_not),
            estimate_minutes=step.estimate_minutes,
            source=self.procedure.reference(step.source),
            source_note=self.text(step.source_note).plain,
        )


# A code span in catalogue prose: one pair of backticks (the catalogue writes no backtick inside).
_CODE_SPAN = re.compile(r"`([^`]+)`")


def _web_url(host: str, port: int = 0) -> str:
    """The web interface's address: the appliance's, over HTTPS (an IPv6 address in brackets);
    with a port, the appliance management interface's."""
    at = f"[{host}]" if ":" in host else host
    return f"https://{at}:{port}/" if port else f"https://{at}/"


def _quote_powershell(value: str) -> str:
    if value and all(c.isalnum() or c in "._-/:\\" for c in value):
        return value
    # PowerShell closes a single-quoted string at any of these quote marks, typographic ones
    # included; each is escaped by doubling it.
    return "'" + re.sub("(['\u2018\u2019\u201a\u201b])", r"\1\1", value) + "'"


def _quote_cmd(value: str) -> str:
    if value and all(c.isalnum() or c in "._-\\:" for c in value):
        return value
    return '"' + value.replace('"', '""') + '"'


def _quote_sh(value: str) -> str:
    # Values inside quotes the catalogue already wrote (echo '<sha>  file') are safe
    # characters only; everything else is quoted for a POSIX shell.
    return shlex.quote(value)


# "text": lines typed into a file (the proxy settings); its values are checked on input.
_QUOTERS: dict[str, Callable[[str], str]] = {
    "sh": _quote_sh,
    "powershell": _quote_powershell,
    "cmd": _quote_cmd,
    "text": str,
}
