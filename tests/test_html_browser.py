"""The HTML runbook in real headless Chromium: quiet, offline, remembered ticks, accessible.

One browser launch for the module (tests/node/check-runbook.mjs does the driving and reports
what it saw); each test asserts one part of that report.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need, need_playwright
from tests.helpers.html import HOSTILE_LINES, NODE_DIR, hostile_plans, render_package
from umrunbook.faces.view import runbook_view

SCRIPT = NODE_DIR / "check-runbook.mjs"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    need_playwright(NODE_DIR)
    base = tmp_path_factory.mktemp("browser")
    out = render_package(base / "pkg", "--format", "md,html")
    shots = base / "shots"
    shots.mkdir()
    result = subprocess.run(
        [
            "node",
            str(SCRIPT),
            str(out / "um-ams-01" / "runbook.html"),
            str(shots),
            str(out / "index.html"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "CHROMIUM": os.environ.get("CHROMIUM", "/usr/bin/chromium")},
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    data["shots"] = shots
    return data


def test_no_console_error_no_script_error_no_request(report: dict[str, Any]) -> None:
    assert report["console"] == []
    assert report["pageErrors"] == []
    assert report["requests"] == []


def test_the_hostile_note_is_shown_as_text_and_nothing_ran(report: dict[str, Any]) -> None:
    assert report["dialogsBeforeReset"] == []  # no alert()
    assert report["scriptsInPage"] == 1
    assert HOSTILE_LINES[0] in report["notesText"]


def test_ticks_persist_across_a_reload_keyed_by_ticket_and_appliance(
    report: dict[str, Any],
) -> None:
    plan = hostile_plans()[0]
    assert report["storageKey"] == f"umrunbook:{plan.change.ticket}:{plan.appliance.name}"
    assert report["boxes"] > 20
    # The progress counts the planned path: not the backout's boxes, not the clean-up's.
    total = len(runbook_view(plan).planned_path)
    assert 20 < total < report["boxes"]
    assert report["progressBefore"] == f"0 of {total} ticked, 0 %"
    assert report["checkedAfterTick"] == report["expectedTicked"]
    assert report["progressAfterTick"] == f"2 of {total} ticked, {200 // total} %"
    assert set(json.loads(report["stored"])) == set(report["expectedTicked"])
    assert report["checkedAfterReload"] == report["expectedTicked"]
    assert report["progressAfterReload"] == f"2 of {total} ticked, {200 // total} %"


def test_reset_asks_then_clears_the_ticks_and_the_storage(report: dict[str, Any]) -> None:
    assert report["dialogs"][-1].startswith("Clear every tick")
    assert report["checkedAfterReset"] == 0
    assert report["checkedAfterResetReload"] == 0
    assert report["storedAfterReset"] is None


def test_copy_button_copies_the_commands_exactly(report: dict[str, Any]) -> None:
    assert report["copyName"] == "Copy the PowerShell commands"
    assert report["copyButtonText"] == "Copied"
    assert report["clipboard"] == report["firstCommand"].rstrip("\n")
    assert report["clipboard"].startswith("Get-FileHash -Algorithm SHA256")


def test_every_step_shows_where_at_a_glance(report: dict[str, Any]) -> None:
    plan = hostile_plans()[0]
    hop = plan.hops[0]
    labels = [s.where_label for s in (*hop.steps, *hop.backout.steps)]
    assert [s["where"] for s in report["steps"]] == labels
    assert all(s["whereVisible"] for s in report["steps"])
    assert report["tocLinks"] >= len(labels)


def test_keyboard_reaches_the_skip_link_first(report: dict[str, Any]) -> None:
    assert report["firstTabStop"] == "Skip to the runbook"
    assert report["afterSkip"] == "#main"


def test_axe_finds_no_serious_or_critical_violation(report: dict[str, Any]) -> None:
    serious = [v for v in report["axe"] if v["impact"] in ("serious", "critical")]
    assert serious == []
    # Lesser findings are not let in silently either.
    assert report["axe"] == []


def test_print_drops_the_chrome_keeps_steps_whole_and_boxes_empty(
    report: dict[str, Any],
) -> None:
    printed = report["print"]
    assert not printed["tocShown"] and not printed["copyShown"]
    assert not printed["resetShown"] and not printed["barShown"]
    assert printed["tickedBoxAppearance"] == "none"  # a ticked box prints as an empty square
    assert printed["tickedBoxBorder"] == "solid"
    assert printed["stepBreakInside"] == "avoid"
    assert printed["signoffBreakInside"] == "avoid"
    assert printed["qrShown"]


def test_the_fleet_index_is_quiet_and_accessible_too(report: dict[str, Any]) -> None:
    assert report["indexRows"] == 3
    assert report["indexAxe"] == []


def test_screenshots_were_taken(report: dict[str, Any]) -> None:
    shots: Path = report["shots"]
    for name in (
        "runbook-screen.png",
        "runbook-steps.png",
        "runbook-print.png",
        "index-screen.png",
    ):
        data = (shots / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 20_000, name
    assert (shots / "runbook-print.pdf").read_bytes().startswith(b"%PDF-")


def test_in_chromium_what_the_agent_runs_has_no_copy_button(tmp_path: Path) -> None:
    """Real headless Chromium runs the page's script (which shows each copy button) and
    prints the resulting document: every block of commands to type has its button shown,
    every block of what the agent runs has none, under the words that say not to type it."""
    from tests.helpers.html import parse_html
    from umrunbook.faces.html import render_html
    from umrunbook.faces.registry import RenderOptions
    from umrunbook.faces.view import runbook_view

    need("chromium")
    plan = hostile_plans()[0]
    page = tmp_path / "runbook.html"
    page.write_bytes(render_html(runbook_view(plan), RenderOptions()))
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []
    result = subprocess.run(
        [chromium, "--headless", *sandbox, "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    doc = parse_html(result.stdout)
    blocks = doc.iter("div", "code")
    agent = [b for b in blocks if "code-agent" in b.classes()]
    typed = [b for b in blocks if "code-agent" not in b.classes()]
    assert len(agent) == len([s for s in plan.hops[0].steps if s.agent_runs]) >= 2
    for block in typed:
        (button,) = block.iter("button")
        assert "hidden" not in button.attrs  # the script ran and showed it
    for block in agent:
        assert block.iter("button") == []
    quotes = doc.iter("blockquote", "agent-runs")
    assert [q.iter("p")[0].text.split(".")[0] for q in quotes] == [
        "The agent runs this: do not type it"
    ] * len(agent)
    assert any("bash ums-system-upgrade.shar" in b.text for b in agent)
    assert not any("bash ums-system-upgrade.shar" in b.text for b in typed)
