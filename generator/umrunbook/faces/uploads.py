"""What each upgrade's upload moves where, and how a value is quoted for the file it lands in.

Pure data, below the faces: the transfer files (faces/transfer.py) write scripts from it, and
the runbook's view (faces/view.py) writes the transfer guide from the same Upload, so the guide
and the scripts name the same files, folders and defaults.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

from umrunbook.inventory.hostkeys import HostKey
from umrunbook.planning.agent_manifest import STATE_DIR
from umrunbook.planning.bind import AGENT_FILE
from umrunbook.planning.plan import PLANNED, BundleItem, Hop, Plan

#: The vendor's procedure uploads as root: the installation folder belongs to root.
REMOTE_USER = "root"

UPLOAD_SH = "upload.sh"
SFTP_BATCH = "sftp-upload.batch"
KNOWN_HOSTS = "known_hosts"
WINSCP_SCRIPT = "winscp-upload.txt"
WINSCP_CMD = "winscp-upload.cmd"
WINSCP_LOG = "winscp-upload.log"

# The evidence fetch: the agent's folder and the upgrade logs, copied back to the workstation.
FETCH_SH = "fetch-evidence.sh"
SFTP_FETCH_BATCH = "sftp-fetch-evidence.batch"
WINSCP_FETCH_SCRIPT = "winscp-fetch-evidence.txt"
WINSCP_FETCH_CMD = "winscp-fetch-evidence.cmd"
WINSCP_FETCH_LOG = "winscp-fetch-evidence.log"
#: Where the fetch puts the copy by default: <appliance>/EVIDENCE_FOLDER in the package.
EVIDENCE_FOLDER = "evidence"

# Host key algorithms OpenSSH may negotiate for each key type: pinning them makes the server
# present the inventory's key, never another of its keys that known_hosts does not hold.
_ALGORITHMS = {
    "ssh-ed25519": "ssh-ed25519",
    "ssh-rsa": "rsa-sha2-512,rsa-sha2-256",
    "ecdsa-sha2-nistp256": "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384": "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521": "ecdsa-sha2-nistp521",
}

# sftp's batch parser takes quotes and backslashes, and globs local and remote paths; WinSCP's
# script parser expands %NAME% and takes file masks. Remote paths and names come from the
# catalogue and the validated inventory: anything beyond these characters is a defect to report.
_REMOTE_SAFE = re.compile(r"[A-Za-z0-9._/+@:, -]+")
# A remote folder written unquoted into a remote shell command (WinSCP's `call mkdir -p`).
_SHELL_PATH = re.compile(r"/[A-Za-z0-9._/+-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Characters Windows never allows in a path (besides ':' after the drive and '\').
_NOT_IN_WINDOWS_PATHS = re.compile(r'[<>"|?*\x00-\x1f]')


class Quoted(str):
    """A value already quoted (or checked) for the file it is written into."""

    __slots__ = ()


def sh_quote(value: object) -> Quoted:
    """One word for a POSIX shell: single quotes, each ' written as '\\''."""
    text = str(value)
    return Quoted("'" + text.replace("'", "'\\''") + "'")


def sftp_quote(value: object) -> Quoted:
    """One argument of an sftp batch command, in double quotes."""
    text = str(value)
    if not _REMOTE_SAFE.fullmatch(text):
        raise ValueError(f"{text!r} cannot be written into an sftp batch file safely")
    return Quoted(f'"{text}"')


def winscp_quote(value: object) -> Quoted:
    """One parameter of a WinSCP script command: double quotes, a '"' doubled (WinSCP's rule).

    WinSCP expands %NAME% in every command, so a value holding '%' is refused: the values
    written into the script are host names, remote paths and fingerprints, never local paths
    (those come in as %1% and %2%, see winscp-upload.cmd).
    """
    text = str(value)
    if "%" in text or _CONTROL.search(text):
        raise ValueError(f"{text!r} cannot be written into a WinSCP script safely")
    return Quoted('"' + text.replace('"', '""') + '"')


def cmd_value(value: object) -> Quoted:
    """The value part of `set "NAME=value"` in a .cmd file (cmd.exe reads it once).

    Inside the quotes of `set "..."`, & | < > ( ) ^ are literal; % must be doubled in a batch
    file. A '"', a control character or a non-ASCII character (cmd.exe reads .cmd files in the
    console's code page) cannot be written safely: ValueError.
    """
    text = str(value)
    if '"' in text or _CONTROL.search(text) or not text.isascii():
        raise ValueError(f"{text!r} cannot be written into a .cmd file safely")
    return Quoted(text.replace("%", "%%"))


def powershell_quote(value: object) -> str:
    """One PowerShell argument: single quotes, each quote character (straight or typographic)
    doubled, as PowerShell reads all four as quotes."""
    text = str(value)
    for quote in "'\u2018\u2019\u201a\u201b":
        text = text.replace(quote, quote * 2)
    return f"'{text}'"


def shell_path(value: object) -> Quoted:
    """An absolute remote path that needs no quoting in a remote shell command."""
    text = str(value)
    if not _SHELL_PATH.fullmatch(text) or "/-" in text:
        raise ValueError(f"{text!r} cannot be written into a remote shell command safely")
    return Quoted(text)


def comment_text(value: object) -> Quoted:
    """Text for a '#' comment line: one line, control characters replaced."""
    return Quoted(_CONTROL.sub("?", str(value)))


def rem_text(value: object) -> Quoted:
    """Text for a cmd.exe 'rem' line: percent expansion runs there too (and '%~' is an error)."""
    text = _CONTROL.sub("?", str(value))
    text = "".join(c if c.isascii() else "?" for c in text)
    return Quoted(text.replace("%", "%%"))


def windows_path(value: str) -> str | None:
    """The local path as a .cmd default, or None when it cannot be one (the operator then
    names the bundle on the command line)."""
    if not value or _NOT_IN_WINDOWS_PATHS.search(value) or "%" in value:
        return None
    try:
        cmd_value(value)
    except ValueError:
        return None
    return value


def windows_folder(paths: Sequence[tuple[str, str]]) -> str | None:
    """The one folder that holds every (local_path, name) as folder + separator + name, as a .cmd
    default; None when the files are not all in one usable folder."""
    folders = set()
    for path, name in paths:
        for separator in ("\\", "/"):
            suffix = separator + name
            if path.endswith(suffix) and len(path) > len(suffix):
                folders.add(path[: -len(suffix)])
                break
        else:
            return None
    if len(folders) != 1:
        return None
    return windows_path(folders.pop())


def known_hosts_host(host: str, port: int) -> str:
    """The host as ssh writes it in known_hosts: `[host]:port` unless the port is 22."""
    return host if port == 22 else f"[{host}]:{port}"


def host_key_algorithms(key: HostKey) -> str:
    return _ALGORITHMS[key.key_type]


def host_key_file(key: HostKey) -> str:
    """Where the appliance keeps that public host key: /etc/ssh/ssh_host_ed25519_key.pub."""
    kind = "ecdsa" if key.key_type.startswith("ecdsa-") else key.key_type.removeprefix("ssh-")
    return f"/etc/ssh/ssh_host_{kind}_key.pub"


def _url_host(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    return f"[{host}]" if address.version == 6 else host


def winscp_session_url(protocol: str, host: str, port: int) -> str:
    """`sftp://root@host:port/` (an IPv6 address in brackets), no password ever."""
    return f"{protocol}://{REMOTE_USER}@{_url_host(host)}:{port}/"


@dataclass(frozen=True, slots=True)
class Upload:
    """What one upgrade's upload moves where: shared by the transfer files and the runbook."""

    appliance: str
    host: str
    port: int
    protocol: str
    remote_dir: str
    bundle: BundleItem
    agent_name: str
    agent_sha256: str
    folder: str  # inside the package, e.g. um-ams-01/transfer
    agent_path: str  # inside the package, e.g. um-ams-01/agent/um-upgrade-agent.sh
    host_key: HostKey | None
    ticket: str
    generator: str
    delivery: str = "shar"
    items: tuple[BundleItem, ...] = ()  # every file of the hop, the bundle (or ISO) first
    make_remote_dir: bool = False  # the folder is not the installation's: create it if missing
    state_dir: str = STATE_DIR  # the agent's folder on the appliance: its evidence and records
    install_dir: str = "/opt/vmware/cloudusagemetering"
    backup_dir: str = "/opt/vmware/cloudusagemetering-old"
    evidence_json: str = ""  # the agent's evidence file of this upgrade, in state_dir

    @property
    def iso(self) -> bool:
        return self.delivery == "iso"

    def item(self, role: str) -> BundleItem:
        return next(item for item in self.items if item.role == role)

    @property
    def upload_names(self) -> tuple[str, ...]:
        """The names uploaded, in order: the hop's files, then the agent."""
        return (*(item.name for item in self.items), self.agent_name)

    @property
    def local_folder_default(self) -> str | None:
        """The folder of an ISO hop's four files on the workstation, as a .cmd default."""
        return windows_folder([(item.local_path, item.name) for item in self.items])

    @property
    def agent_relpath(self) -> str:
        """The agent relative to the transfer folder: ../agent/um-upgrade-agent.sh."""
        return posixpath.relpath(self.agent_path, self.folder)

    @property
    def agent_relpath_windows(self) -> str:
        return self.agent_relpath.replace("/", "\\")

    @property
    def remote_bundle(self) -> str:
        return posixpath.join(self.remote_dir, self.bundle.name)

    @property
    def remote_agent(self) -> str:
        return posixpath.join(self.remote_dir, self.agent_name)

    @property
    def known_hosts_line(self) -> str:
        if self.host_key is None:
            raise ValueError(f"{self.appliance}: the inventory has no host key")
        return f"{known_hosts_host(self.host, self.port)} {self.host_key.line}"

    @property
    def session_url(self) -> str:
        return winscp_session_url(self.protocol, self.host, self.port)

    @property
    def local_bundle_default(self) -> str | None:
        return windows_path(self.bundle.local_path)

    @property
    def agent_after(self) -> str:
        """The agent's own copy on the appliance, which runs `report`."""
        return posixpath.join(self.state_dir, AGENT_FILE)

    @property
    def state_name(self) -> str:
        """The agent's folder as the fetch names it locally: um-upgrade-agent."""
        return posixpath.basename(self.state_dir.rstrip("/"))

    @property
    def install_logs(self) -> str:
        """Where the upgrade writes its inplaceupgradeum-* logs (the agent reads them there)."""
        return posixpath.join(self.install_dir, "var/logs")

    @property
    def backup_logs(self) -> str:
        """The same in the previous installation, which the bundle moves aside."""
        return posixpath.join(self.backup_dir, "var/logs")

    @property
    def install_logs_name(self) -> str:
        return posixpath.basename(self.install_dir.rstrip("/"))

    @property
    def backup_logs_name(self) -> str:
        return posixpath.basename(self.backup_dir.rstrip("/"))

    @property
    def evidence_folder(self) -> str:
        """Where the fetch puts the copy by default, inside the package."""
        return f"{self.appliance}/{EVIDENCE_FOLDER}"

    @property
    def evidence_relpath(self) -> str:
        """That folder relative to the transfer folder: ../evidence."""
        return posixpath.relpath(self.evidence_folder, self.folder)

    @property
    def evidence_relpath_windows(self) -> str:
        return self.evidence_relpath.replace("/", "\\")


#: The files of an ISO hop, each once: the scripts name each of them.
ISO_ROLES = ("iso", "manifest", "certificate", "signature")


def uploads(plan: Plan) -> tuple[Upload, ...]:
    """One upload per upgrade of the plan, in route order: a .shar with its SHA-256, or an ISO
    with its manifest, certificate and signature. None when there is nothing to upgrade."""
    if plan.state != PLANNED:
        return ()
    return tuple(upload_of(plan, hop) for hop in plan.hops if scriptable(hop))


def scriptable(hop: Hop) -> bool:
    """Whether the generated scripts can upload this hop's files."""
    if hop.procedure.delivery == "shar" or len(hop.bundle) == 1:
        return len(hop.bundle) == 1 and bool(hop.bundle[0].sha256)
    if hop.procedure.delivery == "iso":
        roles = sorted(item.role for item in hop.bundle)
        names = {item.name for item in hop.bundle} | {hop.agent.name}
        return roles == sorted(ISO_ROLES) and len(names) == len(ISO_ROLES) + 1
    return False


def upload_of(plan: Plan, hop: Hop) -> Upload:
    """What this hop's upload moves where (its scripts exist only when `scriptable(hop)`)."""
    a = plan.appliance
    # hop.folder is "" for a single upgrade, "hop-1-4.2/" for each upgrade of a route.
    return Upload(
        appliance=a.name,
        host=a.host,
        port=a.ssh_port,
        protocol=plan.transfer.protocol,
        remote_dir=hop.procedure.upload_folder,
        bundle=hop.bundle[0],
        agent_name=hop.agent.name,
        agent_sha256=hop.agent.sha256,
        folder=f"{a.name}/{hop.folder}transfer",
        agent_path=f"{a.name}/{hop.folder}agent/{hop.agent.name}",
        host_key=a.ssh_host_key,
        ticket=plan.change.ticket,
        generator=plan.generator,
        # An ISO that comes alone (9.x) goes up as a .shar does: one file, its SHA-256 checked.
        delivery=hop.procedure.delivery if len(hop.bundle) > 1 else "shar",
        items=hop.bundle,
        make_remote_dir=hop.procedure.upload_folder != hop.procedure.install_dir,
        install_dir=hop.procedure.install_dir,
        backup_dir=hop.procedure.backup_dir,
        # As the agent names it (agent/parts/20-options.sh), and the runbook's {evidence_json}.
        evidence_json=f"evidence-{a.name}-{plan.change.ticket}-{hop.procedure.target}.json",
    )
