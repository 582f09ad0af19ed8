"""The HTML runbook as the night's cockpit, in real headless Chromium: the current step
highlighted and moving with the ticks, the progress of the planned path alone (100 % with no
backout or clean-up box ticked), the time elapsed against the plan, and a GO / NO-GO ticked
with its initials, exported, and read back by the evidence reader.

The page is a route of two upgrades (4.2 -> 4.5 -> 4.7), whose go / no-go stands between
them. tests/node/cockpit.mjs ticks every box of the planned path in order on Playwright's
clock, each step in the window taking exactly its estimate.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need_playwright, umrunbook
from tests.helpers import NOW, route_inventory_text
from tests.helpers.html import NODE_DIR, parse_html
from umrunbook.evidence.records import ManualEvidence, load_evidence
from umrunbook.faces.html import render_html
from umrunbook.faces.registry import RenderOptions
from umrunbook.faces.view import RunbookView, runbook_view
from umrunbook.planning.records import CLEANUP_KEY

SCRIPT = NODE_DIR / "cockpit.mjs"
START = "2026-12-05T21:00:00Z"
GO_INITIALS = "CM"  # the change manager gives the GO


def _route_view(tmp: Path) -> tuple[RunbookView, Path]:
    from umrunbook.catalogue.procedure import load_catalogue
    from umrunbook.inventory.load import load_inventory
    from umrunbook.planning.bind import plan_fleet

    inventory = tmp / "route.yaml"
    inventory.write_text(route_inventory_text(), encoding="utf-8")
    (plan,) = plan_fleet(load_inventory(inventory), load_catalogue(), NOW)
    return runbook_view(plan), inventory


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    need_playwright(NODE_DIR)
    base = tmp_path_factory.mktemp("cockpit")
    view, inventory = _route_view(base)
    out = base / "pkg"
    rendered = umrunbook(["render", str(inventory), "--format", "md,html", "--out", str(out)])
    assert rendered.returncode == 0, rendered.stderr
    (page,) = out.glob("*/runbook.html")
    shots = base / "shots"
    shots.mkdir()
    result = subprocess.run(
        ["node", str(SCRIPT), str(page), str(shots), START, GO_INITIALS],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "CHROMIUM": os.environ.get("CHROMIUM", "/usr/bin/chromium")},
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    report["view"] = view
    report["shots"] = shots
    return report


def _minutes(text: str) -> list[int]:
    """The durations the bar's clock line gives, in minutes: elapsed, then planned."""
    found = re.findall(r"(?:(\d+) h )?(\d+) min", text)
    return [int(h or 0) * 60 + int(m) for h, m in found]


def test_the_page_stays_quiet_and_offline(night: dict[str, Any]) -> None:
    assert night["console"] == [] and night["pageErrors"] == []
    assert night["requests"] == []


def test_the_boxes_carry_the_planned_path_from_the_view(night: dict[str, Any]) -> None:
    view: RunbookView = night["view"]
    path = view.planned_path
    boxes = night["boxes"]
    assert [b["id"] for b in boxes] == [t.box_id for t in view.ticks]
    assert [b["id"] for b in boxes if b["planned"]] == list(path)
    for box in boxes:
        place = path.get(box["id"])
        assert box["minutes"] == (place.minutes if place else None)
        assert box["checkpoint"] == bool(place and place.checkpoint)
    unplanned = {b["step"] for b in boxes if not b["planned"]}
    assert CLEANUP_KEY in unplanned
    backout = unplanned - {CLEANUP_KEY}
    assert backout and all(s.startswith("backout:") for s in backout)
    # The route's gate between the upgrades, and one before each ISO upgrade starts.
    checkpoints = [b["step"] for b in boxes if b["checkpoint"]]
    assert checkpoints == ["go-no-go-run-upgrade", "go-no-go", "go-no-go-run-upgrade"]


def test_before_any_tick_the_first_box_of_the_plan_is_current(night: dict[str, Any]) -> None:
    before = night["before"]
    planned = [b for b in night["boxes"] if b["planned"]]
    assert night["nightShown"]
    assert before["current"] == 1
    assert before["currentBox"] == planned[0]["id"]
    assert before["outline"] == "solid"
    assert before["progress"] == f"0 of {len(planned)} ticked, 0 %"
    assert before["elapsed"] == "The clock starts at the first tick in the window."


