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
from collections.abc import Sequence
from functools import cache

from jinja2 import Environment

from umrunbook.faces.templating import read_template, text_environment

# The data and the quoting live in faces/uploads.py, which the runbook's transfer guide reads
# too; the names stay importable from here.
from umrunbook.faces.uploads import (
    FETCH_SH,
    KNOWN_HOSTS,
    REMOTE_USER,
    SFTP_BATCH,
    SFTP_FETCH_BATCH,
    UPLOAD_SH,
    WINSCP_CMD,
    WINSCP_FETCH_CMD,
    WINSCP_FETCH_LOG,
    WINSCP_FETCH_SCRIPT,
    WINSCP_LOG,
    WINSCP_SCRIPT,
    Quoted,
    Upload,
    cmd_value,
    comment_text,
    host_key_algorithms,
    host_key_file,
    known_hosts_host,
    rem_text,
    scriptable,
    sftp_quote,
    sh_quote,
    shell_path,
    uploads,
    windows_folder,
    windows_path,
    winscp_quote,
    winscp_session_url,
)
from umrunbook.inventory.hostkeys import HostKey
from umrunbook.planning.plan import Plan

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
    files.update(_fetch_files(upload))
    return dict(sorted(files.items()))


def _fetch_files(upload: Upload) -> dict[str, bytes]:
    """The evidence fetch of this hop: fetch-evidence.sh with its sftp batch file, and the WinSCP
    script with its .cmd; without a host key only the two programs, which refuse to run."""
    folder = upload.folder
    files: dict[str, bytes] = {}
    batch_sha256 = ""
    if upload.host_key is not None:
        batch = _render("transfer/sftp-fetch-evidence.batch.j2", upload)
        batch_sha256 = hashlib.sha256(batch).hexdigest()
        files[f"{folder}/{SFTP_FETCH_BATCH}"] = batch
        script = _render("transfer/winscp-fetch-evidence.txt.j2", upload)
        files[f"{folder}/{WINSCP_FETCH_SCRIPT}"] = _crlf(script)
    files[f"{folder}/{FETCH_SH}"] = _fetch_sh(upload, batch_sha256)
    files[f"{folder}/{WINSCP_FETCH_CMD}"] = _crlf(_winscp_fetch_cmd(upload))
    return files


def _fetch_sh(upload: Upload, batch_sha256: str) -> bytes:
    """fetch-evidence.sh: the one program in templates/transfer/, with this hop's values."""
    key = upload.host_key
    values = {
        "appliance": upload.appliance,
        "host": upload.host,
        "port": upload.port,
        "user": REMOTE_USER,
        "ticket": upload.ticket,
        "protocol": upload.protocol,
        "state_dir": upload.state_dir,
        "state_name": upload.state_name,
        "install_logs": upload.install_logs,
        "install_logs_name": f"logs/{upload.install_logs_name}",
        "backup_logs": upload.backup_logs,
        "backup_logs_name": f"logs/{upload.backup_logs_name}",
        "evidence_json": upload.evidence_json,
        "agent_after": upload.agent_after,
        "evidence_relpath": upload.evidence_relpath,
        **_host_key_values(key),
        "batch_sha256": batch_sha256,
    }
    return _sh_program(FETCH_SH, upload, values)


def _winscp_fetch_cmd(upload: Upload) -> bytes:
    """winscp-fetch-evidence.cmd: the one program in templates/transfer/, with this hop's values."""
    key = upload.host_key
    values = {
        "UM_APPLIANCE": upload.appliance,
        "UM_HOST": upload.host,
        "UM_PORT": upload.port,
        "UM_TICKET": upload.ticket,
        "UM_STATE_DIR": upload.state_dir,
        "UM_STATE_NAME": upload.state_name,
        "UM_INSTALL_LOGS_NAME": upload.install_logs_name,
        "UM_BACKUP_LOGS_NAME": upload.backup_logs_name,
        "UM_EVIDENCE_JSON": upload.evidence_json,
        "UM_AGENT_AFTER": upload.agent_after,
        "UM_DEST_RELPATH": upload.evidence_relpath_windows,
        "UM_HOSTKEY": key.winscp if key else "",
        "UM_SCRIPT_NAME": WINSCP_FETCH_SCRIPT,
        "UM_LOG_NAME": WINSCP_FETCH_LOG,
    }
    return _cmd_program(WINSCP_FETCH_CMD, upload, values)


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
        **_host_key_values(key),
        "batch_sha256": batch_sha256,
    }
    return _sh_program(UPLOAD_SH, upload, values)


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
    return _cmd_program(WINSCP_CMD, upload, values)


def _host_key_values(key: HostKey | None) -> dict[str, str]:
    """The pinned host key as both OpenSSH programs set it ("" each without one)."""
    return {
        "host_key_type": key.key_type if key else "",
        "host_key_fingerprint": key.sha256 if key else "",
        "host_key_algorithms": host_key_algorithms(key) if key else "",
        "host_key_file": host_key_file(key) if key else "",
    }


def _sh_program(template: str, upload: Upload, values: dict[str, object]) -> bytes:
    """An OpenSSH program of templates/transfer/ with its values block filled in."""
    header = (
        f"# For {comment_text(upload.appliance)}, change {comment_text(upload.ticket)}; "
        f"written by {comment_text(upload.generator)}."
    )
    lines = [header, *(f"{name}={sh_quote(value)}" for name, value in values.items())]
    return with_values(read_template(f"transfer/{template}"), lines, list(values)).encode()


def _cmd_program(template: str, upload: Upload, values: dict[str, object]) -> bytes:
    """A WinSCP .cmd of templates/transfer/ with its values block filled in."""
    header = (
        f"rem For {rem_text(upload.appliance)}, change {rem_text(upload.ticket)}; "
        f"written by {rem_text(upload.generator)}."
    )
    lines = [header, *(f'set "{name}={cmd_value(value)}"' for name, value in values.items())]
    program = read_template(f"transfer/{template}")
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
