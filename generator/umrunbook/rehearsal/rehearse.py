"""A rehearsal: an appliance's runbook walked on a simulated appliance.

It runs exactly the runbook's commands, in the runbook's order, taken from the plan: each
console and SSH step's shell lines are typed into a shell on the simulated appliance (a
terminal, so the agent asks its questions and the rehearsal answers them as the operator
would); the steps done elsewhere are simulated where they change the appliance (the snapshot,
the upload, the ISO in the CD/DVD drive) and named otherwise. The bundle is a test one, so the
agent is rebuilt for it and the runbook's checksums of the package's files are replaced by
those of the test files (it says so). A route's hops run one after the other on one appliance.
A failed step walks the backout plan, with the evidence copied off the appliance before the
revert. At the end SSH must be as it was before the window (off), or the rehearsal fails.
"""

from __future__ import annotations

import hashlib
import os
import pty
import shlex
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from umrunbook.planning.agent_file import AGENT_FILE_NAME, build_agent
from umrunbook.planning.plan import Hop, Plan, PlannedStep
from umrunbook.rehearsal.simulator import (
    BACKUP_DIR,
    BUNDLE_FILE,
    INSTALL_DIR,
    STATE_DIR,
    ApplianceSpec,
    BundleBehaviour,
    IsoBundle,
    SimulatedAppliance,
    SimulatorUnavailable,
    check_simulator_available,
)

__all__ = ["RehearsalUnavailable", "rehearse_plan", "spec_for"]

#: Raised when this machine cannot run the rehearsal (the message says why and what to do).
RehearsalUnavailable = SimulatorUnavailable

_STATE_AGENT = f"{STATE_DIR}/um-upgrade-agent.sh"


def _four_parts(version: str) -> str:
    numeric = version.split("-", 1)[0]
    parts = numeric.split(".")
    return ".".join(parts + ["0"] * (4 - len(parts)))


def spec_for(manifest: Mapping[str, str]) -> ApplianceSpec:
    """The simulated appliance that matches an agent manifest (a healthy one)."""
    appliance = manifest["appliance"]
    host = manifest["host"]
    is_name = any(c.isalpha() for c in host) and ":" not in host
    fqdn = host if is_name else f"{appliance}.rehearsal.invalid"
    installed = manifest["inventory_version"]
    if "-" not in installed:
        installed = f"{_four_parts(installed)}-1000000"
    iso = manifest.get("delivery") == "iso"
    return ApplianceSpec(
        hostname=appliance,
        fqdn=fqdn,
        version=installed,
        target_version=_four_parts(manifest["target"]),
        version_visible="platform/conf/env.properties" in manifest["version_files"].split(),
        swap="reboot" if manifest["reboot_required"] == "yes" else "bundle-end",
        bundle_file=BUNDLE_FILE if iso else manifest["bundle_file"],
        upload_dir=manifest["upload_dir"] if iso else "",
    )


def _iso_names(manifest: Mapping[str, str]) -> dict[str, str]:
    return {
        "iso": manifest["iso_file"],
        "manifest": manifest["manifest_file"],
        "certificate": manifest["certificate_file"],
        "signature": manifest["signature_file"],
    }


def _check_paths(manifest: Mapping[str, str]) -> None:
    expected = {"install_dir": INSTALL_DIR, "backup_dir": BACKUP_DIR, "state_dir": STATE_DIR}
    for key, path in expected.items():
        if manifest[key].rstrip("/") != path:
            raise RehearsalUnavailable(
                f"the manifest's {key} is {manifest[key]}, the simulated appliance has {path}: "
                "a rehearsal covers the appliance layout the simulator knows only"
            )


# --- the runbook's own commands, in the runbook's order --------------------------------------

#: What the operator types at the agent's and the vendor script's questions, by step id.
_YES = "y\ny\n"


