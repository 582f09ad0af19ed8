"""The ISO hop (4.4 and later) on a simulated appliance: the vendor's file checks, the hand-over
to the operator who runs upgrade-um.sh, verify after the reboot, and two hops in a row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.agent.helpers import (
    ISO_NAMES,
    UPLOAD_DIR,
    Rig,
    iso_manifest_for,
    make_iso_rig,
    make_rig,
)
from umrunbook.planning.agent_file import verify_evidence_digest
from umrunbook.rehearsal.simulator import ApplianceSpec, openssl_keypair, sign_file

ISO = ISO_NAMES["iso"]
MF = ISO_NAMES["manifest"]


def assert_nothing_started(rig: Rig) -> None:
    """The upgrade was not started: no hand-over recorded, no agent copy, the script never ran."""
    assert "handed_over_at" not in rig.state()
    assert not (rig.app.state_dir / "um-upgrade-agent.sh").exists()
    assert not rig.bundle_ran()
    assert rig.app.service_log() == []


def appliance_files(rig: Rig) -> dict[str, str]:
    """The appliance's files, without the agent's records and status.sh's poll counter."""
    listing = rig.app.tree_listing().items()
    return {k: v for k, v in listing if not k.startswith("state") and k != "sim/polls"}


def test_happy_path(tmp_path: Path) -> None:
    rig = make_iso_rig(tmp_path / "a")
    preflight = rig.agent("preflight", "--snapshot", "snap-4.7")
    assert preflight.code == 0, preflight
    assert "the agent sits in /root/um-upgrade-4.7" in preflight.line("PASS", "location")
    preflight.line("PASS", "files")
    assert "expected SHA-256" in preflight.line("PASS", "iso sha256")
    assert f"sha1sum -c {MF}: {ISO}: OK" in preflight.line("PASS", "iso sha1")
    assert "CN = Test ISO signer" in preflight.line("PASS", "certificate")
    # a self-signed test certificate: openssl verify cannot confirm the chain: WARN, output shown
    assert "did not confirm the issuer chain" in preflight.line("WARN", "certificate chain")
    assert "self-signed certificate" in preflight.out
    assert "Verified OK" in preflight.line("PASS", "signature")
    assert "supported source for 4.7 (>=4.3)" in preflight.line("PASS", "version")
    preflight.line("PASS", "free space")
    preflight.line("PASS", "services")
    assert "Next: bash /root/um-upgrade-4.7/um-upgrade-agent.sh upgrade" in preflight.out

    upgrade = rig.agent("upgrade", "--yes")
    assert upgrade.code == 0, upgrade
    for command in (
        "    mkdir -p /root/upgrade\n",
        f"    mount -o loop {UPLOAD_DIR}/{ISO} /root/upgrade\n",
        "    bash /root/upgrade/upgrade-um.sh\n",
        "    bash /var/lib/um-upgrade-agent/um-upgrade-agent.sh verify\n",
    ):
        assert command in upgrade.out
    assert not rig.bundle_ran()  # the agent never runs the vendor's script
    assert not rig.app.reboot_requested
    for name in ("um-upgrade-agent.sh", "um-upgrade-agent-4.7.sh"):
        assert (rig.app.state_dir / name).read_bytes() == rig.text.encode()
    state = rig.state()
    assert state["handed_over_at"] and state["boot_id_before"]
    status = rig.agent("status", from_state=True)
    assert "phase:       handed-over" in status.out

    again = rig.agent("upgrade", "--yes", from_state=True)
    assert again.code == 3 and "already started" in again.out, again
    early = rig.agent("verify", from_state=True)
    assert early.code == 3 and "NOT REBOOTED YET" in early.out, early
    assert "bash /root/upgrade/upgrade-um.sh" in early.out

    # the operator: mounts the ISO, runs the vendor's script, answers y twice; it restarts
    script = rig.app.run_iso_script()
    assert script.returncode == 0, script.stdout + script.stderr
    assert rig.app.reboot_requested

    verify = rig.agent("verify", "--poll-interval", "1", from_state=True)
    assert verify.code == 0, verify
    assert "upgrade was started" in verify.line("PASS", "reboot")
    assert "4.7.0.0-22000000" in verify.line("PASS", "version")
    assert "not documented" in verify.line("INFO", "upgrade log")
    assert "does not need it" in verify.line("INFO", "backup folder")
    verify.line("PASS", "services")
    assert "SSH stays on for the evidence copy" in verify.out
    assert rig.app.service_log() == ["reboot "]  # only the vendor script's restart

    report = rig.agent("report", from_state=True)
    assert report.code == 0, report
    assert rig.evidence_path().name == "evidence-um-ams-01-CHG0012345-4.7.json"
    assert rig.evidence_path("md").exists()
    text = rig.evidence_path().read_text(encoding="utf-8")
    assert verify_evidence_digest(text)
    evidence = json.loads(text)
    assert evidence["delivery"] == "iso" and evidence["result"] == "upgraded"
    assert evidence["version_after"]["value"] == "4.7.0.0-22000000"
    assert evidence["bundle"]["handed_over_at"] == state["handed_over_at"]
    assert evidence["bundle"]["started_at"] == ""  # the agent did not run it
    assert "bash /root/upgrade/upgrade-um.sh" in evidence["bundle"]["command"]
    assert evidence["iso_checks"] == {
        "files": [ISO, MF, ISO_NAMES["certificate"], ISO_NAMES["signature"]],
        "sha1_expected": rig.iso.manifest.read_text().split()[0] if rig.iso else "",
        "sha1": "pass",
        "sha1_how": "sha1sum -c",
        "openssl": "present",
        "certificate": "pass",
        "certificate_subject": evidence["iso_checks"]["certificate_subject"],
        "chain": "warn",
        "signature": "pass",
        "cdrom_sha1": "",  # the disc is checked only where the ISO sits in the CD/DVD drive
        "cdrom": "",
        "cdrom_at": "",
    }
    whats = [c["what"] for c in evidence["commands"]]
    assert "the vendor's signature check" in whats
    assert "handed over to the operator: the vendor's upgrade-um.sh" in whats
    assert "ISO checks" in rig.evidence_path("md").read_text()


