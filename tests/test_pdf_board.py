"""The PDF as a change board reads it, read back with poppler: the cover (summary and sign-off),
command blocks at 8 pt or more with a visible mark where a line is cut, a long ISO name set
once in a shell variable that sh reads as the full name, checksums in groups of four, and the
transfer details in an appendix the steps point to. The sign-off is the same in the Markdown
and the HTML."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need
from tests.helpers.html import hostile_plans
from tests.helpers.order import iso_route_plan
from tests.helpers.pdf import APPENDIX, CONTINUED, readable, run
from umrunbook.evidence.records import StepRecord
from umrunbook.faces.html import render_html
from umrunbook.faces.markdown import render_markdown
from umrunbook.faces.pdf import render_pdf, typst_inputs
from umrunbook.faces.pdf_data import groups_of_four
from umrunbook.faces.registry import RenderOptions
from umrunbook.faces.view import SIGN_OFF_ROLES, runbook_view
from umrunbook.planning.plan import Plan

POPPLER = ("pdftotext",)
MONO_ADVANCE = 0.602  # DejaVu Sans Mono: every glyph is this wide, in em
FLOOR = 8.0
EXECUTED = {"upgrade": [StepRecord("upgrade", "PASS", "2026-12-05T22:30:00Z", "agent", "")]}
SOURCES = ["evidence-um-ams-01.json"]


@pytest.fixture(scope="module")
def plan() -> Plan:
    return hostile_plans()[0]


@pytest.fixture(scope="module")
def iso() -> Plan:
    return iso_route_plan(host_key=False)


def pdf_of(plan: Plan, folder: Path, name: str, executed: bool = False) -> Path:
    path = folder / f"{name}.pdf"
    view = runbook_view(plan, EXECUTED, SOURCES) if executed else runbook_view(plan)
    path.write_bytes(render_pdf(view, RenderOptions()))
    return path


@pytest.fixture(scope="module")
def pdfs(plan: Plan, iso: Plan, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("board")
    return {
        "planned": pdf_of(plan, folder, "planned"),
        "executed": pdf_of(plan, folder, "executed", executed=True),
        "iso": pdf_of(iso, folder, "iso"),
    }


def pages_of(path: Path) -> list[str]:
    need(*POPPLER)
    return run("pdftotext", "-raw", str(path), "-").split("\f")[:-1]


def command_texts(plan: Plan) -> list[str]:
    """Every command block's text as the PDF's data has it: the typed ones, what the agent
    runs, and the transfer guide's code."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "shell_name" in node and "text" in node:
                found.append(node["text"])
            if node.get("kind") == "code":
                found.append(node["parts"][0][0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(typst_inputs(runbook_view(plan), "a4")["plan"]))
    return found


def squeezed(text: str) -> str:
    return " ".join(text.split())


def layout_lines(path: Path) -> list[list[tuple[str, float]]]:
    """Each line of the PDF as its words, each with its width in points."""
    need("pdftotext")
    xml = run("pdftotext", "-bbox-layout", str(path), "-")
    root = ET.fromstring(xml)
    ns = {"x": "http://www.w3.org/1999/xhtml"}
    return [
        [
            (word.text or "", float(word.get("xMax", 0)) - float(word.get("xMin", 0)))
            for word in line.findall("x:word", ns)
        ]
        for line in root.iter("{http://www.w3.org/1999/xhtml}line")
    ]


# -- the cover --------------------------------------------------------------------------------


def test_the_first_page_is_the_summary_and_the_sign_off(plan: Plan, pdfs: dict[str, Path]) -> None:
    a, change = plan.appliance, plan.change
    for key, status in (("planned", "Planned"), ("executed", "As executed")):
        pages = pages_of(pdfs[key])
        cover = squeezed(pages[0])
        for wanted in (
            f"Status: {status}",
            f"Appliance: {a.name}, host {a.host}",
            f"Change: {change.ticket}",
            "Window: 2026-12-05 22:00",
            f"Upgrade: {a.version} → {plan.target.short}",
            "Estimated time:",
            "Sign-off",
            "Role Name Signature Date and time",
            f"Implementer {change.implementer}",
            "Peer reviewer",
            f"Approver / change manager {change.approver}",
            "Result: upgraded and verified backed out not started",
            "Deviations from the plan: none as written here",
            "Evidence attached:",
        ):
            assert wanted in cover, (key, wanted)
        # Signed once, on the cover: no second sign-off further on.
        assert not [p for p in pages[1:] if "\nSign-off\n" in p]
        assert "\nStep 1: " not in pages[0]
    executed = squeezed(pages_of(pdfs["executed"])[0])
    assert f"Records read from: {SOURCES[0]}" in executed


def test_a_route_says_so_on_the_cover(iso: Plan, pdfs: dict[str, Path]) -> None:
    cover = squeezed(pages_of(pdfs["iso"])[0])
    assert f"(route: {iso.route_text}, 2 upgrades in turn)" in cover
    assert "Sign-off" in cover and "Approver / change manager" in cover


# -- command blocks ---------------------------------------------------------------------------


def test_no_command_is_set_below_8_pt(plan: Plan, iso: Plan, pdfs: dict[str, Path]) -> None:
    """Each line of a command block is found on the page, and each of its words is as wide
    as DejaVu Sans Mono at 8 pt or more makes it (the old blocks shrank to 6.2 pt)."""
    for route, key in ((plan, "planned"), (iso, "iso")):
        source = [squeezed(line) for text in command_texts(route) for line in text.split("\n")]
        sizes: list[float] = []
        for words in layout_lines(pdfs[key]):
            text = " ".join(w for w, _ in words).removesuffix(CONTINUED).strip()
            if len(text) < 16 or not any(text in line for line in source):
                continue
            for word, width in words:
                sizes.append(width / (len(word) * MONO_ADVANCE))
        assert len(sizes) > 40, key
        assert min(sizes) >= FLOOR - 0.05, (key, min(sizes))


def test_a_line_too_long_is_cut_with_the_mark_and_never_wraps_silently(
    iso: Plan, pdfs: dict[str, Path]
) -> None:
    text = "\n".join(pages_of(pdfs["iso"]))
    lines = text.splitlines()
    cut = [n for n, line in enumerate(lines) if line.rstrip().endswith(CONTINUED)]
    assert len(cut) >= 4
    # The block that has a cut line says what the mark means.
    assert "at a line\u2019s end: the line goes on below; type it as one line." in text
    # The longest line (the agent's checksum) is cut, and comes back whole.
    longest = max((line for b in command_texts(iso) for line in b.split("\n")), key=len)
    assert len(longest) > 100
    assert squeezed(longest) not in {squeezed(line) for line in lines}
    assert squeezed(longest) in {squeezed(line) for line in readable(text).splitlines()}
    # Every command line, its pieces joined, stands whole on the page: a wrap without the
    # mark would leave it in two.
    whole = {squeezed(line) for line in readable(text).splitlines()}
    shown = {squeezed(line) for line in text.splitlines()}
    for block in command_texts(iso):
        for line in block.split("\n"):
            assert squeezed(line) in whole or squeezed(line) in shown, line


def test_a_long_iso_name_is_set_once_in_a_variable_that_sh_reads_as_the_name(
    iso: Plan, pdfs: dict[str, Path]
) -> None:
    need("sh")
    stem = iso.hops[0].bundle[0].name.removesuffix(".iso")
    text = "\n".join(pages_of(pdfs["iso"]))
    assert f"ISO={stem}\n" in text
    assert 'openssl dgst -sha1 -verify "$ISO".key -signature "$ISO".sign "$ISO".iso' in text
    # The Markdown (and the HTML, rendered from it) keeps the vendor's lines whole.
    markdown = render_markdown(iso)
    assert "$ISO" not in markdown and "ISO=" not in markdown
    literal = {
        line.strip()
        for hv in runbook_view(iso).hops
        for phase in hv.phases
        for sv in phase.steps
        for c in sv.commands
        for line in c.lines
    }
    blocks = [b for b in command_texts(iso) if b.startswith("ISO=")]
    assert len(blocks) >= 4
    checked = 0
    for block in blocks:
        first, *rest = block.split("\n")
        for line in rest:
            if "$ISO" not in line or re.search(r"[|<>;&]", line):
                continue
            # What sh makes of the line, with the variable set as the block sets it, is the
            # words of the literal line the Markdown has.
            script = f"{first}\nprintf '%s\\n' {line.split(' ', 1)[1]}\n"
            result = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
            assert result.returncode == 0, result.stderr
            expanded = [line.split(" ", 1)[0], *result.stdout.splitlines()]
            assert " ".join(expanded) in literal, expanded
            checked += 1
    assert checked >= 6


def test_a_checksum_is_also_shown_in_groups_of_four(plan: Plan, pdfs: dict[str, Path]) -> None:
    text = squeezed("\n".join(pages_of(pdfs["planned"])))
    hop = plan.hops[0]
    for sha in (hop.bundle[0].sha256, hop.agent.sha256):
        assert len(sha) == 64
        assert f"SHA-256 {sha} in groups of four: {groups_of_four(sha)}" in text
        assert groups_of_four(sha).count(" ") == 15


# -- the appendix -----------------------------------------------------------------------------


def test_the_transfer_details_stand_in_the_appendix_where_the_step_points(
    plan: Plan, pdfs: dict[str, Path]
) -> None:
    pages = pages_of(pdfs["planned"])
    (start,) = [n for n, p in enumerate(pages) if f"\n{APPENDIX}\n" in p]
    body = "\n".join(pages[:start]) + pages[start].split(f"\n{APPENDIX}\n")[0]
    appendix = pages[start].split(f"\n{APPENDIX}\n")[1] + "\n".join(pages[start + 1 :])
    view = runbook_view(plan)
    detailed = [sv for phase in view.hops[0].phases for sv in phase.steps if sv.details]
    assert len(detailed) >= 3
    for n, sv in enumerate(detailed, 1):
        pointer = re.search(rf"How to do it: see A\.{n}, transfer details, page (\d+)\.", body)
        assert pointer, sv.heading
        target = pages[int(pointer[1]) - 1]
        assert f"\nA.{n} {sv.heading}\n" in target
        # The step's card, and no detail of it, between the steps.
        (card,) = [p for p in pages[:start] if f"\n{sv.heading}\n" in p]
        assert pointer[0] in squeezed(card) or pointer[0] in card
    # What the transfer guide says stands after the appendix's heading, not between steps.
    for heading in ("Upload with WinSCP (graphical)", "Host key"):
        if heading in appendix:
            assert f"\n{heading}\n" not in body
    assert "Upload with WinSCP (graphical)" in appendix


# -- the sign-off in every face ---------------------------------------------------------------


def test_the_sign_off_in_the_markdown_and_the_html(plan: Plan) -> None:
    for executed, status in ((None, "Planned"), (EXECUTED, "As executed")):
        view = runbook_view(plan, executed, SOURCES if executed else ())
        assert view.sign_off.status == status
        markdown = render_markdown(plan, executed, SOURCES if executed else ())
        part = markdown.split("\n## Sign-off\n", 1)[1].split("\n## ", 1)[0]
        assert f"**Status:** {status}" in markdown.split("\n## ", 1)[0]
        for role in SIGN_OFF_ROLES:
            assert re.search(rf"^\| {re.escape(role)} \|", part, flags=re.M), role
        for words in ("**Deviations from the plan:**", "**Evidence attached:**", "**Result:**"):
            assert words in part
        html = render_html(view, RenderOptions()).decode("utf-8")
        text = re.sub(r"<[^>]+>", "", html)
        for role in SIGN_OFF_ROLES:
            assert re.search(rf"<td[^>]*>{re.escape(role)}</td>", html), role
        for words in ("Deviations from the plan:", "Evidence attached:", f"Status: {status}"):
            assert words in text, words
