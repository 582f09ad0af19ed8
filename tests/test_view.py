"""The runbook's one view: tick ids, record keys and the as-executed records line up through
one definition, and no face reads another's output."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.helpers import NOW, example_plans, route_inventory_text
from tests.helpers.html import multi_hop_plan, parse_html
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.evidence.ingest import Execution
from umrunbook.evidence.records import MANUAL_SCHEMA, load_evidence
from umrunbook.faces import view as view_module
from umrunbook.faces.commonmark import render_view
from umrunbook.faces.html import render_html
from umrunbook.faces.registry import RenderOptions
from umrunbook.faces.transfer import transfer_files
from umrunbook.faces.view import RunbookView, runbook_view
from umrunbook.inventory.load import parse_inventory
from umrunbook.planning.bind import plan_fleet
from umrunbook.planning.plan import Plan
from umrunbook.planning.records import StepRecord

FACES = Path(__file__).resolve().parent.parent / "generator" / "umrunbook" / "faces"


def boxes(view: RunbookView) -> list[dict[str, str]]:
    return [b.attrs for b in parse_html(render_html(view, RenderOptions()).decode()).iter("input")]


@pytest.mark.parametrize("plan", [example_plans()[0], multi_hop_plan()], ids=["one", "route"])
def test_every_tick_box_is_a_tick_of_the_view(plan: Plan) -> None:
    view = runbook_view(plan)
    ticks = [b for b in boxes(view) if b.get("class") == "tick"]
    assert [b["id"] for b in ticks] == [t.box_id for t in view.ticks]
    assert [b["data-step"] for b in ticks] == [t.key for t in view.ticks]
    assert len({t.box_id for t in view.ticks}) == len(view.ticks)


def test_what_the_page_exports_comes_back_on_its_own_line(tmp_path: Path) -> None:
    """Every tick the page can export, read back as evidence, marks exactly its own line of
    the as-executed runbook: one record-key scheme from the page to ingest."""
    plan = example_plans()[0]
    view = runbook_view(plan)
    steps = [
        {
            "id": b["data-step"],
            "number": b["data-number"],
            "title": b["data-title"],
            "checked": True,
            "at": "2026-12-05T22:00:00Z",
            "initials": "JO",
        }
        for b in boxes(view)
        if b.get("class") == "tick"
    ]
    path = tmp_path / "manual.json"
    path.write_text(
        json.dumps(
            {
                "schema": MANUAL_SCHEMA,
                "appliance": plan.appliance.name,
                "ticket": plan.change.ticket,
                "exported_at": "2026-12-05T23:00:00Z",
                "steps": steps,
            }
        ),
        encoding="utf-8",
    )
    evidence = load_evidence(path)
    records = Execution(plan.appliance.name, manual=[evidence]).records()  # type: ignore[list-item]
    executed = runbook_view(plan, records, [path.name])
    assert all(len(tick.marks) == 1 for tick in executed.ticks)
    assert [t.key for t in executed.ticks] == [t.key for t in view.ticks]
    text = render_view(executed)
    assert "no record in the evidence" not in text
    assert text.count("- [x] ") == len(view.ticks)


def test_agent_records_land_on_the_step_of_their_upgrade() -> None:
    plan = multi_hop_plan()
    step = plan.hops[0].steps[0]
    target = plan.hops[0].procedure.target
    executed = {step.id: [StepRecord(step.id, "PASS", "2026-12-05T22:00:00Z", "agent", "", target)]}
    view = runbook_view(plan, executed)
    marked = [t.box_id for t in view.ticks if t.marks]
    assert marked == [f"hop-1:{step.id}"]


def test_the_page_does_not_read_its_ticks_from_the_headings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = multi_hop_plan()
    before = boxes(runbook_view(plan))
    monkeypatch.setattr(view_module, "PREREQUISITES", "Checks first")
    monkeypatch.setattr(view_module, "CERTIFICATES", "Certificates again")
    monkeypatch.setattr(view_module, "CLOSING", "The end")
    monkeypatch.setattr(view_module, "PHASES", (("before", "Early"), ("window", "Late")))
    view = runbook_view(plan)
    assert view.hops[0].prerequisites_heading.endswith("Checks first")
    assert "Checks first" in render_view(view)
    assert boxes(view) == before


def test_no_face_parses_markdown_but_the_html_engine() -> None:
    """The PDF reads the view as data: the Markdown re-parsing of its transfer section is gone,
    and only the HTML face uses a Markdown parser (as its engine, on the view's text)."""
    for path in sorted(FACES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = {
            node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        } | {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
        uses = any(m.startswith("markdown_it") for m in modules)
        assert uses == (path.name == "html.py"), path.name
    source = (FACES / "pdf_data.py").read_text(encoding="utf-8")
    assert "markdown_sections" not in source and "markdown_text" not in source


def test_a_slash_local_folder_is_the_same_default_in_the_runbook_and_the_cmd(
    tmp_path: Path,
) -> None:
    text = route_inventory_text().replace("'C:\\Upgrades\\4.7'", "'C:/Upgrades/4.7'")
    assert "C:/Upgrades/4.7" in text
    path = tmp_path / "inventory.yaml"
    path.write_text(text, encoding="utf-8")
    (plan,) = plan_fleet(parse_inventory(text, path), load_catalogue(), NOW)
    runbook = render_view(runbook_view(plan))
    cmd = transfer_files(plan)[f"{plan.appliance.name}/hop-2-4.7/transfer/winscp-upload.cmd"]
    assert b'set "UM_DEFAULT=C:/Upgrades/4.7"' in cmd
    assert 'winscp-upload.cmd "C:/Upgrades/4.7"' in runbook
    # and the first upgrade's, with backslashes, as before
    assert 'winscp-upload.cmd "C:\\Upgrades\\4.5"' in runbook


@pytest.mark.parametrize("plan", [example_plans()[0], multi_hop_plan()], ids=["one", "route"])
def test_who_runs_a_command_is_decided_once_from_the_step_data(plan: Plan) -> None:
    """A step's `commands` are typed by the operator; its `agent_runs` are what the agent
    runs: one block, marked by_agent, after the typed ones, and nothing else is marked."""
    view = runbook_view(plan)
    for hv in view.hops:
        for sv in (s for phase in hv.phases for s in phase.steps):
            typed = [c for c in sv.commands if not c.by_agent]
            by_agent = [c for c in sv.commands if c.by_agent]
            assert [c.lines for c in typed] == [c.lines for c in sv.step.commands]
            if sv.step.agent_runs:
                assert [c.lines for c in by_agent] == [sv.step.agent_runs]
                assert sv.commands[-1].by_agent
            else:
                assert by_agent == []
    upgrade = next(
        s for phase in view.hops[-1].phases for s in phase.steps if s.step.id == "upgrade"
    )
    assert [c.lines for c in upgrade.commands if c.by_agent] == [
        ("cd /opt/vmware/cloudusagemetering", "bash ums-system-upgrade.shar")
    ]


def test_a_prerequisite_met_in_the_window_is_listed_with_its_step() -> None:
    view = runbook_view(example_plans()[0])
    (hv,) = view.hops
    snapshot = next(s for phase in hv.phases for s in phase.steps if s.step.id == "snapshot")
    assert snapshot.step.phase == "window"
    before = [line.tick.key for line in hv.prerequisites]
    in_window = [line.tick.key for line in hv.in_window]
    assert "prerequisite:snapshot" not in before and "prerequisite:snapshot-name" not in before
    assert in_window == ["prerequisite:snapshot", "prerequisite:snapshot-name"]
    assert ("Step " + snapshot.step.number, "strong") in hv.in_window_intro
    # Every tick keeps its place in the page's order: before, in the window, then the steps.
    keys = [t.key for t in view.ticks]
    assert keys[: len(before) + 2] == [*before, *in_window]


def test_the_transfer_detail_stands_at_the_step_that_uses_it() -> None:
    view = runbook_view(example_plans()[0])
    (hv,) = view.hops
    steps = {s.step.id: s for phase in hv.phases for s in phase.steps}
    upload = [b for b in steps["upload"].details if b.kind == "heading"]
    assert [b.parts[0][0] for b in upload] == [
        "Upload with WinSCP (graphical)",
        "Or upload with the generated scripts",
    ]
    assert all(
        not s.details for i, s in steps.items() if i not in ("upload", "evidence", "check-bundle")
    )
    assert [b.parts[0][0] for b in steps["evidence"].details if b.kind == "heading"] == [
        "Copy the evidence back to the workstation"
    ]
    # Neither the workstation's check nor the appliance's is repeated in the upload's detail.
    code = [line for b in steps["upload"].details if b.kind == "code" for line in b.lines]
    assert not [line for line in code if "sha256sum" in line or "Get-FileHash" in line]
    # A missing host key is read before the window: with the prerequisites.
    bare = runbook_view(
        plan_fleet(
            parse_inventory(route_inventory_text(host_key=None), Path("r.yaml")),
            load_catalogue(),
            NOW,
        )[0]
    )
    headings = [b.parts[0][0] for b in bare.hops[0].prerequisite_blocks if b.kind == "heading"]
    assert headings == ["4.5: Before the window: read the host key on the console"]
