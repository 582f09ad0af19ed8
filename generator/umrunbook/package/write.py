"""Writing a change package: the files umrunbook owns, all of them or none; nothing else.

The folder may hold the operator's own files beside the package, so it is never swapped as a
whole. New files are staged in a transaction folder inside it (the same filesystem, so every
move is a rename), then moved into place one by one, each an atomic replacement, with the
ownership record last. The moves are a short critical section in which Ctrl-C and SIGTERM
wait: an interruption before it leaves the previous package, after it the new one, either
complete and with no staging folder left behind. A process killed outright (SIGKILL, power)
leaves the transaction folder with its journal, and the next write rolls it back or
forward before anything else.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

from umrunbook import __version__
from umrunbook.errors import INTERRUPTED_AFTER, Interrupted, OutputError
from umrunbook.package.ownership import (
    BOOKKEEPING,
    MANIFEST,
    MARKER,
    ApplianceRecord,
    Ownership,
    checksums,
    manifest_bytes,
    read_ownership,
    sha256_file,
)
from umrunbook.package.signals import signals_deferred

__all__ = ["MARKER", "checksums", "package_folder", "prepare", "write_package_atomically"]

TRANSACTION = ".umrunbook-transaction"
_JOURNAL = "journal.json"


def package_folder(out_dir: Path) -> Path:
    """The folder to write: a symbolic link is followed, never replaced by a folder."""
    out_dir = out_dir.absolute()
    if out_dir.is_symlink():
        target = out_dir.resolve()
        if target.exists() and not target.is_dir():
            raise OutputError(f"{out_dir}: links to {target}, which is not a folder")
        return target
    return out_dir


def prepare(out_dir: Path) -> Ownership:
    """The package now in out_dir (after finishing any transaction a killed run left)."""
    out_dir = package_folder(out_dir)
    _recover(out_dir)
    return read_ownership(out_dir)


def write_package_atomically(
    out_dir: Path,
    files: Mapping[str, bytes],
    executable: frozenset[str] = frozenset(),
    kept: Mapping[str, str] | None = None,
    appliances: Mapping[str, ApplianceRecord] | None = None,
    previous: Ownership | None = None,
    *,
    released: frozenset[str] = frozenset(),
) -> None:
    """Make the package in out_dir own `files` (written now) and `kept` (already in place,
    name -> SHA-256), and nothing else: files it owned before and owns no more are removed.

    Files it does not own are never touched; a new file whose name one of them holds is
    refused before anything is written. `previous` is what `prepare` returned, when the
    caller already read it. `released` names files it owned that stay where they are,
    the operator's from now on (changed by hand).
    """
    out_dir = package_folder(out_dir)
    if previous is None:
        previous = prepare(out_dir)
    kept = dict(kept or {})
    _refuse_foreign(out_dir, files, previous)

    owned = {**kept, **{name: _digest(data) for name, data in files.items()}}
    manifest = manifest_bytes(owned, appliances or {}, f"umrunbook {__version__}")
    sums = checksums({**owned, MANIFEST: _digest(manifest)})
    writes = {**files, MARKER: sums, MANIFEST: manifest}  # the record last: the commit
    removes = sorted(set(previous.files) - set(owned) - BOOKKEEPING - released)

    created = not out_dir.exists()
    transaction = out_dir / TRANSACTION
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (transaction / "new").mkdir(parents=True)
        (transaction / "old").mkdir()
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create the output folder: {exc.strerror}") from None
    try:
        for name, data in writes.items():
            target = transaction / "new" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            os.chmod(target, 0o755 if name in executable else 0o644)
        journal = {"installs": list(writes), "removes": removes, "manifest": _digest(manifest)}
        (transaction / _JOURNAL).write_text(json.dumps(journal), encoding="utf-8")
    except BaseException as exc:
        with signals_deferred():
            _discard(transaction, out_dir if created else None)
        if isinstance(exc, OSError):
            raise OutputError(
                f"{out_dir}: writing the package failed ({exc.strerror or exc}); "
                "the previous package is untouched"
            ) from None
        raise

    with signals_deferred() as caught:
        try:
            _swap(out_dir, transaction, list(writes), removes)
        except OSError as exc:
            _roll_back(out_dir, transaction, list(writes), removes)
            _discard(transaction, out_dir if created else None)
            raise OutputError(
                f"{out_dir}: writing the package failed ({exc.strerror or exc}); "
                "the previous package is untouched"
            ) from None
        shutil.rmtree(transaction, ignore_errors=True)
        _prune_empty_folders(out_dir, removes)
    if caught:
        raise Interrupted(INTERRUPTED_AFTER)


def _digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _refuse_foreign(out_dir: Path, files: Mapping[str, bytes], previous: Ownership) -> None:
    """A file to write where the operator keeps one of theirs (or a link) is refused."""
    owned = set(previous.files) | BOOKKEEPING if previous.exists else set()
    clashes = []
    for name in sorted(files):
        path = out_dir / name
        parts = name.split("/")
        parents = [out_dir.joinpath(*parts[:n]) for n in range(1, len(parts))]
        in_the_way = any(p.is_symlink() or (p.exists() and not p.is_dir()) for p in parents)
        if in_the_way or ((path.exists() or path.is_symlink()) and name not in owned):
            clashes.append(name)
    if clashes:
        shown = ", ".join(clashes[:5]) + (" ..." if len(clashes) > 5 else "")
        raise OutputError(
            f"{out_dir}: not written by umrunbook, and in the way of the package: {shown}; "
            "nothing was written\n  hint: move them out of the folder, then run again"
        )


def _swap(out_dir: Path, transaction: Path, installs: list[str], removes: list[str]) -> None:
    for name in installs:
        target = out_dir / name
        if target.is_file() and not target.is_symlink():
            _backup(target, transaction / "old" / name)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(transaction / "new" / name, target)
    for name in removes:
        target = out_dir / name
        if target.is_file() or target.is_symlink():
            backup = transaction / "old" / name
            backup.parent.mkdir(parents=True, exist_ok=True)
            os.rename(target, backup)


def _backup(path: Path, backup: Path) -> None:
    """A hard link keeps the old file for a roll-back while the new one replaces it."""
    backup.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(path, backup)
    except OSError:
        shutil.copy2(path, backup)


def _roll_back(out_dir: Path, transaction: Path, installs: list[str], removes: list[str]) -> None:
    """Every file back as it was: what the journal moved in goes, what it moved out returns."""
    for name in [*installs, *removes]:
        backup = transaction / "old" / name
        target = out_dir / name
        if backup.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(backup, target)
        elif name in installs and not (transaction / "new" / name).exists():
            with suppress(FileNotFoundError):
                target.unlink()
    _prune_empty_folders(out_dir, installs)


def _recover(out_dir: Path) -> None:
    """Finish the transaction of a run that was killed outright: forward when its record
    was in place (the commit), else back."""
    transaction = out_dir / TRANSACTION
    if not transaction.is_dir() or transaction.is_symlink():
        return
    try:
        journal = json.loads((transaction / _JOURNAL).read_text(encoding="utf-8"))
        installs = [str(n) for n in journal["installs"]]
        removes = [str(n) for n in journal["removes"]]
        committed = (out_dir / MANIFEST).is_file() and sha256_file(out_dir / MANIFEST) == journal[
            "manifest"
        ]
    except (OSError, ValueError, KeyError, TypeError):
        installs, removes, committed = [], [], False  # killed while staging: nothing moved
    with signals_deferred():
        if committed:
            for name in removes:  # a kill during the removals: finish them
                with suppress(FileNotFoundError):
                    (out_dir / name).unlink()
            _prune_empty_folders(out_dir, removes)
        else:
            _roll_back(out_dir, transaction, installs, removes)
        shutil.rmtree(transaction, ignore_errors=True)


def _discard(transaction: Path, created: Path | None) -> None:
    shutil.rmtree(transaction, ignore_errors=True)
    if created is not None:
        with suppress(OSError):
            created.rmdir()


def _prune_empty_folders(out_dir: Path, names: list[str]) -> None:
    """Folders left empty by removed files go too; one holding anything else stays."""
    folders = {(out_dir / name).parent for name in names}
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        while folder != out_dir and out_dir in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent
