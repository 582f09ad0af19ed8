"""Manual steps leave evidence: ticked in real Chromium with initials, exported from the page,
ingested beside the real agent's evidence, shown in the as-executed Markdown, HTML and PDF."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need, need_playwright, umrunbook
from tests.helpers import example_plan, step_heading, step_number
from tests.helpers.html import NODE_DIR
from tests.helpers.pdf import assert_pdf_carries_the_markdown, run
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.inventory.example import example_inventory, example_text
from umrunbook.planning.bind import plan_fleet

SCRIPT = NODE_DIR / "export-evidence.mjs"
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def browser(*args: str) -> dict[str, Any]:
    need_playwright(NODE_DIR)
    result = subprocess.run(
        ["node", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "CHROMIUM": os.environ.get("CHROMIUM", "/usr/bin/chromium")},
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["console"] == [] and report["pageErrors"] == []
    assert report["requests"] == []  # nothing but the page itself
    return report


@pytest.fixture(scope="module")
def window(
    tmp_path_factory: pytest.TempPathFactory,
    agent_evidence: Path,
) -> dict[str, Any]:
    """The example fleet rendered, um-ams-01's page ticked and exported, then ingested with
    the agent's evidence of the same appliance."""
    base = tmp_path_factory.mktemp("window")
    inventory = base / "inventory.yaml"
    inventory.write_text(example_text(), encoding="utf-8")
    out = base / "pkg"
    rendered = umrunbook(["render", str(inventory), "--format", "md,html", "--out", str(out)])
    assert rendered.returncode == 0, rendered.stderr
    shots = base / "shots"
    shots.mkdir()
    ticked = browser(str(out / "um-ams-01" / "runbook.html"), str(shots))
    manual = Path(ticked["saved"])
    ingested = umrunbook(
        [
            "ingest",
            str(agent_evidence),
            str(manual),
            "--inventory",
            str(inventory),
            "--out",
            str(out),
        ]
    )
    assert ingested.returncode == 0, ingested.stderr
    viewed = browser("--view", str(out / "um-ams-01" / "as-executed.html"), str(shots))
    return {
        "ticked": ticked,
        "manual": manual,
        "export": json.loads(manual.read_text(encoding="utf-8")),
        "ingest": ingested.stdout,
        "out": out,
        "viewed": viewed,
        "shots": shots,
    }


def test_ticks_carry_time_and_initials_and_are_remembered(window: dict[str, Any]) -> None:
    report = window["ticked"]
    assert report["initialsLabel"] == "Your initials"
    assert report["exportName"] == "Export evidence (JSON)"
    for stage in ("afterTick", "afterReload"):
        records = report[stage]
        assert {k for k, v in records.items() if v["checked"]} == {
            "check-bundle",
            "snapshot",
            "prerequisite:console",
            "certificate:vc01.corp.example",
        }, stage
        assert re.fullmatch(
            r"ticked \d{4}-\d\d-\d\d \d\d:\d\d UTC by JO", records["snapshot"]["record"]
        )
        assert records["certificate:vc01.corp.example"]["record"].endswith(" by AB")
        assert records["enable-ssh"]["record"] == ""  # unticked: no record left beside it
    assert report["initialsAfterReload"] == "AB"
    assert report["axe"] == []


def test_the_export_is_a_download_in_the_schema_ingest_reads(window: dict[str, Any]) -> None:
    plan = next(p for p in plan_fleet(example_inventory(), load_catalogue()) if p.hops)
    assert plan.appliance.name == "um-ams-01"
    report, doc = window["ticked"], window["export"]
    assert report["filename"] == f"manual-um-ams-01-{plan.change.ticket}.json"
    assert set(doc) == {"schema", "ticket", "appliance", "exported_at", "generator", "steps"}
    assert doc["schema"] == "umrunbook-manual-steps/1"
    assert (doc["ticket"], doc["appliance"]) == (plan.change.ticket, "um-ams-01")
    assert ISO_UTC.fullmatch(doc["exported_at"]) and doc["generator"] == plan.generator
    hop = plan.hops[0]
    ids = [s["id"] for s in doc["steps"]]
    assert ids == [
        *(f"prerequisite:{p.id}" for p in hop.procedure.prerequisites if p.id != "snapshot"),
        # Met in the window, at the snapshot step: listed after the ones to check before.
        "prerequisite:snapshot",
        "prerequisite:snapshot-name",
        *(s.id for s in hop.steps),
        *(f"certificate:{server}" for server in plan.appliance.metered_servers),
        *(f"backout:{s.number}" for s in hop.backout.steps),
        "cleanup",
    ]
    by_id = {s["id"]: s for s in doc["steps"]}
    snapshot = by_id["snapshot"]
    assert set(snapshot) == {"id", "number", "title", "checked", "at", "initials"}
    number = {s.id: s.number for s in hop.steps}
    assert snapshot["number"] == number["snapshot"]
    assert snapshot["title"] == "Take a snapshot of the appliance"
    assert snapshot["checked"] is True and ISO_UTC.fullmatch(snapshot["at"])
    assert snapshot["initials"] == "JO" and by_id["check-bundle"]["initials"] == "JO"
    assert by_id["certificate:vc01.corp.example"]["initials"] == "AB"
    assert by_id["enable-ssh"] == {
        "id": "enable-ssh",
        "number": number["enable-ssh"],
        "title": "Enable SSH on the appliance",
        "checked": False,
        "at": "",
        "initials": "",
    }


