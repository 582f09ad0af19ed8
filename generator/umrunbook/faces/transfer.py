"""The transfer files of one appliance: WinSCP and OpenSSH, every value quoted where it lands.

For each upgrade (hop) of the plan, the package gets one transfer set in
``<name>/<hop.folder>transfer/``:

- ``upload.sh`` (POSIX sh) with ``sftp-upload.batch`` and ``known_hosts``: checks the files
  before connecting, then uploads them and the hop's agent with ``sftp -b`` and the host key
  pinned (``StrictHostKeyChecking=yes`` against the generated known_hosts only);
- ``winscp-upload.txt`` (a WinSCP script, ``-hostkey`` pinned) and ``winscp-upload.cmd`` (checks
  the files, then runs the script with a log file), both with CRLF line ends.

A ``.shar`` hop uploads the bundle (its SHA-256 from the inventory) and the agent. An ISO hop
uploads the four files (ISO, manifest, certificate, signature), found by their exact names in a
folder given on the command line, and the agent, into the procedure's upload folder (created when
missing). Before connecting, the ISO's SHA-1 must be the one the vendor's manifest (``.mf``) gives
for it, and its SHA-256 the inventory's where one is given. The SHA-1 is never known when the
package is generated: it comes from the manifest downloaded with the ISO. The certificate and the
signature are checked on the appliance (openssl), by the runbook's step and the agent.

Without a host key in the inventory the scripts refuse to run and say how to add it: the
first connection never trusts whatever key answers.

The templates are in ``templates/transfer/``. Their environment accepts only values that went
through one of the quoting filters below (``sh``, ``sftp``, ``winscp``, ``cmd``, ``comment``,
``rem``, ``shell_path``): a plain string reaching a script is an error at generation time, never
a script that runs something the inventory wrote.
"""

from __future__ import annotations

import hashlib
import ipaddress
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from jinja2 import Environment

from umrunbook.faces.templating import read_template, text_environment
from umrunbook.inventory.hostkeys import HostKey
from umrunbook.planning.plan import PLANNED, BundleItem, Hop, Plan

__all__ = [
    "REMOTE_USER",
    "Quoted",
    "Upload",
    "cmd_value",
    "host_key_algorithms",
    "host_key_file",
    "known_hosts_host",
    "scriptable",
    "sftp_quote",
    "sh_quote",
    "shell_path",
    "transfer_files",
    "uploads",
    "windows_folder",
    "windows_path",
    "winscp_quote",
    "winscp_session_url",
]

#: The vendor's procedure uploads as root: the installation folder belongs to root.
REMOTE_USER = "root"

UPLOAD_SH = "upload.sh"
SFTP_BATCH = "sftp-upload.batch"
KNOWN_HOSTS = "known_hosts"
WINSCP_SCRIPT = "winscp-upload.txt"
WINSCP_CMD = "winscp-upload.cmd"
WINSCP_LOG = "winscp-upload.log"

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


#: The files of an ISO hop, each once: the scripts name each of them.
ISO_ROLES = ("iso", "manifest", "certificate", "signature")


def uploads(plan: Plan) -> tuple[Upload, ...]:
    """One upload per upgrade of the plan, in route order: a .shar with its SHA-256, or an ISO
    with its manifest, certificate and signature. None when there is nothing to upgrade."""
    if plan.state != PLANNED:
        return ()
    return tuple(_upload(plan, hop) for hop in plan.hops if scriptable(hop))


def scriptable(hop: Hop) -> bool:
    """Whether the generated scripts can upload this hop's files."""
    if hop.procedure.delivery == "shar":
        return len(hop.bundle) == 1 and bool(hop.bundle[0].sha256)
    if hop.procedure.delivery == "iso":
        roles = sorted(item.role for item in hop.bundle)
        names = {item.name for item in hop.bundle} | {hop.agent.name}
        return roles == sorted(ISO_ROLES) and len(names) == len(ISO_ROLES) + 1
    return False


def _upload(plan: Plan, hop: Hop) -> Upload:
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
        delivery=hop.procedure.delivery,
        items=hop.bundle,
        make_remote_dir=hop.procedure.upload_folder != hop.procedure.install_dir,
    )


def transfer_files(plan: Plan) -> dict[str, bytes]:
    """The appliance's transfer files, keyed by their path inside the package."""
    files: dict[str, bytes] = {}
    for upload in uploads(plan):
        files.update(_files_for(upload))
    return files


def _files_for(upload: Upload) -> dict[str, bytes]:
    folder = upload.folder
    files: dict[str, bytes] = {}
    batch_sha256 = ""
    if upload.host_key is not None:
        batch = _render("transfer/sftp-upload.batch.j2", upload)
        batch_sha256 = hashlib.sha256(batch).hexdigest()
        files[f"{folder}/{SFTP_BATCH}"] = batch
        files[f"{folder}/{KNOWN_HOSTS}"] = (upload.known_hosts_line + "\n").encode("ascii")
        files[f"{folder}/{WINSCP_SCRIPT}"] = _crlf(_render("transfer/winscp-upload.txt.j2", upload))
    files[f"{folder}/{UPLOAD_SH}"] = _upload_sh(upload, batch_sha256)
    files[f"{folder}/{WINSCP_CMD}"] = _crlf(_winscp_cmd(upload))
    return dict(sorted(files.items()))


