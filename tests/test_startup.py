"""What a command imports before it does its work: `--version` and `check` start fast.

Read from the interpreter's own report (`python -X importtime`), of the command run as the
operator runs it: the engines (Typst, Jinja2, markdown-it, segno) are imported only by the
commands that make a document, and `--version` not even the command line's modules.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ENGINES = {"typst", "jinja2", "markdown_it", "mdit_py_plugins", "segno"}
COMMAND_LINE = {"typer", "click", "rich"}


def _imported(args: list[str], cwd: Path) -> tuple[str, set[str]]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "umrunbook", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    modules = {
        line.split("|")[-1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    return result.stdout, modules


def test_version_imports_no_engine_and_not_the_command_line(tmp_path: Path) -> None:
    stdout, modules = _imported(["--version"], tmp_path)
    assert not modules & (ENGINES | COMMAND_LINE), sorted(modules & (ENGINES | COMMAND_LINE))
    # The same line as the command line's own --version (typer's eager option).
    through_typer = subprocess.run(
        [sys.executable, "-c", "from umrunbook.cli import main; main()", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert stdout == through_typer.stdout
    assert stdout.startswith("umrunbook ") and "Typst " in stdout


def test_check_imports_no_engine(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "umrunbook", "init", "inventory.yaml"], cwd=tmp_path, check=True
    )
    stdout, modules = _imported(["check", "inventory.yaml"], tmp_path)
    assert "valid" in stdout
    assert not modules & ENGINES, sorted(modules & ENGINES)
    # The test sees imports: a render imports the engines.
    _, rendering = _imported(
        ["render", "inventory.yaml", "--out", "pkg", "--format", "html"], tmp_path
    )
    assert {"jinja2", "markdown_it"} <= rendering