def test_the_as_executed_markdown_shows_who_did_each_manual_step(window: dict[str, Any]) -> None:
    assert "manual steps" in window["ingest"]
    at = {s["id"]: s["at"] for s in window["export"]["steps"]}
    text = (window["out"] / "um-ams-01" / "as-executed.md").read_text(encoding="utf-8")
    number = {s.id: s.number for s in example_plan().hops[0].steps}
    assert f"- [x] Step {number['check-bundle']}: **done** at {at['check-bundle']} by JO\n" in text
    assert f"- [x] Step {number['snapshot']}: **done** at {at['snapshot']} by JO\n" in text
    assert f"- [ ] Step {number['enable-ssh']}: no record in the evidence." in text
    assert f"- [x] Step {number['upgrade']}: **PASS** at " in text  # the agent's, beside them
    console = "- [x] Console access to the VM (vSphere Client or VMRC) works for the whole window."
    assert f"{console} · **done** at {at['prerequisite:console']} by AB\n" in text
    assert (
        f"- [x] `vc01.corp.example`: certificate accepted · **done** at "
        f"{at['certificate:vc01.corp.example']} by AB\n"
    ) in text
    assert "- [ ] `vcd01.corp.example`: certificate accepted · no record in the evidence." in text
    assert "- [ ] Backout B1: no record in the evidence." in text
    assert "- [ ] Snapshot removed · no record in the evidence." in text


def test_the_as_executed_page_reads_as_a_record(window: dict[str, Any]) -> None:
    viewed = window["viewed"]
    assert viewed["title"].startswith("As executed: um-ams-01")
    assert viewed["h1"] == "As executed: upgrade um-ams-01 to Usage Meter 4.3"
    assert viewed["inputs"] == 0 and viewed["tools"] == 0  # nothing invites a tick
    assert viewed["marks"]["done"] == 4 and viewed["marks"]["pass"] >= 4
    assert viewed["marks"]["none"] > 10
    plan = example_plan()
    number = step_number(plan, "snapshot")
    agent, ticked = viewed["snapshotRecords"]  # what the agent recorded, then the tick
    assert agent.startswith(f"Step {number}: PASS at ") and "'vc01 / DC1 / um-ams-01'" in agent
    assert ticked.startswith(f"Step {number}: done at ") and ticked.endswith("by JO")
    assert step_heading(plan, "snapshot") in viewed["doneCards"]
    assert step_heading(plan, "enable-ssh") not in viewed["doneCards"]
    assert viewed["axe"] == []
    shot = (window["shots"] / "as-executed-screen.png").read_bytes()
    assert shot.startswith(b"\x89PNG") and len(shot) > 20_000


def test_the_as_executed_pdf_shows_the_same_records(window: dict[str, Any]) -> None:
    need("pdftotext", "pdfinfo")
    folder = window["out"] / "um-ams-01"
    pdf = folder / "as-executed.pdf"
    pages = run("pdftotext", "-raw", str(pdf), "-").split("\f")[:-1]
    text = "\n".join(pages)
    assert "As executed: upgrade um-ams-01 to Usage Meter 4.3" in run("pdfinfo", str(pdf))
    markdown = (folder / "as-executed.md").read_text(encoding="utf-8")
    # Every record line of the Markdown, agent's and manual, is a line of the PDF.
    lines = re.findall(r"^- \[[x ]\] (.+)$", markdown, flags=re.M)
    assert len(lines) > 20
    flat = "".join(text.split())  # lines wrap, at spaces or after a hyphen
    for line in lines:
        words = "".join(line.replace("**", "").replace("`", "").replace("\\", "").split())
        assert words in flat, line
    plan = example_plan()
    assert f"\nStep {step_number(plan, 'snapshot')}: done at " in text
    assert f"\nStep {step_number(plan, 'upgrade')}: PASS at " in text
    assert_pdf_carries_the_markdown(plan, pages, markdown)
