"""What umrunbook owns in a package folder: the files it wrote, with their SHA-256.

The record (`.umrunbook-package.json`) is what makes a folder a package: a `SHA256SUMS`
alone does not (a download folder has one). Everything in the folder that the record does
not list is the operator's, and no command touches it. A package written before the record
existed (SHA256SUMS and `.umrunbook-fingerprints.json`) is read as owning the files its
SHA256SUMS lists.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from umrunbook.errors import OutputError

MANIFEST = ".umrunbook-package.json"
MARKER = "SHA256SUMS"
LEGACY_FINGERPRINTS = ".umrunbook-fingerprints.json"
FORMAT = 1
# Written by every command, never kept: they describe the rest.
BOOKKEEPING = frozenset({MANIFEST, MARKER})


@dataclass(frozen=True, slots=True)
class ApplianceRecord:
    fingerprint: str
    rendered: tuple[str, ...]  # the files `render` wrote for it (not ingest's as-executed)


@dataclass(frozen=True, slots=True)
class Ownership:
    """The package in a folder: owned files (name -> SHA-256) and per appliance its record.

    `files` leaves out the bookkeeping files, which every write replaces.
    """

    files: Mapping[str, str] = field(default_factory=dict)
    appliances: Mapping[str, ApplianceRecord] = field(default_factory=dict)
    exists: bool = False  # False: a new or empty folder, no package yet


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def safe_name(name: object) -> bool:
    """A relative path inside the package, never one that climbs out of it."""
    if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name:
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def read_ownership(out_dir: Path, ignore: frozenset[str] = frozenset()) -> Ownership:
    """The package in out_dir, an empty Ownership for a missing or empty folder; any
    other folder is refused (OutputError), whatever it holds. `ignore` names entries
    that do not count (the writer's own transaction folder)."""
    if not out_dir.exists():
        return Ownership()
    if not out_dir.is_dir():
        raise OutputError(f"{out_dir}: exists and is not a folder; nothing was written")
    if (out_dir / MANIFEST).is_file():
        return _read_manifest(out_dir)
    if (out_dir / MARKER).is_file() and (out_dir / LEGACY_FINGERPRINTS).is_file():
        return _read_legacy(out_dir)
    try:
        entries = [e for e in out_dir.iterdir() if e.name not in ignore]
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot read the folder: {exc.strerror}") from None
    if entries:
        raise OutputError(
            f"{out_dir}: the folder is not empty and is not a change package written by "
            "umrunbook; nothing was written\n"
            "  hint: choose an empty or new folder with --out"
        )
    return Ownership()


def _read_manifest(out_dir: Path) -> Ownership:
    path = out_dir / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise OutputError(
            f"{path}: the package's record of its files is unreadable; nothing was written\n"
            "  hint: render into a new folder, and move what you added to the old one"
        )
    if data.get("format") != FORMAT:
        raise OutputError(
            f"{path}: written by another version of umrunbook (format "
            f"{data.get('format')!r}); nothing was written\n"
            "  hint: render into a new folder with this version"
        )
    files = {
        name: digest
        for name, digest in data["files"].items()
        if safe_name(name) and isinstance(digest, str) and name not in BOOKKEEPING
    }
    appliances = {}
    raw = data.get("appliances")
    for name, entry in (raw if isinstance(raw, dict) else {}).items():
        if isinstance(entry, dict) and isinstance(entry.get("fingerprint"), str):
            rendered = entry.get("rendered")
            appliances[name] = ApplianceRecord(
                entry["fingerprint"],
                tuple(f for f in rendered if safe_name(f)) if isinstance(rendered, list) else (),
            )
    return Ownership(files, appliances, exists=True)


def _read_legacy(out_dir: Path) -> Ownership:
    """A package of the previous version: it owns what its SHA256SUMS lists."""
    files: dict[str, str] = {}
    try:
        text = (out_dir / MARKER).read_text(encoding="utf-8")
    except (OSError, ValueError):
        text = ""
    for line in text.splitlines():
        digest, _, name = line.partition("  ")
        if len(digest) == 64 and safe_name(name) and name not in BOOKKEEPING:
            files[name] = digest
    files.setdefault(LEGACY_FINGERPRINTS, "")
    appliances = {}
    try:
        data = json.loads((out_dir / LEGACY_FINGERPRINTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    for name, entry in (data if isinstance(data, dict) else {}).items():
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("fingerprint"), str)
            and isinstance(entry.get("files"), list)
        ):
            rendered = tuple(f for f in entry["files"] if safe_name(f) and f in files)
            appliances[name] = ApplianceRecord(entry["fingerprint"], rendered)
    return Ownership(files, appliances, exists=True)


def manifest_bytes(
    files: Mapping[str, str], appliances: Mapping[str, ApplianceRecord], generator: str
) -> bytes:
    data = {
        "format": FORMAT,
        "generator": generator,
        "files": dict(sorted(files.items())),
        "appliances": {
            name: {"fingerprint": record.fingerprint, "rendered": sorted(record.rendered)}
            for name, record in sorted(appliances.items())
        },
    }
    return (json.dumps(data, indent=1) + "\n").encode()


def checksums(digests: Mapping[str, str]) -> bytes:
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items())).encode()
