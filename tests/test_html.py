"""The HTML runbook without a browser: self-contained, the Markdown's content, safe text."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
from dataclasses import replace

import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.tasklists import tasklists_plugin

from tests.conftest import need
from tests.helpers import step_heading, step_number
from tests.helpers.html import (
    HOSTILE_LINES,
    example_plans,
    hostile_plans,
    multi_hop_plan,
    parse_html,
)
from umrunbook.faces.html import render_html
from umrunbook.faces.markdown import render_markdown
from umrunbook.faces.registry import RenderOptions
from umrunbook.faces.view import runbook_view
from umrunbook.planning.plan import Plan


def page(plan: Plan) -> str:
    return render_html(runbook_view(plan), RenderOptions()).decode("utf-8")


@pytest.fixture(scope="module")
def plan() -> Plan:
    return hostile_plans()[0]


@pytest.fixture(scope="module")
def html(plan: Plan) -> str:
    return page(plan)


def markdown_tokens(text: str):  # type: ignore[no-untyped-def]
    md = MarkdownIt("commonmark", {"html": False}).enable("table").use(tasklists_plugin)
    return md.parse(text)


def test_the_page_makes_no_request_and_its_policy_forbids_any(html: str) -> None:
    doc = parse_html(html)
    references = {
        ref.url for hop in example_plans()[0].hops for ref in hop.procedure.references.values()
    }
    for element in doc.iter():
        assert element.tag not in ("link", "img", "iframe", "object", "embed", "base")
        for name in ("src", "srcset", "action", "poster", "data", "xlink:href"):
            assert name not in element.attrs, (element.tag, name)
        href = element.attrs.get("href")
        if href is not None:
            # In-page anchors, and the vendor's pages a reader may choose to open.
            assert href.startswith("#") or href in references, href
    assert "@import" not in html and "url(" not in html
    (policy,) = [
        m.attrs["content"]
        for m in doc.iter("meta")
        if m.attrs.get("http-equiv") == "Content-Security-Policy"
    ]
    assert policy.startswith("default-src 'none';")
    # The inline style and script are allowed by their hashes, nothing else is.
    for tag in ("style", "script"):
        (element,) = doc.iter(tag)
        digest = base64.b64encode(hashlib.sha256(element.text.encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in policy


def test_same_headings_commands_and_checkboxes_as_the_markdown(plan: Plan, html: str) -> None:
    text = render_markdown(plan)
    tokens = markdown_tokens(text)
    md_headings = [
        tokens[i + 1].content.replace("\\", "")
        for i, t in enumerate(tokens)
        if t.type == "heading_open"
    ]
    md_fences = [t.content for t in tokens if t.type == "fence"]
    md_boxes = MarkdownIt("commonmark").use(tasklists_plugin).render(text).count('type="checkbox"')

    main = parse_html(html).iter("main")[0]
    headings = [h.text for h in main.iter() if h.tag in ("h1", "h2", "h3", "h4")]
    assert [re.sub(r"`", "", h) for h in md_headings] == headings
    assert [c.text for c in main.iter("code") if c.parent and c.parent.tag == "pre"] == md_fences
    boxes = main.iter("input")
    assert len(boxes) == md_boxes > 20
    assert all(b.attrs["type"] == "checkbox" for b in boxes)


def test_every_checkbox_is_labelled_unique_and_stable(html: str) -> None:
    boxes = parse_html(html).iter("input")
    ids = [b.attrs["id"] for b in boxes]
    assert len(set(ids)) == len(ids)
    for box in boxes:
        labels = [a for a in box.ancestors() if a.tag == "label"]
        assert labels and labels[0].text.strip(), box.attrs["id"]
        assert "disabled" not in box.attrs
    # Ids are the view's record keys, so a re-rendered runbook keeps the ticks made in it.
    assert "preflight" in ids and "prerequisite:snapshot-name" in ids
    assert ids == [b.attrs["id"] for b in parse_html(page(hostile_plans()[0])).iter("input")]


def test_each_step_is_a_card_with_its_where_badge(plan: Plan, html: str) -> None:
    cards = {c.iter("h3")[0].text: c for c in parse_html(html).iter("section", "step")}
    hop = plan.hops[0]
    expected = [(f"Step {s.number}: {s.title}", s) for s in hop.steps] + [
        (f"Backout {s.number}: {s.title}", s) for s in hop.backout.steps
    ]
    assert len(cards) == len(expected)
    for heading, step in expected:
        badges = cards[heading].iter("span", "where")
        assert len(badges) == 1, heading
        assert f"where-{step.where}" in badges[0].classes()
        assert badges[0].text == step.where_label
        # The table of contents shows the same place beside the step.
        (link,) = [
            a for a in parse_html(html).iter("a") if a.attrs.get("href") == "#" + cards_id(heading)
        ]
        assert link.iter("span", "where")[0].text == step.where_label


def cards_id(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def test_every_command_block_has_a_copy_button_and_is_exact(plan: Plan, html: str) -> None:
    blocks = [b for b in parse_html(html).iter("div", "code") if "code-agent" not in b.classes()]
    commands = [b for s in plan.hops[0].steps for b in s.commands]
    assert len(blocks) >= len(commands)
    for block in blocks:
        (button,) = block.iter("button")
        assert button.attrs["type"] == "button" and "copy" in button.classes()
        assert button.text.startswith("Copy")
    texts = [b.iter("code")[0].text for b in blocks]
    for command in commands:
        assert "\n".join(command.lines) + "\n" in texts


def test_what_the_agent_runs_is_set_apart_with_no_copy_button(plan: Plan, html: str) -> None:
    """The vendor's commands the agent runs (the bundle itself) are reference: in a quote
    under "the agent runs this: do not type it", with nothing to copy; every other block
    keeps its button."""
    doc = parse_html(html)
    agent_runs = [s.agent_runs for s in plan.hops[0].steps if s.agent_runs]
    assert len(agent_runs) >= 2  # the upgrade's bundle, the verify's status check
    quotes = doc.iter("blockquote", "agent-runs")
    assert len(quotes) == len(agent_runs)
    for quote, lines in zip(quotes, agent_runs, strict=True):
        assert quote.iter("p")[0].text.startswith("The agent runs this: do not type it.")
        (block,) = quote.iter("div", "code")
        assert "code-agent" in block.classes()
        assert block.iter("button") == []
        assert block.iter("code")[0].text == "\n".join(lines) + "\n"
    # Nowhere else: a block of typed commands is never marked, and the bundle's own command
    # is never in a block with a copy button.
    marked = {id(b) for b in doc.iter("div", "code-agent")}
    assert len(marked) == len(agent_runs)
    for block in doc.iter("div", "code"):
        if id(block) not in marked:
            assert len(block.iter("button")) == 1
            assert "bash ums-system-upgrade.shar" not in block.iter("code")[0].text


def test_a_note_that_looks_like_markup_shows_as_text(html: str) -> None:
    doc = parse_html(html)
    assert len(doc.iter("script")) == 1
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not doc.iter("b") and not doc.iter("em")
    assert "javascript:" not in "".join(a.attrs.get("href", "") for a in doc.iter("a"))
    note = " ".join(p.text for p in doc.iter("main")[0].iter("p"))
    for line in HOSTILE_LINES:
        assert line in note, line


def test_the_same_plan_gives_the_same_bytes() -> None:
    plan = example_plans()[1]
    assert page(plan) == page(plan)


def test_print_view_has_the_video_as_a_qr_code(html: str) -> None:
    (figure,) = parse_html(html).iter("figure", "qr")
    assert "print-only" in figure.parent.classes()  # type: ignore[union-attr]
    assert figure.iter("svg") and "youtube.com" in figure.text


def test_a_step_with_no_where_in_the_catalogue_list_still_gets_a_neutral_badge() -> None:
    plan = example_plans()[0]
    hop = plan.hops[0]
    certificates = replace(hop.certificates, where_label="Somewhere new")
    plan = replace(plan, hops=(replace(hop, certificates=certificates), *plan.hops[1:]))
    html = render_html(runbook_view(plan), RenderOptions()).decode()
    badge = [b for b in parse_html(html).iter("span", "where") if b.text == "Somewhere new"]
    assert badge and "where-other" in badge[0].classes()


def test_github_renderer_sees_the_same_headings_and_checkboxes(plan: Plan, html: str) -> None:
    need("cmark-gfm")
    text = render_markdown(plan)
    gfm = subprocess.run(
        ["cmark-gfm", "-e", "table", "-e", "tasklist"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    gfm_doc = parse_html(gfm)
    ours = parse_html(html).iter("main")[0]
    for level in ("h1", "h2", "h3"):
        assert [h.text for h in gfm_doc.iter(level)] == [h.text for h in ours.iter(level)]
    assert len(gfm_doc.iter("input")) == len(ours.iter("input"))
    assert [c.text for c in gfm_doc.iter("code") if c.parent and c.parent.tag == "pre"] == [
        c.text for c in ours.iter("code") if c.parent and c.parent.tag == "pre"
    ]


def test_a_plan_without_approver_or_notes_renders(plan: Plan) -> None:
    bare = replace(
        plan,
        appliance=replace(plan.appliance, notes=None, snapshot=None, metered_servers=()),
        change=replace(plan.change, approver=None),
    )
    html = page(bare)
    assert "alert(1)" not in html
    assert parse_html(html).iter("section", "step")


def test_a_route_of_two_upgrades_keeps_ids_unique_and_flags_the_field_report() -> None:
    plan = multi_hop_plan()
    html = page(plan)
    doc = parse_html(html)
    ids = [e.attrs["id"] for e in doc.iter() if "id" in e.attrs]
    assert len(ids) == len(set(ids))
    steps = doc.iter("section", "step")
    expected = sum(len(h.steps) + len(h.backout.steps) for h in plan.hops)
    assert len(steps) == expected
    assert all(len(card.iter("span", "where")) == 1 for card in steps)
    (quote,) = [q for q in doc.iter("blockquote") if "agent-runs" not in q.classes()]
    assert quote.text.strip().startswith("Field report, not the vendor's text:")
    toc = [a.text for a in doc.iter("nav")[0].iter("a")]
    assert "4.2: Backout plan" in toc and "4.3: Backout plan" in toc


def test_each_box_names_what_it_ticks_by_the_plans_ids(plan: Plan, html: str) -> None:
    boxes = parse_html(html).iter("main")[0].iter("input")
    hop = plan.hops[0]
    assert [b.attrs["data-step"] for b in boxes] == [
        *(f"prerequisite:{p.id}" for p in hop.procedure.prerequisites if p.id != "snapshot"),
        # The snapshot is taken in the window: listed apart, after the ones to check before.
        "prerequisite:snapshot",
        "prerequisite:snapshot-name",
        *(s.id for s in hop.steps),
        *(f"certificate:{server}" for server in plan.appliance.metered_servers),
        *(f"backout:{s.number}" for s in hop.backout.steps),
        "cleanup",
    ]
    by_step = {b.attrs["data-step"]: b for b in boxes}
    for step in hop.steps:
        assert by_step[step.id].attrs["data-number"] == step.number
        assert by_step[step.id].attrs["data-title"] == step.title
    body = parse_html(html).iter("body")[0]
    assert body.attrs["data-appliance"] == plan.appliance.name
    assert body.attrs["data-ticket"] == plan.change.ticket
    assert body.attrs["data-generator"] == plan.generator
    (field,) = [i for i in parse_html(html).iter("input") if i.attrs.get("id") == "initials"]
    assert field.parent is not None and field.parent.text.strip() == "Your initials"


def test_a_route_of_two_upgrades_names_each_hops_boxes() -> None:
    plan = multi_hop_plan()
    boxes = parse_html(page(plan)).iter("main")[0].iter("input")
    ids = [b.attrs["data-step"] for b in boxes]
    # Every upgrade's steps before the window come first, in one part.
    expected = [s.id for hop in plan.hops for s in hop.steps if s.phase == "before"]
    for hop in plan.hops:
        expected += [
            f"prerequisite:{p.id}" for p in hop.procedure.prerequisites if p.id != "snapshot"
        ]
        expected += ["prerequisite:snapshot", "prerequisite:snapshot-name"]
        expected += [s.id for s in hop.steps if s.phase != "before"]
        expected += [f"certificate:{server}" for server in plan.appliance.metered_servers]
        expected += [f"backout:{s.number}" for s in hop.backout.steps]
    assert ids == [*expected, "cleanup"]
    cleanup = next(b for b in boxes if b.attrs["data-step"] == "cleanup")
    assert cleanup.attrs["data-title"] == "Snapshots removed"


def test_the_as_executed_page_shows_records_and_nothing_to_tick(plan: Plan) -> None:
    from umrunbook.evidence.records import StepRecord

    executed = {
        "snapshot": [StepRecord("snapshot", "done", "2026-12-05T22:05:00Z", "JO")],
        "verify": [StepRecord("verify", "FAIL", "2026-12-05T23:05:00Z", "agent", "services ?")],
    }
    text = render_markdown(plan, executed, ["evidence.json"])
    html = render_html(runbook_view(plan, executed, ["evidence.json"]), RenderOptions()).decode()
    doc = parse_html(html)
    assert not doc.iter("input") and not doc.iter("label")
    assert not [e for e in doc.iter() if e.attrs.get("id") in ("tools", "export", "reset")]
    assert doc.iter("title")[0].text.startswith("As executed: ")
    assert doc.iter("h1")[0].text.startswith("As executed: upgrade um-ams-01")
    marks = doc.iter("span", "mark")
    assert len(marks) == len(re.findall(r"^- \[[x ]\] ", text, flags=re.M)) > 20
    kinds = [next(c for c in m.classes() if c.startswith("mark-")) for m in marks]
    assert kinds.count("mark-done") == 1 and kinds.count("mark-fail") == 1
    cards = {c.iter("h3")[0].text: c for c in doc.iter("section", "step")}
    assert "is-done" in cards[step_heading(plan, "snapshot")].classes()
    assert "is-done" not in cards[step_heading(plan, "enable-ssh")].classes()
    (item,) = cards[step_heading(plan, "snapshot")].iter("li")
    assert (
        item.text.strip()
        == f"Step {step_number(plan, 'snapshot')}: done at 2026-12-05T22:05:00Z by JO"
    )


def test_headings_follow_the_plans_steps_and_each_check_is_shown_once() -> None:
    from tests.helpers.order import (
        assert_headings_follow_the_steps,
        checksum_commands,
        iso_route_plan,
        sha256_checks,
    )

    for route in (hostile_plans()[0], multi_hop_plan(), iso_route_plan()):
        main = parse_html(page(route)).iter("main")[0]
        headings = [h.text for h in main.iter() if h.tag in ("h1", "h2", "h3", "h4")]
        assert_headings_follow_the_steps(route, headings)
        found = checksum_commands(main.text)
        if route.hops[0].procedure.delivery == "shar":
            assert len(found) == 4 * len(route.hops), found
            assert all(found.count(c) in (1, len(route.hops)) for c in found), found
        else:
            assert found.count("Get-FileHash -Algorithm SHA256") == sha256_checks(route)
            assert found.count("Get-FileHash -Algorithm SHA1") == len(route.hops)
        # The upload's ways sit in the upload step's card.
        for card in main.iter("section", "step"):
            (title,) = card.iter("h3")
            inner = [h.text for h in card.iter("h4")]
            if title.text.endswith(": Upload the bundle and the agent") or title.text.endswith(
                ": Upload the four files and the agent"
            ):
                assert "Upload with WinSCP (graphical)" in inner
            else:
                assert "Upload with WinSCP (graphical)" not in inner
