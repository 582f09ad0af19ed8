"""The procedure end to end on a simulated appliance: 4.3 (with reboot), 4.2 (without), phases."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.agent.helpers import make_rig, upgraded_and_rebooted
from umrunbook.planning.agent_file import verify_evidence_digest
from umrunbook.rehearsal.simulator import AGENT_PATH, ApplianceSpec


def test_happy_path_43_with_reboot(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a")
    before = {
        rel: value
        for rel, value in rig.app.tree_listing().items()
        if rel.startswith("vmware/cloudusagemetering/") and value.startswith("file")
    }

    preflight = rig.agent("preflight", "--snapshot", "snap-2026-12-05")
    assert preflight.code == 0, preflight
    for check in ("root", "bash", "agent", "host name", "location", "bundle sha256", "version"):
        preflight.line("PASS", check)
    preflight.line("PASS", "free space")
    preflight.line("PASS", "services")
    assert "snap-2026-12-05" in preflight.line("PASS", "snapshot")
    assert "Next: bash /opt/vmware/cloudusagemetering/um-upgrade-agent.sh upgrade" in preflight.out

    upgrade = rig.agent("upgrade", "--yes")
    assert upgrade.code == 0, upgrade
    assert "[ums-upgrade] Upgrade staged" in upgrade.out  # the bundle's output is shown
    assert "REBOOT" in upgrade.out
    assert "bash /var/lib/um-upgrade-agent/um-upgrade-agent.sh verify" in upgrade.out
    assert not rig.app.reboot_requested  # never reboots unless asked
    copy = rig.app.state_dir / "um-upgrade-agent.sh"
    assert copy.read_bytes() == rig.text.encode()
    state = rig.state()
    assert state["bundle_exit"] == "0" and state["boot_id_before"]
    assert (rig.app.state_dir / "run-um-ams-01-CHG0012345-4.3/bundle-output.log").read_text()

    status = rig.agent("status", from_state=True)
    assert "phase:       awaiting-reboot" in status.out
    assert "reboot" in status.out.split("next:", 1)[1]

    rig.app.reboot()
    assert not rig.app.install_dir.joinpath("um-upgrade-agent.sh").exists()  # folder swapped
    verify = rig.agent("verify", "--poll-interval", "1", from_state=True)
    assert verify.code == 0, verify
    assert "4.3.0.0-21000000" in verify.line("PASS", "version")
    assert "inplaceupgradeum-" in verify.line("PASS", "upgrade log")
    verify.line("PASS", "services")
    assert "VERIFY PASSED" in verify.out
    assert rig.app.service_log() == []  # SSH stays on for the evidence copy
    assert (
        "as the last\ncommand: bash /var/lib/um-upgrade-agent/um-upgrade-agent.sh finish"
        in verify.out
    )
    assert "vc01.corp.example" in verify.out and "vcd01.corp.example" in verify.out
    assert "certificates" in verify.out

    # the previous installation is in cloudusagemetering-old, as it was
    for rel, value in before.items():
        moved = rel.replace("vmware/cloudusagemetering/", "vmware/cloudusagemetering-old/", 1)
        assert rig.app.tree_listing()[moved] == value

    status = rig.agent("status", from_state=True)
    assert "phase:       verified" in status.out

    report = rig.agent("report", from_state=True)
    assert report.code == 0, report
    assert "# Upgrade evidence: um-ams-01, change CHG0012345" in report.out
    text = rig.evidence_path().read_text(encoding="utf-8")
    assert verify_evidence_digest(text)
    assert not verify_evidence_digest(text.replace('"upgraded"', '"failed"'))
    evidence = rig.evidence()
    assert evidence["schema"] == "umrunbook-agent-evidence/1"
    assert evidence["result"] == "upgraded"
    assert evidence["snapshot"] == {
        "name": "snap-2026-12-05",
        "confirmed_by": "--snapshot",
        "manifest": "vc01 / DC1 / um-ams-01",
    }
    assert evidence["version_before"]["value"] == "4.2.0.0-12345"  # type: ignore[index]
    assert evidence["version_after"]["value"] == "4.3.0.0-21000000"  # type: ignore[index]
    bundle = evidence["bundle"]
    assert isinstance(bundle, dict)
    assert bundle["exit_code"] == 0 and bundle["sha256_seen"] == rig.manifest["bundle_sha256"]
    assert "Upgrade staged" in bundle["output_tail"]
    assert evidence["ssh_stopped"] == ""  # not yet: finish does it
    assert evidence["metered_servers"] == ["vc01.corp.example", "vcd01.corp.example"]
    checks = evidence["checks"]
    assert isinstance(checks, list)
    assert {c["command"] for c in checks} == {"preflight", "upgrade", "verify"}
    assert all(c["result"] == "PASS" for c in checks if c["check"] != "ssh")
    assert [c["result"] for c in checks if c["check"] == "ssh"] == ["INFO", "INFO"]
    commands = [c["what"] for c in evidence["commands"]]  # type: ignore[attr-defined]
    assert commands == ["run the bundle"]
    assert rig.evidence_path("md").exists()

    finish = rig.agent("finish", from_state=True)
    assert finish.code == 0, finish
    assert "FINISHED: SSH is back as it was before the change" in finish.out
    assert rig.app.service_log() == ["service sshd stop"]
    assert rig.app.sshd_state() == (False, False)
    evidence = rig.evidence()  # rewritten by finish
    assert verify_evidence_digest(rig.evidence_path().read_text(encoding="utf-8"))
    assert evidence["ssh_stopped"] == "yes"
    ssh = evidence["ssh"]
    assert isinstance(ssh, dict)
    assert (ssh["found_enabled"], ssh["found_running"]) == ("no", "yes")  # at preflight
    assert (ssh["before_enabled"], ssh["before_running"]) == ("no", "no")
    assert (ssh["after_enabled"], ssh["after_running"]) == ("no", "no") and ssh["finished_at"]
    commands = [c["what"] for c in evidence["commands"]]  # type: ignore[attr-defined]
    assert commands == ["run the bundle", "stop sshd as it was before the change"]
    assert "after finish: enabled no, running no" in rig.evidence_path("md").read_text()
    assert "certificates" in rig.agent("status", from_state=True).out.split("next:")[1]


def test_42_style_without_reboot(tmp_path: Path) -> None:
    spec = ApplianceSpec(version="4.1.1.0-9999", target_version="4.2.0.0", swap="bundle-end")
    rig = make_rig(
        tmp_path / "a",
        spec,
        inventory_version="4.1.1",
        supported_sources="4.1.x",
        target="4.2",
        reboot_required="no",
        ticket="CHG0042000",
    )
    upgrade = rig.agent("upgrade", "--yes")
    assert upgrade.code == 0, upgrade
    assert "no reboot step" in upgrade.out
    assert rig.app.backup_dir.is_dir()  # the swap happened when the bundle ended
    verify = rig.agent("verify", "--poll-interval", "1", from_state=True)
    assert verify.code == 0, verify
    assert "not part of the 4.2 procedure" in verify.line("PASS", "reboot")
    assert "4.2.0.0" in verify.line("PASS", "version")
    assert (rig.app.state_dir / "evidence-um-ams-01-CHG0042000-4.2.json").exists()


def test_verify_before_the_reboot_is_refused(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a")
    assert rig.agent("upgrade", "--yes").code == 0
    verify = rig.agent("verify", from_state=True)
    assert verify.code == 3, verify
    assert "NOT REBOOTED YET" in verify.out
    assert "reboot" in verify.out
    assert rig.app.service_log() == []  # sshd untouched


def test_verify_before_the_upgrade_is_wrong_phase(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a")
    verify = rig.agent("verify")
    assert verify.code == 3, verify
    assert "has not run yet" in verify.out


def test_upgrade_twice_is_wrong_phase(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a")
    assert rig.agent("upgrade", "--yes").code == 0
    logs = sorted(rig.app.vmware.rglob("inplaceupgradeum-*"))
    again = rig.agent("upgrade", "--yes", from_state=True)
    assert again.code == 3, again
    assert "never run twice" in again.out
    assert sorted(rig.app.vmware.rglob("inplaceupgradeum-*")) == logs
    rig.app.reboot()
    again = rig.agent("upgrade", "--yes", from_state=True)
    assert again.code == 3, again


def test_interrupted_run_is_reported(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a", ApplianceSpec(bundle="powercut"))
    upgrade = rig.agent("upgrade", "--yes")
    assert upgrade.code == -9  # the whole run stopped at once
    rig.app.reboot()
    for result in (
        rig.agent("upgrade", "--yes", from_state=True),
        rig.agent("verify", from_state=True),
    ):
        assert result.code == 3, result
        assert "INTERRUPTED" in result.out
        assert "inplaceupgradeum-" in result.out  # the log to read
        assert 'restore the appliance from the snapshot "vc01 / DC1 / um-ams-01"' in result.out
    status = rig.agent("status", from_state=True)
    assert "phase:       interrupted" in status.out
    assert "ended never recorded" in status.out
    report = rig.agent("report", from_state=True)
    assert report.code == 0
    assert rig.evidence()["result"] == "failed"


def test_bundle_failing_midway(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a", ApplianceSpec(bundle="fail"))
    upgrade = rig.agent("upgrade", "--yes")
    assert upgrade.code == 1, upgrade
    assert "the bundle failed (exit 1)" in upgrade.out
    assert "Do not reboot" in upgrade.out
    assert 'restore the appliance from the snapshot "vc01 / DC1 / um-ams-01"' in upgrade.out
    assert rig.state()["bundle_exit"] == "1"
    again = rig.agent("upgrade", "--yes", from_state=True)
    assert again.code == 3 and "failed with exit 1" in again.out
    assert "phase:       bundle-failed" in rig.agent("status", from_state=True).out


def test_reboot_when_asked(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a")
    upgrade = rig.agent("upgrade", "--yes", "--reboot")
    assert upgrade.code == 0, upgrade
    assert rig.app.reboot_requested
    verify = rig.agent("verify", "--poll-interval", "1", from_state=True)
    assert verify.code == 0, verify  # the simulation rebooted before this command
    assert all("sshd" not in line for line in rig.app.service_log())


def test_finish_disables_and_stops_sshd_that_the_runbook_enabled(tmp_path: Path) -> None:
    # systemctl targets: the runbook's SSH step ran "systemctl enable sshd" and "start".
    rig = make_rig(tmp_path / "a", ApplianceSpec(ssh_enabled=True), ssh_service_manager="systemctl")
    early = rig.agent("finish")
    assert early.code == 3 and "WRONG PHASE" in early.out, early
    assert "enabled yes, running yes" in rig.agent("preflight").line("INFO", "ssh")
    upgraded_and_rebooted(rig)
    assert rig.agent("verify", "--poll-interval", "1", from_state=True).code == 0
    assert rig.app.sshd_state() == (True, True)
    assert "finish" in rig.agent("status", from_state=True).out.split("next:")[1]
    finish = rig.agent("finish", from_state=True)
    assert finish.code == 0, finish
    assert rig.app.service_log() == ["systemctl disable sshd", "systemctl stop sshd"]
    assert rig.app.sshd_state() == (False, False)
    assert rig.evidence()["ssh"]["found_enabled"] == "yes"  # type: ignore[index]
    again = rig.agent("finish", from_state=True)  # nothing left to do: it changes nothing
    assert again.code == 0 and rig.app.service_log() == [
        "systemctl disable sshd",
        "systemctl stop sshd",
    ]


def test_keep_ssh_is_gone_with_a_pointer_to_finish(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a")
    result = rig.agent("verify", "--keep-ssh")
    assert result.code == 2 and "'finish'" in result.out, result


def test_no_terminal_without_yes_refuses(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a")
    started = time.monotonic()
    result = rig.agent("upgrade", timeout=20)
    assert time.monotonic() - started < 15
    assert result.code == 2, result
    assert "no terminal" in result.out and "--yes" in result.out
    assert not rig.bundle_ran()
    assert list(rig.app.state_dir.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ("preflight", "--dry-run"),
        ("upgrade", "--dry-run"),
        ("upgrade", "--dry-run", "--yes", "--reboot"),
        ("verify", "--dry-run"),
        ("report", "--dry-run"),
        ("status", "--dry-run"),
    ],
)
def test_dry_run_changes_nothing(tmp_path: Path, args: tuple[str, ...]) -> None:
    rig = make_rig(tmp_path / "a")
    listing = rig.app.tree_listing()
    result = rig.agent(*args)
    assert result.code in (0, 3), result
    assert rig.app.tree_listing() == listing
    assert rig.app.service_log() == []
    if args[0] == "upgrade":
        assert result.code == 0, result
        assert (
            "DRY-RUN: would run in /opt/vmware/cloudusagemetering: bash ums-system-upgrade.shar"
            in result.out
        )
        assert (
            "DRY-RUN: would copy this agent to /var/lib/um-upgrade-agent/um-upgrade-agent.sh"
            in result.out
        )


def test_dry_run_after_the_upgrade_changes_nothing(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a")
    upgraded_and_rebooted(rig)
    listing = rig.app.tree_listing()
    result = rig.agent("verify", "--dry-run", from_state=True)
    assert result.code == 0, result
    assert "sshd" not in result.out.replace("sshd are not touched", "")
    assert rig.app.tree_listing() == listing
    assert rig.agent("verify", "--poll-interval", "1", from_state=True).code == 0
    listing = rig.app.tree_listing()
    result = rig.agent("finish", "--dry-run", from_state=True)
    assert result.code == 0, result
    assert "DRY-RUN: would stop sshd as it was before the change: service sshd stop" in result.out
    assert rig.app.tree_listing() == listing and rig.app.service_log() == []


def test_typed_confirmation_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal the snapshot is asked and the host name must be typed."""
    rig = make_rig(tmp_path / "a")
    master, slave = pty.openpty()
    try:
        os.write(master, b"snap-typed\num-ams-02\n")  # wrong host name: stops
        proc = rig.app.run(["bash", AGENT_PATH, "upgrade"], stdin=slave, timeout=30)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "the confirmation did not match" in proc.stderr
    assert not rig.bundle_ran()
    assert rig.state()["snapshot"] == "snap-typed"