def test_the_highlight_moves_to_the_next_unticked_box_of_the_plan(night: dict[str, Any]) -> None:
    planned = [b["id"] for b in night["boxes"] if b["planned"]]
    ticks = night["ticks"]
    assert [t["id"] for t in ticks] == planned
    for n, seen in enumerate(ticks[:-1]):
        assert seen["current"] == 1, seen
        assert seen["currentBox"] == planned[n + 1]
    # A step's card is named in the bar, and its contents entry marked, by its heading.
    go = next(t for t in ticks if t["currentBox"] == "hop-2:go-no-go")
    assert go["now"].startswith("Step ") and "GO / NO-GO: the upgrade to 4.7" in go["now"]
    assert go["tocCurrent"] == [go["nowHref"]]
    assert ticks[-1]["current"] == 0 and ticks[-1]["currentBox"] is None


def test_progress_reaches_100_percent_with_only_the_planned_path_ticked(
    night: dict[str, Any],
) -> None:
    planned = len([b for b in night["boxes"] if b["planned"]])
    total = len(night["boxes"])
    assert total > planned  # the backouts and the clean-up are boxes too
    shares = [int(t["progress"].rsplit(" ", 2)[1]) for t in night["ticks"]]
    assert shares == sorted(shares) and shares[-2] < 100
    assert night["done"]["progress"] == f"{planned} of {planned} ticked, 100 %"
    assert night["done"]["meter"] == "100%"
    assert night["unplannedChecked"] == 0
    assert night["done"]["now"] == "every step of the plan is ticked"
    # A backout box ticked on the way counts for nothing, and its step is not the current one.
    halfway = night["ticks"][planned // 2]
    assert night["withBackout"]["progress"] == halfway["progress"]
    assert night["withBackout"]["currentBox"] == halfway["currentBox"]


def test_the_elapsed_time_is_shown_against_the_planned_minutes(night: dict[str, Any]) -> None:
    view: RunbookView = night["view"]
    path = list(view.planned_path.items())
    timed = [i for i, (_, place) in enumerate(path) if place.minutes is not None]
    first = timed[0]
    ticks = night["ticks"]
    # Before the first box in the window, the clock has not started.
    assert all(t["elapsed"].startswith("The clock starts") for t in ticks[:first])
    for n in range(first, len(ticks) - 1):
        # Each step took its estimate, so the time elapsed is the plan's minutes to the step
        # that is now current: the estimates after the first ticked, up to this tick.
        expected = sum(place.minutes or 0 for _, place in path[first + 1 : n + 1] if place.minutes)
        line = ticks[n]["elapsed"]
        assert line.startswith("Elapsed ")
        assert "since the first tick in the window (21:00 UTC)" in line
        assert line.endswith(" to the current step.")
        assert _minutes(line) == [expected, expected], line
    # Mid-way, the planned minutes grow as the steps are ticked, and are named with the step.
    assert _minutes(ticks[-2]["elapsed"])[0] > 60
    total = sum(place.minutes or 0 for _, place in path[first + 1 :])
    assert _minutes(night["done"]["elapsed"]) == [total, total]
    assert night["done"]["elapsed"].endswith("to the end.")
    # Once the plan is done, the clock stops at its last tick.
    assert night["doneLater"]["elapsed"] == night["done"]["elapsed"]


def test_the_night_is_remembered_across_a_reload(night: dict[str, Any]) -> None:
    halfway = night["ticks"][len(night["ticks"]) // 2]
    after = night["afterReload"]
    for key in ("currentBox", "progress", "now", "elapsed"):
        assert after[key] == halfway[key], key


def test_the_elapsed_time_runs_on_between_ticks(night: dict[str, Any]) -> None:
    after = night["afterReload"]
    later = night["tenMinutesLater"]
    assert after["elapsed"].startswith("Elapsed ")
    elapsed, planned = _minutes(after["elapsed"])
    assert _minutes(later["elapsed"]) == [elapsed + 10, planned]


def test_the_go_no_go_is_ticked_and_exported_with_initials(night: dict[str, Any]) -> None:
    assert night["checkpointTag"] == "GO / NO-GO checkpoint Tick it for GO, with your initials."
    assert night["checkpointRecord"].startswith("ticked for GO ")
    assert night["checkpointRecord"].endswith(f" by {GO_INITIALS}")
    saved = Path(night["saved"])
    doc = json.loads(saved.read_text(encoding="utf-8"))
    assert doc["schema"] == "umrunbook-manual-steps/1"
    (go,) = [s for s in doc["steps"] if s["id"] == "go-no-go"]
    assert go["checked"] and go["initials"] == GO_INITIALS
    # The clock moved by the estimates alone: the GO's time is the plan's time for it.
    view: RunbookView = night["view"]
    path = list(view.planned_path.items())
    timed = [i for i, (_, place) in enumerate(path) if place.minutes is not None]
    at_go = next(i for i, (key, _) in enumerate(path) if key.endswith("go-no-go"))
    minutes = sum(place.minutes or 0 for _, place in path[timed[0] + 1 : at_go + 1])
    start = datetime.fromisoformat(START)
    # To the minute: the seconds are those the browser took to tick.
    assert go["at"][:16] == (start + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")
    # The evidence reader takes the export as it always has.
    evidence = load_evidence(saved)
    assert isinstance(evidence, ManualEvidence)
    records = {r.step_id: r for r in evidence.steps}
    assert records["go-no-go"].by == GO_INITIALS
    assert records["go-no-go"].at == go["at"]
    assert {r.by for key, r in records.items() if "go-no-go" in key} == {GO_INITIALS}
    others = {r.by for key, r in records.items() if "go-no-go" not in key}
    assert others == {"JO"}
    assert "cleanup" not in records and not any(k.startswith("backout:") for k in records)


def test_axe_finds_nothing_on_the_night_page(night: dict[str, Any]) -> None:
    assert night["axeHalfway"] == []
    assert night["axeDone"] == []
    data = (night["shots"] / "cockpit-screen.png").read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000


def _gate_card(doc: Any, count: int) -> Any:
    """The route's gate between the upgrades, among its `count` checkpoint cards (one more
    before each ISO upgrade starts)."""
    cards = list(doc.iter("section", "checkpoint"))
    assert len(cards) == count
    (gate,) = [c for c in cards if c.iter("h3")[0].text.endswith("the upgrade to 4.7")]
    return gate


def test_backout_and_cleanup_boxes_carry_no_place_on_the_path(tmp_path: Path) -> None:
    view, _ = _route_view(tmp_path)
    doc = parse_html(render_html(view, RenderOptions()).decode("utf-8"))
    boxes = doc.iter("main")[0].iter("input")
    for box in boxes:
        step = box.attrs["data-step"]
        on_path = "data-planned" in box.attrs
        assert on_path == (step != CLEANUP_KEY and not step.startswith("backout:")), step
        if not on_path:
            assert "data-minutes" not in box.attrs and "data-checkpoint" not in box.attrs
    card = _gate_card(doc, 3)
    (note,) = card.iter("p", "checkpoint-note")
    assert note.iter("span", "checkpoint-tag")[0].text == "GO / NO-GO checkpoint"
    heading = card.iter("h3")[0].text
    assert heading.startswith("Step ") and heading.endswith(": GO / NO-GO: the upgrade to 4.7")
    progress = doc.iter("span")
    (text,) = [s for s in progress if s.attrs.get("id") == "progress-text"]
    assert text.text == f"0 of {len(view.planned_path)} ticked"


def test_the_as_executed_page_tags_the_checkpoint_and_asks_nothing(tmp_path: Path) -> None:
    view, _ = _route_view(tmp_path)
    executed = runbook_view(view.plan, executed={})
    doc = parse_html(render_html(executed, RenderOptions()).decode("utf-8"))
    assert doc.iter("main")[0].iter("input") == []
    assert [e for e in doc.iter() if e.attrs.get("id") in ("night", "now-link", "elapsed")] == []
    card = _gate_card(doc, 3)
    (note,) = card.iter("p", "checkpoint-note")
    assert note.text == "GO / NO-GO checkpoint"
