"""A real OpenSSH server for the transfer tests, on this machine only.

- It listens on 127.0.0.1 (or ::1, when asked) at a free port and nowhere else.
- Every login is chrooted (``ChrootDirectory``) into a folder the test owns, so the remote path
  the scripts write to is the real ``/opt/vmware/cloudusagemetering`` (or, for an ISO upgrade,
  a new ``/root/um-upgrade-4.X``) inside that chroot, and ``internal-sftp`` is the only thing a
  login can run.
- Key logins use a key the test generates (``AuthorizedKeysFile`` points into the test's
  folder; ``/root/.ssh`` is never read or written).
- Password logins are for root, as on the appliance, with a password that exists only inside
  the server's own mount namespace: ``/etc/shadow`` is bind-mounted there over a copy holding a
  test password. The machine's real ``/etc/shadow`` and root password are never changed.

Needs root (sshd's chroot and privilege separation, the mount namespace), Debian's
openssh-server and util-linux's ``unshare``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REMOTE_DIR = "/opt/vmware/cloudusagemetering"
ROOT_HOME = "/root"  # where an ISO upgrade's upload folder is created
SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")


@dataclass
class Server:
    folder: Path  # owned by the test; removed at the end
    chroot: Path
    port: int
    host_key_line: str  # "ssh-ed25519 AAAA..." as the inventory takes it
    client_key: Path  # private key whose public half is authorised for root
    password: str
    log: Path
    address: str = "127.0.0.1"

    def remote(self, path: str = REMOTE_DIR) -> Path:
        """A remote path as it is on this machine (inside the chroot)."""
        return self.chroot / path.lstrip("/")

    def connections(self) -> int:
        """How many connections the server has accepted so far."""
        if not self.log.exists():
            return 0
        return self.log.read_text(errors="replace").count("Connection from ")

    def clear_remote(self) -> None:
        """Empty the installation folder and remove every folder an upload created in /root."""
        folder = self.remote()
        for entry in folder.iterdir():
            entry.unlink()
        for entry in self.remote(ROOT_HOME).iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def free_port(address: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def keygen(path: Path, comment: str = "umrunbook-test") -> str:
    """A new ed25519 key pair at path (private) and path.pub; returns the public line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def _password_hash(password: str) -> str:
    result = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin"],
        input=password,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def _wait_for(
    port: int, process: subprocess.Popen[bytes], log: Path, address: str = "127.0.0.1"
) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"sshd did not listen on {address} port {port}")


@contextmanager
def running_sshd(address: str = "127.0.0.1", sftp: bool = True) -> Iterator[Server]:
    """The server; with sftp=False it offers no SFTP subsystem (and runs nothing else: the
    chroot holds no shell), as an appliance whose sshd_config lost its Subsystem line."""
    # ChrootDirectory wants every component root-owned and writable by root only: /tmp is not.
    folder = Path(tempfile.mkdtemp(prefix="umrunbook-sshd-", dir="/run"))
    process: subprocess.Popen[bytes] | None = None
    try:
        folder.chmod(0o755)
        chroot = folder / "chroot"
        (chroot / REMOTE_DIR.lstrip("/")).mkdir(parents=True)
        (chroot / ROOT_HOME.lstrip("/")).mkdir(mode=0o700)
        for directory in [chroot, *(chroot / REMOTE_DIR.lstrip("/")).parents]:
            if directory.is_relative_to(chroot):
                directory.chmod(0o755)
        host_key_line = keygen(folder / "ssh_host_ed25519_key", "test-host")
        client_key = folder / "client_ed25519"
        authorized = folder / "authorized_keys"
        authorized.write_text(keygen(client_key, "test-client") + "\n")
        authorized.chmod(0o600)
        password = "T3st pass: 'quoted' & $weird"
        shadow = folder / "shadow"
        shadow.write_text(f"root:{_password_hash(password)}:19000:0:99999:7:::\n")
        shadow.chmod(0o600)
        port = free_port(address)
        log = folder / "sshd.log"
        config = folder / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"ListenAddress {address}",
                    f"Port {port}",
                    f"HostKey {folder / 'ssh_host_ed25519_key'}",
                    f"PidFile {folder / 'sshd.pid'}",
                    f"AuthorizedKeysFile {authorized}",
                    "PermitRootLogin yes",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication yes",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "PermitEmptyPasswords no",
                    "MaxAuthTries 6",
                    f"ChrootDirectory {chroot}",
                    *(
                        ["ForceCommand internal-sftp", "Subsystem sftp internal-sftp"]
                        if sftp
                        else []
                    ),
                    "AllowTcpForwarding no",
                    "X11Forwarding no",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        subprocess.run([SSHD, "-t", "-f", str(config)], check=True, capture_output=True)
        # The server's own mount namespace: its /etc/shadow is the test's, nobody else's.
        process = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                'mount --bind "$1" /etc/shadow && exec "$2" -D -E "$3" -f "$4"',
                "sh",
                str(shadow),
                SSHD,
                str(log),
                str(config),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(port, process, log, address)
        yield Server(folder, chroot, port, host_key_line, client_key, password, log, address)
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def running_agent(key: Path) -> Iterator[dict[str, str]]:
    """An ssh-agent holding key; yields the environment a client needs to use it."""
    folder = Path(tempfile.mkdtemp(prefix="umrunbook-agent-"))
    socket_path = folder / "agent.sock"
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(socket_path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not socket_path.exists():
            if time.monotonic() > deadline or agent.poll() is not None:
                raise RuntimeError("ssh-agent did not start")
            time.sleep(0.05)
        env = {"SSH_AUTH_SOCK": str(socket_path)}
        subprocess.run(
            ["ssh-add", "-q", str(key)],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        yield env
    finally:
        agent.terminate()
        agent.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