def _upload_sh(upload: Upload, batch_sha256: str) -> bytes:
    """upload.sh: the one program in templates/transfer/, with this upload's values."""
    key = upload.host_key
    iso = upload.iso
    role = {item.role: item.name for item in upload.items} if iso else {}
    values = {
        "appliance": upload.appliance,
        "host": upload.host,
        "port": upload.port,
        "user": REMOTE_USER,
        "remote_dir": upload.remote_dir,
        "delivery": upload.delivery,
        "protocol": upload.protocol,
        "bundle_name": "" if iso else upload.bundle.name,
        "bundle_sha256": "" if iso or key is None else upload.bundle.sha256,
        "iso_name": role.get("iso", ""),
        "iso_sha256": upload.bundle.sha256 if iso and key is not None else "",
        "manifest_name": role.get("manifest", ""),
        "certificate_name": role.get("certificate", ""),
        "signature_name": role.get("signature", ""),
        "agent_name": upload.agent_name,
        "agent_sha256": upload.agent_sha256 if key else "",
        "agent_relpath": upload.agent_relpath if key else "",
        "host_key_type": key.key_type if key else "",
        "host_key_fingerprint": key.sha256 if key else "",
        "host_key_algorithms": host_key_algorithms(key) if key else "",
        "host_key_file": host_key_file(key) if key else "",
        "batch_sha256": batch_sha256,
    }
    header = (
        f"# For {comment_text(upload.appliance)}, change {comment_text(upload.ticket)}; "
        f"written by {comment_text(upload.generator)}."
    )
    lines = [header, *(f"{name}={sh_quote(value)}" for name, value in values.items())]
    return with_values(read_template(f"transfer/{UPLOAD_SH}"), lines, list(values)).encode()


def _winscp_cmd(upload: Upload) -> bytes:
    """winscp-upload.cmd: the one program in templates/transfer/, with this upload's values."""
    key = upload.host_key
    iso = upload.iso
    role = {item.role: item.name for item in upload.items} if iso else {}
    default = upload.local_folder_default if iso else upload.local_bundle_default
    values = {
        "UM_APPLIANCE": upload.appliance,
        "UM_HOST": upload.host,
        "UM_PORT": upload.port,
        "UM_REMOTE_DIR": upload.remote_dir,
        "UM_DELIVERY": upload.delivery,
        "UM_BUNDLE_NAME": "" if iso else upload.bundle.name,
        "UM_BUNDLE_SHA256": "" if iso or key is None else upload.bundle.sha256,
        "UM_ISO_NAME": role.get("iso", ""),
        "UM_ISO_SHA256": upload.bundle.sha256 if iso and key is not None else "",
        "UM_MANIFEST_NAME": role.get("manifest", ""),
        "UM_CERTIFICATE_NAME": role.get("certificate", ""),
        "UM_SIGNATURE_NAME": role.get("signature", ""),
        "UM_AGENT_SHA256": upload.agent_sha256 if key else "",
        "UM_AGENT_RELPATH": upload.agent_relpath_windows if key else "",
        "UM_HOSTKEY": key.winscp if key else "",
        "UM_SCRIPT_NAME": WINSCP_SCRIPT,
        "UM_LOG_NAME": WINSCP_LOG,
        "UM_DEFAULT": (default or "") if key else "",
    }
    header = (
        f"rem For {rem_text(upload.appliance)}, change {rem_text(upload.ticket)}; "
        f"written by {rem_text(upload.generator)}."
    )
    lines = [header, *(f'set "{name}={cmd_value(value)}"' for name, value in values.items())]
    program = read_template(f"transfer/{WINSCP_CMD}")
    return with_values(program, lines, list(values), CMD_VALUES).encode()


VALUES_START = "# --- values (written by umrunbook) ---\n"
VALUES_END = "# --- end of values ---\n"
CMD_VALUES = ("rem --- values (written by umrunbook) ---\n", "rem --- end of values ---\n")


def _declared(block: str) -> list[str]:
    names = []
    for line in block.splitlines():
        if line.startswith('set "') and "=" in line:
            names.append(line[len('set "') :].split("=", 1)[0])
        elif "=" in line and not line.startswith(("#", "rem ")):
            names.append(line.split("=", 1)[0])
    return names


def with_values(
    program: str,
    lines: Sequence[str],
    names: Sequence[str],
    markers: tuple[str, str] = (VALUES_START, VALUES_END),
) -> str:
    """The program with its block of values replaced by `lines`. The program's own block
    names every variable with an empty value (what shellcheck reads); a name given here
    that the program does not declare, or the reverse, is a defect caught at once."""
    start = program.index(markers[0]) + len(markers[0])
    end = program.index(markers[1], start)
    declared = _declared(program[start:end])
    if declared != list(names):
        raise ValueError(f"the program declares {declared}, the values are {list(names)}")
    return program[:start] + "".join(f"{line}\n" for line in lines) + program[end:]


def _render(name: str, upload: Upload, **extra: str) -> bytes:
    key = upload.host_key
    text = (
        _environment()
        .get_template(name)
        .render(
            u=upload,
            key=key,
            algorithms=host_key_algorithms(key) if key else "",
            key_file=host_key_file(key) if key else "",
            user=REMOTE_USER,
            log_name=WINSCP_LOG,
            script_name=WINSCP_SCRIPT,
            **extra,
        )
    )
    return text.encode("utf-8")


def _crlf(data: bytes) -> bytes:
    """Windows line ends: cmd.exe's labels and goto need them."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _require_quoted(value: object) -> object:
    if isinstance(value, Quoted | int) and not isinstance(value, bool):
        return value
    raise TypeError(
        f"{value!r} reached a transfer script unquoted: pass it through one of the filters "
        "sh, sftp, winscp, cmd, comment, rem, shell_path"
    )


@cache
def _environment() -> Environment:
    env = text_environment(_require_quoted)
    env.filters.update(
        sh=sh_quote,
        sftp=sftp_quote,
        winscp=winscp_quote,
        cmd=cmd_value,
        comment=comment_text,
        shell_path=shell_path,
        rem=rem_text,
    )
    return env
