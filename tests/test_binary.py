"""The single-file binary and the one-folder build, run as an operator would: from a folder
outside the checkout, with no virtualenv and an empty PYTHONPATH. CI builds both first
(./dev.sh binary)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, need

BINARY = ROOT / "dist" / "umrunbook"
FOLDER_ZIP = ROOT / "dist" / "umrunbook-folder.zip"


def run(args: list[str], cwd: Path, binary: Path = BINARY) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "PYTHONPATH": "", "LANG": "C.UTF-8"}
    return subprocess.run(
        [str(binary), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def binary() -> Path:
    if not BINARY.is_file():
        message = "needs dist/umrunbook: build it with ./dev.sh binary"
        if os.environ.get("UMRUNBOOK_REQUIRE_ALL"):
            pytest.fail(message)
        pytest.skip(message)
    return BINARY


def test_binary_renders_all_three_formats_of_the_example(binary: Path, tmp_path: Path) -> None:
    need("pdfinfo")
    version = run(["--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("umrunbook ")
    result = run(["render", "--out", "pkg"], tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("um-ams-01", "um-ams-02", "um-fra-01"):
        folder = tmp_path / "pkg" / name
        for document in ("runbook.md", "runbook.html", "runbook.pdf", "agent/um-upgrade-agent.sh"):
            assert (folder / document).is_file(), (name, document)
    assert (tmp_path / "pkg/index.html").is_file()
    info = subprocess.run(
        ["pdfinfo", str(tmp_path / "pkg/um-ams-01/runbook.pdf")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Upgrade um-ams-01 to Usage Meter 4.3" in info


def test_binary_init_check_and_errors(binary: Path, tmp_path: Path) -> None:
    assert run(["init"], tmp_path).returncode == 0
    assert run(["check", "inventory.yaml"], tmp_path).returncode == 0
    (tmp_path / "bad.yaml").write_text("change: [\n")
    bad = run(["check", "bad.yaml"], tmp_path)
    assert bad.returncode == 2 and "bad.yaml:2: inventory: invalid YAML" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert "4.1.x, 4.2.x" in run(["paths"], tmp_path).stdout


def test_binary_names_its_engines(binary: Path, tmp_path: Path) -> None:
    version = run(["--version"], tmp_path).stdout
    for engine in ("Typst ", "markdown-it-py ", "Jinja2 "):
        assert engine in version, version
    assert "not recorded" not in version, version


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def test_binary_was_built_from_exactly_the_locked_versions(binary: Path) -> None:
    """Two builds of one commit hold the same code: the build installs the lock's exact
    versions, each checked against its hash, and nothing else."""
    freeze = ROOT / "build" / "binary" / "freeze.txt"
    assert freeze.is_file(), "./dev.sh binary records what it installed in build/binary/freeze.txt"
    lock = _pins((ROOT / "locks" / "binary.txt").read_text(encoding="utf-8"))
    installed = _pins(freeze.read_text(encoding="utf-8"))
    assert installed == lock
    assert "--hash=sha256:" in (ROOT / "locks" / "binary.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def folder_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/umrunbook-folder.zip unpacked as an operator unpacks it, modes kept."""
    if not FOLDER_ZIP.is_file():
        message = "needs dist/umrunbook-folder.zip: build it with ./dev.sh binary"
        if os.environ.get("UMRUNBOOK_REQUIRE_ALL"):
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("unzipped")
    with zipfile.ZipFile(FOLDER_ZIP) as archive:
        for member in archive.infolist():
            path = Path(archive.extract(member, folder))
            mode = member.external_attr >> 16
            if mode & stat.S_IXUSR:
                path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder / "umrunbook" / "umrunbook"


def test_folder_build_renders_a_pdf_and_names_its_engines(
    folder_build: Path, tmp_path: Path
) -> None:
    need("pdfinfo")
    version = run(["--version"], tmp_path, folder_build).stdout
    for engine in ("Typst ", "markdown-it-py ", "Jinja2 "):
        assert engine in version, version
    assert run(["init"], tmp_path, folder_build).returncode == 0
    result = run(["render", "--out", "pkg", "--only", "um-ams-01"], tmp_path, folder_build)
    assert result.returncode == 0, result.stderr
    info = subprocess.run(
        ["pdfinfo", str(tmp_path / "pkg/um-ams-01/runbook.pdf")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Upgrade um-ams-01 to Usage Meter 4.3" in info