@dataclass
class _Night:
    """One rehearsal of a plan: the appliance, the shells' folders, what was fetched."""

    app: SimulatedAppliance
    out: TextIO
    fetched: Path
    cwd: dict[str, str] = field(default_factory=lambda: {"ssh": "/root", "console": "/root"})
    replace: dict[str, str] = field(default_factory=dict)
    iso: IsoBundle | None = None

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def sshd_running(self) -> bool:
        return self.app.sshd_state()[1]

    def shell(self, where: str, lines: Sequence[str], answers: str = "") -> int:
        """The lines typed in the console or the SSH session, in order, in one shell; the
        first line that fails stops them (``openssl verify`` of the ISO's certificate only
        warns: without the issuer's chain it cannot succeed, and the signature decides)."""
        session = "ssh" if where == "ssh" else "console"
        # A folder deleted under the shell (the clean-up's rm -rf): a real shell stays in it.
        script = [f"cd {shlex.quote(self.cwd[session])} 2>/dev/null || cd /root || exit 97"]
        for n, line in enumerate(lines, start=1):
            for old, new in self.replace.items():
                line = line.replace(old, new)
            self.say(f"$ {line}")
            fatal = not line.startswith("openssl verify ")
            script.append(line)
            script.append(
                f'rc=$?; if [ "$rc" -ne 0 ]; then echo "(line {n} exited $rc)"; '
                + ('pwd >"$UM_SIM_DIR/cwd"; exit "$rc"; fi' if fatal else "fi")
            )
        script.append('pwd >"$UM_SIM_DIR/cwd"')
        master, slave = pty.openpty()
        try:
            if answers:
                os.write(master, answers.encode())
            result = self.app.run(["bash", "-c", "\n".join(script)], stdin=slave, timeout=900)
        finally:
            os.close(slave)
            os.close(master)
        self.out.write(result.stdout + result.stderr)
        cwd = self.app.sim_dir / "cwd"
        if cwd.exists():
            self.cwd[session] = cwd.read_text(encoding="utf-8").strip() or self.cwd[session]
        return result.returncode

    def fetch(self, why: str) -> bool:
        """Copies the agent's folder off the appliance (as the fetch over SFTP would)."""
        if not self.sshd_running():
            self.say(f"(cannot fetch the evidence {why}: sshd is not running on the appliance)")
            return False
        self.fetched.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.app.state_dir, self.fetched, dirs_exist_ok=True)
        names = sorted(p.name for p in self.fetched.glob("evidence-*.json"))
        self.say(f"(simulated: {STATE_DIR}/ copied to the workstation {why}: {', '.join(names)})")
        return True


def _answers(step_id: str, hop: Hop, manifest: Mapping[str, str]) -> str:
    if step_id == "preflight":
        return f"{hop.snapshot_name}\n"
    if step_id in ("upgrade", "record-start"):
        version = "" if spec_for(manifest).version_visible else f"{manifest['inventory_version']}\n"
        return f"{version}{manifest['appliance']}\n"
    if step_id == "run-upgrade":
        if hop.target_version.parts[0] >= 9:
            # IBM's order: the token (from 4.x only: 9.0 carries it over), join the provider
            # organization, the snapshot, a possible host-name warning, the restart.
            token = "UMA-REHEARSAL-NOT-A-TOKEN\n" if hop.source_version.parts[0] < 9 else ""
            return token + "y\n" * 4
        return _YES
    return ""


def _upload(night: _Night, hop: Hop, manifest: dict[str, str]) -> None:
    """The upload step: the hop's (test) bundle and its agent, rebuilt for that bundle."""
    app = night.app
    package_agent_sha = hashlib.sha256(hop.agent.text.encode("utf-8")).hexdigest()
    package_bundle_sha = manifest["bundle_sha256"]
    if manifest["delivery"] == "iso":
        folder = app.host_path(manifest["upload_dir"])
        night.iso = app.put_iso_files(
            folder, _iso_names(manifest), target_version=_four_parts(manifest["target"])
        )
        fake = night.iso.sha256
        if manifest["bundle_sha256"]:
            manifest["bundle_sha256"] = fake
    else:
        fake = app.put_shar_bundle(_four_parts(manifest["target"]))
        manifest["bundle_sha256"] = fake
        folder = app.install_dir
    agent = build_agent(manifest)
    (folder / AGENT_FILE_NAME).write_text(agent, encoding="utf-8")
    night.replace = {package_agent_sha: hashlib.sha256(agent.encode("utf-8")).hexdigest()}
    if package_bundle_sha:
        night.replace[package_bundle_sha] = fake
    night.say(
        f"(simulated: the test bundle and the agent rebuilt for it are in {manifest['upload_dir']};"
        " the runbook's checksums of the package's files are replaced by theirs below)"
    )


def _step(night: _Night, hop: Hop, step: PlannedStep, manifest: dict[str, str]) -> int:
    """One step as the runbook gives it; its exit code."""
    app = night.app
    lines = [line for c in step.commands if c.shell == "sh" for line in c.lines]
    if step.where in ("ssh", "console") and lines:
        if step.where == "ssh" and not night.sshd_running():
            night.say("(this step needs an SSH session, and sshd is not running)")
            return 1
        code = night.shell(step.where, lines, _answers(step.id, hop, manifest))
        if code == 0 and step.id == "evidence":
            return 0 if night.fetch("(the evidence step)") else 1
        return code
    if step.id == "snapshot":
        app.take_snapshot()
        night.say(f"(simulated: snapshot {hop.snapshot_name} taken in vCenter)")
    elif step.id == "upload":
        if not night.sshd_running():
            night.say("(the upload needs SSH, and sshd is not running)")
            return 1
        _upload(night, hop, manifest)
    elif step.where == "webui" and step.id in ("enable-ssh", "stop-ssh"):
        # 9.x: SSH login is ticked or cleared in the appliance management interface.
        on = step.id == "enable-ssh"
        app.set_sshd(enabled=on, running=on)
        night.say(f"(simulated: SSH login {'enabled' if on else 'disabled'} in the interface)")
    elif step.id == "attach-iso" and night.iso is not None:
        app.attach_disc(night.iso.iso)
        night.say(f"(simulated: {night.iso.iso.name} attached to the VM's CD/DVD drive)")
    else:
        night.say(f"(not rehearsed: {step.where_label.lower()})")
    return 0


