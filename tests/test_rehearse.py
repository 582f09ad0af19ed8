"""The rehearsal: an appliance's agent walked through the procedure on a simulated appliance."""

from __future__ import annotations

import io
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from tests.agent.helpers import iso_manifest_for, manifest_for, require_simulator
from tests.conftest import need
from tests.helpers import ISO_BUILDS, ROUTE_NAME, example_plan, route_inventory_text
from umrunbook.inventory.example import example_text
from umrunbook.library import load, plans_of
from umrunbook.planning.plan import Plan
from umrunbook.rehearsal.rehearse import RehearsalUnavailable, rehearse_plan, spec_for

PACKAGE_SHA = "9f" * 32


def test_not_root_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(RuntimeError, match=r"needs root.*sudo") as caught:
        rehearse_plan(example_plan(), io.StringIO())
    assert isinstance(caught.value, RehearsalUnavailable)


def test_missing_unshare_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(RehearsalUnavailable, match=r"unshare.*util-linux"):
        rehearse_plan(example_plan(), io.StringIO())


def test_other_layout_is_refused() -> None:
    require_simulator()
    plan = example_plan()
    hop = plan.hops[0]
    manifest = tuple((k, "/srv/um" if k == "install_dir" else v) for k, v in hop.agent.manifest)
    hop = replace(hop, agent=replace(hop.agent, manifest=manifest))
    with pytest.raises(RehearsalUnavailable, match="install_dir"):
        rehearse_plan(replace(plan, hops=(hop,)), io.StringIO())


def test_spec_follows_the_manifest() -> None:
    spec = spec_for(manifest_for(PACKAGE_SHA, inventory_version="4.2", version_files=""))
    assert spec.version == "4.2.0.0-1000000"
    assert spec.target_version == "4.3.0.0"
    assert spec.swap == "reboot" and not spec.version_visible
    assert spec.fqdn == "um-ams-01.corp.example"


def test_iso_spec_follows_the_manifest() -> None:
    spec = spec_for(iso_manifest_for(""))
    assert spec.upload_dir == "/root/um-upgrade-4.7"
    assert spec.version == "4.3.0.0-1000000" and spec.target_version == "4.7.0.0"
    assert spec.bundle_file == "ums-system-upgrade.shar"  # no .shar is used on an ISO hop


# --- the runbook walked: its steps and commands, in its order -------------------------------


def plan_of(tmp_path: Path, text: str, name: str) -> Plan:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(text, encoding="utf-8")
    return plans_of(load(inventory), [name])[0]


def runbook_commands(plan: Plan) -> list[str]:
    """Every shell line the runbook gives on the appliance (console, SSH), in its order."""
    return [
        line
        for hop in plan.hops
        for step in hop.steps
        if step.where in ("ssh", "console")
        for c in step.commands
        if c.shell == "sh"
        for line in c.lines
    ]


def walked_commands(text: str) -> list[str]:
    return [line[2:] for line in text.splitlines() if line.startswith("$ ")]


def same_commands(plan: Plan, text: str) -> None:
    """The rehearsal ran exactly the runbook's commands, in its order (checksums of the
    package's files replaced by those of the test files)."""
    sha = re.compile(r"[0-9a-f]{64}")
    expected = [sha.sub("SHA", c) for c in runbook_commands(plan)]
    assert [sha.sub("SHA", c) for c in walked_commands(text)] == expected


def test_rehearsal_walks_a_shar_hop_as_the_runbook_lists_it(tmp_path: Path) -> None:
    require_simulator()
    plan = plan_of(tmp_path, example_text(), "um-ams-01")
    out = io.StringIO()
    assert rehearse_plan(plan, out) == 0, out.getvalue()
    text = out.getvalue()
    same_commands(plan, text)
    assert walked_commands(text)[-1].endswith("um-upgrade-agent.sh finish")
    assert "PREFLIGHT PASSED" in text and "VERIFY PASSED" in text
    assert "FINISHED: SSH is back as it was before the change" in text
    assert "copied to the workstation (the evidence step)" in text
    assert text.rstrip().endswith("went through every step as the runbook lists it.")


ISO_INVENTORY = f"""change:
  ticket: CHG0047000
  window:
    start: 2026-12-05T22:00:00+01:00
    end: 2026-12-06T06:00:00+01:00
  implementer: Test Operator
upgrade:
  target: "4.7"
  bundle:
    build: "{ISO_BUILDS["4.7"]}"
appliances:
  - name: um-iso-01
    host: um-iso-01.corp.example
    version: 4.3.0
"""


def test_rehearsal_walks_an_iso_hop_as_the_runbook_lists_it(tmp_path: Path) -> None:
    require_simulator()
    need("openssl")
    plan = plan_of(tmp_path, ISO_INVENTORY, "um-iso-01")
    out = io.StringIO()
    code = rehearse_plan(plan, out)
    text = out.getvalue()
    assert code == 0, text
    same_commands(plan, text)
    assert "Verified OK" in text and "[upgrade-um] Upgrade complete." in text
    assert "FINISHED" in text and walked_commands(text)[-1].endswith("finish")


def test_rehearsal_walks_a_route_of_two_hops(tmp_path: Path) -> None:
    require_simulator()
    need("openssl")
    plan = plan_of(tmp_path, route_inventory_text(host="um-loop-01.corp.example"), ROUTE_NAME)
    assert len(plan.hops) == 2
    out = io.StringIO()
    code = rehearse_plan(plan, out)
    text = out.getvalue()
    assert code == 0, text
    same_commands(plan, text)
    first, second = (h.target_version.short for h in plan.hops)
    assert f"=== {first}: step " in text and f"=== {second}: step " in text
    assert text.count("FINISHED: SSH is back") == 2


def test_a_failing_bundle_walks_the_backout_with_the_evidence_fetched_first(
    tmp_path: Path,
) -> None:
    require_simulator()
    plan = plan_of(tmp_path, example_text(), "um-ams-01")
    out = io.StringIO()
    code = rehearse_plan(plan, out, bundle="fail")
    text = out.getvalue()
    assert code == 1, text
    assert "UPGRADE FAILED at step" in text and "the bundle failed (exit 1)" in text
    assert "Collect the evidence first" in text  # the agent's own message
    fetched = text.index("copied to the workstation before the revert")
    reverted = text.index("(simulated: the VM reverted to the snapshot")
    assert fetched < reverted
    assert "evidence-um-ams-01-CHG0012345-4.3.json" in text[fetched:reverted]
    # the restored appliance's services, as the backout's next step checks them
    after = text[reverted:]
    assert "$ ./scripts/status.sh" in after and "Running" in after
    assert "evidence fetched before the revert: evidence-um-ams-01-CHG0012345-4.3.json" in text


def test_a_runbook_that_leaves_ssh_on_is_caught(tmp_path: Path) -> None:
    require_simulator()
    plan = plan_of(tmp_path, example_text(), "um-ams-01")
    hop = plan.hops[0]
    kept = tuple(s for s in hop.steps if s.id != "stop-ssh")  # the old runbook's ending
    plan = replace(plan, hops=(replace(hop, steps=kept),))
    out = io.StringIO()
    assert rehearse_plan(plan, out) == 1
    assert "REHEARSAL FAILED: the runbook leaves SSH on" in out.getvalue()
