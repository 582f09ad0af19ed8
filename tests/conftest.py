"""Shared test helpers: real tools are required in CI and skipped with a reason elsewhere."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

# The shared helpers assert too: their failures are shown as pytest shows a test's own.
pytest.register_assert_rewrite("tests.helpers")

ROOT = Path(__file__).resolve().parent.parent
# Output of the example fleet is dated by SOURCE_DATE_EPOCH so that golden files hold.
FIXED_EPOCH = "1764000000"


def need(*tools: str) -> None:
    """Skip (with the reason printed) when a real tool is missing; in CI, fail instead."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not missing:
        return
    message = f"needs {', '.join(missing)} (installed by ./dev.sh test as root)"
    if os.environ.get("UMRUNBOOK_REQUIRE_ALL"):
        pytest.fail(message)
    pytest.skip(message)


def need_playwright(node_dir: Path) -> None:
    """Chromium and node, and Playwright installed under `node_dir` (npm); like need()."""
    need("chromium", "node")
    if not (node_dir / "node_modules" / "playwright-core").is_dir():
        where = node_dir.relative_to(ROOT).as_posix()
        message = f"needs {where}/node_modules (npm install --prefix {where})"
        if os.environ.get("UMRUNBOOK_REQUIRE_ALL"):
            pytest.fail(message)
        pytest.skip(message)


def need_module(*modules: str) -> None:
    """Like need(), for the Python packages of the [dev] extras that the tests import."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if not missing:
        return
    message = f"needs the Python modules {', '.join(missing)} (pip install -e '.[dev]')"
    if os.environ.get("UMRUNBOOK_REQUIRE_ALL"):
        pytest.fail(message)
    pytest.skip(message)


def need_root() -> None:
    if os.geteuid() != 0:
        message = "needs root (a private mount namespace)"
        if os.environ.get("UMRUNBOOK_REQUIRE_ALL"):
            pytest.fail(message)
        pytest.skip(message)


def umrunbook(
    args: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process, as a user would."""
    full_env = {**os.environ, "SOURCE_DATE_EPOCH": FIXED_EPOCH, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "umrunbook", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def example_inventory_file(tmp_path: Path) -> Path:
    """The example inventory written by `umrunbook init` into a temporary folder."""
    from umrunbook.inventory.example import example_text

    path = tmp_path / "inventory.yaml"
    path.write_text(example_text(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def agent_evidence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Evidence written by the real agent after a whole run on the simulated appliance (needs
    root; imported here, as tests/agent/helpers.py imports this module)."""
    from tests.agent.helpers import make_rig, upgraded_and_rebooted

    root = tmp_path_factory.mktemp("evidence")
    rig = make_rig(root / "sim")
    assert rig.agent("preflight").code == 0
    upgraded_and_rebooted(rig)
    verify = rig.agent("verify", "--poll-interval", "1", from_state=True)
    assert verify.code == 0, verify
    assert rig.agent("finish", from_state=True).code == 0
    target = root / "evidence-um-ams-01-CHG0012345.json"
    shutil.copy(rig.evidence_path(), target)
    return target
