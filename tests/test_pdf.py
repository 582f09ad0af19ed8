"""The PDF runbook read back with poppler and qpdf, and held against the Markdown runbook."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXED_EPOCH, need, umrunbook
from tests.helpers import NOW
from tests.helpers.html import HOSTILE_LINES, hostile_plans, multi_hop_plan, render_package
from tests.helpers.pdf import (
    APPENDIX,
    TYPOGRAPHIC,
    assert_pdf_carries_the_markdown,
    readable,
    run,
)
from umrunbook.faces.humanize import when_utc
from umrunbook.faces.markdown import render_markdown
from umrunbook.faces.pdf import compile_pdf, render_pdf, typst_inputs
from umrunbook.faces.registry import RenderOptions
from umrunbook.faces.view import runbook_view
from umrunbook.planning.plan import Plan

POPPLER = ("pdfinfo", "pdftotext", "pdffonts")
ENGINE_FONTS = r"[A-Z]{6}\+(LibertinusSerif-(Regular|Bold)|DejaVuSansMono)\S*"


def info(path: Path) -> dict[str, str]:
    lines = run("pdfinfo", str(path)).splitlines()
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


@pytest.fixture(scope="module")
def plan() -> Plan:
    return hostile_plans()[0]


@pytest.fixture(scope="module")
def a4(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Made here from the very plan the tests compare it with (A4 is the default)."""
    path = tmp_path_factory.mktemp("a4") / "runbook.pdf"
    path.write_bytes(render_pdf(runbook_view(plan), RenderOptions()))
    return path


