"""Each preflight and verify check on a simulated appliance, and its failure modes."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.helpers import Rig, make_rig, upgraded_and_rebooted
from umrunbook.planning.agent_file import verify_evidence_digest
from umrunbook.rehearsal.simulator import ApplianceSpec


def test_wrong_host(tmp_path: Path) -> None:
    rig = make_rig(
        tmp_path / "a", ApplianceSpec(hostname="um-fra-02", fqdn="um-fra-02.corp.example")
    )
    preflight = rig.agent("preflight")
    assert preflight.code == 1, preflight
    line = preflight.line("FAIL", "host name")
    assert "um-fra-02" in line and "um-ams-01" in line
    upgrade = rig.agent("upgrade", "--yes")
    assert upgrade.code == 1 and "the bundle was not run" in upgrade.out
    assert not rig.bundle_ran()


@pytest.mark.parametrize(
    ("hostname", "fqdn", "host"),
    [
        ("um-ams-01", "um-ams-01", "um-ams-01.corp.example"),  # short name only
        ("um-ams-01.corp.example", "um-ams-01.corp.example", "um-ams-01.corp.example"),
        ("UM-AMS-01", "UM-AMS-01.CORP.EXAMPLE", "um-ams-01.corp.example"),
        ("um-ams-01", "um-ams-01.corp.example", "10.0.0.21"),  # manifest host is an IP
    ],
)
def test_host_name_short_or_fqdn(tmp_path: Path, hostname: str, fqdn: str, host: str) -> None:
    rig = make_rig(tmp_path / "a", ApplianceSpec(hostname=hostname, fqdn=fqdn), host=host)
    assert rig.agent("preflight").line("PASS", "host name")


@pytest.mark.parametrize(
    ("installed", "inventory", "sources", "verdict", "words"),
    [
        ("4.2.0.0-12345", "4.2", "4.1.x 4.2.x", "PASS", "matches the inventory"),
        ("4.2", "4.2.0.0-777", "4.2.x", "PASS", "matches the inventory"),
        ("4.1.2.0-1", "4.1.2", "4.x", "PASS", "supported source"),
        ("4.1.2.0-1", "4.1.2", "4.2.x", "FAIL", "not a supported source"),
        ("4.0.1.0-1", "4.0.1", "4.1.x 4.2.x", "FAIL", "not a supported source"),
        ("4.3.0.0-1", "4.3", "4.1.x 4.2.x", "FAIL", "already the target"),
        ("4.2.1.0-1", "4.2.0", "4.1.x 4.2.x", "FAIL", "the inventory says 4.2.0"),
        ("5.0.0.0-1", "5.0", ">=4.3", "FAIL", "not a supported source"),
        ("4.4.0.0-1", "4.4", ">=4.3", "PASS", "supported source"),
    ],
)
def test_version_checks(
    tmp_path: Path, installed: str, inventory: str, sources: str, verdict: str, words: str
) -> None:
    rig = make_rig(
        tmp_path / "a",
        ApplianceSpec(version=installed),
        inventory_version=inventory,
        supported_sources=sources,
    )
    preflight = rig.agent("preflight")
    assert words in preflight.line(verdict, "version"), preflight
    assert preflight.code == (0 if verdict == "PASS" else 1)


def test_version_not_visible_warns_and_upgrade_yes_goes_on(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a", ApplianceSpec(version_visible=False))
    preflight = rig.agent("preflight")
    assert preflight.code == 0, preflight
    line = preflight.line("WARN", "version")
    assert "does not show its version" in line and "web interface" in line
    upgrade = rig.agent("upgrade", "--yes")
    assert upgrade.code == 0, upgrade
    assert "--yes" in upgrade.line("WARN", "version")
    rig.app.reboot()
    verify = rig.agent("verify", "--poll-interval", "1", from_state=True)
    assert verify.code == 0, verify  # a healthy appliance never fails on an unreadable version
    assert "confirm in the web interface" in verify.line("WARN", "version")
    evidence = rig.evidence()
    assert evidence["version_before"]["visible"] is False  # type: ignore[index]
    assert evidence["version_before"]["confirmed_by"] == "--yes (not seen)"  # type: ignore[index]
    warns = [c for c in evidence["checks"] if c["result"] == "WARN"]  # type: ignore[attr-defined]
    assert {c["command"] for c in warns} >= {"preflight", "upgrade", "verify"}


def test_no_version_files_listed(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a", version_files="")
    preflight = rig.agent("preflight")
    assert "lists no file" in preflight.line("WARN", "version")


def test_ambiguous_version_is_not_taken(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a")
    props = rig.app.install_dir / "platform/conf/env.properties"
    props.write_text(props.read_text() + "um.version=4.1.0.0-1\n")
    preflight = rig.agent("preflight")
    assert "several different versions" in preflight.line("WARN", "version")


def test_space_below_the_margin_warns_and_upgrade_needs_accept_low_space(tmp_path: Path) -> None:
    # The margin (free_space_min_mb) is umrunbook's guess: below it a WARN with the numbers.
    rig = make_rig(tmp_path / "a", free_space_min_mb="999999999")
    preflight = rig.agent("preflight", "--snapshot", "snap-1")
    assert preflight.code == 0, preflight
    line = preflight.line("WARN", "free space")
    assert "MiB free" in line and "the bundle (0 MiB) fits" in line
    assert "umrunbook's margin, no vendor source" in line and "--accept-low-space" in line
    upgrade = rig.agent("upgrade", "--yes", "--snapshot", "snap-1")
    assert upgrade.code == 1 and not rig.bundle_ran(), upgrade
    assert "run upgrade again with --accept-low-space" in upgrade.line("FAIL", "free space")
    upgrade = rig.agent("upgrade", "--yes", "--snapshot", "snap-1", "--accept-low-space")
    assert upgrade.code == 0 and rig.bundle_ran(), upgrade
    rig.app.reboot()
    assert rig.agent("verify", "--poll-interval", "1", from_state=True).code == 0
    space = rig.evidence()["free_space"]
    assert isinstance(space, dict)
    assert space["below_margin"] is True and space["margin_source"].startswith("umrunbook")
    assert space["accepted"].startswith("--accept-low-space at ")
    assert space["margin_kib"] == 999999999 * 1024 and space["free_kib"] < space["margin_kib"]
    md = rig.evidence_path("md").read_text()
    assert "below it, accepted with --accept-low-space" in md


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Rig]:
    """An appliance whose /opt/vmware is a small filesystem (a tmpfs), full to the last byte."""
    rig = make_rig(tmp_path / "a")
    vmware = rig.app.vmware
    vmware.rename(tmp_path / "vmware")
    vmware.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "um-test", str(vmware)], check=True)
    try:
        subprocess.run(["cp", "-a", f"{tmp_path / 'vmware'}/.", str(vmware)], check=True)
        fd = os.open(vmware / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        yield rig
    finally:
        subprocess.run(["umount", "-l", str(vmware)], check=False)


def test_a_bundle_that_cannot_fit_fails(full_disk: Rig) -> None:
    rig = full_disk
    preflight = rig.agent("preflight", "--snapshot", "snap-1")
    assert preflight.code == 1, preflight
    line = preflight.line("FAIL", "free space")
    assert "less than the bundle itself" in line and "it cannot fit" in line
    upgrade = rig.agent("upgrade", "--yes", "--snapshot", "snap-1", "--accept-low-space")
    assert upgrade.code == 1 and not rig.bundle_ran(), upgrade


def test_existing_old_backup_is_reported(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a", ApplianceSpec(old_backup=True))
    listing = {k: v for k, v in rig.app.tree_listing().items() if "cloudusagemetering-old" in k}
    preflight = rig.agent("preflight")
    assert "exists already" in preflight.line("WARN", "old backup")
    assert preflight.code == 0
    assert {
        k: v for k, v in rig.app.tree_listing().items() if "cloudusagemetering-old" in k
    } == listing


def test_services_offline_before_upgrade(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a", ApplianceSpec(services_before="offline"))
    preflight = rig.agent("preflight")
    assert preflight.code == 1
    assert "GW: Offline" in preflight.line("FAIL", "services")
    assert "      | GW: Offline" in preflight.out  # raw output beside the verdict


def test_services_offline_after_reboot_fails_with_backout(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a", ApplianceSpec(services_after="offline"))
    upgraded_and_rebooted(rig)
    verify = rig.agent("verify", "--timeout", "2", "--poll-interval", "1", from_state=True)
    assert verify.code == 1, verify
    assert "still not healthy after 2 s" in verify.line("FAIL", "services")
    assert "VERIFY FAILED" in verify.out
    assert 'restore the appliance from the snapshot "vc01 / DC1 / um-ams-01"' in verify.out
    assert "poll 2" in verify.out  # it polled, showing progress
    assert rig.app.service_log() == []  # sshd left alone on failure
    evidence = rig.evidence()
    assert evidence["result"] == "failed"
    assert verify_evidence_digest(rig.evidence_path().read_text())
    status = rig.agent("status", from_state=True)
    assert "verify-failed" in status.out


def test_services_slow_to_start(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a", ApplianceSpec(services_after="slow", slow_polls=2))
    upgraded_and_rebooted(rig)
    verify = rig.agent("verify", "--timeout", "20", "--poll-interval", "1", from_state=True)
    assert verify.code == 0, verify
    assert "not yet healthy" in verify.out
    assert "after 3 poll(s)" in verify.line("PASS", "services")
    assert "Nginx: not running" in verify.out


@pytest.mark.parametrize("layout", ["plain", "headers", "colour", "other"])
@pytest.mark.parametrize("after", ["running", "offline"])
def test_status_layouts(tmp_path: Path, layout: str, after: str) -> None:
    rig = make_rig(tmp_path / "a", ApplianceSpec(layout=layout, services_after=after))  # type: ignore[arg-type]
    preflight = rig.agent("preflight")
    assert preflight.code == 0, preflight
    line = preflight.line("PASS", "services")
    if layout in ("headers", "colour"):
        assert "without a state shown, not judged" in line
    upgraded_and_rebooted(rig)
    verify = rig.agent("verify", "--timeout", "1", "--poll-interval", "1", from_state=True)
    assert verify.code == (0 if after == "running" else 1), verify
    assert "\x1b" not in json.dumps(rig.evidence())  # ANSI stripped in the evidence
    if layout == "other":
        assert "usage-meter-scheduler (pid 4200) is running" in verify.out


def test_status_script_failing_is_not_healthy(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a")
    status = rig.app.install_dir / "scripts/status.sh"
    status.write_text("#!/bin/bash\necho 'Nginx: Running'\nexit 3\n")
    preflight = rig.agent("preflight")
    assert "exited with 3" in preflight.line("FAIL", "services")
    status.write_text("#!/bin/bash\n")
    preflight = rig.agent("preflight")
    assert "printed nothing" in preflight.line("FAIL", "services")


def test_upgrade_log_errors_are_reported(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "a")
    upgraded_and_rebooted(rig)
    (log,) = rig.app.backup_dir.glob("var/logs/inplaceupgradeum-*")
    log.write_text(log.read_text() + "2026-12-05 ERROR certificate import failed\n")
    verify = rig.agent("verify", "--poll-interval", "1", from_state=True)
    assert verify.code == 0, verify
    assert "1 line(s) mention an error" in verify.line("WARN", "upgrade log")
    assert "certificate import failed" in verify.out
    assert "certificate import failed" in rig.evidence()["upgrade_log"]["error_lines"]  # type: ignore[index]


def test_shell_metacharacters_stay_data(tmp_path: Path) -> None:
    marker = Path("/tmp") / f"pwned-{uuid.uuid4().hex}"
    hostile = f"$(touch {marker}) `touch {marker}` ; touch {marker} \"'<script>\\"
    rig = make_rig(
        tmp_path / "a",
        snapshot=hostile,
        metered_servers=f"vc01.corp.example $(touch {marker}) `touch {marker}`;touch",
        ticket=f"CHG-$(touch {marker})",
    )
    preflight = rig.agent("preflight", "--yes")
    assert preflight.code == 0, preflight
    assert hostile in preflight.line("PASS", "snapshot")
    upgraded_and_rebooted(rig)
    verify = rig.agent("verify", "--poll-interval", "1", from_state=True)
    assert verify.code == 0, verify
    assert "    - $(touch\n" in verify.out
    assert rig.agent("report", "--snapshot", hostile, from_state=True).code == 0
    assert not marker.exists()
    evidence_files = list(rig.app.state_dir.glob("evidence-*.json"))
    assert len(evidence_files) == 1
    assert "$(" not in evidence_files[0].name and "/" not in evidence_files[0].name[9:]
    text = evidence_files[0].read_text()
    assert verify_evidence_digest(text)
    evidence = json.loads(text)
    assert evidence["snapshot"]["name"] == hostile
    assert evidence["ticket"] == f"CHG-$(touch {marker})"
    assert "$(touch" in evidence["metered_servers"]
    markdown = evidence_files[0].with_suffix(".md").read_text()
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown
