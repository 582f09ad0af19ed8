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


def cmark_gfm(text: str) -> str:
    need("cmark-gfm")
    return subprocess.run(
        ["cmark-gfm", "-e", "table", "-e", "tasklist", "-e", "autolink"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_what_the_agent_runs_is_reference_in_a_quote_under_the_words() -> None:
    """GitHub's renderer shows the vendor's commands the agent runs inside a quote that opens
    with "The agent runs this: do not type it.", apart from the commands to type."""
    plan = example_plans()[0]
    html = cmark_gfm(render_markdown(plan))
    quotes = re.findall(r"<blockquote>\n(.*?)</blockquote>", html, re.S)
    agent_quotes = [q for q in quotes if "The agent runs this: do not type it." in q]
    steps = [s for s in plan.hops[0].steps if s.agent_runs]
    assert len(agent_quotes) == len(steps) >= 2
    for quote, step in zip(agent_quotes, steps, strict=True):
        assert quote.startswith("<p><strong>The agent runs this: do not type it.</strong>")
        (code,) = re.findall(r"<pre[^>]*><code[^>]*>(.*?)</code></pre>", quote, re.S)
        assert code == "\n".join(step.agent_runs) + "\n"
    # The bundle's own command is never outside such a quote.
    outside = re.sub(r"<blockquote>.*?</blockquote>", "", html, flags=re.S)
    assert "bash ums-system-upgrade.shar" not in outside
    assert "bash ums-system-upgrade.shar" in html


def test_headings_follow_the_plans_steps_and_each_check_is_shown_once() -> None:
    from tests.helpers.html import multi_hop_plan
    from tests.helpers.order import (
        assert_headings_follow_the_steps,
        checksum_commands,
        iso_route_plan,
        sha256_checks,
    )

    for plan in (example_plans()[0], multi_hop_plan(), iso_route_plan()):
        text = render_markdown(plan)
        headings = [
            re.sub(r"<[^>]+>", "", h)
            for h in re.findall(r"<h[1-6]>(.*?)</h[1-6]>", cmark_gfm(text))
        ]
        assert_headings_follow_the_steps(plan, headings)
        found = checksum_commands(text)
        if plan.hops[0].procedure.delivery == "shar":
            # Once per upgrade: the workstation's in its step, the appliance's in its step.
            # Per upgrade: Get-FileHash and sha256sum on the workstation, the agent's and
            # the bundle's line of sha256sum -c - on the appliance (the agent differs per hop).
            assert len(found) == 4 * len(plan.hops), found
            assert all(found.count(c) in (1, len(plan.hops)) for c in found), found
            assert "sha256sum -c -" in text
            assert "sha256sum ums-system-upgrade.shar um-upgrade-agent.sh" not in text
        else:
            assert found.count("Get-FileHash -Algorithm SHA256") == sha256_checks(plan)
            assert found.count("Get-FileHash -Algorithm SHA1") == len(plan.hops)
            assert len([c for c in found if c.startswith("sha1sum -c ")]) == len(plan.hops)


def test_prerequisites_before_the_window_list_nothing_done_in_it() -> None:
    plan = example_plans()[0]
    text = render_markdown(plan)
    part = text.split("## Prerequisites\n", 1)[1].split("\n## ", 1)[0]
    before, _, in_window = part.partition("Done in the window, at **Step ")
    assert "Check each one before the window starts." in before
    assert "snapshot" not in before.lower()
    snapshot = next(s for s in plan.hops[0].steps if s.id == "snapshot")
    assert in_window.startswith(f"{snapshot.number}** ({snapshot.title}), before the upgrade")
    assert "- [ ] Snapshot to take: `CHG0012345-before-4.3`" in in_window
