"""The catalogue's data files: every step has its source, every placeholder a value."""

from __future__ import annotations

import re

import pytest

from umrunbook.catalogue.procedure import CatalogueError, load_catalogue, parse_procedure
from umrunbook.versions import Version

CATALOGUE = load_catalogue()


def test_both_real_entries_are_shipped() -> None:
    assert CATALOGUE.targets == ("4.2", "4.3", "4.4", "4.5", "4.6", "4.7")
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
    assert vendor and all(r.url.startswith("https://docs.vmware.com/") for r in vendor)


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
    with pytest.raises(CatalogueError, match="unknown keys"):
        parse_procedure(good.replace("title: In-place", "titel: x\ntitle: In-place", 1), "x.yaml")
    with pytest.raises(CatalogueError, match="not among the references"):
        parse_procedure(
            good.replace(
                "source: VM43\n    source_note: step 1", "source: NOWHERE\n    source_note: step 1"
            ),
            "x.yaml",
        )


def test_an_iso_style_target_can_be_written_as_data() -> None:
    """A later target (several bundle files, each checked its own way; systemctl) is a file."""
    text = open_data("um-4.3.yaml")
    text = (
        text.replace('target: "4.3"', 'target: "4.4"')
        .replace('sources: ["4.1.x", "4.2.x"]', 'sources: ["4.x"]')
        .replace("ssh_service_manager: service", "ssh_service_manager: systemctl")
    )
    bundle = (
        "bundle:\n"
        "  - {role: iso, name: Usage_Meter_Agent-4.4.0.0-1_Upgrade.iso, check: sha1-manifest}\n"
        "  - {role: manifest, name: Usage_Meter_Agent-4.4.0.0-1_Upgrade.mf, check: sha256}\n"
        "  - {role: certificate, name: Usage_Meter_Agent-4.4.0.0-1_Upgrade.crt,"
        " check: certificate}\n"
        "  - {role: signature, name: Usage_Meter_Agent-4.4.0.0-1_Upgrade.sign, check: signature}\n"
    )
    start = text.index("bundle:\n")
    end = text.index("agent:\n")
    procedure = parse_procedure(text[:start] + bundle + "\n" + text[end:], "um-4.4.yaml")
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


# Inheritance: a target's file states what differs from a shared procedure, by step id.
_TARGET = """
extends: iso
vars: {doc: VMX}
target: "4.9"
sources: [">=4.3"]
references:
  VMX: {kind: vendor, title: "VMware: 4.9", url: "https://docs.vmware.example/4.9"}
"""


def _with(extra: str) -> str:
    return _TARGET + extra


def test_a_target_extends_the_shared_procedure_with_its_values() -> None:
    procedure = parse_procedure(_TARGET, "um-4.9.yaml")
    assert procedure.target == "4.9" and procedure.title.endswith("Usage Meter 4.9")
    assert procedure.upload_dir == "/root/um-upgrade-4.9"
    assert procedure.bundle[0].name == "Usage_Meter_Agent-4.9.0.0-{build}_Upgrade.iso"
    assert next(iter(procedure.references)) == "VMX"  # the target's own first, then the shared
    assert {"IBM", "WOMB", "VM43", "TOOL"} <= set(procedure.references)
    assert "{{" not in repr(procedure)


def test_step_changes_remove_patch_and_insert_by_id() -> None:
    procedure = parse_procedure(
        _with(
            """
step_changes:
  remove: [proxy]
  patch:
    verify: {title: Verify the upgraded appliance twice}
  insert:
    - after: upload
      step: {id: extra, title: An extra check, where: ssh, text: Look., source: TOOL}
"""
        ),
        "um-4.9.yaml",
    )
    ids = [step.id for step in procedure.steps]
    assert "proxy" not in ids
    assert ids[ids.index("upload") + 1] == "extra"
    verify = next(step for step in procedure.steps if step.id == "verify")
    assert verify.title == "Verify the upgraded appliance twice"
    assert verify.commands  # the rest of the shared step is kept


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("step_changes: {remove: [no-such-step]}", "no shared step has the id 'no-such-step'"),
        ("step_changes: {patch: {nope: {title: x}}}", "no shared step has the id 'nope'"),
        ("step_changes: {insert: [{after: nope, step: {}}]}", "no shared step has the id 'nope'"),
        ("step_changes: {rename: {}}", "give remove, patch and insert only"),
    ],
)
def test_a_broken_change_fails_loudly_naming_the_file(extra: str, message: str) -> None:
    with pytest.raises(CatalogueError, match=re.escape("um-4.9.yaml: step_changes")) as caught:
        parse_procedure(_with(extra), "um-4.9.yaml")
    assert message in str(caught.value)


def test_an_unknown_base_a_loop_and_a_missing_value_are_errors() -> None:
    with pytest.raises(CatalogueError, match=r"bases/nowhere\.yaml: no such shared procedure"):
        parse_procedure("extends: nowhere\ntarget: '4.9'\n", "um-4.9.yaml")
    with pytest.raises(CatalogueError, match="in a loop"):
        parse_procedure("extends: a\n", "um-4.9.yaml", read_base=lambda name: "extends: a\n")
    with pytest.raises(CatalogueError, match=r"\{\{doc\}\} has no value"):
        parse_procedure(_TARGET.replace("vars: {doc: VMX}\n", ""), "um-4.9.yaml")


def test_a_shared_procedure_is_not_a_target() -> None:
    assert all(not p.file.startswith("bases") for p in load_catalogue().procedures)
    assert "4.9" not in load_catalogue().targets
