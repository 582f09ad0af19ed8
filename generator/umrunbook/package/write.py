"""Writing a change package: all of it or nothing, with a SHA256SUMS over every file."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from umrunbook.errors import OutputError

# A folder we may replace holds this file; anything else is the user's and is never touched.
MARKER = "SHA256SUMS"


def checksums(digests: Mapping[str, str]) -> bytes:
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items())).encode()


def write_package_atomically(
    out_dir: Path,
    files: Mapping[str, bytes],
    executable: frozenset[str] = frozenset(),
    kept: Mapping[str, Path] | None = None,
) -> None:
    """Write every file into a fresh folder beside out_dir, then swap it into place.

    `kept` names files of the previous package carried over as they are (hard links where
    the filesystem allows). A failure at any point leaves the previous package as it was.
    The swap is two renames on one filesystem; in between, out_dir is briefly absent, never
    half-written.
    """
    kept = kept or {}
    out_dir = out_dir.absolute()
    if out_dir.exists() and not _replaceable(out_dir):
        raise OutputError(
            f"{out_dir}: the folder exists and is not a change package written by umrunbook; "
            "nothing was written\n  hint: choose an empty or new folder with --out"
        )
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=parent))
    except OSError as exc:
        raise OutputError(f"{parent}: cannot create the output folder: {exc.strerror}") from None
    old: Path | None = None
    try:
        digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
        for name, data in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            os.chmod(target, 0o755 if name in executable else 0o644)
        digests.update(_carry_over(kept, staging, out_dir))
        (staging / MARKER).write_bytes(checksums(digests))
        os.chmod(staging, 0o755)
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=parent))
            os.rename(out_dir, old / "package")
        os.rename(staging, out_dir)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None and (old / "package").exists() and not out_dir.exists():
            os.rename(old / "package", out_dir)
        raise OutputError(
            f"{out_dir}: writing the package failed ({exc.strerror or exc}); "
            "the previous package is untouched"
        ) from None
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _carry_over(kept: Mapping[str, Path], staging: Path, out_dir: Path) -> dict[str, str]:
    """Link the kept files into the new package; their digests come from the old SHA256SUMS."""
    if not kept:
        return {}
    old_digests = _old_digests(out_dir)
    digests = {}
    for name, source in kept.items():
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)
        digests[name] = old_digests.get(name) or hashlib.sha256(target.read_bytes()).hexdigest()
    return digests


def _old_digests(out_dir: Path) -> dict[str, str]:
    try:
        text = (out_dir / MARKER).read_text(encoding="utf-8")
    except OSError:
        return {}
    pairs = (line.split("  ", 1) for line in text.splitlines() if "  " in line)
    return {name: digest for digest, name in pairs}


def _replaceable(out_dir: Path) -> bool:
    if not out_dir.is_dir():
        return False
    try:
        entries = list(out_dir.iterdir())
    except OSError:
        return False
    return not entries or (out_dir / MARKER).is_file()
