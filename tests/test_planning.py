"""Planning: routes, states, values bound into steps, the agent's manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import NOW
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.errors import InputError
from umrunbook.inventory.example import example_inventory
from umrunbook.inventory.load import load_inventory
from umrunbook.planning.bind import plan_fleet
from umrunbook.planning.plan import NOTHING_TO_DO, PLANNED
from umrunbook.planning.routes import find_route
from umrunbook.versions import Version

CATALOGUE = load_catalogue()


def inventory_with(tmp_path: Path, versions: list[str], target: str = "4.3") -> Path:
    lines = [
        "change: {ticket: CHG1, implementer: J, window: {start: '2026-12-05T22:00:00+01:00', "
        "end: '2026-12-06T02:00:00+01:00'}}",
        f"upgrade: {{target: '{target}', bundle: {{sha256: {'cd' * 32}}}}}",
        "appliances:",
    ]
    for index, version in enumerate(versions):
        lines.append(f"  - {{name: um{index}, host: um{index}.corp.example, version: '{version}'}}")
    path = tmp_path / "inv.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_example_fleet_plans() -> None:
    plans = plan_fleet(example_inventory(), CATALOGUE, NOW)
    assert [p.state for p in plans] == [PLANNED] * 3
    assert [p.route_text for p in plans] == ["4.2.0 → 4.3", "4.2.1 → 4.3", "4.1.0 → 4.3"]
    hop = plans[0].hops[0]
    assert hop.procedure.target == "4.3"
    assert [s.number for s in hop.steps] == [str(n) for n in range(1, len(hop.steps) + 1)]


def test_values_are_bound_into_commands_and_prose() -> None:
    plan = plan_fleet(example_inventory(), CATALOGUE, NOW)[0]
    hop = plan.hops[0]
    check = next(s for s in hop.steps if s.id == "check-upload")
    lines = check.commands[0].lines
    assert lines[0] == "cd /opt/vmware/cloudusagemetering"
    assert lines[1] == f"echo '{hop.agent.sha256}  um-upgrade-agent.sh' | sha256sum -c -"
    assert lines[2] == f"echo '{'0123456789abcdef' * 4}  ums-system-upgrade.shar' | sha256sum -c -"
    snapshot = next(s for s in hop.steps if s.id == "snapshot")
    values = [text for text, is_value in snapshot.text.segments if is_value]
    assert values == ["vc01 / DC-Amsterdam / um-ams-01", "CHG0012345-before-4.3"]


def test_agent_manifest_carries_values_and_the_file_hash_matches() -> None:
    import hashlib

    plan = plan_fleet(example_inventory(), CATALOGUE, NOW)[0]
    agent = plan.hops[0].agent
    manifest = dict(agent.manifest)
    assert manifest["appliance"] == "um-ams-01" and manifest["target"] == "4.3"
    assert manifest["reboot_required"] == "yes" and manifest["supported_sources"] == "4.1.x 4.2.x"
    assert hashlib.sha256(agent.text.encode()).hexdigest() == agent.sha256
    assert "#@ bundle_sha256=" + "0123456789abcdef" * 4 in agent.text


def test_the_target_picks_the_catalogue_entry(tmp_path: Path) -> None:
    plans = plan_fleet(load_inventory(inventory_with(tmp_path, ["4.1.3"], "4.2")), CATALOGUE, NOW)
    hop = plans[0].hops[0]
    assert hop.procedure.target == "4.2"
    assert "reboot" not in [s.id for s in hop.steps]
    assert dict(hop.agent.manifest)["reboot_required"] == "no"


def test_already_at_target_is_nothing_to_do(tmp_path: Path) -> None:
    plans = plan_fleet(
        load_inventory(inventory_with(tmp_path, ["4.3.0.0-999", "4.2"])), CATALOGUE, NOW
    )
    assert [p.state for p in plans] == [NOTHING_TO_DO, PLANNED]
    assert plans[0].hops == ()


@pytest.mark.parametrize("version,extra", [("4.0.1", ""), ("3.6.1", "new appliance")])
def test_no_supported_path_is_an_input_error_naming_the_paths(
    tmp_path: Path, version: str, extra: str
) -> None:
    with pytest.raises(InputError) as caught:
        plan_fleet(load_inventory(inventory_with(tmp_path, ["4.2", version])), CATALOGUE, NOW)
    (problem,) = caught.value.problems
    text = str(problem)
    assert text.startswith(f"{tmp_path / 'inv.yaml'}:5: version: um1: {version} has no in-place")
    assert "supported: 4.1.x → 4.2; 4.1.x, 4.2.x → 4.3" in text
    assert extra in text


def test_newer_than_target_and_unknown_target(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="newer than the target"):
        plan_fleet(load_inventory(inventory_with(tmp_path, ["4.5"])), CATALOGUE, NOW)
    with pytest.raises(InputError, match=r"(?s)upgrade.target: '9.9' is not a target.*4.2, 4.3"):
        plan_fleet(load_inventory(inventory_with(tmp_path, ["4.2"], "9.9")), CATALOGUE, NOW)


def test_routes_on_the_version_grid() -> None:
    target = Version.parse("4.3")
    assert find_route(Version.parse("4.2.0"), target, CATALOGUE) == (CATALOGUE.get("4.3"),)
    assert find_route(Version.parse("4.1.7"), target, CATALOGUE) == (CATALOGUE.get("4.3"),)
    assert find_route(Version.parse("4.3"), target, CATALOGUE) == ()
    assert find_route(Version.parse("4.0"), target, CATALOGUE) is None
    assert find_route(Version.parse("4.1"), Version.parse("4.2"), CATALOGUE) == (
        CATALOGUE.get("4.2"),
    )
    assert find_route(Version.parse("4.2"), Version.parse("4.2"), CATALOGUE) == ()


def test_estimate_counts_certificates_per_server() -> None:
    plans = plan_fleet(example_inventory(), CATALOGUE, NOW)
    # um-ams-01 has three metered servers, um-ams-02 one; the rest of the plan is the same.
    per_server = plans[0].hops[0].procedure.certificates.estimate_minutes
    assert plans[0].estimate_minutes - plans[1].estimate_minutes == 2 * per_server
