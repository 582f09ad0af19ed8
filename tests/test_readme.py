"""The README's command reference is generated from --help and must not go stale."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.conftest import ROOT, umrunbook

README = ROOT / "README.md"
COMMANDS = ("init", "check", "paths", "render", "ticket", "ingest", "rehearse")
PLAIN = {"TYPER_USE_RICH": "0", "COLUMNS": "100", "NO_COLOR": "1"}


def reference() -> str:
    parts = []
    for command in COMMANDS:
        result = umrunbook([command, "--help"], env=PLAIN)
        assert result.returncode == 0, result.stderr
        help_text = result.stdout.replace("python -m umrunbook", "umrunbook").rstrip()
        parts.append(f"### `umrunbook {command}`\n\n```text\n{help_text}\n```\n")
    return "\n".join(parts)


def test_readme_command_reference_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(r"(<!-- cli-reference:start -->\n)(.*?)(<!-- cli-reference:end -->)", re.S)
    current = pattern.search(text)
    assert current, "the README lost its cli-reference markers"
    wanted = reference()
    if os.environ.get("UMRUNBOOK_UPDATE_GOLDEN"):
        README.write_text(
            pattern.sub(lambda m: m.group(1) + wanted + m.group(3), text), encoding="utf-8"
        )
        return
    assert current.group(2) == wanted


def test_readme_quick_start_is_the_two_dev_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "./dev.sh demo" in text and "./dev.sh test" in text
    assert "./dev.sh test" in Path(ROOT / ".ci/run").read_text()
