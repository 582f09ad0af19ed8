"""The night plan: clock times in the window's offset, GO / NO-GO before every irreversible
step, the latest backout start, the point of no return from 4.5, and a window too short."""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import umrunbook
from tests.helpers import NOW
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.faces.view import night_view
from umrunbook.inventory.load import load_inventory
from umrunbook.planning.between import IRREVERSIBLE, is_checkpoint
from umrunbook.planning.bind import plan_fleet
from umrunbook.planning.night import night_plan
from umrunbook.planning.plan import Plan

CATALOGUE = load_catalogue()

# Two appliances on the route 4.x → 4.5 → 4.7, in a +01:00 window that crosses midnight.
ROUTE = """\
    change:
      ticket: CHG0047000
      window: {start: 2026-12-05T22:30:00+01:00, end: 2026-12-06T09:00:00+01:00}
      implementer: Jane Operator
    upgrade:
      target: "%(target)s"
      bundle: {build: "22010000", sha256: %(sha)s}
      via: ["4.5"]
      bundles:
        "4.5": {build: "19934127", sha256: %(sha)s}
    appliances:
      - name: um-ams-01
        host: um-ams-01.corp.example
        version: 4.2.0
        metered_servers: [vc01.corp.example]
      - name: um-ams-02
        host: um-ams-02.corp.example
        version: 4.3.0
"""


def plans_for(tmp_path: Path, target: str = "4.7", window: str = "") -> tuple[Plan, ...]:
    text = ROUTE % {"target": target, "sha": "1" * 64}
    if target in ("4.3", "4.4", "4.5"):
        text = text.replace('      via: ["4.5"]\n', "")
    if window:
        text = text.replace("end: 2026-12-06T09:00:00+01:00", f"end: {window}")
    path = tmp_path / "inventory.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return plan_fleet(load_inventory(path), CATALOGUE, NOW)


def test_clock_times_in_the_windows_offset_across_midnight(tmp_path: Path) -> None:
    first, second = plans_for(tmp_path)
    night = night_plan((first, second), first.change)
    one, two = night.appliances
    # The window's own offset, not UTC: the first appliance starts when the window opens.
    assert one.start.isoformat() == "2026-12-05T22:30:00+01:00"
    assert one.end == one.start + timedelta(minutes=first.estimate_minutes)
    assert two.start == one.end  # the second follows the first's plan
    assert two.end == two.start + timedelta(minutes=second.estimate_minutes)
    view = night_view(night)
    assert view.offset == "UTC+01:00"
    assert view.window == "2026-12-05 22:30 to 2026-12-06 09:00 (UTC+01:00)"
    rows = [(a.start, a.end) for a in view.appliances]
    assert rows[0][0] == "22:30"
    assert rows[0][1] == one.end.strftime("%H:%M") and rows[1][0] == rows[0][1]
    # The night crosses midnight: a later appliance's times read after 00:00, in +01:00.
    assert two.end.date() > one.start.date()
    assert rows[1][1] == two.end.strftime("%H:%M") and rows[1][1] < "22:30"
    # Each step follows the one before at its estimate: the first checkpoint's time is the
    # window's start plus every window step before it.
    walked = one.start
    first_go = next(m for m in one.markers if m.kind == "go")
    for step in first.hops[0].steps:
        if step.phase != "window":
            continue
        if step.number == first_go.number:
            break
        walked += timedelta(minutes=step.estimate_minutes)
    assert first_go.at == walked


def test_latest_backout_start_is_the_windows_end_less_the_backout(tmp_path: Path) -> None:
    plans = plans_for(tmp_path)
    night = night_plan(plans, plans[0].change)
    backout = max(h.backout.estimate_minutes for p in plans for h in p.hops)
    assert backout > 0
    end = plans[0].change.window.end
    assert night.latest_backout_start == end - timedelta(minutes=backout)
    assert night_view(night).latest_backout == (end - timedelta(minutes=backout)).strftime("%H:%M")


