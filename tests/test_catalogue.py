"""The catalogue's data files: every step has its source, every placeholder a value."""

from __future__ import annotations

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