def changed_iso(rig: Rig) -> None:
    assert rig.iso is not None
    rig.iso.iso.write_bytes(rig.iso.iso.read_bytes() + b"\0")


def wrong_manifest(rig: Rig) -> None:
    assert rig.iso is not None
    rig.iso.manifest.write_text(f"{'0' * 40}  {ISO}\n")


def manifest_of_another_file(rig: Rig) -> None:
    assert rig.iso is not None
    rig.iso.manifest.write_text(f"{'0' * 40}  Usage_Meter_Agent-4.6.0.0-1_Upgrade.iso\n")


def signature_from_another_key(rig: Rig) -> None:
    assert rig.iso is not None
    other = rig.app.root / "other"
    other.mkdir()
    openssl_keypair(other / "key", other / "crt", "/CN=Someone else")
    sign_file(other / "key", rig.iso.iso, rig.iso.signature)


def certificate_of_another_key(rig: Rig) -> None:
    assert rig.iso is not None
    other = rig.app.root / "other"
    other.mkdir()
    openssl_keypair(other / "key", rig.iso.certificate, "/CN=Test ISO signer")


@pytest.mark.parametrize(
    ("damage", "check", "words"),
    [
        (changed_iso, "iso sha1", ": FAILED"),
        (wrong_manifest, "iso sha1", ": FAILED"),
        (manifest_of_another_file, "iso sha1", "gives no SHA-1"),
        (signature_from_another_key, "signature", "did not say Verified OK"),
        (certificate_of_another_key, "signature", "did not say Verified OK"),
    ],
)
def test_bad_files_are_refused_before_anything_runs(
    tmp_path: Path, damage: object, check: str, words: str
) -> None:
    # no inventory SHA-256: the vendor's manifest and signature must catch it on their own
    rig = make_iso_rig(tmp_path / "a", inventory_sha256=False)
    damage(rig)  # type: ignore[operator]
    listing = appliance_files(rig)
    preflight = rig.agent("preflight", "--yes")
    assert preflight.code == 1, preflight
    assert words in preflight.line("FAIL", check)
    assert "PREFLIGHT FAILED" in preflight.out
    upgrade = rig.agent("upgrade", "--yes")
    assert upgrade.code == 1, upgrade
    assert "STOPPED before the bundle" in upgrade.out and "Nothing was changed" in upgrade.out
    assert_nothing_started(rig)
    assert appliance_files(rig) == listing
    if damage is changed_iso:  # the signature no longer matches either
        preflight.line("FAIL", "signature")


