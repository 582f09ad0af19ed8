"""The runbook's view as CommonMark text: a Jinja2 template over the view, every value escaped
by the environment. The Markdown face writes this text; the HTML face renders it with
markdown-it-py, taking what each tick box records from the view, never from the text.

Inventory text reaches the Markdown only as escaped prose or as code spans and fenced blocks
long enough to hold it, so `<script>`, `*` or `{{ }}` in a field show as written and never
become markup. (Jinja only ever sees values, never inventory text as template source.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from umrunbook.faces import view as words
from umrunbook.faces.humanize import duration, when, when_utc
from umrunbook.faces.templating import text_environment
from umrunbook.faces.view import Block, CommandView, Parts, RunbookView, runbook_view
from umrunbook.planning.plan import Plan, Text
from umrunbook.planning.records import StepRecord

# Characters that open or close Markdown constructs inline (GitHub also renders $...$ as math);
# a backslash before ASCII punctuation is always taken literally by CommonMark and GFM.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&$])")
# The info string's second word on a block of what the agent runs (the HTML face reads it).
AGENT_RUNS_INFO = "agent-runs"
_LINE_START = re.compile(r"^(\s*)([#>+=-])|^(\s*\d+)([.)])(?=\s|$)")


def md_escape(value: object) -> str:
    """Inline text as literal Markdown: every special character escaped, lines joined."""
    text = " ".join(str(value).split("\n"))
    text = _SPECIAL.sub(r"\\\1", text)
    return _LINE_START.sub(
        lambda m: f"{m.group(1) or m.group(3) or ''}\\{m.group(2) or m.group(4)}", text
    )


def code_span(value: object) -> Markup:
    text = " ".join(str(value).split("\n"))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return Markup(f"{fence}{pad}{text}{pad}{fence}")


def fenced(lines: tuple[str, ...] | list[str], info: str = "") -> Markup:
    body = "\n".join(lines)
    longest = max((len(run) for run in re.findall(r"`{3,}", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return Markup(f"{fence}{info}\n{body}\n{fence}")


def rich(text: Text) -> Markup:
    """Catalogue prose with the appliance's values as code spans."""
    return Markup(
        "".join(str(code_span(t)) if is_value else md_escape(t) for t, is_value in text.segments)
    )


def parts(value: Parts, indent: str = "") -> Markup:
    """The view's prose: its wording as written, its data escaped, its values as code spans;
    a break starts the next line at `indent` (under a list item's text)."""
    out = []
    for text, kind in value:
        if kind == "text":
            out.append(text)
        elif kind == "data":
            out.append(md_escape(text))
        elif kind == "value":
            out.append(str(code_span(text)))
        elif kind == "strong":
            out.append(f"**{text}**")
        else:
            out.append("\n" + indent)
    return Markup("".join(out))


def blocks(value: tuple[Block, ...], level: int = 3) -> Markup:
    """The view's blocks (the transfer guide): list items of one kind in a row make one tight
    list, every other block stands apart by a blank line; headings at `level`."""
    out: list[str] = []
    previous = ""
    for block in value:
        if block.kind == "heading":
            text = f"{'#' * level} {parts(block.parts)}"
        elif block.kind == "item":
            text = f"- {parts(block.parts, '  ')}"
        elif block.kind == "enum":
            text = f"{block.number}. {parts(block.parts, '   ')}"
        elif block.kind == "code":
            text = str(fenced(block.lines, block.shell))
        else:
            text = str(parts(block.parts))
        if out:
            same_list = block.kind == previous and block.kind in ("item", "enum")
            out.append("\n" if same_list else "\n\n")
        out.append(text)
        previous = block.kind
    return Markup("".join(out))


def commands(block: CommandView) -> Markup:
    """A step's command block: fenced as typed; what the agent runs set apart in a quote,
    under the words that say so, its info string marking it for the HTML (no copy button)."""
    if not block.by_agent:
        return fenced(block.lines, block.shell)
    body = str(fenced(block.lines, f"{block.shell} {AGENT_RUNS_INFO}"))
    quoted = "\n".join(f"> {line}" for line in body.split("\n"))
    return Markup(f"> **{words.AGENT_RUNS}** {md_escape(words.AGENT_RUNS_NOTE)}\n>\n{quoted}")


def paragraphs(value: str) -> Markup:
    """Free text (notes) kept line by line: each line escaped, hard breaks between."""
    lines = [md_escape(line) for line in value.splitlines()]
    return Markup("\\\n".join(line or "\\" for line in lines).rstrip("\\\n"))


def _finalize(value: Any) -> Any:
    if isinstance(value, Markup):
        return value
    return md_escape(value) if isinstance(value, str) else value


@cache
def environment() -> Environment:
    env = text_environment(_finalize)
    env.filters.update(
        code=code_span,
        fenced=fenced,
        commands=commands,
        rich=rich,
        parts=parts,
        blocks=blocks,
        paragraphs=paragraphs,
        when=when,
        when_utc=when_utc,
        duration=duration,
        cell=lambda v: Markup(md_escape(v)),
        url=lambda v: Markup(str(v).replace(">", "%3E").replace(" ", "%20")),
    )
    env.globals["code"] = code_span
    env.globals["words"] = words
    env.globals["no_record"] = words.NO_RECORD
    return env


# The last view's text: the Markdown face and the HTML face (which parses it) render the
# same view in turn, and the text is the same for both.
_last: tuple[RunbookView, str] | None = None


def render_view(view: RunbookView) -> str:
    """The runbook (as executed, when the view is) as Markdown text."""
    global _last
    if _last is not None and _last[0] is view:
        return _last[1]
    text = _tidy(environment().get_template("runbook.md.j2").render(view=view))
    _last = (view, text)
    return text


def render_markdown(
    plan: Plan,
    executed: Mapping[str, Sequence[StepRecord]] | None = None,
    executed_from: Sequence[str] = (),
) -> str:
    """The runbook of one plan; with `executed` (records by record key), as executed."""
    return render_view(runbook_view(plan, executed, executed_from))


def _tidy(text: str) -> str:
    # Templates are easier to read with generous blank lines; the document wants one.
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"
