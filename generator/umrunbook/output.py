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


def checksums(files: Mapping[str, bytes]) -> bytes:
    lines = [
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items())
    ]
    return "".join(lines).encode()


def write_package_atomically(
    out_dir: Path, files: Mapping[str, bytes], executable: frozenset[str] = frozenset()
) -> None:
    """Write every file into a fresh folder beside out_dir, then swap it into place.

    A failure at any point leaves the previous package as it was. The swap is two renames on
    one filesystem; in between, out_dir is briefly absent, never half-written.
    """
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
        for name, data in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            os.chmod(target, 0o755 if name in executable else 0o644)
        (staging / MARKER).write_bytes(checksums(files))
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


def _replaceable(out_dir: Path) -> bool:
    if not out_dir.is_dir():
        return False
    try:
        entries = list(out_dir.iterdir())
    except OSError:
        return False
    return not entries or (out_dir / MARKER).is_file()
