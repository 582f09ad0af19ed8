"""A simulated Usage Meter appliance, for tests and for the operator's rehearsal.

The appliance is a folder tree built from a few parameters (:class:`ApplianceSpec`). Commands run
as root at the appliance's real paths inside a private mount and UTS namespace
(``unshare -m -u``): the tree is bound over ``/opt/vmware``, ``/var/lib/um-upgrade-agent`` and
``/proc/sys/kernel/random/boot_id``, shims are bound over ``service``, ``systemctl``, ``reboot``
and ``hostname``, and the host name is set in the namespace. Nothing outside it is touched.

A reboot in the simulation: the ``reboot`` shim only records the request; :meth:`reboot` then
does what the appliance's reboot would (completes a pending folder swap, a new boot id, the
services start fast or slowly), before the next command.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

__all__ = [
    "AGENT_PATH",
    "BACKUP_DIR",
    "INSTALL_DIR",
    "STATE_DIR",
    "ApplianceSpec",
    "SimulatedAppliance",
    "SimulatorUnavailable",
    "check_simulator_available",
    "fake_bundle",
]

INSTALL_DIR = "/opt/vmware/cloudusagemetering"
BACKUP_DIR = "/opt/vmware/cloudusagemetering-old"
STATE_DIR = "/var/lib/um-upgrade-agent"
AGENT_PATH = f"{INSTALL_DIR}/um-upgrade-agent.sh"
BUNDLE_FILE = "ums-system-upgrade.shar"

Layout = Literal["plain", "headers", "colour", "other"]
ServicesBefore = Literal["running", "offline"]
ServicesAfter = Literal["running", "offline", "slow"]
BundleBehaviour = Literal["ok", "fail", "powercut"]
SwapTiming = Literal["reboot", "bundle-end"]

_SHIMS = ("service", "systemctl", "reboot", "shutdown", "halt", "poweroff", "hostname")


class SimulatorUnavailable(RuntimeError):
    """The simulation cannot run on this machine (the message says why and what to do)."""


@dataclass(frozen=True, slots=True)
class ApplianceSpec:
    """What the simulated appliance is and how it behaves."""

    hostname: str = "um-ams-01"
    fqdn: str = "um-ams-01.corp.example"
    version: str = "4.2.0.0-12345"  # installed before the upgrade
    target_version: str = "4.3.0.0"  # what the fake bundle installs
    build: str = "21000000"
    version_visible: bool = True  # platform/conf/env.properties names the version
    layout: Layout = "plain"  # how scripts/status.sh prints
    services_before: ServicesBefore = "running"
    services_after: ServicesAfter = "running"  # after the upgrade completes
    slow_polls: int = 3  # services_after=slow: polls that still show "not running"
    bundle: BundleBehaviour = "ok"
    swap: SwapTiming = "reboot"  # 4.3: at the reboot; 4.2: when the bundle ends
    old_backup: bool = False  # an earlier upgrade's cloudusagemetering-old exists
    bundle_file: str = BUNDLE_FILE  # the fake bundle's name in the install folder


def _data(name: str) -> str:
    return (resources.files(__name__) / name).read_text(encoding="utf-8")


def fake_bundle(target_version: str = "4.3.0.0", build: str = "21000000") -> bytes:
    """The fake ``ums-system-upgrade.shar`` (a bash script) for a target version and build."""
    text = _data("bundle.sh")
    text = text.replace("@TARGET_VERSION@", target_version).replace("@BUILD@", build)
    return text.encode("utf-8")


def check_simulator_available() -> None:
    """Raise :class:`SimulatorUnavailable` unless this machine can run the simulation."""
    if not sys.platform.startswith("linux"):
        raise SimulatorUnavailable(
            f"the simulated appliance needs Linux (this is {sys.platform}): "
            "rehearse on a Linux workstation or VM"
        )
    if os.geteuid() != 0:
        raise SimulatorUnavailable(
            "the simulated appliance needs root (it mounts the appliance's paths in a private "
            "namespace, nothing outside it changes): run it again with sudo"
        )
    if shutil.which("unshare") is None:
        raise SimulatorUnavailable(
            "the simulated appliance needs 'unshare' (util-linux): install it "
            "(apt-get install util-linux / dnf install util-linux) and run it again"
        )
    boot_id = "/proc/sys/kernel/random/boot_id"
    probe = subprocess.run(
        [
            "unshare",
            "-m",
            "-u",
            "sh",
            "-c",
            f"mount --make-rprivate / && mount --bind {boot_id} {boot_id}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        raise SimulatorUnavailable(
            "'unshare -m -u' with bind mounts does not work here "
            f"({probe.stderr.strip() or 'exit ' + str(probe.returncode)}): in a container, "
            "run it with CAP_SYS_ADMIN (e.g. docker run --privileged), or on a Linux VM"
        )


class SimulatedAppliance:
    """A simulated appliance in ``root`` (an empty or missing folder)."""

    def __init__(self, root: Path, spec: ApplianceSpec | None = None) -> None:
        self.root = Path(root).resolve()
        self.spec = spec if spec is not None else ApplianceSpec()

    # --- paths on this machine ------------------------------------------------------------

    @property
    def vmware(self) -> Path:
        return self.root / "vmware"

    @property
    def install_dir(self) -> Path:
        return self.vmware / "cloudusagemetering"

    @property
    def backup_dir(self) -> Path:
        return self.vmware / "cloudusagemetering-old"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def sim_dir(self) -> Path:
        return self.root / "sim"

    @property
    def bundle_path(self) -> Path:
        return self.install_dir / self.spec.bundle_file

    @property
    def bundle_sha256(self) -> str:
        return hashlib.sha256(self.bundle_path.read_bytes()).hexdigest()

    # --- building -------------------------------------------------------------------------

    @classmethod
    def create(cls, root: Path, spec: ApplianceSpec | None = None) -> SimulatedAppliance:
        appliance = cls(root, spec)
        appliance.build()
        return appliance

    def build(self) -> None:
        """Writes the appliance tree: installation, bundle, shims, boot id, behaviour."""
        spec = self.spec
        if self.root.exists() and any(self.root.iterdir()):
            raise FileExistsError(f"{self.root} is not empty: give the simulator a new folder")
        for folder in (self.install_dir, self.state_dir, self.sim_dir, self.root / "bin"):
            folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        os.chmod(self.vmware, 0o755)
        spec_lines = {k: str(v) for k, v in asdict(spec).items()}
        spec_lines["version_visible"] = "yes" if spec.version_visible else "no"
        (self.sim_dir / "spec.env").write_text(
            "".join(f"{k}={v}\n" for k, v in spec_lines.items()), encoding="utf-8"
        )
        self._write_installation(self.install_dir, spec.version, spec.version_visible)
        if spec.old_backup:
            self._write_installation(self.backup_dir, "4.1.0.0-9000", spec.version_visible)
        self.bundle_path.write_bytes(fake_bundle(spec.target_version, spec.build))
        self._set_services(spec.services_before)
        (self.root / "boot_id").write_text(f"{uuid.uuid4()}\n", encoding="ascii")
        shim = _data("shim.sh")
        for name in _SHIMS:
            path = self.root / "bin" / name
            path.write_text(shim, encoding="utf-8")
            path.chmod(0o755)
        ns_run = self.sim_dir / "ns-run.sh"
        ns_run.write_text(_data("ns-run.sh"), encoding="utf-8")

    def _write_installation(self, folder: Path, version: str, visible: bool) -> None:
        (folder / "scripts").mkdir(parents=True, exist_ok=True)
        (folder / "platform" / "conf").mkdir(parents=True, exist_ok=True)
        (folder / "var" / "logs").mkdir(parents=True, exist_ok=True)
        status = folder / "scripts" / "status.sh"
        status.write_text(_data("status.sh"), encoding="utf-8")
        status.chmod(0o755)
        props = ["# Usage Meter platform settings", "java.version=11.0.20"]
        if visible:
            props.append(f"version={version}")
        props.append("um.db.host=localhost")
        (folder / "platform" / "conf" / "env.properties").write_text(
            "\n".join(props) + "\n", encoding="utf-8"
        )
        (folder / "var" / "logs" / "usagemeter.log").write_text("started\n", encoding="utf-8")

    def _set_services(self, mode: str) -> None:
        if mode == "slow":
            mode = f"slow:{self.spec.slow_polls}"
        (self.sim_dir / "services").write_text(f"{mode}\n", encoding="ascii")
        (self.sim_dir / "polls").write_text("0\n", encoding="ascii")

    def put_agent(self, text: str | bytes, where: str = "install") -> Path:
        """Places the agent file as the operator would upload it (bytes are kept as given)."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        folder = self.install_dir if where == "install" else self.state_dir
        path = folder / "um-upgrade-agent.sh"
        path.write_bytes(data)
        path.chmod(0o644)
        return path

    # --- running --------------------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 120,
        stdin: int | None = subprocess.DEVNULL,
        input_text: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Runs a command as root inside the simulated appliance; its output is captured.

        A reboot that the previous command asked for happens first.
        """
        if self.reboot_requested:
            self.reboot()
        run_env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "TERM": "dumb",
        }
        if env:
            run_env.update(env)
        command = ["unshare", "-m", "-u", "bash", str(self.sim_dir / "ns-run.sh"), str(self.root)]
        command += ["--", *argv]
        return subprocess.run(
            command,
            stdin=None if input_text is not None else stdin,
            input=input_text,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=run_env,
            start_new_session=True,
            check=False,
        )

    def agent(
        self,
        *args: str,
        from_state: bool = False,
        timeout: float = 120,
        stdin: int | None = subprocess.DEVNULL,
        input_text: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Runs ``bash um-upgrade-agent.sh ARGS`` from the install folder or the state copy."""
        path = f"{STATE_DIR}/um-upgrade-agent.sh" if from_state else AGENT_PATH
        return self.run(
            ["bash", path, *args], timeout=timeout, stdin=stdin, input_text=input_text, env=env
        )

    # --- the reboot -----------------------------------------------------------------------

    @property
    def reboot_requested(self) -> bool:
        return (self.sim_dir / "reboot-requested").exists()

    def reboot(self) -> None:
        """What the appliance's reboot does: completes a pending swap, new boot id, services."""
        pending = self.sim_dir / "pending-swap"
        if pending.exists():
            if self.backup_dir.exists():
                shutil.rmtree(self.backup_dir)
            self.install_dir.rename(self.backup_dir)
            (self.sim_dir / "staged").rename(self.install_dir)
            pending.unlink()
        if (self.sim_dir / "upgraded").exists():
            self._set_services(self.spec.services_after)
        else:
            mode = (self.sim_dir / "services").read_text(encoding="ascii").strip()
            self._set_services("running" if mode == "stopped" else mode)
        with open(self.root / "boot_id", "w", encoding="ascii") as handle:
            handle.write(f"{uuid.uuid4()}\n")
        (self.sim_dir / "reboot-requested").unlink(missing_ok=True)

    # --- looking at it --------------------------------------------------------------------

    def service_log(self) -> list[str]:
        path = self.sim_dir / "service.log"
        if not path.exists():
            return []
        return path.read_text(encoding="utf-8").splitlines()

    def tree_listing(self) -> dict[str, str]:
        """Every path under the appliance's folders with its type, mode and content hash."""
        listing: dict[str, str] = {}
        for top in (self.vmware, self.state_dir, self.sim_dir, self.root / "boot_id"):
            paths = [top, *sorted(top.rglob("*"))] if top.is_dir() else [top]
            for path in paths:
                if not path.exists() and not path.is_symlink():
                    continue
                rel = str(path.relative_to(self.root))
                st = path.lstat()
                if path.is_symlink():
                    listing[rel] = f"link {os.readlink(path)}"
                elif path.is_dir():
                    listing[rel] = f"dir {oct(st.st_mode)}"
                else:
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                    listing[rel] = f"file {oct(st.st_mode)} {digest} {st.st_mtime_ns}"
        return listing
