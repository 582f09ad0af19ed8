"""Pack the typst package (Typst's engine) as one zip for the single-file binary.

    python packaging/engine_archive.py OUT_FOLDER

Run with the build's own interpreter (it packs the typst installed there). Writes
OUT_FOLDER/typst.zip and OUT_FOLDER/typst.json: the archive's SHA-256 and each file's, which
umrunbook/engine.py checks before it imports anything unpacked (see its docstring for why
the engine travels this way). The zip is the same bytes for the same installed typst: names
sorted, one fixed timestamp, no __pycache__. Shared libraries are stripped of symbols, as
PyInstaller's --strip does for everything else in the binary.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib.metadata import version
from pathlib import Path

PACKAGE = "typst"
LIBRARY_SUFFIXES = (".so", ".pyd", ".dylib")


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    spec = importlib.util.find_spec(PACKAGE)
    assert spec and spec.submodule_search_locations, f"{PACKAGE} is not installed here"
    source = Path(next(iter(spec.submodule_search_locations)))
    files: dict[str, str] = {}
    archive = out / f"{PACKAGE}.zip"
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(source.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            name = f"{PACKAGE}/{path.relative_to(source).as_posix()}"
            copy = Path(tmp) / path.name
            shutil.copyfile(path, copy)
            if path.name.endswith(LIBRARY_SUFFIXES) and sys.platform.startswith("linux"):
                subprocess.run(["strip", str(copy)], check=True)
            data = copy.read_bytes()
            files[name] = hashlib.sha256(data).hexdigest()
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if path.stat().st_mode & 0o111 else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=9)
    with archive.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    manifest = {"package": PACKAGE, "version": version(PACKAGE), "sha256": digest, "files": files}
    (out / f"{PACKAGE}.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"{archive}: {archive.stat().st_size / 1e6:.1f} MB, sha256 {digest[:16]}…")


if __name__ == "__main__":
    main()