@pytest.fixture(scope="module")
def letter(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("letter") / "runbook.pdf"
    path.write_bytes(render_pdf(runbook_view(plan), RenderOptions(paper="letter")))
    return path


@pytest.fixture(scope="module")
def pages(a4: Path) -> list[str]:
    need(*POPPLER)
    return run("pdftotext", "-raw", str(a4), "-").split("\f")[:-1]


def test_document_information_and_paper_sizes(plan: Plan, a4: Path, letter: Path) -> None:
    need(*POPPLER)
    meta = info(a4)
    assert meta["Title"] == f"Upgrade um-ams-01 to Usage Meter 4.3 ({plan.change.ticket})"
    assert meta["Author"] == plan.change.implementer
    assert plan.change.ticket in meta["Keywords"].split(", ")
    assert meta["Tagged"] == "yes"
    assert meta["Page size"].startswith("595.276 x 841.89 pts (A4)")
    assert int(meta["Pages"]) >= 4
    assert info(letter)["Page size"].startswith("612 x 792 pts (letter)")


def test_pdf_a_2b_identification(a4: Path, letter: Path) -> None:
    need("pdfinfo")
    for path in (a4, letter):
        xmp = run("pdfinfo", "-meta", str(path))
        assert "<pdfaid:part>2</pdfaid:part>" in xmp
        assert "<pdfaid:conformance>B</pdfaid:conformance>" in xmp


def test_every_font_is_embedded_and_is_the_engines_own(a4: Path, letter: Path) -> None:
    need("pdffonts")
    for path in (a4, letter):
        rows = run("pdffonts", str(path)).splitlines()[2:]
        assert rows
        for row in rows:
            name, emb = row.split()[0], row.split()[-5]
            assert emb == "yes", row
            # Typst's embedded fonts; no system font, and no italic (`_under_` stayed text).
            assert re.fullmatch(
                r"[A-Z]{6}\+(LibertinusSerif-(Regular|Bold)|DejaVuSansMono)\S*", name
            )


def test_qpdf_finds_the_file_clean(a4: Path, letter: Path) -> None:
    need("qpdf")
    for path in (a4, letter):
        result = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "No syntax or stream encoding errors found" in result.stdout


def test_page_x_of_y_on_every_page_and_the_values_of_the_appliance(
    plan: Plan, pages: list[str]
) -> None:
    total = len(pages)
    for number, page in enumerate(pages, 1):
        assert f"Page {number} of {total}" in page
        assert f"Change {plan.change.ticket} · um-ams-01" in page  # the running header
        assert f"Generated {when_utc(NOW)}" in page
    text = "\n".join(pages)
    hop = plan.hops[0]
    for value in (
        plan.appliance.host,
        plan.appliance.snapshot or "",
        hop.snapshot_name,
        hop.bundle[0].sha256,
        hop.agent.sha256,
        plan.change.implementer,
    ):
        assert value in text, value
    # Each command line whole, once its cut pieces are joined and its long name written out
    # again (pdftotext folds runs of spaces).
    page_lines = {" ".join(line.split()) for line in readable(text).splitlines()}
    for step in hop.steps:
        for block in step.commands:
            for line in block.lines:
                assert " ".join(line.split()) in page_lines, line


def test_a_step_and_the_sign_off_are_each_on_one_page(plan: Plan, pages: list[str]) -> None:
    hop = plan.hops[0]
    for step in hop.steps:
        # The night plan (page 1) and the appendix name the step too: the card is the page
        # with its heading on a line of its own and its tick line.
        heading, done = f"\nStep {step.number}: {step.title}\n", f"Step {step.number} done."
        page = [p for p in pages if heading in p and done in p]
        assert len(page) == 1, step.id
    for step in hop.backout.steps:
        (page,) = [p for p in pages if f"Backout {step.number}: {step.title}" in p]
        assert step.title in page and "Done. By:" in page
    (signoff,) = [p for p in pages if "\nSign-off\n" in p]
    assert signoff == pages[0]  # on the cover


def test_the_hostile_note_prints_as_written(a4: Path, pages: list[str]) -> None:
    text = "\n".join(pages)
    for line in HOSTILE_LINES:
        assert line in text, line
    assert info(a4)["Page size"].startswith("595.276 x 841.89")  # `#set page(width: 1cm)` was text


def test_the_pdf_carries_everything_the_markdown_carries_in_order(
    plan: Plan, pages: list[str]
) -> None:
    assert_pdf_carries_the_markdown(plan, pages)


def test_a_route_of_two_upgrades_with_a_field_report_in_both_faces(tmp_path: Path) -> None:
    need("pdftotext")
    plan = multi_hop_plan()
    path = tmp_path / "route.pdf"
    path.write_bytes(render_pdf(runbook_view(plan), RenderOptions()))
    pages = run("pdftotext", "-raw", str(path), "-").split("\f")[:-1]
    assert_pdf_carries_the_markdown(plan, pages)
    text = "\n".join(pages).translate(TYPOGRAPHIC)
    assert text.count("Field report, not the vendor's text:") == 1
    for heading in ("Upgrade 1 of 2: 4.1.0 → 4.2", "4.2: Backout plan", "4.3: Backout plan"):
        assert f"\n{heading}\n" in text
    assert "Snapshots removed." in text


def test_step_by_step_the_same_steps_as_the_markdown(plan: Plan, pages: list[str]) -> None:
    markdown = render_markdown(plan)
    md_steps = re.findall(r"^### (.+)$", markdown, flags=re.M)
    text = "\n".join(pages)
    pdf_steps = [s for s in md_steps if f"\n{s}\n" in text]
    assert pdf_steps == md_steps
    positions = [text.index(f"\n{s}\n") for s in md_steps]
    assert positions == sorted(positions)


def test_links_are_clickable_and_the_video_has_a_qr_code(plan: Plan, a4: Path) -> None:
    data = a4.read_bytes()
    urls = [r.url for r in plan.hops[0].procedure.references.values() if r.url]
    for url in urls:
        assert f"/URI({url})".encode() in data, url
    inputs = typst_inputs(runbook_view(plan), "a4")
    (qr,) = [v for k, v in inputs.items() if k.startswith("qr-")]
    assert qr.startswith("<svg") and "youtube.com" not in qr  # a picture of the URL, not text
    need("pdftotext")
    assert "Scan the code to open the video." in run("pdftotext", "-raw", str(a4), "-")


def test_the_plan_goes_in_as_json_data_never_as_markup(plan: Plan) -> None:
    import json

    inputs = typst_inputs(runbook_view(plan), "a4")
    data = json.loads(inputs["plan"])
    assert data["appliance"]["notes"] == list(HOSTILE_LINES)
    assert data["appliance"]["ssh_port"] == "22"  # every value a string
    step = data["hops"][0]["phases"][0]["steps"][0]
    assert all(kind in ("value", "text") for _, kind in step["text"])


def test_same_bytes_for_the_same_plan_and_no_typst_warning(plan: Plan) -> None:
    import typst

    from umrunbook import typesetting
    from umrunbook.faces.pdf import template_bytes

    first = render_pdf(runbook_view(plan), RenderOptions())
    assert first == render_pdf(runbook_view(plan), RenderOptions())
    inputs = typst_inputs(runbook_view(plan), "a4")
    _, warnings = typst.compile_with_warnings(
        template_bytes(), sys_inputs=inputs, **typesetting.engine_options()
    )
    assert [w.message for w in warnings] == []
    assert compile_pdf(inputs, int(plan.generated_at.timestamp())) == first


def test_heavy_engines_load_only_when_a_document_is_made(tmp_path: Path) -> None:
    code = (
        "import sys, umrunbook.cli, umrunbook.package.build, umrunbook.faces.html, "
        "umrunbook.faces.pdf, umrunbook.faces.pdf_data\n"
        "heavy = [m for m in ('typst', 'markdown_it', 'segno') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    version = umrunbook(["--version"])
    assert version.returncode == 0
    assert FIXED_EPOCH  # the command line runs dated by SOURCE_DATE_EPOCH


def test_the_command_line_writes_a_pdf_per_appliance_on_either_paper(tmp_path: Path) -> None:
    need("pdfinfo")
    out = render_package(tmp_path / "pkg", "--format", "pdf", "--paper", "letter")
    pdfs = sorted(out.glob("*/runbook.pdf"))
    assert [p.parent.name for p in pdfs] == ["um-ams-01", "um-ams-02", "um-fra-01"]
    assert not list(out.glob("*/runbook.md")) and not list(out.glob("*/runbook.html"))
    for path in pdfs:
        meta = info(path)
        assert meta["Page size"].startswith("612 x 792 pts (letter)")
        assert path.parent.name in meta["Title"]


def test_the_as_executed_pdf_carries_the_as_executed_markdown(plan: Plan, tmp_path: Path) -> None:
    """Records on steps, prerequisites, certificates, backout and cleanup, as the Markdown has
    them (the round trip through the browser and the agent is in test_html_evidence.py)."""
    need(*POPPLER)
    from umrunbook.evidence.records import StepRecord

    server = plan.appliance.metered_servers[0]
    title = "Take a snapshot of the appliance"
    executed = {
        "upgrade": [StepRecord("upgrade", "PASS", "2026-12-05T22:30:00Z", "agent", "exit code 0")],
        "verify": [StepRecord("verify", "FAIL", "2026-12-05T22:50:00Z", "agent", "services ?")],
        # A manual record's detail is the step's title: not repeated on the line.
        "snapshot": [StepRecord("snapshot", "done", "2026-12-05T22:05:00Z", "JO", title)],
        "prerequisite:console": [StepRecord("p", "done", "2026-12-05T21:00:00Z", "AB")],
        f"certificate:{server}": [StepRecord("c", "done", "2026-12-05T23:00:00Z", "AB")],
        "backout:B1": [StepRecord("b", "done", "", "JO")],
        "cleanup": [StepRecord("cleanup", "done", "2026-12-08T09:00:00Z", "JO")],
    }
    sources = ["evidence-um-ams-01.json", "manual-um-ams-01.json"]
    markdown = render_markdown(plan, executed, sources)
    path = tmp_path / "as-executed.pdf"
    path.write_bytes(render_pdf(runbook_view(plan, executed, sources), RenderOptions()))
    assert info(path)["Title"].startswith("As executed: upgrade um-ams-01 to Usage Meter 4.3")
    pages = run("pdftotext", "-raw", str(path), "-").split("\f")[:-1]
    assert_pdf_carries_the_markdown(plan, pages, markdown)
    text = "\n".join(pages)
    number = {s.id: s.number for s in plan.hops[0].steps}
    for line in (
        f"Step {number['upgrade']}: PASS at 2026-12-05T22:30:00Z by agent (exit code 0)",
        f"Step {number['verify']}: FAIL at 2026-12-05T22:50:00Z by agent (services ?)",
        f"Step {number['snapshot']}: done at 2026-12-05T22:05:00Z by JO",
        f"{server}: certificate accepted · done at 2026-12-05T23:00:00Z by AB",
        "Backout B1: done at an unrecorded time by JO",
        "Snapshot removed · done at 2026-12-08T09:00:00Z by JO",
        f"Step {number['enable-ssh']}: no record in the evidence.",
    ):
        assert f"\n{line}\n" in text, line
    assert f"Step {number['snapshot']} done. By:" not in text and "Done. By:" not in text


def test_what_the_agent_runs_is_set_apart_under_the_words(plan: Plan, pages: list[str]) -> None:
    """pdftotext reads "The agent runs this: do not type it." right above each of the
    vendor's commands the agent runs, and those lines nowhere else."""
    text = "\n".join(pages).translate(TYPOGRAPHIC)
    lines = [line.strip() for line in text.splitlines()]
    steps = [s for s in plan.hops[0].steps if s.agent_runs]
    assert len(steps) >= 2
    starts = [i for i, line in enumerate(lines) if line.startswith("The agent runs this:")]
    assert len(starts) == len(steps)
    for start, step in zip(starts, steps, strict=True):
        assert lines[start].startswith("The agent runs this: do not type it.")
        # The words, the rest of their sentence (it may wrap), then the commands.
        after = lines[start + 1 : start + 4]
        first = after.index(step.agent_runs[0])
        assert after[first : first + len(step.agent_runs)] == list(step.agent_runs)
    assert text.count("bash ums-system-upgrade.shar") == 1


def test_headings_follow_the_plans_steps_and_each_check_is_shown_once(
    plan: Plan, pages: list[str], tmp_path: Path
) -> None:
    from tests.helpers.order import (
        assert_headings_follow_the_steps,
        checksum_commands,
        expected_headings,
        iso_route_plan,
        sha256_checks,
    )

    need("pdftotext")
    for n, route in enumerate((plan, multi_hop_plan(), iso_route_plan(host_key=False))):
        if route is plan:
            text = "\n".join(pages)
        else:
            path = tmp_path / f"route-{n}.pdf"
            path.write_bytes(render_pdf(runbook_view(route), RenderOptions()))
            text = run("pdftotext", "-raw", str(path), "-")
        text = text.translate(TYPOGRAPHIC)
        names = set(expected_headings(route)) | {
            "Transfer",
            *(f"{h.target_version.short}: Transfer" for h in route.hops),
        }
        # The steps in order; the transfer details in the appendix, in the same order.
        body, _, appendix = text.partition(f"\n{APPENDIX}\n")
        headings = [line.strip() for line in body.splitlines() if line.strip() in names]
        details = [
            line.strip()
            for line in appendix.splitlines()
            if re.sub(r"^A\.\d+ ", "", line.strip()) in names
        ]
        assert_headings_follow_the_steps(route, headings + details, appendix=True)
        found = checksum_commands(readable(text))
        if route.hops[0].procedure.delivery == "shar":
            assert len(found) == 4 * len(route.hops), found
            assert all(found.count(c) in (1, len(route.hops)) for c in found), found
        else:
            assert found.count("Get-FileHash -Algorithm SHA256") == sha256_checks(route)
            assert found.count("Get-FileHash -Algorithm SHA1") == len(route.hops)


def test_prerequisites_before_the_window_list_nothing_done_in_it(pages: list[str]) -> None:
    text = "\n".join(pages).translate(TYPOGRAPHIC)
    part = text.split("\nPrerequisites\n", 1)[1].split("\nBefore the window\n", 1)[0]
    before, _, in_window = part.partition("Done in the window, at Step ")
    assert before.startswith("Check each one before the window starts.")
    assert "snapshot" not in before.lower()
    assert "Snapshot to take:" in in_window