def _backout(night: _Night, hop: Hop) -> None:
    """The backout plan, in its order; the evidence comes off the appliance before the revert."""
    fetched = False
    for step in hop.backout.steps:
        night.say()
        night.say(f"=== {step.number}: {step.title}")
        if step.where == "workstation" and "evidence" in step.title.lower() and not fetched:
            fetched = night.fetch("before the revert")  # the backout's own fetch step
            continue
        if step.where == "vcenter" and not fetched:
            # What the agent's failure message says: report, then copy the folder off.
            night.say("(the backout fetched no evidence before this step: the rehearsal does)")
            night.shell("console", [f"bash {_STATE_AGENT} report"])
            fetched = night.fetch("before the revert")
        if step.where == "vcenter":
            night.app.revert_snapshot()
            night.say("(simulated: the VM reverted to the snapshot and powered on)")
            continue
        code = _step(night, hop, step, {})
        night.say(f"(exit {code})")


def rehearse_plan(plan: Plan, out: TextIO, *, bundle: BundleBehaviour = "ok") -> int:
    """Walks a plan's runbook on one simulated appliance: every hop's steps in the runbook's
    order, with the runbook's own commands; 0 when the night went as the runbook says.

    ``bundle="fail"`` makes the (test) bundle fail: the rehearsal then walks the backout.
    """
    check_simulator_available()
    if not plan.hops:
        raise RehearsalUnavailable(f"{plan.appliance.name}: nothing to upgrade")
    manifests = [{k: v for k, v in hop.agent.manifest if k != "self_sha256"} for hop in plan.hops]
    for manifest in manifests:
        _check_paths(manifest)
    name = plan.appliance.name
    with tempfile.TemporaryDirectory(prefix="umrunbook-rehearse-") as tmp:
        spec = replace(
            spec_for(manifests[0]),
            upload_dir="",
            ssh_enabled=False,
            ssh_running=False,  # before the window: the runbook turns SSH on
            bundle=bundle,
        )
        app = SimulatedAppliance.create(Path(tmp) / "appliance", spec)
        night = _Night(app, out, Path(tmp) / "workstation")
        night.say(
            f"Rehearsal of {name}: the runbook's steps and commands, in its order, on a "
            f"simulated appliance ({len(plan.hops)} upgrade(s), change {plan.change.ticket})."
        )
        for hop, manifest in zip(plan.hops, manifests, strict=True):
            test = spec_for(manifest)
            app.set_spec(
                target_version=test.target_version,
                swap=test.swap,
                version_visible=test.version_visible,
            )
            night.iso = None
            for step in hop.steps:
                night.say()
                night.say(f"=== {hop.target_version.short}: step {step.number}: {step.title}")
                code = _step(night, hop, step, manifest)
                night.say(f"(exit {code})")
                if code != 0 and not (app.root / "snapshot").is_dir():
                    night.say()
                    night.say(
                        f"REHEARSAL STOPPED at step {step.number} ({step.title}, exit {code}), "
                        "before the snapshot: nothing to back out."
                    )
                    return code if code > 0 else 1
                if code != 0:
                    night.say()
                    night.say(
                        f"UPGRADE FAILED at step {step.number} ({step.title}, exit {code}): "
                        "the backout plan follows."
                    )
                    _backout(night, hop)
                    night.say()
                    evidence = sorted(p.name for p in night.fetched.glob("evidence-*.json"))
                    night.say(
                        f"REHEARSAL STOPPED at step {step.number} of the upgrade to "
                        f"{hop.target_version.short}; the backout was walked; evidence fetched "
                        f"before the revert: {', '.join(evidence) or 'none'}."
                    )
                    return code if code > 0 else 1
        enabled, running = app.sshd_state()
        if enabled or running:
            night.say()
            night.say(
                f"REHEARSAL FAILED: the runbook leaves SSH on (enabled {enabled}, running "
                f"{running}); it was off before the window."
            )
            return 1
        night.say()
        night.say(f"REHEARSAL PASSED: {name} went through every step as the runbook lists it.")
        return 0
