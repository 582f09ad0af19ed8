"""The rehearsal: an appliance's agent walked through the procedure on a simulated appliance."""

from __future__ import annotations

import io
import os

import pytest

from tests.agent.helpers import iso_manifest_for, manifest_for, require_simulator
from tests.conftest import need
from umrunbook.rehearsal.rehearse import RehearsalUnavailable, rehearse, spec_for

PACKAGE_SHA = "9f" * 32


def test_rehearsal_of_43_passes() -> None:
    require_simulator()
    out = io.StringIO()
    assert rehearse(manifest_for(PACKAGE_SHA), out) == 0, out.getvalue()
    text = out.getvalue()
    assert f"bundle_sha256 {PACKAGE_SHA} is replaced" in text
    for step in ("preflight", "upgrade", "reboot", "verify", "report"):
        assert f": {step}\n" in text
    assert "$ bash /opt/vmware/cloudusagemetering/um-upgrade-agent.sh upgrade --yes" in text
    assert "$ bash /var/lib/um-upgrade-agent/um-upgrade-agent.sh verify" in text
    assert "VERIFY PASSED" in text and "# Upgrade evidence: um-ams-01" in text
    assert text.rstrip().endswith("as the runbook describes.")


def test_rehearsal_of_42_has_no_reboot_step() -> None:
    require_simulator()
    manifest = manifest_for(
        PACKAGE_SHA,
        target="4.2",
        inventory_version="4.1.0",
        supported_sources="4.1.x",
        reboot_required="no",
        host="10.1.2.3",
    )
    out = io.StringIO()
    assert rehearse(manifest, out) == 0, out.getvalue()
    assert "step 3/4: verify" in out.getvalue()
    assert ": reboot\n" not in out.getvalue()


def test_rehearsal_stops_at_the_failing_step() -> None:
    require_simulator()
    out = io.StringIO()
    code = rehearse(manifest_for(PACKAGE_SHA, free_space_min_mb="999999999"), out)
    assert code == 1
    assert "REHEARSAL STOPPED at preflight (exit 1)" in out.getvalue()
    assert "step 2/" not in out.getvalue()


def test_not_root_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(RuntimeError, match=r"needs root.*sudo") as caught:
        rehearse(manifest_for(PACKAGE_SHA), io.StringIO())
    assert isinstance(caught.value, RehearsalUnavailable)


def test_missing_unshare_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(RehearsalUnavailable, match=r"unshare.*util-linux"):
        rehearse(manifest_for(PACKAGE_SHA), io.StringIO())


def test_other_layout_is_refused() -> None:
    require_simulator()
    with pytest.raises(RehearsalUnavailable, match="install_dir"):
        rehearse(manifest_for(PACKAGE_SHA, install_dir="/srv/um"), io.StringIO())


def test_spec_follows_the_manifest() -> None:
    spec = spec_for(manifest_for(PACKAGE_SHA, inventory_version="4.2", version_files=""))
    assert spec.version == "4.2.0.0-1000000"
    assert spec.target_version == "4.3.0.0"
    assert spec.swap == "reboot" and not spec.version_visible
    assert spec.fqdn == "um-ams-01.corp.example"


def test_rehearsal_of_an_iso_hop_passes() -> None:
    require_simulator()
    need("openssl")
    out = io.StringIO()
    assert rehearse(iso_manifest_for(""), out) == 0, out.getvalue()
    text = out.getvalue()
    for step in ("preflight", "upgrade", "the vendor's upgrade-um.sh (the operator)", "verify"):
        assert f": {step}\n" in text
    assert "$ bash /root/um-upgrade-4.7/um-upgrade-agent.sh preflight --yes" in text
    assert "$ mount -o loop /root/um-upgrade-4.7/Usage_Meter_Agent-4.7.0.0-" in text
    assert "/dev/cdrom" not in text
    assert "$ bash /root/upgrade/upgrade-um.sh" in text
    assert "Verified OK" in text and "simulated appliance: reboot requested" in text
    assert (
        "$ bash /var/lib/um-upgrade-agent/um-upgrade-agent.sh verify --poll-interval 1 --keep-ssh"
        in (text)
    )
    assert "VERIFY PASSED" in text and "# Upgrade evidence: um-ams-01" in text
    assert text.rstrip().endswith("as the runbook describes.")


def test_rehearsal_of_an_iso_hop_with_the_inventory_sha256() -> None:
    require_simulator()
    need("openssl")
    out = io.StringIO()
    assert rehearse(iso_manifest_for(PACKAGE_SHA), out) == 0, out.getvalue()
    assert "expected SHA-256" in out.getvalue()


def test_iso_spec_follows_the_manifest() -> None:
    spec = spec_for(iso_manifest_for(""))
    assert spec.upload_dir == "/root/um-upgrade-4.7"
    assert spec.version == "4.3.0.0-1000000" and spec.target_version == "4.7.0.0"
    assert spec.bundle_file == "ums-system-upgrade.shar"  # no .shar is used on an ISO hop
