"""The single-file binary and the one-folder build, run as an operator would: from a folder
outside the checkout, with no virtualenv and an empty PYTHONPATH. CI builds both first
(./dev.sh binary)."""

from __future__ import annotations

import os
import py_compile
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, need

BINARY = ROOT / "dist" / "umrunbook"
FOLDER_ZIP = ROOT / "dist" / "umrunbook-folder.zip"


def operator_env(home: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "PYTHONPATH": "",
        "LANG": "C.UTF-8",
        **extra,
    }


def run(
    args: list[str], cwd: Path, binary: Path = BINARY, prefix: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, str(binary), *args],
        cwd=cwd,
        env=operator_env(cwd, **env),
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
    _assert_pdf(tmp_path)


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


# -- Typst's engine in the single file: unpacked once into the user's cache (umrunbook/engine.py)


def _engine_folder(cache: Path) -> Path:
    folders = [p for p in (cache / "umrunbook" / "engine").iterdir()]
    assert len(folders) == 1 and re.fullmatch(r"[0-9a-f]{64}", folders[0].name), folders
    return folders[0]


def _render_one_pdf(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    if not (home / "inventory.yaml").is_file():
        assert run(["init"], home).returncode == 0
    return run(["render", "--out", "pkg", "--only", "um-ams-01", "--format", "pdf"], home, **env)


def _assert_pdf(home: Path) -> None:
    info = subprocess.run(
        ["pdfinfo", str(home / "pkg/um-ams-01/runbook.pdf")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Upgrade um-ams-01 to Usage Meter 4.3" in info


def test_binary_unpacks_the_engine_once_into_the_user_cache(binary: Path, tmp_path: Path) -> None:
    need("pdfinfo")
    cache = tmp_path / "xdg-cache"
    assert run(["--version"], tmp_path, XDG_CACHE_HOME=str(cache)).returncode == 0
    assert not cache.exists(), "--version needs no engine and unpacks none"
    first = _render_one_pdf(tmp_path, XDG_CACHE_HOME=str(cache))
    assert first.returncode == 0, first.stderr
    _assert_pdf(tmp_path)
    engine = _engine_folder(cache)
    library = next(engine.glob("typst/_typst.*"))
    before = library.stat()
    (tmp_path / "pkg/um-ams-01/runbook.pdf").unlink()
    again = _render_one_pdf(tmp_path, XDG_CACHE_HOME=str(cache))
    assert again.returncode == 0 and "note:" not in again.stderr, again.stderr
    _assert_pdf(tmp_path)
    assert (library.stat().st_ino, library.stat().st_mtime_ns) == (
        before.st_ino,
        before.st_mtime_ns,
    )
    assert _engine_folder(cache) == engine
    assert [p.name for p in engine.parent.iterdir()] == [engine.name], "no staging left"
    assert not (engine / "typst" / "__pycache__").exists()


def test_binary_without_xdg_cache_home_uses_home_cache(binary: Path, tmp_path: Path) -> None:
    need("pdfinfo")
    result = _render_one_pdf(tmp_path)
    assert result.returncode == 0, result.stderr
    _engine_folder(tmp_path / ".cache")


@pytest.mark.parametrize("change", ["edited", "added"])
def test_binary_refuses_an_altered_engine_cache(binary: Path, tmp_path: Path, change: str) -> None:
    """A file in the cache changed by hand, or one added, is never imported: the folder is
    unpacked afresh from the binary."""
    need("pdfinfo")
    cache = tmp_path / "cache"
    assert _render_one_pdf(tmp_path, XDG_CACHE_HOME=str(cache)).returncode == 0
    engine = _engine_folder(cache)
    marker = tmp_path / "imported-the-altered-file"
    planted = f"open({str(marker)!r}, 'w').close()\n"
    if change == "edited":
        init = engine / "typst" / "__init__.py"
        original = init.read_bytes()
        init.write_text(planted + original.decode("utf-8"))
    else:
        # Bytecode beside the checked source: an unchecked-hash .pyc is run without a look
        # at the source it claims to come from.
        source = tmp_path / "planted.py"
        source.write_text(planted + (engine / "typst" / "__init__.py").read_text())
        pyc = engine / "typst" / "__pycache__" / f"__init__.{sys.implementation.cache_tag}.pyc"
        py_compile.compile(
            str(source), str(pyc), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
        )
    (tmp_path / "pkg/um-ams-01/runbook.pdf").unlink()
    result = _render_one_pdf(tmp_path, XDG_CACHE_HOME=str(cache))
    assert result.returncode == 0, result.stderr
    _assert_pdf(tmp_path)
    assert not marker.exists()
    engine = _engine_folder(cache)
    if change == "edited":
        assert (engine / "typst" / "__init__.py").read_bytes() == original
    else:
        assert not (engine / "typst" / "__pycache__").exists()
    assert [p.name for p in engine.parent.iterdir()] == [engine.name], "nothing left aside"


def test_binary_renders_when_the_cache_cannot_be_written(binary: Path, tmp_path: Path) -> None:
    """A read-only cache folder: the engine goes to the run's own temporary folder, with a
    one-line note, and the PDF is written all the same."""
    need("pdfinfo")
    cache = tmp_path / "cache"
    cache.mkdir()
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:  # root writes through file modes: a read-only mount instead
        need("unshare")
        script = f'mount --bind -o ro "{cache}" "{cache}" && exec "$0" "$@"'
        prefix = ("unshare", "-m", "sh", "-c", script)
    else:
        cache.chmod(0o555)
    try:
        assert run(["init"], tmp_path).returncode == 0
        args = ["render", "--out", "pkg", "--only", "um-ams-01", "--format", "pdf"]
        result = run(args, tmp_path, prefix=prefix, XDG_CACHE_HOME=str(cache))
    finally:
        cache.chmod(0o755)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "engine cache" in line]
    assert len(notes) == 1 and "unpacked for this run only" in notes[0], result.stderr
    assert str(cache / "umrunbook" / "engine") in notes[0]
    _assert_pdf(tmp_path)
    assert list(cache.iterdir()) == []


def test_two_renders_at_once_share_an_empty_cache(binary: Path, tmp_path: Path) -> None:
    need("pdfinfo")
    cache = tmp_path / "cache"
    homes = [tmp_path / "a", tmp_path / "b"]
    for home in homes:
        home.mkdir()
        assert run(["init"], home).returncode == 0
    args = ["render", "--out", "pkg", "--only", "um-ams-01", "--format", "pdf"]
    started = [
        subprocess.Popen(
            [str(binary), *args],
            cwd=home,
            env=operator_env(home, XDG_CACHE_HOME=str(cache)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for home in homes
    ]
    for process in started:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    for home in homes:
        _assert_pdf(home)
    engine = _engine_folder(cache)
    assert [p.name for p in engine.parent.iterdir()] == [engine.name], "no staging left"


def test_a_start_of_the_single_file_leaves_the_engine_in_the_executable(binary: Path) -> None:
    """What a start unpacks (BINARY, DATA, ZIPFILE and SYMLINK entries) holds no part of
    Typst's engine; the engine's zip is in the executable, with the digest its manifest
    names."""
    import hashlib
    import json

    from umrunbook.engine import carchive_entry, carchive_toc

    entries = carchive_toc(binary)
    unpacked = [e for e in entries if e.kind in "bxZn"]
    assert not [e.name for e in unpacked if e.name.startswith("typst/")]
    assert [(e.name, e.kind) for e in entries if e.name.endswith("typst.zip")] == [
        ("umrunbook-engine/typst.zip", "a")
    ]
    manifest_entry = carchive_entry(binary, "umrunbook-engine/typst.json")
    manifest = json.loads(manifest_entry)
    archive = carchive_entry(binary, "umrunbook-engine/typst.zip")
    assert hashlib.sha256(archive).hexdigest() == manifest["sha256"]
    assert any(name.startswith("typst/_typst.") for name in manifest["files"])
    # A start writes what is left: some 28 MB, where it wrote 101 MB with the engine inside.
    written = sum(e.length for e in unpacked)
    assert written < 40_000_000, written
    assert not [e.name for e in entries if "setuptools" in e.name or e.name == "pyi_rth_setuptools"]