def test_a_go_no_go_checkpoint_before_every_irreversible_step(tmp_path: Path) -> None:
    for target in ("4.3", "4.7"):
        for plan in plans_for(tmp_path, target):
            for hop in plan.hops:
                window = [s for s in hop.steps if s.phase == "window"]
                runs = [i for i, s in enumerate(window) if s.id in IRREVERSIBLE]
                assert runs, (target, hop.procedure.target)
                for i in runs:
                    assert is_checkpoint(window[i - 1]), (target, window[i - 1].id)
                    assert window[i - 1].title.startswith("GO / NO-GO: ")
    # On a route the next hop opens with its own checkpoint: one notion, one prefix.
    first, _ = plans_for(tmp_path)
    gate = next(s for s in first.hops[1].steps if s.phase == "window")
    assert is_checkpoint(gate) and gate.title == "GO / NO-GO: the upgrade to 4.7"
    night = night_plan((first,), first.change)
    kinds = [m.kind for m in night.appliances[0].markers]
    # hop 1: go, run, no-return; hop 2: the hop's go, go, run, no-return
    assert kinds == ["go", "irreversible", "no-return", "go", "go", "irreversible", "no-return"]
    times = [m.at for m in night.appliances[0].markers]
    assert times == sorted(times)


def test_point_of_no_return_only_from_4_5(tmp_path: Path) -> None:
    first, _ = plans_for(tmp_path)  # 4.2.0 → 4.5 → 4.7
    markers = night_plan((first,), first.change).appliances[0].markers
    no_return = [m for m in markers if m.kind == "no-return"]
    assert [(m.target, m.vendor_says) for m in no_return] == [("4.5", True), ("4.7", False)]
    verify = next(s for s in first.hops[0].steps if s.id == "verify")
    assert no_return[0].number == verify.number
    notes = [e.note for e in night_view(night_plan((first,), first.change)).appliances[0].events]
    assert any("the vendor advises it for 4.5" in n for n in notes)
    assert any("extrapolated from 4.5" in n for n in notes)
    for target in ("4.3", "4.4"):
        plans = plans_for(tmp_path, target)
        night = night_plan(plans, plans[0].change)
        assert all(m.kind != "no-return" for a in night.appliances for m in a.markers), target
        assert any(m.kind == "irreversible" for a in night.appliances for m in a.markers)


def _pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def _html_text(path: Path) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")))


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler's pdftotext not installed")
def test_every_face_opens_with_the_night_plan_and_its_checkpoints(tmp_path: Path) -> None:
    plans_for(tmp_path)
    out = tmp_path / "pkg"
    result = umrunbook(
        ["render", str(tmp_path / "inventory.yaml"), "--format", "md,html,pdf", "--out", str(out)]
    )
    assert result.returncode == 0, result.stderr
    plan = plans_for(tmp_path)[1]
    night = night_view(night_plan(plans_for(tmp_path), plan.change), "um-ams-02")
    own = next(a for a in night.appliances if a.this)
    faces = {
        "md": (out / "um-ams-02/runbook.md").read_text(encoding="utf-8"),
        "html": _html_text(out / "um-ams-02/runbook.html"),
        "pdf": _pdf_text(out / "um-ams-02/runbook.pdf"),
    }
    for face, text in faces.items():
        flat = re.sub(r"\s+", " ", text)
        # The first section, before the plan's details.
        assert flat.index("Night plan") < flat.index("Prerequisites"), face
        assert f"Latest backout start: {own.latest_backout}" in flat, face
        assert f"{own.start}" in flat and own.start == night.appliances[0].end, face
        for e in own.events:
            assert f"{e.clock}" in flat and e.label in flat, (face, e)
        # A GO / NO-GO checkpoint step stands before each irreversible step.
        for hop in plan.hops:
            for step in hop.steps:
                if step.id not in IRREVERSIBLE:
                    continue
                heading = f"Step {step.number}: {step.title}"
                gate = f"Step {int(step.number) - 1}: GO / NO-GO"
                at = flat.rindex(heading)
                assert flat.rindex(gate, 0, at) > flat.index("Prerequisites"), (face, heading)
        # The point of no return: in the night plan and at each verify step (4.5, then 4.7).
        assert flat.count("Point of no return") >= 4, face


