"""The Markdown runbook: structure as GitHub reads it, exact commands, a golden file."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from markdown_it import MarkdownIt
from mdit_py_plugins.tasklists import tasklists_plugin

from tests.conftest import need
from tests.helpers import example_plans
from umrunbook.faces.markdown import render_markdown

GOLDEN = Path(__file__).parent / "golden" / "um-ams-01.runbook.md"


def normalised(text: str) -> str:
    """The agent's hash changes with every change to the agent's source; the golden file
    holds the runbook's words, so the hash is replaced by a placeholder."""
    return re.sub(
        r"\b[0-9a-f]{64}\b",
        lambda m: "<sha256>" if not m.group(0).startswith("0123456789abcdef") else m.group(0),
        text,
    )


def test_every_step_has_heading_where_commands_and_checkbox() -> None:
    plan = example_plans()[0]
    text = render_markdown(plan)
    md = MarkdownIt("commonmark", {"html": False}).enable("table").use(tasklists_plugin)
    tokens = md.parse(text)
    headings = [
        tokens[i + 1].content
        for i, t in enumerate(tokens)
        if t.type == "heading_open" and t.tag == "h3"
    ]
    steps = plan.hops[0].steps
    for step in steps:
        assert f"Step {step.number}: {step.title}" in headings
    fences = [t.content.rstrip("\n").split("\n") for t in tokens if t.type == "fence"]
    for step in steps:
        for block in step.commands:
            assert list(block.lines) in fences, (step.id, block.lines)
    html = md.render(text)
    checkboxes = html.count('type="checkbox"')
    servers = len(plan.appliance.metered_servers)
    prerequisites = len(plan.hops[0].procedure.prerequisites) + 1
    backout = len(plan.hops[0].backout.steps)
    assert checkboxes == len(steps) + servers + prerequisites + backout + 1


def test_github_renderer_reads_it_the_same_way() -> None:
    need("cmark-gfm")
    plan = example_plans()[0]
    text = render_markdown(plan)
    result = subprocess.run(
        ["cmark-gfm", "-e", "table", "-e", "tasklist", "-e", "autolink", "-e", "strikethrough"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    html = result.stdout
    assert html.count('type="checkbox"') == MarkdownIt("commonmark").use(tasklists_plugin).render(
        text
    ).count('type="checkbox"')
    assert "<table>" in html and "<th>Role</th>" in html
    for step in plan.hops[0].steps:
        assert f"<h3>Step {step.number}: " in html
    assert "<del>" not in html  # no stray strikethrough from a value with tildes


def test_values_are_escaped_not_interpreted() -> None:
    from dataclasses import replace

    plan = example_plans()[0]
    hostile = "*bold* _it_ <b>x</b> [link](http://evil.example) ~~del~~ $x$ | pipe `tick`\n# head"
    appliance = replace(plan.appliance, notes=hostile, snapshot="a|b `c` <i>")
    text = render_markdown(replace(plan, appliance=appliance))
    html = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"]).render(text)
    for forbidden in ("<em>", "<b>", "<i>", '<a href="http://evil', "<del>", "<h1>head"):
        assert forbidden not in html, forbidden
    assert "*bold* _it_ &lt;b&gt;x&lt;/b&gt; [link](http://evil.example) ~~del~~ $x$ | pipe" in html
    assert "<strong>Snapshot location:</strong> a|b `c` &lt;i&gt;</li>" in html


def test_golden_runbook() -> None:
    """Refresh with UMRUNBOOK_UPDATE_GOLDEN=1 after an intended change, and review the diff."""
    text = normalised(render_markdown(example_plans()[0]))
    if os.environ.get("UMRUNBOOK_UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
