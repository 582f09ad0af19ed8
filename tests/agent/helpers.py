"""Helpers for the agent's tests: a simulated appliance with a generated agent on it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import need, need_root
from umrunbook.planning.agent_file import build_agent
from umrunbook.rehearsal.simulator import (
    STATE_DIR,
    ApplianceSpec,
    IsoBundle,
    SimulatedAppliance,
    SimulatorUnavailable,
    check_simulator_available,
)

TICKET = "CHG0012345"
APPLIANCE = "um-ams-01"


def require_simulator() -> None:
    """Skip (fail in CI) when this machine cannot run the simulated appliance."""
    need_root()
    need("unshare")
    try:
        check_simulator_available()
    except SimulatorUnavailable as error:
        pytest.skip(str(error))


def manifest_for(bundle_sha256: str, **overrides: str) -> dict[str, str]:
    """A 4.3 manifest for um-ams-01, as the generator would write it."""
    values = {
        "manifest_version": "2",
        "appliance": APPLIANCE,
        "host": "um-ams-01.corp.example",
        "ticket": TICKET,
        "inventory_version": "4.2.0",
        "supported_sources": "4.1.x 4.2.x",
        "target": "4.3",
        "delivery": "shar",
        "install_dir": "/opt/vmware/cloudusagemetering",
        "backup_dir": "/opt/vmware/cloudusagemetering-old",
        "state_dir": "/var/lib/um-upgrade-agent",
        "upload_dir": "/opt/vmware/cloudusagemetering",
        "bundle_file": "ums-system-upgrade.shar",
        "bundle_sha256": bundle_sha256,
        "iso_file": "",
        "manifest_file": "",
        "certificate_file": "",
        "signature_file": "",
        "reboot_required": "yes",
        "free_space_factor": "3",
        "free_space_min_mb": "16",
        "status_timeout": "5",
        "ssh_service_manager": "service",
        "version_files": "platform/conf/env.properties",
        "snapshot": "vc01 / DC1 / um-ams-01",
        "metered_servers": "vc01.corp.example vcd01.corp.example",
        "tdnf_check": "no",
        "proxy": "",
        "generator": "umrunbook 0.1.0",
    }
    values.update(overrides)
    return values


UPLOAD_DIR = "/root/um-upgrade-4.7"
ISO_STEM = "Usage_Meter_Agent-4.7.0.0-22000000_Upgrade"
ISO_NAMES = {
    "iso": f"{ISO_STEM}.iso",
    "manifest": f"{ISO_STEM}.mf",
    "certificate": f"{ISO_STEM}.crt",
    "signature": f"{ISO_STEM}.sign",
}


def iso_manifest_for(bundle_sha256: str = "", **overrides: str) -> dict[str, str]:
    """A 4.3 -> 4.7 ISO manifest for um-ams-01, as the generator would write it."""
    values = manifest_for(
        bundle_sha256,
        inventory_version="4.3.0",
        supported_sources=">=4.3",
        target="4.7",
        delivery="iso",
        upload_dir=UPLOAD_DIR,
        bundle_file=ISO_NAMES["iso"],
        iso_file=ISO_NAMES["iso"],
        manifest_file=ISO_NAMES["manifest"],
        certificate_file=ISO_NAMES["certificate"],
        signature_file=ISO_NAMES["signature"],
        ssh_service_manager="systemctl",
    )
    values.update(overrides)
    return values


@dataclass
class Rig:
    """A simulated appliance with this appliance's agent uploaded next to its bundle."""

    app: SimulatedAppliance
    manifest: dict[str, str]
    text: str
    iso: IsoBundle | None = None

    @property
    def agent_path(self) -> str:
        return f"{self.manifest['upload_dir']}/um-upgrade-agent.sh"

    def agent(
        self,
        *args: str,
        from_state: bool = False,
        timeout: float = 60,
        unexpected_ok: bool = False,
        env: dict[str, str] | None = None,
    ) -> Result:
        """Runs the agent; an unexpected error (its ERR trap) fails the test unless allowed."""
        path = f"{STATE_DIR}/um-upgrade-agent.sh" if from_state else self.agent_path
        result = Result(self.app.agent(*args, timeout=timeout, path=path, env=env))
        if not unexpected_ok:
            assert "STOPPED: unexpected error" not in result.out, result
        return result

    @property
    def tag(self) -> str:
        """<appliance>-<ticket>-<target>: names this hop's run folder and evidence files."""
        m = self.manifest
        return "-".join(
            re.sub(r"[^A-Za-z0-9._-]", "_", m[k]) for k in ("appliance", "ticket", "target")
        )

    def state(self) -> dict[str, str]:
        run_dir = self.app.state_dir / f"run-{self.tag}"
        path = run_dir / "state"
        if not path.exists():
            return {}
        pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        return dict(pairs)

    def evidence_path(self, ext: str = "json") -> Path:
        name = f"evidence-{self.tag}.{ext}"
        return self.app.state_dir / name

    def evidence(self) -> dict[str, object]:
        data = json.loads(self.evidence_path().read_text(encoding="utf-8"))
        assert isinstance(data, dict)
        return data

    def use(self, manifest: dict[str, str]) -> None:
        """Uploads an agent built from another manifest (the next hop's, or a changed one)."""
        self.manifest = manifest
        self.text = build_agent(manifest)
        where = "install" if manifest["delivery"] == "shar" else "upload"
        self.app.put_agent(self.text, where=where)

    def bundle_ran(self) -> bool:
        logs = list(self.app.vmware.rglob("inplaceupgradeum-*"))
        return bool(logs) or (self.app.sim_dir / "upgraded").exists()


