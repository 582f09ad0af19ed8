"""A simulated Usage Meter appliance, for tests and for the operator's rehearsal.

The appliance is a folder tree built from a few parameters (:class:`ApplianceSpec`). Commands run
as root at the appliance's real paths inside a private mount and UTS namespace
(``unshare -m -u``): the tree is bound over ``/opt/vmware``, ``/var/lib/um-upgrade-agent`` and
``/proc/sys/kernel/random/boot_id``, shims are bound over ``service``, ``systemctl``, ``reboot``
and ``hostname``, and the host name is set in the namespace. Nothing outside it is touched.

A reboot in the simulation: the ``reboot`` shim only records the request; :meth:`reboot` then
does what the appliance's reboot would (completes a pending folder swap, a new boot id, the
services start fast or slowly), before the next command.

An ISO hop (4.4 and later): :meth:`SimulatedAppliance.put_iso_bundle` writes a test ISO, its
SHA-1 manifest, a self-signed certificate and the ISO's signature (made with ``openssl``) into
the upload folder (``ApplianceSpec.upload_dir``, bound at its real path), and "mounts" the ISO
at ``/root/upgrade``; :meth:`SimulatedAppliance.run_iso_script` then plays the operator who runs
``bash /root/upgrade/upgrade-um.sh`` and answers its questions.

A 9.x appliance (VCF Usage Meter), as the sources describe it: the ISO comes alone with its
SHA-256 (:meth:`put_iso_bundle` with the ISO's name only; ``companions`` adds a .mf, .crt and
.sign where a test wants them), and its ``upgrade-um.sh`` asks, in IBM's order, for the access
token (from 4.x only), to join the provider organization, whether a snapshot was taken, possibly
about the host name, and to restart. No source mentions ``scripts/status.sh`` for 9.x, so a 9.x
installation has none unless ``ApplianceSpec.vcf_status_script`` says otherwise. The prompts'
wording here is the simulator's own: the real wording is not confirmed by any source.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Literal

__all__ = [
    "AGENT_PATH",
    "BACKUP_DIR",
    "BUNDLE_FILE",
    "CDROM_MOUNT",
    "INSTALL_DIR",
    "STATE_DIR",
    "ApplianceSpec",
    "BundleBehaviour",
    "IsoBundle",
    "SimulatedAppliance",
    "SimulatorUnavailable",
    "check_simulator_available",
    "fake_bundle",
    "fake_iso",
    "fake_iso_script",
    "openssl_keypair",
    "sign_file",
]

INSTALL_DIR = "/opt/vmware/cloudusagemetering"
BACKUP_DIR = "/opt/vmware/cloudusagemetering-old"
STATE_DIR = "/var/lib/um-upgrade-agent"
AGENT_PATH = f"{INSTALL_DIR}/um-upgrade-agent.sh"
BUNDLE_FILE = "ums-system-upgrade.shar"
CDROM_MOUNT = "/root/upgrade"  # where the vendor's commands mount the ISO
ISO_ROLES = ("iso", "manifest", "certificate", "signature")

Layout = Literal["plain", "headers", "colour", "other"]
ServicesBefore = Literal["running", "offline"]
ServicesAfter = Literal["running", "offline", "slow"]
BundleBehaviour = Literal["ok", "fail", "powercut"]
SwapTiming = Literal["reboot", "bundle-end"]

_SHIMS = (
    "service",
    "systemctl",
    "reboot",
    "shutdown",
    "halt",
    "poweroff",
    "hostname",
    "mount",
    "umount",
    "tdnf",
    "mountpoint",
    "chage",
    "pam_tally2",
)


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
    upload_dir: str = ""  # an ISO hop's upload folder, e.g. /root/um-upgrade-4.7 ("" = install)
    ssh_enabled: bool = False  # sshd enabled at boot
    ssh_running: bool = True  # sshd running (the runbook's SSH step has run)
    tdnf_version: str = "3.1.8"  # Photon OS's package tool (1.2.3 on appliances from 4.1)
    # A 9.x installation keeps scripts/status.sh (no source says it does; by default it has none).
    vcf_status_script: bool = False
    hostname_warning: bool = False  # a 9.x upgrade-um.sh warns about the host name
    # What `chage -l root` says after "Password expires": "never", a date ("Jan 01, 2026"), or
    # "password must be changed" (as chage prints an expired password).
    root_password_expires: str = "never"
    # The lines of /etc/sysconfig/proxy (none: the appliance has no such file).
    proxy_lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IsoBundle:
    """The four files of a test ISO bundle (paths on this machine) and the signing key."""

    iso: Path
    manifest: Path
    certificate: Path
    signature: Path
    key: Path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.iso.read_bytes()).hexdigest()


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def _data(name: str) -> str:
    return (resources.files(__name__) / name).read_text(encoding="utf-8")


def fake_bundle(target_version: str = "4.3.0.0", build: str = "21000000") -> bytes:
    """The fake ``ums-system-upgrade.shar`` (a bash script) for a target version and build."""
    text = _data("bundle.sh")
    text = text.replace("@TARGET_VERSION@", target_version).replace("@BUILD@", build)
    return text.encode("utf-8")


def fake_iso_script(target_version: str = "4.7.0.0", build: str = "22000000") -> bytes:
    """The fake ``upgrade-um.sh`` on the test ISO (a bash script) for a target and build."""
    text = _data("upgrade-um.sh")
    text = text.replace("@TARGET_VERSION@", target_version).replace("@BUILD@", build)
    return text.encode("utf-8")


def fake_iso(target_version: str = "4.7.0.0", build: str = "22000000") -> bytes:
    """The bytes of the test ISO :meth:`SimulatedAppliance.put_iso_bundle` writes: its SHA-256
    is known before the appliance exists, as an inventory knows the published one."""
    return b"UM-SIM-ISO9660 " + build.encode() + b"\n" + fake_iso_script(target_version, build)


def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SimulatorUnavailable(
            "a test ISO bundle needs 'openssl' on this machine (its certificate and signature): "
            "install it (apt-get install openssl / dnf install openssl)"
        )
    result = subprocess.run([openssl, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def openssl_keypair(key: Path, certificate: Path, subject: str = "/CN=Test ISO signer") -> None:
    """A new RSA key and a self-signed certificate for it (``openssl req -x509``)."""
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30",
        "-subj", subject, "-keyout", str(key), "-out", str(certificate),
    )  # fmt: skip


def sign_file(key: Path, path: Path, signature: Path) -> None:
    """The file's signature as the vendor makes it (``openssl dgst -sha1 -sign``)."""
    _openssl("dgst", "-sha1", "-sign", str(key), "-out", str(signature), str(path))


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
    def upload_path(self) -> Path:
        """The upload folder on this machine (the install folder for a .shar hop)."""
        if self.spec.upload_dir.rstrip("/") in ("", INSTALL_DIR):
            return self.install_dir
        return self.root / "upload"

    @property
    def cdrom(self) -> Path:
        """The mounted ISO's content on this machine (at /root/upgrade in the appliance)."""
        return self.root / "cdrom"

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
        upload = spec.upload_dir.rstrip("/")
        if upload not in ("", INSTALL_DIR) and (
            not upload.startswith("/")
            or any(
                upload == top or upload.startswith(top + "/")
                for top in ("/opt/vmware", STATE_DIR, "/proc", CDROM_MOUNT)
            )
        ):
            raise ValueError(
                f"upload_dir {spec.upload_dir!r}: the simulator binds an upload folder outside "
                f"/opt/vmware, {STATE_DIR} and {CDROM_MOUNT} (e.g. /root/um-upgrade-4.7)"
            )
        for folder in (self.install_dir, self.state_dir, self.sim_dir, self.root / "bin"):
            folder.mkdir(parents=True, exist_ok=True)
        self.upload_path.mkdir(parents=True, exist_ok=True)
        (self.root / "home-root").mkdir(exist_ok=True)
        (self.root / "home-root").chmod(0o700)
        (self.root / "cdrom-drive").write_bytes(b"")  # the CD/DVD drive: no disc
        self.cdrom.mkdir(exist_ok=True)  # /root/upgrade, where the ISO is mounted
        os.chmod(self.root, 0o755)
        os.chmod(self.vmware, 0o755)
        self._write_spec()
        self._write_installation(self.install_dir, spec.version, spec.version_visible)
        if _major(spec.version) >= 9 and not spec.vcf_status_script:
            (self.install_dir / "scripts" / "status.sh").unlink()
        if spec.old_backup:
            self._write_installation(self.backup_dir, "4.1.0.0-9000", spec.version_visible)
        self.bundle_path.write_bytes(fake_bundle(spec.target_version, spec.build))
        self._set_services(spec.services_before)
        for unit, on in (("sshd-enabled", spec.ssh_enabled), ("sshd-running", spec.ssh_running)):
            (self.sim_dir / unit).write_text("yes\n" if on else "no\n", encoding="ascii")
        (self.root / "boot_id").write_text(f"{uuid.uuid4()}\n", encoding="ascii")
        self._write_etc()
        shim = _data("shim.sh")
        for name in _SHIMS:
            path = self.root / "bin" / name
            path.write_text(shim, encoding="utf-8")
            path.chmod(0o755)
        ns_run = self.sim_dir / "ns-run.sh"
        ns_run.write_text(_data("ns-run.sh"), encoding="utf-8")

    #: The appliance's public host keys (/etc/ssh/ssh_host_*_key.pub): test keys, the ed25519
    #: one the example inventory's um-ams-01 pins.
    HOST_KEYS: Mapping[str, str] = {
        "ed25519": "ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAICNP8KqokjuNoiuoVu5vMer+SR0pzsOgcK8FNRL1b/1Y root@um-ams-01",
        "ecdsa": "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJBTTF"
        "WjIFDo7rvmc1HLkQtOQbyhwr23i5ht0j4WhHO8v6szq6wsxUxVhNCG90wlLDunGs4HbyFySlo2J0wzilI= "
        "root@um-ams-01",
    }

    def _write_etc(self) -> None:
        """/etc/ssh's public host keys and /etc/sysconfig/proxy (bound over the real ones)."""
        ssh = self.root / "etc-ssh"
        ssh.mkdir(parents=True, exist_ok=True)
        for kind, line in self.HOST_KEYS.items():
            (ssh / f"ssh_host_{kind}_key.pub").write_text(line + "\n", encoding="ascii")
        sysconfig = self.root / "etc-sysconfig"
        sysconfig.mkdir(parents=True, exist_ok=True)
        if self.spec.proxy_lines:
            (sysconfig / "proxy").write_text(
                "".join(f"{line}\n" for line in self.spec.proxy_lines), encoding="utf-8"
            )

    def _write_spec(self) -> None:
        """The behaviour, for the appliance's scripts (sim/spec.env, key=value)."""
        spec_lines = {k: str(v) for k, v in asdict(self.spec).items()}
        spec_lines["version_visible"] = "yes" if self.spec.version_visible else "no"
        (self.sim_dir / "spec.env").write_text(
            "".join(f"{k}={v}\n" for k, v in spec_lines.items()), encoding="utf-8"
        )

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

    def move_upload_dir(self, upload_dir: str) -> None:
        """The next hop of a route uploads into its own folder (/root/um-upgrade-9.1): the
        folder is bound there from the next command on, empty."""
        if self.upload_path == self.install_dir or upload_dir.rstrip("/") in ("", INSTALL_DIR):
            raise ValueError("move_upload_dir: from one ISO hop's upload folder to the next one's")
        self.spec = replace(self.spec, upload_dir=upload_dir)
        self._write_spec()
        shutil.rmtree(self.upload_path)
        self.upload_path.mkdir()
        if self.cdrom.exists():
            shutil.rmtree(self.cdrom)

    def put_agent(self, text: str | bytes, where: str = "install") -> Path:
        """Places the agent file as the operator would upload it (bytes are kept as given).

        ``where``: ``install`` (the install folder), ``upload`` (the upload folder) or ``state``.
        """
        data = text.encode("utf-8") if isinstance(text, str) else text
        folders = {"install": self.install_dir, "upload": self.upload_path}
        folder = folders.get(where, self.state_dir)
        path = folder / "um-upgrade-agent.sh"
        path.write_bytes(data)
        path.chmod(0o644)
        return path

    def put_iso_bundle(
        self,
        names: Mapping[str, str],
        *,
        target_version: str = "4.7.0.0",
        build: str = "22000000",
        companions: Literal["", "sha1", "sha256"] = "",
    ) -> IsoBundle:
        """A test ISO bundle in the upload folder, made as the vendor makes one, and "mounted".

        ``names`` gives the file name per role (iso, manifest, certificate, signature). The ISO
        holds the fake ``upgrade-um.sh`` (any bytes would do for the checks); the manifest is in
        ``sha1sum`` format; the certificate is self-signed; the key stays in the simulator's
        folder. The ISO's content is also placed where ``/root/upgrade`` shows it.

        A 9.x ISO comes alone: ``names`` gives the ISO only, and ``companions`` (``sha1`` or
        ``sha256``: the .mf's checksum) writes a .mf, .crt and .sign named after it.
        """
        if self.upload_path == self.install_dir:
            raise ValueError("put_iso_bundle: the appliance's spec has no upload_dir")
        bundle = self.put_iso_files(
            self.upload_path,
            names,
            target_version=target_version,
            build=build,
            companions=companions,
        )
        self.cdrom.mkdir(exist_ok=True)
        (self.cdrom / "upgrade-um.sh").write_bytes(fake_iso_script(target_version, build))
        return bundle

    def put_iso_files(
        self,
        folder: Path,
        names: Mapping[str, str],
        *,
        target_version: str = "4.7.0.0",
        build: str = "22000000",
        companions: Literal["", "sha1", "sha256"] = "",
    ) -> IsoBundle:
        """The files of a test ISO bundle in ``folder`` (on this machine), nothing else."""
        names = {role: name for role, name in names.items() if name}  # "": not in the bundle
        alone = False
        if set(names) == {"iso"}:
            stem = names["iso"].removesuffix(".iso")
            if companions:
                names |= {
                    "manifest": f"{stem}.mf",
                    "certificate": f"{stem}.crt",
                    "signature": f"{stem}.sign",
                }
            alone = not companions
        missing = [role for role in ISO_ROLES if not names.get(role) and not alone]
        if missing:
            raise ValueError(f"put_iso_files: no name for {', '.join(missing)}")
        folder.mkdir(parents=True, exist_ok=True)
        stem = names["iso"].removesuffix(".iso")
        bundle = IsoBundle(
            iso=folder / names["iso"],
            manifest=folder / names.get("manifest", f"{stem}.mf"),
            certificate=folder / names.get("certificate", f"{stem}.crt"),
            signature=folder / names.get("signature", f"{stem}.sign"),
            key=self.sim_dir / "iso-signing.key",
        )
        bundle.iso.write_bytes(fake_iso(target_version, build))
        if not alone:
            data = bundle.iso.read_bytes()
            if companions == "sha256":
                digest = hashlib.sha256(data).hexdigest()
            else:
                digest = hashlib.sha1(data).hexdigest()
            bundle.manifest.write_text(f"{digest}  {names['iso']}\n", encoding="ascii")
            openssl_keypair(bundle.key, bundle.certificate)
            sign_file(bundle.key, bundle.iso, bundle.signature)
        return bundle

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
        path: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Runs ``bash um-upgrade-agent.sh ARGS`` from the install folder or the state copy.

        ``path`` runs the agent at another path inside the appliance (e.g. the upload folder).
        """
        if path is None:
            path = f"{STATE_DIR}/um-upgrade-agent.sh" if from_state else AGENT_PATH
        return self.run(
            ["bash", path, *args], timeout=timeout, stdin=stdin, input_text=input_text, env=env
        )

    def run_iso_script(
        self, answers: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """The operator runs ``bash /root/upgrade/upgrade-um.sh`` and types ``answers``.

        The default answers: y to each question the script asks (a snapshot was taken, restart
        now; for 9.x also the provider organization and the host name), and for 4.x -> 9.x a
        test access token first.
        """
        if not (self.cdrom / "upgrade-um.sh").exists():
            raise FileNotFoundError("no ISO is mounted: call put_iso_bundle first")
        if answers is None:
            answers = self.default_iso_answers()
        return self.run(
            ["bash", f"{CDROM_MOUNT}/upgrade-um.sh"], input_text=answers, timeout=timeout
        )

    def installed_version(self) -> str:
        """The version installed now: the spec's, or the last simulated ISO upgrade's."""
        path = self.sim_dir / "installed"
        if path.exists():
            return path.read_text(encoding="ascii").strip()
        return self.spec.version

    def default_iso_answers(self, token: str = "UMA-test-token-0000") -> str:
        text = (self.cdrom / "upgrade-um.sh").read_text(encoding="utf-8")
        target = next(
            line.split('"')[1]
            for line in text.splitlines()
            if line.startswith("readonly TARGET_VERSION=")
        )
        if _major(target) < 9:
            return "y\ny\n"
        answers = [token] if _major(self.installed_version()) < 9 else []
        answers += ["y", "y"] + (["y"] if self.spec.hostname_warning else []) + ["y"]
        return "".join(f"{a}\n" for a in answers)

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
        if (self.sim_dir / "mounted").exists():  # a reboot unmounts the ISO
            (self.sim_dir / "mounted").unlink()
            (self.cdrom / "upgrade-um.sh").unlink(missing_ok=True)

    # --- what the operator does outside the appliance (vCenter, the upload) ----------------

    def host_path(self, path: str) -> Path:
        """Where a path of the appliance is on this machine (its folders the simulator binds)."""
        binds = [
            (INSTALL_DIR.rsplit("/", 1)[0], self.vmware),
            (STATE_DIR, self.state_dir),
        ]
        upload = self.spec.upload_dir.rstrip("/")
        if upload and self.upload_path != self.install_dir:
            binds.append((upload, self.upload_path))
        binds.append((CDROM_MOUNT, self.cdrom))
        binds.append(("/root", self.root / "home-root"))
        for prefix, folder in binds:
            if path == prefix or path.startswith(prefix + "/"):
                return folder / path[len(prefix) :].lstrip("/")
        raise ValueError(f"{path}: not a folder the simulated appliance has")

    def set_spec(self, **changes: object) -> None:
        """Changes the appliance's behaviour from now on (e.g. the next hop's bundle)."""
        self.spec = replace(self.spec, **changes)  # type: ignore[arg-type]
        spec_lines = {k: str(v) for k, v in asdict(self.spec).items()}
        spec_lines["version_visible"] = "yes" if self.spec.version_visible else "no"
        (self.sim_dir / "spec.env").write_text(
            "".join(f"{k}={v}\n" for k, v in spec_lines.items()), encoding="utf-8"
        )

    def put_shar_bundle(self, target_version: str, build: str = "21000000") -> str:
        """A new hop's fake bundle in the install folder; its SHA-256."""
        (self.sim_dir / "upgraded").unlink(missing_ok=True)
        self.bundle_path.write_bytes(fake_bundle(target_version, build))
        return self.bundle_sha256

    def attach_disc(self, iso: Path | None) -> None:
        """vCenter: the VM's CD/DVD drive holds this ISO (None: no disc)."""
        (self.root / "cdrom-drive").write_bytes(iso.read_bytes() if iso is not None else b"")

    _SNAPSHOT_PARTS = ("vmware", "state", "home-root", "upload", "boot_id", "cdrom-drive")

    def take_snapshot(self) -> None:
        """vCenter: a snapshot of the VM (its disks: everything but the simulator's own)."""
        snap = self.root / "snapshot"
        if snap.exists():
            shutil.rmtree(snap)
        snap.mkdir()
        for part in self._SNAPSHOT_PARTS:
            source = self.root / part
            if source.is_dir():
                shutil.copytree(source, snap / part, symlinks=True)
            elif source.exists():
                shutil.copy2(source, snap / part)
        shutil.copy2(self.sim_dir / "services", snap / "services")
        for unit in ("sshd-enabled", "sshd-running"):
            shutil.copy2(self.sim_dir / unit, snap / unit)

    def revert_snapshot(self) -> None:
        """vCenter: revert the VM to the snapshot and power it on (a new boot)."""
        snap = self.root / "snapshot"
        if not snap.is_dir():
            raise FileNotFoundError("no snapshot was taken")
        for part in self._SNAPSHOT_PARTS:
            target, source = self.root / part, snap / part
            if target.is_dir():
                # the folders stay (they are bind mount points); their content is replaced
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
                if source.is_dir():
                    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
            elif source.exists():
                shutil.copy2(source, target)
        for unit in ("sshd-enabled", "sshd-running"):
            shutil.copy2(snap / unit, self.sim_dir / unit)
        for marker in ("upgraded", "pending-swap", "reboot-requested", "mounted"):
            (self.sim_dir / marker).unlink(missing_ok=True)
        if (self.sim_dir / "staged").exists():
            shutil.rmtree(self.sim_dir / "staged")
        self.reboot()
        self._set_services((snap / "services").read_text(encoding="ascii").strip())

    # --- looking at it --------------------------------------------------------------------

    def sshd_state(self) -> tuple[bool, bool]:
        """sshd's state now: (enabled, running)."""
        return tuple(  # type: ignore[return-value]
            (self.sim_dir / unit).read_text(encoding="ascii").strip() == "yes"
            for unit in ("sshd-enabled", "sshd-running")
        )

    def set_sshd(self, *, enabled: bool, running: bool) -> None:
        """What 9.x's management interface does with "Enable SSH login" ticked or cleared."""
        for unit, on in (("sshd-enabled", enabled), ("sshd-running", running)):
            (self.sim_dir / unit).write_text("yes\n" if on else "no\n", encoding="ascii")

    def service_log(self) -> list[str]:
        path = self.sim_dir / "service.log"
        if not path.exists():
            return []
        return path.read_text(encoding="utf-8").splitlines()

    def tree_listing(self) -> dict[str, str]:
        """Every path under the appliance's folders with its type, mode and content hash."""
        listing: dict[str, str] = {}
        tops = [self.vmware, self.state_dir, self.sim_dir, self.root / "boot_id"]
        tops += [self.root / "etc-ssh", self.root / "etc-sysconfig"]
        if self.upload_path != self.install_dir:
            tops.append(self.upload_path)
        for top in tops:
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
