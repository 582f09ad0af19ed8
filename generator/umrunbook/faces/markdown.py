"""The Markdown runbook: a Jinja2 template over a Plan, every value escaped by the environment.

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

from umrunbook.faces.humanize import duration, when, when_utc
from umrunbook.faces.registry import RenderOptions
from umrunbook.faces.templating import text_environment
from umrunbook.planning.plan import Plan, Text
from umrunbook.planning.records import StepRecord

# Characters that open or close Markdown constructs inline (GitHub also renders $...$ as math);
# a backslash before ASCII punctuation is always taken literally by CommonMark and GFM.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&$])")
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
        rich=rich,
        paragraphs=paragraphs,
        when=when,
        when_utc=when_utc,
        duration=duration,
        cell=lambda v: Markup(md_escape(v)),
        url=lambda v: Markup(str(v).replace(">", "%3E").replace(" ", "%20")),
    )
    env.globals["code"] = code_span
    env.tests["for_upgrade"] = lambda record, target: record.belongs_to(target)
    return env


def render_markdown(
    plan: Plan,
    executed: Mapping[str, Sequence[StepRecord]] | None = None,
    executed_from: Sequence[str] = (),
) -> str:
    """The runbook; with `executed` (records by step id), the as-executed runbook."""
    template = environment().get_template("runbook.md.j2")
    text = template.render(
        plan=plan,
        hops=plan.hops,
        multi=len(plan.hops) > 1,
        executed=executed,
        executed_from=executed_from,
    )
    return _tidy(text)


def _tidy(text: str) -> str:
    # Templates are easier to read with generous blank lines; the document wants one.
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


def markdown_document(
    plan: Plan,
    markdown_text: str,
    options: RenderOptions,
    *,
    executed: Mapping[str, Sequence[StepRecord]] | None = None,
    executed_from: Sequence[str] = (),
) -> bytes:
    """The Markdown face as a file: the text the orchestrator rendered once for all faces."""
    return (markdown_text or render_markdown(plan, executed, executed_from)).encode("utf-8")