@dataclass
class Result:
    proc: subprocess.CompletedProcess[str]

    @property
    def code(self) -> int:
        return self.proc.returncode

    @property
    def out(self) -> str:
        return self.proc.stdout + self.proc.stderr

    def line(self, result: str, check: str) -> str:
        """The one PASS/WARN/FAIL line of a check (fails the test when absent)."""
        for text in self.out.splitlines():
            if text.startswith(f"{result} ") and text[6:].startswith(check):
                return text
        raise AssertionError(f"no '{result} {check}' line in:\n{self.out}")

    def __repr__(self) -> str:
        return f"exit {self.code}\n{self.out}"


def make_rig(root: Path, spec: ApplianceSpec | None = None, **overrides: str) -> Rig:
    """Builds a simulated appliance and uploads a generated agent into it."""
    require_simulator()
    app = SimulatedAppliance.create(root, spec)
    manifest = manifest_for(app.bundle_sha256, **overrides)
    text = build_agent(manifest)
    app.put_agent(text)
    return Rig(app, manifest, text)


def make_iso_rig(
    root: Path,
    spec: ApplianceSpec | None = None,
    *,
    inventory_sha256: bool = True,
    **overrides: str,
) -> Rig:
    """A 4.3 appliance with a test ISO bundle (made with openssl) and the ISO hop's agent."""
    require_simulator()
    need("openssl")
    if spec is None:
        spec = ApplianceSpec(version="4.3.0.0-21000000", upload_dir=UPLOAD_DIR)
    app = SimulatedAppliance.create(root, spec)
    iso = app.put_iso_bundle(ISO_NAMES)
    manifest = iso_manifest_for(iso.sha256 if inventory_sha256 else "", **overrides)
    text = build_agent(manifest)
    app.put_agent(text, where="upload")
    return Rig(app, manifest, text, iso)


def upgraded_and_rebooted(rig: Rig) -> None:
    """Runs upgrade --yes and the reboot, asserting both went as planned."""
    result = rig.agent("upgrade", "--yes")
    assert result.code == 0, result
    rig.app.reboot()


def have_shellcheck() -> bool:
    return shutil.which("shellcheck") is not None