def test_two_runs_at_once_are_refused(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a")
    lock = rig.app.state_dir / ".lock"
    lock.touch()
    holder = subprocess.Popen(["flock", str(lock), "sleep", "10"])
    try:
        time.sleep(0.3)
        result = rig.agent("preflight")
    finally:
        holder.kill()
        holder.wait()
    assert result.code == 3, result
    assert "another run of this agent" in result.out


def test_unexpected_error_says_where_it_stopped(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a")
    assert rig.agent("preflight").code == 0
    blocked = rig.evidence_path()
    blocked.mkdir()
    (blocked / "keep").touch()
    result = rig.agent("report", unexpected_ok=True)
    assert result.code != 0, result
    assert re.search(r"STOPPED: unexpected error at line \d+ \(mv ", result.out)
    assert "bash /var/lib/um-upgrade-agent/um-upgrade-agent.sh status" in result.out
    assert "unexpected" not in rig.state().get("last_error", "unexpected")
    assert "line" in rig.state()["last_error"]


def test_works_without_flock(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a")
    tools = tmp_path / "tools"
    tools.mkdir()
    for folder in ("/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        for tool in Path(folder).iterdir():
            target = tools / tool.name
            if tool.name != "flock" and not target.exists():
                target.symlink_to(tool)
    env = {"PATH": str(tools)}
    result = rig.app.agent("upgrade", "--yes", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (rig.app.state_dir / ".lock.pid").exists()
    (rig.app.state_dir / ".lock.pid").write_text("999999\n")  # left by a power cut
    status = rig.app.agent("upgrade", "--yes", from_state=True, env=env)
    assert status.returncode == 3 and "never run twice" in status.stderr


def test_hidden_version_is_asked_on_a_terminal(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a", ApplianceSpec(version_visible=False))
    master, slave = pty.openpty()
    try:
        # snapshot name, the version from the web interface, the host name
        os.write(master, b"snap-typed\n4.2.0\num-ams-01\n")
        proc = rig.app.run(["bash", AGENT_PATH, "upgrade"], stdin=slave, timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "typed by the operator" in proc.stdout
    state = rig.state()
    assert state["version_before"] == "4.2.0"
    assert state["version_before_source"] == "operator (web interface)"
    assert state["upgrade_confirmed_by"] == "operator (typed the host name)"
    assert state["snapshot"] == "snap-typed"
