"""A rehearsal: one appliance's agent walked through the procedure on a simulated appliance.

The rehearsal builds a simulated appliance in a temporary folder, with a fake bundle. Since the
fake bundle is not the vendor's, the rehearsal rebuilds the agent from the same manifest with
``bundle_sha256`` set to the fake bundle's hash (and says so). Then, as the operator would:
preflight, upgrade --yes, the reboot (where the procedure has one), verify, report.

For an ISO hop the fake bundle is a test ISO with its manifest, a self-signed certificate and
the signature (made with ``openssl``), uploaded where the runbook uploads them; after upgrade
the rehearsal plays the operator who runs the vendor's ``upgrade-um.sh`` (which restarts the
appliance), then verify --keep-ssh and report.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from umrunbook.planning.agent_file import AGENT_FILE_NAME, build_agent
from umrunbook.rehearsal.simulator import (
    AGENT_PATH,
    BACKUP_DIR,
    BUNDLE_FILE,
    CDROM_MOUNT,
    INSTALL_DIR,
    STATE_DIR,
    ApplianceSpec,
    SimulatedAppliance,
    SimulatorUnavailable,
    check_simulator_available,
)

__all__ = ["RehearsalUnavailable", "rehearse", "spec_for"]

#: Raised when this machine cannot run the rehearsal (the message says why and what to do).
RehearsalUnavailable = SimulatorUnavailable

_STATE_AGENT = f"{STATE_DIR}/um-upgrade-agent.sh"


def iso_operator_commands(manifest: Mapping[str, str]) -> tuple[str, ...]:
    """The runbook's commands for the vendor's script: the checked, uploaded ISO loop-mounted."""
    iso = f"{manifest['upload_dir'].rstrip('/')}/{manifest['iso_file']}"
    return (
        f"mkdir -p {CDROM_MOUNT}",
        f"mount -o loop {shlex.quote(iso)} {CDROM_MOUNT}",
        f"bash {CDROM_MOUNT}/upgrade-um.sh",
    )


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


def rehearse(agent_manifest: Mapping[str, str], out: TextIO) -> int:
    """Walks the agent through the procedure on a simulated appliance; returns the exit code.

    0 when every step went as the runbook says, else the exit code of the step that stopped it.
    Raises :class:`RehearsalUnavailable` (a ``RuntimeError``) when this machine cannot run it
    (not Linux, not root, no ``unshare``) or the manifest's paths are not the appliance's.
    """
    check_simulator_available()
    _check_paths(agent_manifest)
    manifest = {k: v for k, v in agent_manifest.items() if k != "self_sha256"}
    name = manifest["appliance"]

    def say(text: str = "") -> None:
        out.write(text + "\n")
        out.flush()

    iso = manifest.get("delivery") == "iso"
    with tempfile.TemporaryDirectory(prefix="umrunbook-rehearse-") as tmp:
        try:
            app = SimulatedAppliance.create(Path(tmp) / "appliance", spec_for(manifest))
        except ValueError as error:
            raise RehearsalUnavailable(str(error)) from None
        if iso:
            fake = app.put_iso_bundle(
                _iso_names(manifest), target_version=_four_parts(manifest["target"])
            ).sha256
        else:
            fake = app.bundle_sha256
        say(
            f"Rehearsal of {name} ({manifest['host']}): {manifest['inventory_version']} -> "
            f"{manifest['target']}, change {manifest['ticket']}, on a simulated appliance."
        )
        if iso:
            say(f"The simulated appliance uses a test {manifest['iso_file']} (sha256 {fake})")
            say("with its manifest, a self-signed certificate and its signature, made here with")
            say("openssl; the agent is rebuilt for it (bundle_sha256 is replaced where the")
            say("inventory gives one), so this agent's file hash differs from the change")
            say("package's. Nothing on this machine outside a private mount namespace is touched.")
        else:
            say(f"The simulated appliance uses a fake {manifest['bundle_file']} (sha256 {fake});")
            package_sha = manifest["bundle_sha256"]
            say(f"the agent is rebuilt for it: bundle_sha256 {package_sha} is replaced,")
            say("so this agent's file hash differs from the change package's. Nothing on this")
            say("machine outside a private mount namespace is touched.")
        if manifest["bundle_sha256"] or not iso:
            manifest["bundle_sha256"] = fake
        agent = build_agent(manifest)
        app.put_agent(agent, where="upload" if iso else "install")
        uploaded = f"{manifest['upload_dir'].rstrip('/')}/{AGENT_FILE_NAME}" if iso else AGENT_PATH

        steps: list[tuple[str, list[str] | None]] = [
            ("preflight", ["bash", uploaded, "preflight", "--yes"]),
            ("upgrade", ["bash", uploaded, "upgrade", "--yes"]),
        ]
        if iso:
            steps.append(("the vendor's upgrade-um.sh (the operator)", None))
        elif manifest["reboot_required"] == "yes":
            steps.append(("reboot", None))
        verify = ["bash", _STATE_AGENT, "verify", "--poll-interval", "1"]
        steps += [
            ("verify", [*verify, "--keep-ssh"] if iso else verify),
            ("report", ["bash", _STATE_AGENT, "report"]),
        ]
        for number, (step, argv) in enumerate(steps, start=1):
            say()
            say(f"=== step {number}/{len(steps)}: {step}")
            if argv is None and iso:
                for line in iso_operator_commands(manifest):
                    say(f"$ {line}")
                say("(simulated: mounted; the operator answers y, y)")
                result = app.run_iso_script(timeout=900)
                out.write(result.stdout + result.stderr)
                say(f"(exit {result.returncode})")
                if result.returncode != 0:
                    say()
                    say(f"REHEARSAL STOPPED at {step} (exit {result.returncode}).")
                    return result.returncode if result.returncode > 0 else 1
                continue
            if argv is None:
                say("$ reboot")
                app.reboot()
                say("(simulated: the folder swap completed, a new boot id, services started)")
                continue
            say(f"$ {shlex.join(argv)}")
            result = app.run(argv, timeout=900)
            if result.stdout:
                out.write(result.stdout)
            if result.stderr:
                out.write(result.stderr)
            say(f"(exit {result.returncode})")
            if result.returncode != 0:
                say()
                say(
                    f"REHEARSAL STOPPED at {step} (exit {result.returncode}): the output above "
                    "says why; fix the inventory or the package and rehearse again."
                )
                return result.returncode if result.returncode > 0 else 1
        say()
        say(f"REHEARSAL PASSED: {name} went through every step as the runbook describes.")
        return 0
