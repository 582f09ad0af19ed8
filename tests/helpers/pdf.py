"""The PDF runbook held against the Markdown: every block of one, in order, in the other."""

from __future__ import annotations

import re
import shlex
import subprocess

from markdown_it import MarkdownIt
from mdit_py_plugins.tasklists import tasklists_plugin

from umrunbook.faces.markdown import render_markdown
from umrunbook.planning.plan import Plan

TYPOGRAPHIC = str.maketrans({"\u2019": "'", "\u201c": '"', "\u201d": '"'})


CONTINUED = "\u21a9"  # the mark at the end of a command line the PDF had to cut
APPENDIX = "Appendix: transfer details"
VARIABLE = re.compile(r"(ISO|BUNDLE)=(\S+)")


def unwrap(text: str) -> str:
    """The PDF's text with each cut command line joined again (its mark and the next line's
    indent dropped)."""
    out: list[str] = []
    carry = ""
    for line in text.splitlines():
        if carry:
            line = carry + line.lstrip()
        if line.rstrip().endswith(CONTINUED):
            carry = line.rstrip()[: -len(CONTINUED)]
            continue
        carry = ""
        out.append(line)
    return "\n".join(out)


def expand(text: str) -> str:
    """The PDF's text with each long name it set in a shell variable written out again, and
    the line setting it dropped: the lines as the Markdown has them."""
    values: dict[str, str] = {}
    out: list[str] = []
    for line in text.splitlines():
        found = VARIABLE.fullmatch(line.strip())
        if found:
            values[found[1]] = shlex.split(found[2])[0]
            continue
        for name, value in values.items():
            line = line.replace(f'"${name}"', value)
        out.append(line)
    return "\n".join(out)


def readable(text: str) -> str:
    return expand(unwrap(text))


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


def transfer_details(plan: Plan) -> list[str]:
    """The Markdown of each step's transfer details, in the order of the steps: what the PDF
    sets in its appendix."""
    from umrunbook.faces.commonmark import blocks
    from umrunbook.faces.view import runbook_view

    view = runbook_view(plan)
    phases = [*view.before, *(phase for hop in view.hops for phase in hop.phases)]
    return [str(blocks(sv.details, 4)) for phase in phases for sv in phase.steps if sv.details]


def assert_pdf_carries_the_markdown(
    plan: Plan | None, pages: list[str], markdown: str | None = None
) -> None:
    """Every block of the Markdown (the plan's, or the one given) is in the PDF, in order:
    each step's transfer details in the PDF's appendix, in the steps' order; the rest in the
    body (from the second page), or where the body has not got it, on the cover (the
    summary and the sign-off), in order there too."""
    cleaned = [HEADER_FOOTER.sub("", page) for page in pages]
    # The cover (one page, or two when a fleet's night plan or an as-executed list is long)
    # ends where the body's first heading, "Plan", opens a page.
    first = next((n for n, page in enumerate(cleaned) if n and re.search(r"^Plan$", page, re.M)), 1)
    cover = readable("\n".join(cleaned[:first]))
    body, _, appendix = readable("\n".join(cleaned[first:])).partition(f"\n{APPENDIX}\n")
    if markdown is None:
        assert plan is not None
        markdown = render_markdown(plan)
    details = transfer_details(plan) if plan is not None else []
    at = 0
    for part in details:
        found = markdown.index(part, at)
        markdown = markdown[:found] + markdown[found + len(part) :]
        at = found
    assert (details == []) == (appendix == "")
    # The night plan opens the Markdown and stands on the PDF's cover, between the summary
    # and the sign-off: its blocks are looked for there only.
    night = re.search(r"^## Night plan\n.*?(?=^## )", markdown, flags=re.S | re.M)
    night_text = night.group(0) if night else ""
    markdown = markdown.replace(night_text, "", 1) if night_text else markdown
    pairs = [
        (night_text, (cover,)),
        (markdown, (body, cover)),
        ("\n\n".join(details), (appendix,)),
    ]
    count = 0
    for source, where in pairs:
        parts = [squeeze(part) for part in where]
        cursor = [0] * len(parts)
        for block in markdown_blocks(source) if source else []:
            count += 1
            for n, part in enumerate(parts):
                found = part.find(squeeze(block), cursor[n])
                if found >= 0:
                    cursor[n] = found + len(squeeze(block))
                    break
            else:
                raise AssertionError(f"missing from the PDF, or out of order: {block!r}")
    assert count > 100
