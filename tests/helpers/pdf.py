"""The PDF runbook held against the Markdown: every block of one, in order, in the other."""

from __future__ import annotations

import re
import subprocess

from markdown_it import MarkdownIt
from mdit_py_plugins.tasklists import tasklists_plugin

from umrunbook.faces.markdown import render_markdown
from umrunbook.planning.plan import Plan

TYPOGRAPHIC = str.maketrans({"\u2019": "'", "\u201c": '"', "\u201d": '"'})


def run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def markdown_blocks(text: str) -> list[str]:
    """Every paragraph, heading, list item, table cell and command line of the Markdown, as
    the reader sees it."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table").use(tasklists_plugin)
    blocks: list[str] = []
    for token in md.parse(text):
        if token.type == "fence":
            blocks.extend(line for line in token.content.splitlines() if line.strip())
        elif token.type == "inline":
            parts = []
            for child in token.children or []:
                if child.type in ("text", "code_inline"):
                    parts.append(child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    parts.append(" ")
            blocks.append("".join(parts))
    return [b for b in blocks if b.strip()]


def squeeze(text: str) -> str:
    """Compare words, not layout: no whitespace, no writing lines or [ ] boxes, plain quotes."""
    text = text.replace("[ ]", "").translate(TYPOGRAPHIC)
    text = re.sub(r"_{3,}", "", text)
    return re.sub(r"\s+", "", text)


HEADER_FOOTER = re.compile(
    r"^(Change \S+ · \S+ Upgrade to Usage Meter \S+|Generated .* Page \d+ of \d+)$", re.M
)


def assert_pdf_carries_the_markdown(
    plan: Plan | None, pages: list[str], markdown: str | None = None
) -> None:
    """Every block of the Markdown (the plan's, or the one given) is in the PDF, in order."""
    pdf = squeeze(HEADER_FOOTER.sub("", "\n".join(pages)))
    if markdown is None:
        assert plan is not None
        markdown = render_markdown(plan)
    blocks = markdown_blocks(markdown)
    assert len(blocks) > 100
    at = 0
    for block in blocks:
        found = pdf.find(squeeze(block), at)
        assert found >= 0, f"missing from the PDF, or out of order: {block!r}"
        at = found + len(squeeze(block))
