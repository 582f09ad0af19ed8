"""`ingest`: the real agent's evidence round-trips; changed, truncated, foreign files refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import umrunbook
from tests.helpers import example_plan, inventory_text, step_number, tree
from umrunbook.inventory.example import example_text


@pytest.fixture
def package(tmp_path: Path) -> tuple[Path, Path]:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(example_text(), encoding="utf-8")
    out = tmp_path / "pkg"
    result = umrunbook(["render", str(inventory), "--format", "md", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    return inventory, out


def test_agent_evidence_round_trips_into_an_as_executed_runbook(
    agent_evidence: Path, package: tuple[Path, Path]
) -> None:
    inventory, out = package
    before = tree(out)
    result = umrunbook(
        [
            "ingest",
            str(agent_evidence),
            "--inventory",
            str(inventory),
            "--out",
            str(out),
            "--format",
            "md",
        ]
    )
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()[:2]
    assert header.split() == [
        "appliance",
        "target",
        "phase",
        "result",
        "before",
        "after",
        "started",
        "finished",
        "duration",
    ]
    assert row.split()[:6] == [
        "um-ams-01",
        "4.3",
        "verified",
        "upgraded",
        "4.2.0.0-12345",
        "4.3.0.0-21000000",
    ]
    text = (out / "um-ams-01/as-executed.md").read_text()
    assert text.startswith("# As executed: upgrade um-ams-01 to Usage Meter 4.3")
    number = {s.id: s.number for s in example_plan().hops[0].steps}
    assert f"- [x] Step {number['preflight']}: **PASS** at " in text
    assert f"- [x] Step {number['upgrade']}: **PASS** at " in text and "exit code 0" in text
    assert f"- [x] Step {number['reboot']}: **PASS**" in text  # from the boot ids
    assert f"- [x] Step {number['verify']}: **PASS**" in text
    # Every value the agent recorded shows at its step: the snapshot's name (recorded at
    # preflight) on the prerequisite and at the snapshot step, free space, SSH put back.
    recorded = "(snapshot 'vc01 / DC1 / um-ams-01', confirmed with --yes)"
    assert f"- [x] Step {number['snapshot']}: **PASS** at " in text
    snapshot_lines = [line for line in text.splitlines() if recorded in line]
    assert len(snapshot_lines) == 3, snapshot_lines  # the two prerequisites and the step
    assert any(line.startswith("- [x] Snapshot to take: ") for line in snapshot_lines)
    assert "no record in the evidence" not in "".join(snapshot_lines)
    preflight = next(
        x for x in text.splitlines() if x.startswith(f"- [x] Step {number['preflight']}:")
    )
    assert "KiB free, the bundle " in preflight and "umrunbook's margin 16384 KiB" in preflight
    assert (
        f"- [x] Step {number['stop-ssh']}: **PASS** at " in text
        and "sshd enabled no, running no; before the change: enabled no, running no" in text
    )
    after = tree(out)
    regenerated = {"SHA256SUMS", "index.html", ".umrunbook-package.json"}
    assert {k: v for k, v in after.items() if "as-executed" not in k and k not in regenerated} == {
        k: v for k, v in before.items() if k not in regenerated
    }
    assert 'href="um-ams-01/as-executed.md"' in (out / "index.html").read_text()
    sums = subprocess.run(
        ["sha256sum", "-c", "--quiet", "SHA256SUMS"],
        cwd=out,
        capture_output=True,
        text=True,
        check=False,
    )
    assert sums.returncode == 0, sums.stdout
    assert "um-ams-01/as-executed.md" in (out / "SHA256SUMS").read_text()


def test_changed_truncated_and_foreign_files_are_refused_the_rest_read(
    agent_evidence: Path, tmp_path: Path
) -> None:
    text = agent_evidence.read_text()
    changed = tmp_path / "changed.json"
    changed.write_text(text.replace('"result": "upgraded"', '"result": "failed"'))
    truncated = tmp_path / "truncated.json"
    truncated.write_text(text[: len(text) // 2])
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"name": "something else"}))
    result = umrunbook(["ingest", str(changed), str(truncated), str(foreign), str(agent_evidence)])
    assert result.returncode == 1
    assert f"error: {changed}: its digest does not match its content" in result.stderr
    assert f"error: {truncated}: not valid JSON" in result.stderr
    assert "truncated or damaged" in result.stderr
    assert f"error: {foreign}: not an umrunbook evidence file" in result.stderr
    assert "3 evidence files could not be used." in result.stderr
    assert "um-ams-01" in result.stdout and "upgraded" in result.stdout
    assert "Traceback" not in result.stderr


def test_manual_steps_from_the_page_show_who_and_when(
    agent_evidence: Path, package: tuple[Path, Path], tmp_path: Path
) -> None:
    inventory, out = package
    manual = tmp_path / "manual-um-ams-01.json"
    manual.write_text(
        json.dumps(
            {
                "schema": "umrunbook-manual-steps/1",
                "ticket": "CHG0012345",
                "appliance": "um-ams-01",
                "exported_at": "2026-12-05T23:59:00Z",
                "steps": [
                    {
                        "id": "snapshot",
                        "title": "Take a snapshot",
                        "checked": True,
                        "at": "2026-12-05T22:05:00Z",
                        "initials": "JO",
                    },
                    {"id": "enable-ssh", "checked": False},
                ],
            }
        )
    )
    result = umrunbook(
        [
            "ingest",
            str(agent_evidence),
            str(manual),
            "--inventory",
            str(inventory),
            "--out",
            str(out),
            "--format",
            "md",
        ]
    )
    assert result.returncode == 0, result.stderr
    assert "manual steps" in result.stdout
    text = (out / "um-ams-01/as-executed.md").read_text()
    snapshot, enable_ssh = (step_number(example_plan(), s) for s in ("snapshot", "enable-ssh"))
    assert f"- [x] Step {snapshot}: **done** at 2026-12-05T22:05:00Z by JO" in text
    assert f"- [ ] Step {enable_ssh}: no record in the evidence." in text


def test_evidence_of_another_change_and_option_misuse(
    agent_evidence: Path, package: tuple[Path, Path], tmp_path: Path
) -> None:
    inventory, out = package
    other = tmp_path / "other.yaml"
    other.write_text(inventory_text(change={"ticket": "CHG0099999"}))
    result = umrunbook(
        [
            "ingest",
            str(agent_evidence),
            "--inventory",
            str(other),
            "--out",
            str(out),
            "--format",
            "md",
        ]
    )
    assert result.returncode == 1
    assert "belongs to change CHG0012345, but the inventory is for CHG0099999" in result.stderr
    half = umrunbook(["ingest", str(agent_evidence), "--inventory", str(inventory)])
    assert half.returncode == 2 and "--inventory and --out go together" in half.stderr
    missing = umrunbook(["ingest", str(tmp_path / "nope.json")])
    assert missing.returncode == 1 and "nope.json: no such file" in missing.stderr


def _resigned(evidence: Path, target: Path, agent_sha256: str) -> Path:
    """The evidence as an agent whose file hashes to `agent_sha256` would have written it: a
    forgery with its digest made again, which the digest alone cannot tell."""
    import re

    from umrunbook.planning.agent_file import evidence_digest

    text = evidence.read_text(encoding="utf-8")
    text = re.sub(r'"file_sha256": "[0-9a-f]*"', f'"file_sha256": "{agent_sha256}"', text)
    blank = re.sub(r'"digest": "sha256:[0-9a-f]+"', '"digest": ""', text)
    target.write_text(
        blank.replace('"digest": ""', f'"digest": "sha256:{evidence_digest(blank)}"', 1),
        encoding="utf-8",
    )
    return target


def test_evidence_from_an_agent_the_package_does_not_hold_is_named(
    agent_evidence: Path, package: tuple[Path, Path], tmp_path: Path
) -> None:
    import hashlib

    inventory, out = package
    args = ["--inventory", str(inventory), "--out", str(out), "--format", "md"]
    recorded = json.loads(agent_evidence.read_text())["agent"]["file_sha256"]
    packaged = hashlib.sha256(
        (out / "um-ams-01/agent/um-upgrade-agent.sh").read_bytes()
    ).hexdigest()
    assert recorded != packaged  # the test rig builds its own agent
    foreign = umrunbook(["ingest", str(agent_evidence), *args])
    assert foreign.returncode == 0, foreign.stderr  # used, with the doubt named
    assert (
        f"warning: {agent_evidence}: was written by an agent (file sha256 {recorded}) that is "
        "not the package's agent for um-ams-01" in " ".join(foreign.stderr.split())
    )
    own = _resigned(agent_evidence, tmp_path / "evidence.json", packaged)
    matched = umrunbook(["ingest", str(own), *args])
    assert matched.returncode == 0, matched.stderr
    assert "warning" not in matched.stderr
    forged = _resigned(agent_evidence, tmp_path / "forged.json", "0" * 64)
    assert "file sha256 " + "0" * 64 in umrunbook(["ingest", str(forged), *args]).stderr
