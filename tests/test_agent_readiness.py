"""The agent's readiness command, days before the window, on a simulated appliance."""

from __future__ import annotations

import json
from pathlib import Path

from tests.agent.helpers import APPLIANCE, TICKET, Rig, make_rig
from tests.helpers import NOW, route_inventory_text
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.inventory import fields
from umrunbook.inventory.load import load_inventory
from umrunbook.planning.agent_file import READINESS_SCHEMA, verify_evidence_digest
from umrunbook.planning.bind import plan_fleet
from umrunbook.rehearsal.simulator import ApplianceSpec, SimulatedAppliance


def readiness_path(rig: Rig) -> Path:
    return rig.app.state_dir / f"readiness-{APPLIANCE}-{TICKET}.json"


def readiness(rig: Rig) -> dict[str, object]:
    data = json.loads(readiness_path(rig).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def items(data: dict[str, object]) -> dict[str, dict[str, str]]:
    listed = data["items"]
    assert isinstance(listed, list)
    return {item["item"]: item for item in listed}


def changed_outside_readiness(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Paths added, removed or changed, other than the readiness command's own records (its
    files in the state folder, the folder's mode 700, its lock) and the simulator's count of
    status.sh runs (sim/polls)."""
    own = f"state/readiness-{APPLIANCE}-{TICKET}"
    mine = {"state", "state/.lock", "sim/polls"}
    paths = set(before) | set(after)
    return sorted(
        p
        for p in paths
        if before.get(p) != after.get(p) and not p.startswith(own) and p not in mine
    )


def test_a_ready_appliance(tmp_path: Path) -> None:
    rig = make_rig(
        tmp_path / "a",
        ApplianceSpec(proxy_lines=("# proxy", 'HTTPS_PROXY="http://svc:s3cret@proxy.corp:3128"')),
        tdnf_check="yes",
        proxy="proxy.corp:3128",
    )
    before = rig.app.tree_listing()
    result = rig.agent("readiness")
    assert result.code == 0, result
    assert "READINESS: READY" in result.out and "Nothing on the appliance was changed" in result.out
    assert changed_outside_readiness(before, rig.app.tree_listing()) == []
    assert rig.app.service_log() == []
    assert not (rig.app.state_dir / f"run-{rig.tag}").exists()  # the upgrade's state untouched

    text = readiness_path(rig).read_text(encoding="utf-8")
    assert verify_evidence_digest(text, READINESS_SCHEMA)
    assert not verify_evidence_digest(text)  # not the upgrade's evidence
    data = readiness(rig)
    assert data["schema"] == READINESS_SCHEMA and data["verdict"] == "ready", data
    assert data["appliance"] == APPLIANCE and data["ticket"] == TICKET
    assert data["host_keys"] == sorted(SimulatedAppliance.HOST_KEYS.values())  # type: ignore[comparison-overlap]
    got = items(data)
    assert set(got) == {
        "host name", "host keys", "root password", "free space", "version", "tdnf",
        "services", "proxy",
    }  # fmt: skip
    assert all(item["verdict"] == "ready" for item in got.values()), got
    assert "ssh-ed25519 " in got["host keys"]["raw"]
    for line in data["host_keys"]:  # type: ignore[attr-defined]
        fields.host_key(line)  # ready to paste into the inventory's ssh_host_key
    assert "Password expires" in got["root password"]["raw"]  # raw output beside the verdict
    assert "never expires" in got["root password"]["why"]
    assert "3.1.8" in got["tdnf"]["why"] and "field report" in got["tdnf"]["why"]
    assert "Running" in got["services"]["raw"]
    assert "4.2.0.0-12345" in got["version"]["raw"]
    # The proxy's values are shown, never its credentials.
    assert "proxy.corp:3128" in got["proxy"]["raw"] and "***@" in got["proxy"]["raw"]
    assert "s3cret" not in text and "svc:" not in text and "s3cret" not in result.out


def test_expired_password_and_too_little_space_are_not_ready(tmp_path: Path) -> None:
    rig = make_rig(
        tmp_path / "a",
        ApplianceSpec(root_password_expires="Jan 01, 2020", tdnf_version="1.2.3"),
        free_space_min_mb="999999999",
        tdnf_check="yes",
    )
    before = rig.app.tree_listing()
    result = rig.agent("readiness")
    assert result.code == 1, result
    assert changed_outside_readiness(before, rig.app.tree_listing()) == []
    data = readiness(rig)
    assert data["verdict"] == "not ready", data
    got = items(data)
    assert got["root password"]["verdict"] == "not ready"
    assert "expired on Jan 01, 2020" in got["root password"]["why"]
    assert got["free space"]["verdict"] == "not ready"
    assert "umrunbook's margin, no vendor source" in got["free space"]["why"]
    assert got["tdnf"]["verdict"] == "not ready" and "--skipdigest" in got["tdnf"]["why"]
    assert data["why"] == "not ready: root password, free space, tdnf"
    assert "NOT READY  root password" in result.out


def test_what_cannot_be_read_is_unknown(tmp_path: Path) -> None:
    rig = make_rig(
        tmp_path / "a",
        ApplianceSpec(version_visible=False, root_password_expires="password must be changed"),
    )
    result = rig.agent("readiness")
    assert result.code == 1, result
    got = items(readiness(rig))
    assert got["version"]["verdict"] == "unknown"  # never assumed
    assert got["root password"]["verdict"] == "not ready"
    assert "tdnf" not in got  # the target's procedure has no tdnf step
    assert got["proxy"]["verdict"] == "ready"  # no proxy file, none in the inventory


def test_a_proxy_the_inventory_does_not_name_is_unknown(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a", ApplianceSpec(proxy_lines=('HTTP_PROXY="p.corp:8080"',)))
    assert rig.agent("readiness").code == 0
    proxy = items(readiness(rig))["proxy"]
    assert proxy["verdict"] == "unknown" and "HTTP_PROXY" in proxy["why"], proxy


def test_the_manifest_names_the_tdnf_step_and_the_proxy_where_the_procedure_has_them(
    tmp_path: Path,
) -> None:
    text = route_inventory_text() + "    proxy: proxy.corp.example:3128\n"
    text += "  - name: um-ams-02\n    host: um-ams-02.corp.example\n    version: 4.2.0\n"
    path = tmp_path / "inventory.yaml"
    path.write_text(text, encoding="utf-8")
    first, second = plan_fleet(load_inventory(path), load_catalogue(), NOW)
    hop45, hop47 = (dict(hop.agent.manifest) for hop in first.hops)
    steps45 = [s.id for s in first.hops[0].steps]
    assert "check-tdnf" in steps45 and hop45["tdnf_check"] == "yes"
    assert hop45["proxy"] == "proxy.corp.example:3128"  # 4.5 sets the site's proxy
    assert hop47["proxy"] == ""  # from 4.6 the procedure sets none
    assert hop47["tdnf_check"] == (
        "yes" if "check-tdnf" in [s.id for s in first.hops[1].steps] else "no"
    )
    assert dict(second.hops[0].agent.manifest)["proxy"] == ""  # no proxy in the inventory