def test_changed_iso_against_the_inventory_sha256_is_integrity(tmp_path: Path) -> None:
    rig = make_iso_rig(tmp_path / "a")
    changed_iso(rig)
    preflight = rig.agent("preflight", "--yes")
    assert preflight.code == 4, preflight
    assert "the inventory expects" in preflight.line("FAIL", "iso sha256")
    preflight.line("FAIL", "iso sha1")
    preflight.line("FAIL", "signature")
    assert rig.agent("upgrade", "--yes").code == 4
    assert_nothing_started(rig)


def test_missing_file(tmp_path: Path) -> None:
    rig = make_iso_rig(tmp_path / "a")
    assert rig.iso is not None
    rig.iso.signature.unlink()
    preflight = rig.agent("preflight", "--yes")
    assert preflight.code == 1, preflight
    assert ISO_NAMES["signature"] in preflight.line("FAIL", "files")
    assert_nothing_started(rig)


def test_ovf_style_manifest_is_read_by_the_agent(tmp_path: Path) -> None:
    rig = make_iso_rig(tmp_path / "a")
    assert rig.iso is not None
    sha1 = rig.iso.manifest.read_text().split()[0]
    # a format coreutils' sha1sum -c does not read (it does read "SHA1(name)= hex")
    rig.iso.manifest.write_text(f"SHA-1({ISO})= {sha1.upper()}\r\n")
    preflight = rig.agent("preflight", "--yes")
    assert preflight.code == 0, preflight
    assert "the agent read it" in preflight.line("PASS", "iso sha1")
    rig.iso.manifest.write_text(f"SHA-1({ISO})= {'1' * 40}\n")
    preflight = rig.agent("preflight", "--yes")
    assert preflight.code == 1, preflight
    assert f"{MF} gives {'1' * 40}" in preflight.line("FAIL", "iso sha1")


def test_manifest_with_a_sha256_line_is_checked_too(tmp_path: Path) -> None:
    rig = make_iso_rig(tmp_path / "a")
    assert rig.iso is not None
    sha1 = rig.iso.manifest.read_text().split()[0]
    rig.iso.manifest.write_text(f"SHA1({ISO})= {sha1}\nSHA256({ISO})= {'2' * 64}\n")
    preflight = rig.agent("preflight", "--yes")
    assert preflight.code == 1, preflight
    preflight.line("PASS", "iso sha1")
    preflight.line("FAIL", "iso sha256 (mf)")


