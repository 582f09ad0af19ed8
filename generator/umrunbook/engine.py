"""Typst's engine in the single-file binary: unpacked once per user, not at every start.

A single file built by PyInstaller unpacks the files it holds into a temporary folder at
every start. Typst's engine (typst/_typst.abi3.so, some 68 MB) was two thirds of that, and
only the commands that typeset need it (the PDF face, `check`'s glyph probe). So the build
(packaging/engine_archive.py, packaging/umrunbook.spec) leaves the typst package out of the
binary's modules and ships it as one zip, in an entry of the binary's archive that the
start does not unpack (a PKG entry, read here from sys.executable), with a manifest that is
unpacked: the zip's SHA-256 and each file's.

`make_typst_importable()`, called before every `import typst`, unpacks that zip the first
time into a per-user cache folder named by its SHA-256 ($XDG_CACHE_HOME or ~/.cache on
Linux and macOS, %LOCALAPPDATA% on Windows, then umrunbook/engine/), and later reuses it. A
file on disk is never trusted: before the folder goes on sys.path, every file in it is read
and checked against the manifest, and a folder with a file changed, missing or added is
unpacked afresh. The copy is written under a temporary name and renamed into place, so two
processes starting at once both work. Where the cache cannot be written, the engine is
unpacked into this process's own temporary folder (sys._MEIPASS, removed at exit) with a
one-line note.

Outside the single file (a pip install, the one-folder build) typst is imported as it is
installed, and this does nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ARCHIVE_FOLDER = "umrunbook-engine"
MANIFEST = "typst.json"
ARCHIVE = "typst.zip"
# PyInstaller's CArchive (PyInstaller/archive/readers.py): a cookie at the end of the
# executable, and a table of contents of entries whose offsets count from the archive's start.
_MAGIC = b"MEI\014\013\012\013\016"
_COOKIE = struct.Struct("!8sIIII64s")
_ENTRY = struct.Struct("!IIIIBc")

_ready: list[str] = []


def make_typst_importable() -> None:
    """Make `import typst` find the verified engine; once per process."""
    if _ready or not getattr(sys, "frozen", False):
        return
    bundle = Path(getattr(sys, "_MEIPASS", "")) / ARCHIVE_FOLDER
    if not (bundle / MANIFEST).is_file():
        _ready.append("")  # a build that holds typst as installed
        return
    manifest = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))

    def archive() -> bytes:
        return carchive_entry(Path(sys.executable), f"{ARCHIVE_FOLDER}/{ARCHIVE}")

    try:
        folder = unpacked(cache_root(), manifest, archive)
    except OSError as exc:
        print(
            f"umrunbook: note: cannot use the engine cache {cache_root()} "
            f"({exc.strerror or exc}); Typst is unpacked for this run only",
            file=sys.stderr,
        )
        folder = unpacked(bundle / "unpacked", manifest, archive)
    # No __pycache__ beside the checked files: the next check would refuse the folder.
    sys.dont_write_bytecode = True
    sys.path.insert(0, str(folder))
    _ready.append(str(folder))


def cache_root() -> Path:
    """The per-user cache folder for unpacked engines."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA", "")
        root = Path(base) if base else Path.home() / "AppData" / "Local"
    else:
        base = os.environ.get("XDG_CACHE_HOME", "")
        # The XDG spec: a relative path there is to be ignored.
        root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "umrunbook" / "engine"


def unpacked(root: Path, manifest: dict[str, object], archive: Callable[[], bytes]) -> Path:
    """The folder under `root` holding the archive's files, each checked against the
    manifest: reused when intact, otherwise (re)unpacked from `archive()` (the zip's bytes,
    read only then) under a temporary name and renamed into place."""
    digest = str(manifest["sha256"])
    files = manifest["files"]
    assert isinstance(files, dict)
    final = root / digest
    if final.is_dir():
        if intact(final, files):
            return final
        _discard(final)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{digest[:16]}-", dir=root))
    try:
        data = archive()
        if hashlib.sha256(data).hexdigest() != digest:
            raise RuntimeError(f"{sys.executable}: the engine archive does not match its digest")
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = sorted(zf.namelist())
            if names != sorted(files):
                raise RuntimeError(f"{sys.executable}: the engine archive's files are not its own")
            for name in names:
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(name) as source, target.open("wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
                if _digest(target) != files[name]:
                    raise RuntimeError(f"{sys.executable}: {name} does not match its digest")
        try:
            os.rename(staging, final)
        except OSError:
            # Another process put its copy in place first: use it, once it is checked.
            if final.is_dir() and intact(final, files):
                return final
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def intact(folder: Path, files: dict[str, str]) -> bool:
    """Whether `folder` holds exactly the manifest's files, each with its SHA-256."""
    found = sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() or path.is_symlink()
    )
    if found != sorted(files):
        return False
    return all(
        not (folder / name).is_symlink() and _digest(folder / name) == files[name] for name in found
    )


def _digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _discard(folder: Path) -> None:
    """Move a damaged copy aside (a rename is atomic) before deleting it."""
    aside = Path(tempfile.mkdtemp(prefix=".discarded-", dir=folder.parent))
    os.rename(folder, aside / folder.name)
    shutil.rmtree(aside, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    kind: str  # PyInstaller's typecode: b, x (unpacked at a start), a (left in), z, s, ...
    offset: int  # from the executable's start
    length: int
    compressed: bool


def carchive_toc(executable: Path) -> list[Entry]:
    """The entries of the PyInstaller archive at the end of `executable`."""
    with executable.open("rb") as f:
        end = f.seek(0, os.SEEK_END)
        # The cookie ends the file, or nearly (a signature may follow it on Windows).
        start = max(0, end - (1 << 20))
        f.seek(start)
        tail = f.read()
        at = tail.rfind(_MAGIC)
        if at < 0:
            raise RuntimeError(f"{executable}: no PyInstaller archive found")
        _magic, length, toc_offset, toc_length, _pyvers, _pylib = _COOKIE.unpack_from(tail, at)
        archive_start = start + at + _COOKIE.size - length
        f.seek(archive_start + toc_offset)
        toc = f.read(toc_length)
    entries = []
    offset = 0
    while offset < len(toc):
        size, data_offset, data_length, _full, compressed, kind = _ENTRY.unpack_from(toc, offset)
        name = toc[offset + _ENTRY.size : offset + size].rstrip(b"\0").decode("utf-8")
        entries.append(
            Entry(
                name,
                kind.decode("ascii"),
                archive_start + data_offset,
                data_length,
                bool(compressed),
            )
        )
        offset += size
    return entries


def carchive_entry(executable: Path, name: str) -> bytes:
    """The bytes of the entry `name` of the PyInstaller archive at the end of `executable`."""
    for entry in carchive_toc(executable):
        if entry.name == name:
            with executable.open("rb") as f:
                f.seek(entry.offset)
                data = f.read(entry.length)
            return zlib.decompress(data) if entry.compressed else data
    raise RuntimeError(f"{executable}: no entry {name} in its archive")
