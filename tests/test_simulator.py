"""The simulated appliance itself: faithful to the vendor text, and harmless to this machine."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.agent.helpers import require_simulator
from tests.conftest import need
from umrunbook.rehearsal.simulator import (
    INSTALL_DIR,
    ApplianceSpec,
    SimulatedAppliance,
    fake_bundle,
    fake_iso_script,
)


def make(tmp_path: Path, **spec: object) -> SimulatedAppliance:
    require_simulator()
    return SimulatedAppliance.create(tmp_path / "sim", ApplianceSpec(**spec))  # type: ignore[arg-type]


def shar(app: SimulatedAppliance, cwd: str = INSTALL_DIR) -> subprocess.CompletedProcess[str]:
    return app.run(["bash", "-c", f"cd {cwd} && bash {INSTALL_DIR}/ums-system-upgrade.shar"])


def test_paths_and_names_inside_and_nothing_outside(tmp_path: Path) -> None:
    app = make(tmp_path)
    real_boot_id = Path("/proc/sys/kernel/random/boot_id").read_text()
    real_hostname = socket.gethostname()
    real_vmware = Path("/opt/vmware")
    real_listing = sorted(os.listdir(real_vmware)) if real_vmware.is_dir() else None
    script = (
        "hostname; hostname -f; uname -n; cat /proc/sys/kernel/random/boot_id;"
        "ls /opt/vmware; touch /opt/vmware/probe /var/lib/um-upgrade-agent/x;"
        "service sshd stop; reboot"
    )
    result = app.run(["bash", "-c", script])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["um-ams-01", "um-ams-01.corp.example", "um-ams-01"]
    assert lines[3] == (app.root / "boot_id").read_text().strip()
    assert "cloudusagemetering" in lines[4]
    assert (app.state_dir / "x").exists()
    assert (app.vmware / "probe").exists()  # /opt/vmware inside is the simulator's folder
    assert app.service_log() == ["service sshd stop", "reboot "]
    assert app.reboot_requested
    # the real machine: unchanged
    assert socket.gethostname() == real_hostname
    assert Path("/proc/sys/kernel/random/boot_id").read_text() == real_boot_id
    assert not Path("/var/lib/um-upgrade-agent").exists()
    assert not (real_vmware / "probe").exists()
    assert (sorted(os.listdir(real_vmware)) if real_vmware.is_dir() else None) == real_listing


def test_bundle_refuses_outside_the_install_folder(tmp_path: Path) -> None:
    app = make(tmp_path)
    result = shar(app, cwd="/opt/vmware/cloudusagemetering/scripts")
    assert result.returncode == 1
    assert "run it from /opt/vmware/cloudusagemetering" in result.stderr
    result = app.run(
        [
            "bash",
            "-c",
            f"cd {INSTALL_DIR} && setpriv --reuid=65534 --regid=65534 "
            "--clear-groups bash ums-system-upgrade.shar",
        ]
    )
    assert result.returncode == 1 and "root" in result.stderr


def test_bundle_writes_the_vendor_log_and_swaps_at_reboot(tmp_path: Path) -> None:
    app = make(tmp_path)
    result = shar(app)
    assert result.returncode == 0, result.stderr
    (log,) = app.install_dir.glob("var/logs/inplaceupgradeum-*")
    assert re.fullmatch(r"inplaceupgradeum-20\d{2}[0-3]\d[01]\d-21000000", log.name)
    assert not app.backup_dir.exists()  # not before the reboot
    before = app.root.joinpath("boot_id").read_text()
    app.reboot()
    assert app.backup_dir.joinpath("var/logs", log.name).exists()
    assert (
        "version=4.3.0.0-21000000"
        in app.install_dir.joinpath("platform/conf/env.properties").read_text()
    )
    assert app.root.joinpath("boot_id").read_text() != before


def test_bundle_swaps_at_its_end_for_42(tmp_path: Path) -> None:
    app = make(tmp_path, swap="bundle-end", target_version="4.2.0.0")
    assert shar(app).returncode == 0
    assert app.backup_dir.is_dir() and app.install_dir.is_dir()
    assert "4.2.0.0" in app.install_dir.joinpath("platform/conf/env.properties").read_text()


def test_bundle_failing_midway(tmp_path: Path) -> None:
    app = make(tmp_path, bundle="fail")
    result = shar(app)
    assert result.returncode == 1
    (log,) = app.install_dir.glob("var/logs/inplaceupgradeum-*")
    assert "ERROR Database migration failed" in log.read_text()
    app.reboot()
    assert not app.backup_dir.exists()


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("plain", "Nginx: Running"),
        ("headers", "SERVICE      STATE"),
        ("colour", "\x1b[1;32mRunning\x1b[0m"),
        ("other", "usage-meter-scheduler (pid 4200) is running"),
    ],
)
def test_status_layouts(tmp_path: Path, layout: str, expected: str) -> None:
    app = make(tmp_path, layout=layout)
    result = app.run(["bash", "-c", f"cd {INSTALL_DIR} && ./scripts/status.sh"])
    assert result.returncode == 0
    assert expected in result.stdout


def test_slow_services_after_the_upgrade(tmp_path: Path) -> None:
    app = make(tmp_path, services_after="slow", slow_polls=2)
    assert shar(app).returncode == 0
    app.reboot()
    outputs = [
        app.run(["bash", "-c", f"cd {INSTALL_DIR} && ./scripts/status.sh"]).stdout for _ in range(3)
    ]
    assert "not running" in outputs[0] and "not running" in outputs[1]
    assert "not running" not in outputs[2]


def test_fake_bundle_is_specific_to_its_build() -> None:
    assert fake_bundle(build="1") != fake_bundle(build="2")
    assert b"@BUILD@" not in fake_bundle()


def test_refuses_a_used_folder(tmp_path: Path) -> None:
    (tmp_path / "sim").mkdir()
    (tmp_path / "sim" / "file").touch()
    with pytest.raises(FileExistsError):
        SimulatedAppliance(tmp_path / "sim").build()


def test_shims_outside_the_simulation_do_nothing(tmp_path: Path) -> None:
    app = make(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "UM_SIM_DIR"}
    result = subprocess.run(
        [str(app.root / "bin" / "reboot")], capture_output=True, text=True, env=env
    )
    assert result.returncode == 1 and "nothing done" in result.stderr


def test_iso_mode_binds_the_upload_folder_and_the_mounted_iso(tmp_path: Path) -> None:
    need("openssl")
    app = make(tmp_path, version="4.3.0.0-1", upload_dir="/root/um-upgrade-4.7")
    names = {role: f"x.{role}" for role in ("iso", "manifest", "certificate", "signature")}
    bundle = app.put_iso_bundle(names, target_version="4.7.0.0", build="7")
    assert bundle.iso.parent == app.upload_path != app.install_dir
    result = app.run(["bash", "-c", "ls /root/um-upgrade-4.7; ls /root/upgrade"])
    assert result.returncode == 0, result.stderr
    uploaded = ["x.certificate", "x.iso", "x.manifest", "x.signature"]
    assert result.stdout.split() == [*uploaded, "upgrade-um.sh"]
    assert not Path("/root/um-upgrade-4.7").exists() and not Path("/root/upgrade").exists()
    run = app.run_iso_script(answers="y\nn\n")  # no restart now
    assert run.returncode == 0, run.stderr
    assert not app.reboot_requested and "Restart the appliance later" in run.stdout
    props = app.install_dir.joinpath("platform/conf/env.properties").read_text()
    assert "version=4.7.0.0-7" in props


def test_iso_mode_needs_an_upload_folder_outside_the_appliance_paths(tmp_path: Path) -> None:
    require_simulator()
    with pytest.raises(ValueError, match="upload_dir"):
        SimulatedAppliance.create(tmp_path / "a", ApplianceSpec(upload_dir="/opt/vmware/up"))
    app = SimulatedAppliance.create(tmp_path / "b", ApplianceSpec())
    with pytest.raises(ValueError, match="no upload_dir"):
        app.put_iso_bundle({r: r for r in ("iso", "manifest", "certificate", "signature")})


def test_fake_iso_script_is_specific_to_its_build() -> None:
    assert fake_iso_script(build="1") != fake_iso_script(build="2")
    assert b"@TARGET_VERSION@" not in fake_iso_script()