def test_without_openssl_it_warns_and_says_how_to_check(tmp_path: Path) -> None:
    rig = make_iso_rig(tmp_path / "a")
    tools = tmp_path / "tools"
    tools.mkdir()
    for folder in ("/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        for tool in Path(folder).iterdir():
            target = tools / tool.name
            if tool.name != "openssl" and not target.exists():
                target.symlink_to(tool)
    env = {"PATH": str(tools)}
    assert rig.app.run(["bash", "-c", "command -v openssl || echo none"], env=env).stdout == (
        "none\n"
    )
    preflight = rig.agent("preflight", "--yes", env=env)
    assert preflight.code == 0, preflight
    line = preflight.line("WARN", "signature")
    assert "openssl is not on this appliance" in line and "NOT checked here" in line
    assert "openssl dgst -sha1 -verify Usage_Meter_Agent-4.7.0.0-22000000_Upgrade.key" in (
        preflight.out
    )
    preflight.line("PASS", "iso sha1")  # the SHA-1 manifest is still checked
    upgrade = rig.agent("upgrade", "--yes", env=env)
    assert upgrade.code == 0, upgrade
    assert rig.state()["iso_signature_result"] == "not checked"


def test_failed_vendor_script_then_reboot_fails_verify(tmp_path: Path) -> None:
    rig = make_iso_rig(
        tmp_path / "a", ApplianceSpec(version="4.3.0.0-1", upload_dir=UPLOAD_DIR, bundle="fail")
    )
    assert rig.agent("upgrade", "--yes").code == 0
    script = rig.app.run_iso_script()
    assert script.returncode == 1 and "revert to latest snapshot" in script.stderr
    rig.app.reboot()  # the operator reboots anyway
    verify = rig.agent("verify", "--timeout", "1", "--poll-interval", "1", from_state=True)
    assert verify.code == 1, verify
    assert "not the target 4.7" in verify.line("FAIL", "version")
    assert "VERIFY FAILED" in verify.out and "restore the appliance from the snapshot" in verify.out
    assert rig.evidence()["result"] == "failed"


def test_snapshot_question_answered_no_changes_nothing(tmp_path: Path) -> None:
    rig = make_iso_rig(tmp_path / "a")
    assert rig.agent("upgrade", "--yes").code == 0
    script = rig.app.run_iso_script(answers="n\n")
    assert script.returncode == 1 and "Nothing was changed" in script.stdout
    assert not rig.bundle_ran()


def test_the_agent_hands_over_the_mount_of_the_iso_it_checked(tmp_path: Path) -> None:
    """The ISO that preflight checked (SHA-1, signature) is the one the operator mounts: the
    uploaded file, never /dev/cdrom, whose disc may be another upgrade's; the runbook's step
    gives the same line."""
    from tests.helpers import ISO_BUILDS, NOW, route_inventory_text
    from umrunbook.catalogue.procedure import load_catalogue
    from umrunbook.inventory.load import parse_inventory
    from umrunbook.planning.bind import plan_fleet

    rig = make_iso_rig(tmp_path / "a")
    assert rig.agent("preflight", "--snapshot", "snap-4.7").code == 0
    upgrade = rig.agent("upgrade", "--yes")
    assert upgrade.code == 0, upgrade
    mount = f"mount -o loop {UPLOAD_DIR}/{ISO} /root/upgrade"
    assert f"    {mount}\n" in upgrade.out
    assert "/dev/cdrom" not in upgrade.out
    assert mount in rig.state()["bundle_command"]
    status = rig.agent("status", from_state=True)
    assert mount in status.out

    # The runbook's step, for a route's ISO hop: the same mount, of that hop's uploaded file.
    inventory = parse_inventory(route_inventory_text(), Path("inventory.yaml"))
    (plan,) = plan_fleet(inventory, load_catalogue(), NOW)
    for hop in plan.hops:
        (step,) = [s for s in hop.steps if s.id == "run-upgrade"]
        folder = f"/root/um-upgrade-{hop.procedure.target}"
        assert step.commands[0].lines == (
            "mkdir -p /root/upgrade",
            f"mount -o loop {folder}/{hop.bundle[0].name} /root/upgrade",
            "bash /root/upgrade/upgrade-um.sh",
        )
        assert hop.bundle[0].name.endswith(f"-{ISO_BUILDS[hop.procedure.target]}_Upgrade.iso")


def test_dry_run_upgrade_changes_nothing(tmp_path: Path) -> None:
    rig = make_iso_rig(tmp_path / "a")
    listing = rig.app.tree_listing()
    result = rig.agent("upgrade", "--dry-run", "--yes")
    assert result.code == 0, result
    assert "DRY-RUN: would record the boot id" in result.out
    assert "    bash /root/upgrade/upgrade-um.sh" in result.out
    assert rig.app.tree_listing() == listing


def test_no_terminal_without_yes_refuses(tmp_path: Path) -> None:
    rig = make_iso_rig(tmp_path / "a")
    result = rig.agent("upgrade")
    assert result.code == 2 and "no terminal" in result.out, result
    assert list(rig.app.state_dir.iterdir()) == []


def test_two_hops_share_the_state_folder(tmp_path: Path) -> None:
    """4.2 -> 4.3 with the .shar, then 4.3 -> 4.7 with the ISO, on one appliance."""
    spec = ApplianceSpec(upload_dir=UPLOAD_DIR)  # 4.2 installed; the .shar installs 4.3
    rig = make_rig(tmp_path / "a", spec)
    assert rig.agent("preflight", "--yes").code == 0
    assert rig.agent("upgrade", "--yes").code == 0
    rig.app.reboot()
    verify = rig.agent("verify", "--poll-interval", "1", from_state=True)
    assert verify.code == 0, verify
    assert rig.agent("report", from_state=True).code == 0
    first = rig.evidence_path()
    assert first.name == "evidence-um-ams-01-CHG0012345-4.3.json"

    iso = rig.app.put_iso_bundle(ISO_NAMES)
    rig.use(iso_manifest_for(iso.sha256, inventory_version="4.3.0.0-21000000"))
    rig.iso = iso
    preflight = rig.agent("preflight", "--yes")
    assert preflight.code == 0, preflight
    assert "exists (an earlier upgrade's backup" in preflight.line("INFO", "old backup")
    assert rig.agent("upgrade", "--yes").code == 0
    assert rig.app.run_iso_script().returncode == 0
    verify = rig.agent("verify", "--poll-interval", "1", from_state=True)
    assert verify.code == 0, verify
    # the 4.3 hop's upgrade log (in cloudusagemetering-old) is not taken for this hop's
    assert "not documented" in verify.line("INFO", "upgrade log")
    assert rig.agent("finish", from_state=True).code == 0
    assert "systemctl stop sshd" in rig.app.service_log()
    assert rig.agent("report", from_state=True).code == 0

    state = rig.app.state_dir
    names = sorted(p.name for p in state.iterdir())
    assert names == [
        ".lock",
        "evidence-um-ams-01-CHG0012345-4.3.json",
        "evidence-um-ams-01-CHG0012345-4.3.md",
        "evidence-um-ams-01-CHG0012345-4.7.json",
        "evidence-um-ams-01-CHG0012345-4.7.md",
        "run-um-ams-01-CHG0012345-4.3",
        "run-um-ams-01-CHG0012345-4.7",
        "um-upgrade-agent-4.3.sh",
        "um-upgrade-agent-4.7.sh",
        "um-upgrade-agent.sh",
    ]
    for target, before, after in (("4.3", "4.2.0.0-12345", "4.3.0.0"), ("4.7", "4.3.0.0", "4.7")):
        text = (state / f"evidence-um-ams-01-CHG0012345-{target}.json").read_text()
        assert verify_evidence_digest(text)
        evidence = json.loads(text)
        assert evidence["target"] == target and evidence["result"] == "upgraded"
        assert evidence["version_before"]["value"].startswith(before)
        assert evidence["version_after"]["value"].startswith(after)
    # the 4.3 hop's own agent stays at hand, and still reads its own records
    old = rig.app.agent("status", path="/var/lib/um-upgrade-agent/um-upgrade-agent-4.3.sh")
    assert "phase:       verified" in old.stdout and "4.2.0 -> 4.3" in old.stdout
    assert (state / "um-upgrade-agent.sh").read_text() == rig.text  # the shared name: the last


def test_simulated_iso_bundle_checks_with_the_vendor_commands(tmp_path: Path) -> None:
    """The test bundle itself passes the vendor's commands as the runbook gives them."""
    rig = make_iso_rig(tmp_path / "a")
    key = "Usage_Meter_Agent-4.7.0.0-22000000_Upgrade.key"
    crt, sign = ISO_NAMES["certificate"], ISO_NAMES["signature"]
    script = (
        f"cd {UPLOAD_DIR} && sha1sum -c {MF} && openssl x509 -in {crt} -noout -text >/dev/null"
        f" && openssl x509 -pubkey -in {crt} -noout > /tmp/{key}"
        f" && openssl dgst -sha1 -verify /tmp/{key} -signature {sign} {ISO}; rm -f /tmp/{key}"
    )
    result = rig.app.run(["bash", "-c", script])
    assert result.returncode == 0, result.stderr
    assert f"{ISO}: OK" in result.stdout and "Verified OK" in result.stdout
    assert not Path(UPLOAD_DIR).exists()  # only inside the namespace


def test_check_cdrom_refuses_another_iso_in_the_drive_and_records_the_right_one(
    tmp_path: Path,
) -> None:
    # The CD-drive way: the disc in the VM's drive is checked against the .mf before mounting.
    rig = make_iso_rig(tmp_path / "a")
    assert rig.agent("preflight", "--snapshot", "snap-4.7").code == 0
    early = rig.agent("check-cdrom")
    assert early.code == 3 and "WRONG PHASE" in early.out, early
    assert rig.agent("upgrade", "--yes").code == 0
    empty = rig.agent("check-cdrom", from_state=True)
    assert empty.code == 1 and "no disc can be read in /dev/cdrom" in empty.out, empty
    previous = tmp_path / "previous-hop.iso"  # another build's ISO, left in the drive
    previous.write_bytes(b"UM-SIM-ISO9660 19934127\n#!/bin/bash\necho 4.5\n")
    rig.app.attach_disc(previous)
    wrong = rig.agent("check-cdrom", from_state=True)
    assert wrong.code == 4, wrong
    assert "Do not mount it" in wrong.line("FAIL", "cd drive")
    assert rig.evidence()["iso_checks"]["cdrom"] == "fail"  # type: ignore[index]
    assert rig.iso is not None
    rig.app.attach_disc(rig.iso.iso)
    right = rig.agent("check-cdrom", from_state=True)
    assert right.code == 0, right
    assert "it is the verified ISO" in right.line("PASS", "cd drive")
    checks = rig.evidence()["iso_checks"]
    assert isinstance(checks, dict)
    assert checks["cdrom"] == "pass" and checks["cdrom_sha1"] == checks["sha1_expected"]
    assert any(
        c["command"] == "sha1sum /dev/cdrom"
        for c in rig.evidence()["commands"]  # type: ignore[attr-defined]
    )
