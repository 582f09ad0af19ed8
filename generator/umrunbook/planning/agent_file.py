"""The per-appliance agent file: the packaged bash parts, assembled, plus a manifest of values.

The agent reads its manifest by reading its own file line by line (``#@ key=value``), never by
sourcing it, so a value is only ever data. The last manifest line, ``self_sha256``, is the SHA-256
of the whole file without that one line: the agent checks it before doing anything else.

The agent's evidence JSON carries a ``digest``; :func:`verify_evidence_digest` checks it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import textwrap
from collections.abc import Mapping
from importlib import resources

__all__ = [
    "AGENT_FILE_NAME",
    "EVIDENCE_SCHEMA",
    "MANIFEST_KEYS",
    "MANIFEST_VERSION",
    "READINESS_SCHEMA",
    "agent_parts",
    "agent_source",
    "build_agent",
    "evidence_digest",
    "manifest_keys_line",
    "parse_manifest",
    "validate_manifest",
    "verify_evidence_digest",
]

AGENT_FILE_NAME = "um-upgrade-agent.sh"
MANIFEST_VERSION = "2"
EVIDENCE_SCHEMA = "umrunbook-agent-evidence/1"
#: The schema of the file the agent's ``readiness`` command writes (same digest scheme).
READINESS_SCHEMA = "umrunbook-agent-readiness/1"

#: The manifest keys, in the order they appear in the agent (the agent checks this order). The one
#: list: :func:`agent_source` writes it into the agent as ``readonly UM_MANIFEST_KEYS=(...)``.
MANIFEST_KEYS: tuple[str, ...] = (
    "manifest_version",
    "appliance",
    "host",
    "ticket",
    "inventory_version",
    "supported_sources",
    "target",
    "delivery",
    "install_dir",
    "backup_dir",
    "state_dir",
    "upload_dir",
    "bundle_file",
    "bundle_sha256",
    "iso_file",
    "manifest_file",
    "certificate_file",
    "signature_file",
    "reboot_required",
    "free_space_factor",
    "free_space_min_mb",
    "status_timeout",
    "ssh_service_manager",
    "version_files",
    "snapshot",
    "metered_servers",
    "tdnf_check",
    "proxy",
    "generator",
    "self_sha256",
)

_PLACEHOLDER = "#@@MANIFEST@@\n"
_KEYS_PLACEHOLDER = "#@@MANIFEST_KEYS@@\n"
_SELF_KEY = "self_sha256"
_SELF_PREFIX = "#@ self_sha256="
_END_MARKER = "# end of um-upgrade-agent.sh\n"

_CHECKS: dict[str, tuple[re.Pattern[str], str]] = {
    "manifest_version": (re.compile(re.escape(MANIFEST_VERSION)), f"must be {MANIFEST_VERSION}"),
    "appliance": (
        re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"),
        "must be a host-name label",
    ),
    "host": (re.compile(r"[A-Za-z0-9.:-]+"), "must be a host name or an IP address"),
    "ticket": (re.compile(r".+"), "must not be empty"),
    "inventory_version": (re.compile(r"[0-9]+(\.[0-9]+)*(-\S+)?"), "must be a version"),
    "supported_sources": (re.compile(r".*\S.*"), "must name at least one source"),
    "target": (re.compile(r"[0-9]+(\.[0-9]+)*"), "must be a version"),
    "delivery": (re.compile(r"shar|iso"), "must be shar or iso"),
    "install_dir": (re.compile(r"/\S*"), "must be an absolute path"),
    "backup_dir": (re.compile(r"/\S*"), "must be an absolute path"),
    "state_dir": (re.compile(r"/\S*"), "must be an absolute path"),
    "upload_dir": (re.compile(r"/\S*"), "must be an absolute path"),
    "bundle_file": (re.compile(r"[A-Za-z0-9._-]+"), "must match ^[A-Za-z0-9._-]+$"),
    "bundle_sha256": (
        re.compile(r"([0-9a-f]{64})?"),
        "must be 64 lowercase hex digits (empty only for an ISO bundle)",
    ),
    "iso_file": (re.compile(r"[A-Za-z0-9._-]*"), "must match ^[A-Za-z0-9._-]*$"),
    "manifest_file": (re.compile(r"[A-Za-z0-9._-]*"), "must match ^[A-Za-z0-9._-]*$"),
    "certificate_file": (re.compile(r"[A-Za-z0-9._-]*"), "must match ^[A-Za-z0-9._-]*$"),
    "signature_file": (re.compile(r"[A-Za-z0-9._-]*"), "must match ^[A-Za-z0-9._-]*$"),
    "reboot_required": (re.compile(r"yes|no"), "must be yes or no"),
    "free_space_factor": (re.compile(r"[0-9]+"), "must be a whole number"),
    "free_space_min_mb": (re.compile(r"[0-9]+"), "must be a whole number"),
    "status_timeout": (re.compile(r"[0-9]+"), "must be a whole number of seconds"),
    "ssh_service_manager": (re.compile(r"service|systemctl"), "must be service or systemctl"),
    "tdnf_check": (re.compile(r"yes|no"), "must be yes or no"),
    "proxy": (re.compile(r"[A-Za-z0-9.:\[\]-]*"), "must be host:port or empty"),
}


def manifest_keys_line() -> str:
    """The bash line that gives the agent :data:`MANIFEST_KEYS` (wrapped, LF-terminated)."""
    if not all(re.fullmatch(r"[a-z][a-z0-9_]*", key) for key in MANIFEST_KEYS):
        raise RuntimeError("MANIFEST_KEYS: a key is not a plain bash word")
    lines = textwrap.wrap(
        " ".join(MANIFEST_KEYS) + ")",
        width=100,
        initial_indent="readonly UM_MANIFEST_KEYS=(",
        subsequent_indent="  ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    return "\n".join(lines) + "\n"


#: The agent's parts, assembled in the order of their names (``NN-name.sh``).
PARTS_FOLDER = "parts"
_SHEBANG = "#!/bin/bash\n"
_PART_HEADER = "# shellcheck "


def agent_parts() -> list[tuple[str, str]]:
    """The packaged parts of the agent, ``(name, text)``, in the order they are assembled."""
    folder = resources.files("umrunbook.agent") / PARTS_FOLDER
    parts: list[tuple[str, str]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sh"):
            continue
        if not re.fullmatch(r"[0-9]{2}-[a-z0-9-]+\.sh", entry.name):
            raise RuntimeError(f"the agent part {entry.name} is not named NN-name.sh")
        parts.append((entry.name, entry.read_text(encoding="utf-8")))
    if not parts:
        raise RuntimeError("the agent's parts are missing: reinstall umrunbook")
    return parts


def _part_body(name: str, text: str) -> str:
    """A part without its first line (its shellcheck directive, for that file alone)."""
    if "\r" in text:
        raise RuntimeError(f"the agent part {name} has CR characters: reinstall umrunbook")
    first, _, body = text.partition("\n")
    if not first.startswith(_PART_HEADER) or not body.endswith("\n"):
        raise RuntimeError(f"the agent part {name} is damaged: reinstall umrunbook")
    if _END_MARKER in f"\n{body}" or body.startswith("#!"):
        raise RuntimeError(f"the agent part {name} holds a line the assembly writes")
    return body


@functools.cache
def agent_source() -> str:
    """The agent as shipped, before its manifest: the parts assembled, with the key list.

    ``#!/bin/bash``, then every part in order (each without its first line, a shellcheck
    directive for the part alone), then the end marker. The ``#@@MANIFEST_KEYS@@`` line becomes
    :data:`MANIFEST_KEYS`; the ``#@@MANIFEST@@`` line stays for :func:`build_agent`. Assembled
    once a process: a fleet's agents share it, and the parts are read once, not per appliance.
    """
    text = _SHEBANG + "".join(_part_body(n, t) for n, t in agent_parts()) + _END_MARKER
    if text.count(_PLACEHOLDER) != 1 or text.count(_KEYS_PLACEHOLDER) != 1:
        raise RuntimeError(f"the packaged {AGENT_FILE_NAME} is damaged: reinstall umrunbook")
    return text.replace(_KEYS_PLACEHOLDER, manifest_keys_line(), 1)


def validate_manifest(manifest: Mapping[str, str]) -> None:
    """Raises the ``ValueError`` :func:`build_agent` raises for this manifest, if any."""
    _validate(manifest)


def _validate(manifest: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(manifest) - set(MANIFEST_KEYS))
    if unknown:
        raise ValueError(f"agent manifest: unknown key(s): {', '.join(unknown)}")
    missing = [k for k in MANIFEST_KEYS if k != _SELF_KEY and k not in manifest]
    if missing:
        raise ValueError(f"agent manifest: missing key(s): {', '.join(missing)}")
    values: dict[str, str] = {}
    for key in MANIFEST_KEYS:
        if key == _SELF_KEY:
            continue
        value = manifest[key]
        if not isinstance(value, str):
            raise ValueError(f"agent manifest: {key}: must be a string, not {type(value).__name__}")
        for bad, name in (("\n", "a newline"), ("\r", "a carriage return"), ("\0", "a NUL")):
            if bad in value:
                raise ValueError(f"agent manifest: {key}: value contains {name}: {value!r}")
        check = _CHECKS.get(key)
        if check is not None and not check[0].fullmatch(value):
            raise ValueError(f"agent manifest: {key}: {check[1]} (got {value!r})")
        values[key] = value
    _validate_delivery(values)
    return values


_ISO_FILES = ("iso_file", "manifest_file", "certificate_file", "signature_file")


def _validate_delivery(values: Mapping[str, str]) -> None:
    """The keys that go together for each delivery, as the agent checks them."""
    if values["delivery"] == "shar":
        if not values["bundle_sha256"]:
            raise ValueError("agent manifest: bundle_sha256: is required for a .shar bundle")
        for key in _ISO_FILES:
            if values[key]:
                raise ValueError(f"agent manifest: {key}: must be empty for a .shar bundle")
        if values["upload_dir"].rstrip("/") != values["install_dir"].rstrip("/"):
            raise ValueError(
                "agent manifest: upload_dir: must be install_dir for a .shar bundle (it runs there)"
            )
        return
    # An ISO that comes alone (9.x): no companions, and its SHA-256 is the check.
    alone = not any(values[key] for key in _ISO_FILES[1:])
    if alone and not values["bundle_sha256"]:
        raise ValueError("agent manifest: bundle_sha256: is required for an ISO without a manifest")
    for key in _ISO_FILES[: 1 if alone else None]:
        if not values[key]:
            raise ValueError(f"agent manifest: {key}: is required for an ISO bundle")
    if values["iso_file"] != values["bundle_file"]:
        raise ValueError("agent manifest: iso_file: must be bundle_file for an ISO bundle")
    if not alone and len({values[key] for key in _ISO_FILES}) != len(_ISO_FILES):
        raise ValueError("agent manifest: the four ISO files must have four different names")
    if values["reboot_required"] != "yes":
        raise ValueError(
            "agent manifest: reboot_required: must be yes for an ISO bundle "
            "(the agent verifies after the reboot)"
        )


def build_agent(manifest: Mapping[str, str]) -> str:
    """The finished agent for one appliance: source, manifest block and self-hash (LF line ends).

    ``manifest`` holds every key of :data:`MANIFEST_KEYS` except ``self_sha256`` (computed here;
    a value given for it is ignored). Raises ``ValueError`` for a missing or unknown key, a value
    with a newline, CR or NUL, or a value the agent would refuse.
    """
    values = _validate(manifest)
    source = agent_source()
    block = "".join(f"#@ {key}={values[key]}\n" for key in MANIFEST_KEYS if key != _SELF_KEY)
    without_self = source.replace(_PLACEHOLDER, block + "\0SELF\0", 1)
    digest = hashlib.sha256(without_self.replace("\0SELF\0", "").encode("utf-8")).hexdigest()
    return without_self.replace("\0SELF\0", f"{_SELF_PREFIX}{digest}\n")


def parse_manifest(agent_text: str) -> dict[str, str]:
    """The manifest of a finished agent, read as the agent reads it."""
    values: dict[str, str] = {}
    for line in agent_text.split("\n"):
        if line.startswith("#@ ") and "=" in line:
            key, _, value = line[3:].partition("=")
            values[key] = value
    return values


def evidence_digest(text: str) -> str:
    """SHA-256 (hex) of evidence JSON text whose digest value is the empty string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_DIGEST_RE = re.compile(r'"digest": "sha256:([0-9a-f]{64})"')


def verify_evidence_digest(text: str, schema: str = EVIDENCE_SCHEMA) -> bool:
    """True when the agent's evidence JSON text (of ``schema``: the evidence's, or
    :data:`READINESS_SCHEMA` for a readiness file) is intact.

    The digest is ``"sha256:" + hex(SHA-256(T))`` where T is the file's exact text (UTF-8) with
    the one ``"digest": "sha256:<hex>"`` member replaced by ``"digest": ""``.
    """
    found: list[str] = [m.group(1) for m in _DIGEST_RE.finditer(text)]
    if len(found) != 1:
        return False
    try:
        data = json.loads(text)
    except ValueError:
        return False
    if not isinstance(data, dict) or data.get("digest") != f"sha256:{found[0]}":
        return False
    if data.get("schema") != schema:
        return False
    blank = _DIGEST_RE.sub('"digest": ""', text, count=1)
    return evidence_digest(blank) == found[0]
