"""Whole packages, byte for byte: the example fleet, a fleet on routes to 4.7 and a mixed fleet.

The golden files hold the SHA-256 of every file a render writes, so that a change meant to
alter nothing (a restructure) proves it, and a change meant to alter the output shows which
files it touched. After an intended change, refresh them with UMRUNBOOK_UPDATE_GOLDEN=1 and
review which files changed. The PDF's bytes depend on the Typst engine as well: under another
engine version its extracted text is compared instead, and so is SHA256SUMS without its PDF
lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import need, umrunbook

GOLDEN = Path(__file__).parent / "golden" / "packages"
# The ownership record: its fingerprints cover the generator's own source: it changes with any
# edit of the code, whatever the output.
VOLATILE = {".umrunbook-package.json"}
FLEETS = {
    "example": None,
    "route-fleet": GOLDEN / "route-fleet.yaml",
    "mixed-fleet": GOLDEN / "mixed-fleet.yaml",
}


def _typst_version() -> str:
    import typst

    return str(typst.__version__)


def _pdf_text(path: Path) -> str:
    result = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True
    )
    return hashlib.sha256(result.stdout).hexdigest()


def _manifest(out: Path) -> dict[str, object]:
    files: dict[str, str] = {}
    pdf_text: dict[str, str] = {}
    for path in sorted(out.rglob("*")):
        if not path.is_file():
            continue
        name = path.relative_to(out).as_posix()
        if name in VOLATILE:
            continue
        data = path.read_bytes()
        if name == "SHA256SUMS":
            data = b"".join(
                line
                for line in data.splitlines(keepends=True)
                if not line.rstrip().decode().endswith(tuple(VOLATILE))
            )
        files[name] = hashlib.sha256(data).hexdigest()
        if name.endswith(".pdf"):
            pdf_text[name] = _pdf_text(path)
    return {"typst": _typst_version(), "files": files, "pdf_text": pdf_text}


def _without_pdf_bytes(manifest: dict[str, object]) -> dict[str, object]:
    files = dict(manifest["files"])  # type: ignore[call-overload]
    for name in list(files):
        if name.endswith(".pdf") or name == "SHA256SUMS":
            del files[name]
    return {"files": files, "pdf_text": manifest["pdf_text"]}


@pytest.mark.parametrize("fleet", sorted(FLEETS))
def test_package_matches_its_golden_file(fleet: str, tmp_path: Path) -> None:
    need("pdftotext")
    out = tmp_path / "package"
    inventory = FLEETS[fleet]
    # The runbooks name the inventory as it was given: a path relative to the golden folder
    # holds in any checkout.
    args = ["render", *([inventory.name] if inventory else []), "--out", str(out), "-j", "1"]
    result = umrunbook(args, cwd=GOLDEN)
    assert result.returncode == 0, result.stderr
    got = _manifest(out)
    golden = GOLDEN / f"{fleet}.json"
    if os.environ.get("UMRUNBOOK_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        shutil.rmtree(out)
        return
    want = json.loads(golden.read_text(encoding="utf-8"))
    if want["typst"] != got["typst"]:
        got, want = _without_pdf_bytes(got), _without_pdf_bytes(want)
    changed = sorted(
        name
        for name in {*want["files"], *got["files"]}  # type: ignore[misc]
        if want["files"].get(name) != got["files"].get(name)  # type: ignore[attr-defined]
    )
    assert not changed, f"files that differ from tests/golden/packages/{fleet}.json: {changed}"
    assert want["pdf_text"] == got["pdf_text"]