def test_a_window_too_short_is_reported_by_check_and_the_index(tmp_path: Path) -> None:
    plans_for(tmp_path, window="2026-12-06T00:30:00+01:00")
    path = tmp_path / "inventory.yaml"
    result = umrunbook(["check", str(path)])
    # A warning, not an error: README "Change ticket" and design.md (exit 0 with the warning).
    assert result.returncode == 0, result.stderr
    assert f"warning: {path}:3: change.window: the window is 2 h but the plan needs" in (
        result.stderr
    )
    out = tmp_path / "pkg"
    result = umrunbook(["render", str(path), "--format", "md", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    index = _html_text(out / "index.html")
    assert re.search(r"Window too short\s*: the window is 2 h but the plan needs", index)
    # and again in the night plan's table, by the appliances' times
    night = index[index.index("Night plan") :]
    assert "Window too short for this plan and a backout" in night
    assert "Latest backout start:" in index
    # A window that holds the plan: no warning anywhere.
    plans_for(tmp_path)
    assert "warning" not in umrunbook(["check", str(path)]).stderr
    result = umrunbook(["render", str(path), "--format", "md", "--out", str(out)])
    assert "Window too short" not in _html_text(out / "index.html")


def test_ticket_carries_the_fleet_night_plan(tmp_path: Path) -> None:
    plans_for(tmp_path)
    result = umrunbook(["ticket", str(tmp_path / "inventory.yaml")])
    assert result.returncode == 0, result.stderr
    text = result.stdout
    night = night_view(night_plan(plans_for(tmp_path), plans_for(tmp_path)[0].change))
    one, two = night.appliances
    assert f"{one.start}-{one.end} um-ams-01" in text
    assert f"{two.start}-{two.end} um-ams-02" in text
    assert f"Latest backout start: {night.latest_backout}" in text
    assert text.index("um-ams-01 (4.2.0") < text.index("um-ams-02 (4.3.0")
    assert "GO / NO-GO: Step" in text and "Point of no return: Step" in text
    assert "Window against plan:" in text and ": fits" in text


def test_the_verify_step_carries_the_point_of_no_return_from_4_5(tmp_path: Path) -> None:
    from umrunbook.faces.view import runbook_view

    first, _ = plans_for(tmp_path)  # 4.2.0 → 4.5 → 4.7
    view = runbook_view(first)
    marked = [
        (hv.hop.target_version.short, sv.step.id, sv.marker)
        for hv in view.hops
        for phase in hv.phases
        for sv in phase.steps
        if sv.marker
    ]
    assert [(t, i) for t, i, _ in marked] == [("4.5", "verify"), ("4.7", "verify")]
    assert "the vendor advises it for 4.5" in marked[0][2]
    assert "extrapolated from 4.5" in marked[1][2]
    for target in ("4.3", "4.4"):
        view = runbook_view(plans_for(tmp_path, target)[0])
        assert not [sv for hv in view.hops for p in hv.phases for sv in p.steps if sv.marker]
        assert view.night is not None
        assert all(e.kind != "no-return" for e in view.night.appliances[0].events)


def test_a_large_fleets_runbook_shows_its_neighbours_and_the_index_the_whole_night(
    tmp_path: Path,
) -> None:
    """A runbook's night table lists the whole fleet while the cover can hold it; beyond that,
    its appliance with the two before and after it, and where the rest is."""
    text = textwrap.dedent(ROUTE % {"target": "4.3", "sha": "1" * 64}).replace(
        '  via: ["4.5"]\n', ""
    )
    head = text[: text.index("appliances:")]
    rows = "".join(
        f"  - name: um-{n:02d}\n    host: um-{n:02d}.corp.example\n    version: 4.2.0\n"
        for n in range(1, 31)
    )
    path = tmp_path / "inventory.yaml"
    path.write_text(head + "appliances:\n" + rows, encoding="utf-8")
    plans = plan_fleet(load_inventory(path), CATALOGUE, NOW)
    night = night_plan(plans, plans[0].change)
    view = night_view(night, "um-15")
    assert [a.name for a in view.appliances] == ["um-13", "um-14", "um-15", "um-16", "um-17"]
    assert view.more.startswith("um-15 is appliance 15 of 30;") and "index.html" in view.more
    first = night_view(night, "um-01")
    assert [a.name for a in first.appliances] == ["um-01", "um-02", "um-03"]
    assert len(night_view(night).appliances) == 30  # the index's: the whole fleet
    small = night_plan(plans[:4], plans[0].change)
    assert [a.name for a in night_view(small, "um-02").appliances] == [
        "um-01",
        "um-02",
        "um-03",
        "um-04",
    ]
    assert night_view(small, "um-02").more == ""
    out = tmp_path / "pkg"
    result = umrunbook(
        ["render", str(path), "--out", str(out), "--only", "um-15", "--format", "md"]
    )
    assert result.returncode == 0, result.stderr
    markdown = (out / "um-15" / "runbook.md").read_text(encoding="utf-8")
    assert (
        "um-15 is appliance 15 of 30;" in markdown
        and "| um-13 |" not in markdown.split("um-15 is appliance")[1].split("##")[0]
    )
