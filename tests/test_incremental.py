"""render --jobs / --force and incremental re-rendering, through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import umrunbook
from tests.helpers import tree


def render(inventory: Path, out: Path, *extra: str) -> list[str]:
    result = umrunbook(["render", str(inventory), "--format", "md", "--out", str(out), *extra])
    assert result.returncode == 0, result.stderr
    return sorted(line for line in result.stderr.splitlines() if ": " in line)


def test_unchanged_appliances_are_kept_and_changed_ones_rendered(
    tmp_path: Path, example_inventory_file: Path
) -> None:
    out = tmp_path / "pkg"
    assert render(example_inventory_file, out) == [
        "um-ams-01: rendered",
        "um-ams-02: rendered",
        "um-fra-01: rendered",
    ]
    first = tree(out)
    assert render(example_inventory_file, out) == [
        "um-ams-01: unchanged",
        "um-ams-02: unchanged",
        "um-fra-01: unchanged",
    ]
    assert tree(out) == first

    text = example_inventory_file.read_text().replace(
        "snapshot: vc02 / DC-Frankfurt / um-fra-01", "snapshot: vc03 / DC-Frankfurt / um-fra-01"
    )
    example_inventory_file.write_text(text)
    assert render(example_inventory_file, out) == [
        "um-ams-01: unchanged",
        "um-ams-02: unchanged",
        "um-fra-01: rendered",
    ]
    after = tree(out)
    assert after["um-ams-01/runbook.md"] == first["um-ams-01/runbook.md"]
    assert after["um-fra-01/runbook.md"] != first["um-fra-01/runbook.md"]
    assert "vc03 / DC-Frankfurt" in (out / "um-fra-01/runbook.md").read_text()

    assert render(example_inventory_file, out, "--force") == [
        "um-ams-01: rendered",
        "um-ams-02: rendered",
        "um-fra-01: rendered",
    ]


def test_other_options_or_missing_files_render_again(
    tmp_path: Path, example_inventory_file: Path
) -> None:
    out = tmp_path / "pkg"
    render(example_inventory_file, out)
    (out / "um-ams-02/runbook.md").unlink()
    assert render(example_inventory_file, out) == [
        "um-ams-01: unchanged",
        "um-ams-02: rendered",
        "um-fra-01: unchanged",
    ]
    assert (out / "um-ams-02/runbook.md").is_file()
    # The fingerprints live in the package's ownership record: a foreign one renders all.
    manifest = out / ".umrunbook-package.json"
    record = json.loads(manifest.read_text())
    for entry in record["appliances"].values():
        entry["fingerprint"] = "0" * 64
    manifest.write_text(json.dumps(record))
    assert all(line.endswith("rendered") for line in render(example_inventory_file, out))
    record = json.loads(manifest.read_text())
    assert sorted(record["appliances"]) == ["um-ams-01", "um-ams-02", "um-fra-01"]


def test_parallel_output_is_identical_to_serial(
    tmp_path: Path, example_inventory_file: Path
) -> None:
    render(example_inventory_file, tmp_path / "one", "--jobs", "1")
    render(example_inventory_file, tmp_path / "two", "--jobs", "2")
    assert tree(tmp_path / "one") == tree(tmp_path / "two")
    bad = umrunbook(["render", "--jobs", "0", "--out", str(tmp_path / "x")])
    assert bad.returncode == 2 and "--jobs 0: give 1 or more" in bad.stderr


def test_a_terminal_gets_a_progress_bar_instead_of_lines(tmp_path: Path) -> None:
    import shlex
    import subprocess
    import sys

    from tests.conftest import FIXED_EPOCH, need

    need("script")  # util-linux: runs the command on a pseudo-terminal
    command = shlex.join(
        [
            sys.executable,
            "-m",
            "umrunbook",
            "render",
            "--format",
            "md",
            "--out",
            str(tmp_path / "pkg"),
        ]
    )
    result = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "SOURCE_DATE_EPOCH": FIXED_EPOCH,
            "TERM": "xterm",
            "COLUMNS": "100",
        },
    )
    assert result.returncode == 0, result.stdout
    assert "Rendering" in result.stdout and "100%" in result.stdout
    assert "um-ams-02: rendered" not in result.stdout  # the plain lines are for logs
    assert "Wrote " in result.stdout
