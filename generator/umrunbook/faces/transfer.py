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
from functools import cache

from jinja2 import Environment

from umrunbook.faces.templating import text_environment

# The data and the quoting live in faces/uploads.py, which the runbook's transfer guide reads
# too; the names stay importable from here.
from umrunbook.faces.uploads import (
    KNOWN_HOSTS,
    REMOTE_USER,
    SFTP_BATCH,
    UPLOAD_SH,
    WINSCP_CMD,
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
    files[f"{folder}/{UPLOAD_SH}"] = _render(
        "transfer/upload.sh.j2", upload, batch_sha256=batch_sha256
    )
    files[f"{folder}/{WINSCP_CMD}"] = _crlf(_render("transfer/winscp-upload.cmd.j2", upload))
    return dict(sorted(files.items()))


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
