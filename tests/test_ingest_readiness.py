"""`ingest` of the agent's readiness file: into the fleet index and each runbook's night plan;
a changed file is refused by its digest."""

from __future__ import annotations

import html
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import umrunbook
from umrunbook.inventory.example import example_text
from umrunbook.rehearsal.simulator import ApplianceSpec


@pytest.fixture(scope="module")
def readiness_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real agent's readiness file of um-ams-01, whose root password has expired."""
    from tests.agent.helpers import make_rig

    root = tmp_path_factory.mktemp("readiness")
    rig = make_rig(root / "sim", ApplianceSpec(root_password_expires="Jan 01, 2020"))
    result = rig.agent("readiness")
    assert result.code == 1, result
    target = root / "readiness-um-ams-01-CHG0012345.json"
    shutil.copy(rig.app.state_dir / target.name, target)
    return target


@pytest.fixture
def package(tmp_path: Path) -> tuple[Path, Path]:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(example_text(), encoding="utf-8")
    out = tmp_path / "pkg"
    result = umrunbook(["render", str(inventory), "--format", "md,html", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    return inventory, out


def ingest(path: Path, inventory: Path, out: Path) -> tuple[int, str, str]:
    args = ["ingest", str(path), "--inventory", str(inventory), "--out", str(out)]
    result = umrunbook([*args, "--format", "md,html"])
    return result.returncode, result.stdout, result.stderr


def test_readiness_goes_into_the_index_and_the_night_plan(
    readiness_file: Path, package: tuple[Path, Path]
) -> None:
    inventory, out = package
    index_before = (out / "index.html").read_text(encoding="utf-8")
    assert "Readiness" not in index_before
    other_before = (out / "um-fra-01" / "runbook.md").read_bytes()
    code, stdout, stderr = ingest(readiness_file, inventory, out)
    assert code == 0, stderr
    row = stdout.splitlines()[1].split()
    assert row[:5] == ["um-ams-01", "4.3", "readiness", "not", "ready"], stdout

    index = html.unescape((out / "index.html").read_text(encoding="utf-8"))
    assert '<th scope="col">Readiness</th>' in index
    assert "not ready (root password: root's password expired on Jan 01, 2020" in index
    assert "not recorded" in index  # the appliances without a readiness run

    runbook = (out / "um-ams-01" / "runbook.md").read_text(encoding="utf-8")
    part = runbook[runbook.index("## Readiness (days before the window)") :]
    assert part.index("**Source:** Added by umrunbook: what the night depends on") < 200
    assert "`bash /root/um-upgrade-agent.sh readiness`" in part
    # The part names the file where the package's evidence fetch puts it.
    assert f"`umrunbook ingest um-ams-01/evidence/um-upgrade-agent/{readiness_file.name} " in part
    night = runbook[runbook.index("## Night plan") : runbook.index("## Readiness (days")]
    assert "**Readiness:** not ready (root password: root" in night
    assert "expired on Jan 01, 2020" in night and "recorded 20" in night
    page = html.unescape((out / "um-ams-01" / "runbook.html").read_text(encoding="utf-8"))
    assert "Readiness:</strong> not ready (root password" in page
    # Only the appliance with a readiness run is written again; no as-executed runbook.
    assert (out / "um-fra-01" / "runbook.md").read_bytes() == other_before
    assert not (out / "um-ams-01" / "as-executed.md").exists()
    sums = (out / "SHA256SUMS").read_text(encoding="utf-8")
    assert "um-ams-01/runbook.md" in sums
    check = subprocess.run(
        ["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr  # the package stays consistent


def test_a_changed_readiness_file_is_refused(
    readiness_file: Path, package: tuple[Path, Path], tmp_path: Path
) -> None:
    inventory, out = package
    changed = tmp_path / readiness_file.name
    text = readiness_file.read_text(encoding="utf-8")
    assert '"verdict": "not ready"' in text
    changed.write_text(text.replace('"verdict": "not ready"', '"verdict": "ready"', 1))
    index_before = (out / "index.html").read_bytes()
    code, _, stderr = ingest(changed, inventory, out)
    assert code != 0
    assert "its digest does not match its content" in stderr
    assert "readiness command again" in stderr
    assert (out / "index.html").read_bytes() == index_before
