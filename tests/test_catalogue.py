"""The catalogue's data files: every step has its source, every placeholder a value."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from textwrap import dedent

import pytest

from umrunbook.catalogue.procedure import (
    CatalogueError,
    Procedure,
    load_catalogue,
    packaged_bases,
    parse_procedure,
)
from umrunbook.versions import Version

CATALOGUE = load_catalogue()
GOLDEN = Path(__file__).parent / "golden" / "procedures"


def test_both_real_entries_are_shipped() -> None:
    assert CATALOGUE.targets == ("4.2", "4.3", "4.4", "4.5", "4.6", "4.7", "4.8", "9.0.1", "9.1")
    four_three = CATALOGUE.get("4.3")
    assert four_three is not None
    assert four_three.sources_text == "4.1.x, 4.2.x"
    assert four_three.agent.reboot_required is True
    four_two = CATALOGUE.get("4.2.0")
    assert four_two is not None and four_two.agent.reboot_required is False
    assert four_two.sources_text == "4.1.x"


@pytest.mark.parametrize("procedure", CATALOGUE.procedures, ids=lambda p: p.target)
def test_every_step_names_an_existing_source(procedure) -> None:  # type: ignore[no-untyped-def]
    for step in procedure.all_steps():
        reference = procedure.reference(step.source)
        assert reference.kind in ("vendor", "field", "tool")
        assert step.title and step.text
    vendor = [r for r in procedure.references.values() if r.kind == "vendor"]
    vendor_sites = (
        "https://docs.vmware.com/",
        "https://techdocs.broadcom.com/",
        "https://knowledge.broadcom.com/",
    )
    assert vendor and all(r.url.startswith(vendor_sites) for r in vendor)


SHAR = [p for p in CATALOGUE.procedures if p.delivery == "shar"]


@pytest.mark.parametrize("procedure", SHAR, ids=lambda p: p.target)
def test_the_vendor_commands_are_there_exactly(procedure) -> None:  # type: ignore[no-untyped-def]
    typed = [line for step in procedure.steps for block in step.commands for line in block.lines]
    typed += [line for step in procedure.steps for line in step.agent_runs]
    for command in (
        "service sshd start",
        "cd {install_dir}",
        "bash {bundle_file}",
        "./scripts/status.sh",
        "service sshd stop",
    ):
        assert command in typed, command
    assert ("reboot" in typed) is procedure.agent.reboot_required


def test_estimates_are_marked_and_positive() -> None:
    for procedure in CATALOGUE.procedures:
        for step in procedure.steps:
            assert step.estimate_minutes > 0, step.id


def test_a_malformed_entry_is_refused_with_its_place() -> None:
    good = open_data("um-4.3.yaml")
    with pytest.raises(CatalogueError, match=r"x\.yaml \(extends bases/shar\.yaml\): top: unknown"):
        parse_procedure(good.replace('target: "4.3"', 'titel: x\ntarget: "4.3"', 1), "x.yaml")
    with pytest.raises(CatalogueError, match="enable-ssh: source 'NOWHERE' is not among the ref"):
        parse_procedure(
            good + "step_changes: [{change: enable-ssh, step: {source: NOWHERE}}]", "x.yaml"
        )
    # The same fault in the base is reported under both names.
    base = packaged_bases()["shar"]
    broken = base.replace(
        'source: "{vendor}"\n    source_note: step 1', "source: NOWHERE\n    source_note: step 1"
    )
    assert broken != base
    with pytest.raises(CatalogueError, match=r"\(extends bases/shar\.yaml\): enable-ssh: source"):
        parse_procedure(good, "x.yaml", {"shar": broken})


def test_an_iso_style_target_can_be_written_as_data() -> None:
    """A later target (several bundle files, each checked its own way; systemctl) is a file."""
    text = open_data("um-4.3.yaml")
    text = text.replace('target: "4.3"', 'target: "4.4"').replace(
        'sources: ["4.1.x", "4.2.x"]', 'sources: ["4.x"]'
    )
    text += (
        "agent: {ssh_service_manager: systemctl}\n"
        "bundle:\n"
        "  - {role: iso, name: Usage_Meter_Agent-4.4.0.0-1_Upgrade.iso, check: sha1-manifest}\n"
        "  - {role: manifest, name: Usage_Meter_Agent-4.4.0.0-1_Upgrade.mf, check: sha256}\n"
        "  - {role: certificate, name: Usage_Meter_Agent-4.4.0.0-1_Upgrade.crt,"
        " check: certificate}\n"
        "  - {role: signature, name: Usage_Meter_Agent-4.4.0.0-1_Upgrade.sign, check: signature}\n"
    )
    procedure = parse_procedure(text, "um-4.4.yaml")
    assert [b.check for b in procedure.bundle] == [
        "sha1-manifest",
        "sha256",
        "certificate",
        "signature",
    ]
    assert procedure.accepts(Version.parse("4.2.1"))
    assert procedure.agent.ssh_service_manager == "systemctl"


def open_data(name: str) -> str:
    from importlib import resources

    return resources.files("umrunbook.catalogue.procedures").joinpath(name).read_text("utf-8")


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def dump(procedure: Procedure) -> str:
    """Every field, in declaration order; the references keep the order the files give them."""
    return json.dumps(_plain(procedure), indent=1, ensure_ascii=False) + "\n"


def test_golden_files_cover_exactly_the_targets() -> None:
    if os.environ.get("UMRUNBOOK_UPDATE_GOLDEN"):
        for stale in GOLDEN.glob("*.json"):
            if stale.stem not in CATALOGUE.targets:
                stale.unlink()
        return
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(CATALOGUE.targets)


@pytest.mark.parametrize("procedure", CATALOGUE.procedures, ids=lambda p: p.target)
def test_resolved_procedure_matches_its_golden_file(procedure: Procedure) -> None:
    """Compared as text, so that an order (of steps, of references) is part of the proof.

    Refresh with UMRUNBOOK_UPDATE_GOLDEN=1 after an intended change, and review the diff.
    """
    golden = GOLDEN / f"{procedure.target}.json"
    text = dump(procedure)
    if os.environ.get("UMRUNBOOK_UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
        return
    assert text == golden.read_text(encoding="utf-8")


# A small base and a target over it, to try each rule of inheritance on its own.
MINI = dedent(
    """\
    schema: 1
    parameters: [vendor]
    product: Product
    title: Upgrade to {target}
    sources: ["4.x"]
    install_dir: /opt/x
    backup_dir: /opt/x-old
    upload_dir: /root/up-{target}
    references:
      IBM: {kind: field, title: field report}
      TOOL: {kind: tool, title: the tool}
    bundle: [{role: bundle, name: "b-{target}-{build}.shar", check: sha256}]
    agent:
      reboot_required: true
      ssh_service_manager: service
      free_space_factor: 3
      free_space_min_mb: 2048
      status_timeout_seconds: 600
    risk: {level: low, impact: none}
    prerequisites: [{id: snapshot, text: a snapshot, source: "{vendor}"}]
    steps:
      - {id: one, title: One, where: console, text: "first {install_dir}", source: "{vendor}"}
      - {id: two, title: Two, where: ssh, text: second, source: TOOL, source_note: why,
         estimate_minutes: 2}
      - {id: three, title: Three, where: console, text: third, source: IBM}
    certificates: {title: Certificates, where: webui, text: accept, source: TOOL, source_note: why}
    backout: {when: [it fails], snapshot_until: the end, steps: [], estimate_minutes: 5}
    cleanup:
      title: Clean up
      where: vcenter
      text: "delete {snapshot_name}"
      source: TOOL
      source_note: why
    """
)
TARGET = dedent(
    """\
    schema: 1
    extends: mini
    parameters: {vendor: VM49}
    target: "4.9"
    references:
      VM49: {kind: vendor, title: the vendor, url: "https://docs.vmware.com/4.9"}
    """
)


def extended(changes: str = "", bases: dict[str, str] | None = None) -> Procedure:
    return parse_procedure(TARGET + dedent(changes), "um-4.9.yaml", bases or {"mini": MINI})


def test_a_target_inherits_its_base_and_fills_in_its_parameters() -> None:
    procedure = extended()
    assert procedure.file == "um-4.9.yaml"
    assert procedure.title == "Upgrade to 4.9"
    assert procedure.upload_dir == "/root/up-4.9"
    # The plan's own placeholders are left for planning.
    assert procedure.bundle[0].name == "b-4.9-{build}.shar"
    assert procedure.steps[0].text == "first {install_dir}"
    assert list(procedure.references) == ["VM49", "IBM", "TOOL"]
    assert [s.source for s in procedure.steps] == ["VM49", "TOOL", "IBM"]
    assert procedure.prerequisites[0].source == "VM49"


def test_a_target_overrides_top_level_keys_and_merges_mappings() -> None:
    text = TARGET.replace(
        "references:\n",
        "references:\n  IBM: {kind: field, title: another report}\n",
    )
    text += dedent(
        """\
        sources: [">=4.3"]
        agent: {free_space_min_mb: 4096}
        risk: {impact: a longer outage}
        """
    )
    procedure = parse_procedure(text, "um-4.9.yaml", {"mini": MINI})
    assert procedure.sources_text == ">=4.3"
    assert procedure.agent.free_space_min_mb == 4096
    assert procedure.agent.free_space_factor == 3
    assert procedure.risk.level == "low" and procedure.risk.impact == "a longer outage"
    assert procedure.references["IBM"].title == "another report"
    # The file's own entries lead, in its order.
    assert list(procedure.references) == ["IBM", "VM49", "TOOL"]


def test_step_changes_replace_change_remove_and_insert_by_id() -> None:
    procedure = extended(
        """\
        step_changes:
          - change: one
            step: {text: "first, changed", source_note: step 1}
          - replace: two
            step: {title: New two, where: workstation, text: replaced, source: IBM}
          - remove: three
          - insert_before: one
            step:
              {id: zero, title: Zero, where: vcenter, text: before, source: TOOL, source_note: why}
          - insert_after: two
            step: {id: after-two, title: After, where: ssh, text: after, source: "{vendor}"}
        """
    )
    assert [s.id for s in procedure.steps] == ["zero", "one", "two", "after-two"]
    one, two = procedure.steps[1], procedure.steps[2]
    assert (one.title, one.text, one.source_note, one.source) == (
        "One",
        "first, changed",
        "step 1",
        "VM49",
    )
    # A replaced step keeps nothing of the base's: not even its estimate.
    assert (two.title, two.where, two.estimate_minutes) == ("New two", "workstation", 0)
    assert procedure.steps[3].source == "VM49"


def test_bases_may_extend_bases() -> None:
    bases = {"mini": MINI, "middle": "extends: mini\nparameters: [site]\nrisk: {level: high}\n"}
    text = TARGET.replace("extends: mini", "extends: middle").replace(
        "{vendor: VM49}", "{vendor: VM49, site: ams}"
    )
    procedure = parse_procedure(text + "title: Upgrade {site} to {target}\n", "um-4.9.yaml", bases)
    assert procedure.risk.level == "high" and procedure.risk.impact == "none"
    assert procedure.title == "Upgrade ams to 4.9"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            "step_changes: [{remove: four}]",
            r"um-4\.9\.yaml: step_changes\[0\]: remove: no step 'four'",
        ),
        ("step_changes: [{change: four, step: {text: x}}]", "change: no step 'four'"),
        ("step_changes: [{insert_after: four, step: {id: x}}]", "insert_after: no step 'four'"),
        ("step_changes: [{remove: one}, {remove: one}]", r"step_changes\[1\]: remove: no step"),
        ("step_changes: [{remove: one, change: two}]", "exactly one of"),
        ("step_changes: [{remove: one, step: {}}]", "unknown keys"),
        ("step_changes: [{change: one, stepp: {}}]", r"unknown keys \['stepp'\]"),
        ("step_changes: [{change: one, step: {id: two}}]", "id 'two' is not 'one'"),
        ("step_changes: [{insert_after: one, step: {title: x}}]", "an inserted step needs an id"),
        ("steps: []\nstep_changes: [{remove: one}]", "either steps or step_changes"),
        (
            "parameters: {vendor: VM49, other: x}",
            r"\['other'\] not among \['vendor'\] \(bases/mini\.yaml\)",
        ),
        ("parameters: {}", r"no value for \['vendor'\]"),
    ],
)
def test_a_broken_override_is_refused_naming_the_file(changes: str, message: str) -> None:
    text = TARGET.replace("parameters: {vendor: VM49}\n", "") if "parameters" in changes else TARGET
    with pytest.raises(CatalogueError, match=message) as failure:
        parse_procedure(text + changes + "\n", "um-4.9.yaml", {"mini": MINI})
    assert str(failure.value).startswith("um-4.9.yaml")


def test_an_override_that_breaks_a_step_fails_the_usual_checks_under_both_names() -> None:
    with pytest.raises(CatalogueError, match=r"extends bases/mini\.yaml\).*is not one of"):
        extended("step_changes: [{change: two, step: {where: moon}}]")
    with pytest.raises(CatalogueError, match=r"unknown keys \['titel'\]"):
        extended("step_changes: [{change: two, step: {titel: x}}]")
    with pytest.raises(CatalogueError, match="two: duplicate step id"):
        extended(
            "step_changes: [{insert_after: two, step: {id: two, title: T, where: ssh,"
            " text: t, source: TOOL, source_note: why}}]"
        )
    with pytest.raises(CatalogueError, match="'NOWHERE' is not among the references"):
        extended("step_changes: [{change: two, step: {source: NOWHERE}}]")


def test_an_unknown_base_and_a_cycle_are_refused() -> None:
    with pytest.raises(
        CatalogueError, match=r"um-4\.9\.yaml: extends: no base 'nope' \(the bases: mini\)"
    ):
        parse_procedure(
            TARGET.replace("extends: mini", "extends: nope"), "um-4.9.yaml", {"mini": MINI}
        )
    cycle = {"mini": MINI, "a": "extends: b\n", "b": "extends: a\n"}
    with pytest.raises(
        CatalogueError,
        match=r"bases/b\.yaml: extends: a cycle: "
        r"um-4\.9\.yaml -> bases/a\.yaml -> bases/b\.yaml -> bases/a\.yaml",
    ):
        parse_procedure(TARGET.replace("extends: mini", "extends: a"), "um-4.9.yaml", cycle)
    with pytest.raises(CatalogueError, match="a cycle"):
        parse_procedure(
            TARGET.replace("extends: mini", "extends: self"),
            "um-4.9.yaml",
            {"self": "extends: self"},
        )


def test_errors_in_a_base_name_the_base() -> None:
    with pytest.raises(CatalogueError, match=r"bases/mini\.yaml: not valid YAML"):
        extended(bases={"mini": "steps: [unclosed"})
    with pytest.raises(CatalogueError, match=r"bases/mini\.yaml: parameters: a base lists"):
        extended(bases={"mini": MINI.replace("parameters: [vendor]", "parameters: {vendor: x}")})


def test_a_file_may_stand_alone_and_only_a_file_that_extends_has_its_keys() -> None:
    standalone = MINI.replace("parameters: [vendor]\n", 'target: "4.9"\n').replace(
        'source: "{vendor}"', "source: IBM"
    )
    procedure = parse_procedure(standalone, "um-4.9.yaml", {})
    # Nothing is filled in: {target} is left for the plan, which has the same value.
    assert procedure.title == "Upgrade to {target}"
    for extra in ("step_changes: []", "parameters: {vendor: VM49}"):
        key = extra.split(":")[0]
        with pytest.raises(
            CatalogueError, match=rf"um-4\.9\.yaml: {key}: only a file that extends"
        ):
            parse_procedure(standalone + extra + "\n", "um-4.9.yaml", {})


def test_the_shipped_bases_are_used_and_never_targets() -> None:
    """`umrunbook paths` lists the catalogue's targets: a base must not be among them."""
    assert sorted(packaged_bases()) == ["iso", "shar", "vcf"]
    assert sorted(p.file for p in CATALOGUE.procedures) == [
        f"um-{target}.yaml" for target in CATALOGUE.targets
    ]
    for procedure in CATALOGUE.procedures:
        text = open_data(procedure.file)
        # The 9.x targets extend vcf, which extends iso.
        base = "vcf" if procedure.target_version.key()[0] >= 9 else procedure.delivery
        assert text.count(f"\nextends: {base}\n") == 1, procedure.file
