"""The HTML runbook: the Markdown runbook rendered by markdown-it-py, dressed for a browser.

The Markdown is parsed with raw HTML off, so inventory text can only ever be text. The tokens
are then reshaped (never the HTML string): headings get ids, each step becomes a card, the
"Where" of a step a badge, each task-list checkbox a labelled, remembered tick box, and each
command block gets a copy button. The page is one file: its stylesheet and script are inlined
and a Content-Security-Policy forbids every request, so it works the same offline, from a
share or from a mail attachment.

The Markdown text is the runbook's view as CommonMark (faces/commonmark.py), never the Markdown
face's file. What each tick box ticks comes from the view: its boxes, in document order, each
with its record key (the box's id, and what the page exports as the manual-steps evidence
`umrunbook ingest` reads); on the as-executed page, each box is the mark of its record. No
heading's text decides what a box means.

The page is also the night's cockpit: each box of the view's planned path (everything but the
backout and the clean-up) carries that in data attributes, with its estimate in the window and
whether it is a GO / NO-GO checkpoint; the script highlights the current step, counts the
progress and keeps the time against the plan from them alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup, escape

from umrunbook.catalogue.procedure import PLACES
from umrunbook.faces.commonmark import AGENT_RUNS_INFO, render_view
from umrunbook.faces.templating import csp_hash, read_template, template_loader
from umrunbook.faces.view import AGENT_RUNS, Mark, PathPlace, RunbookView, Tick
from umrunbook.planning.plan import Plan

if TYPE_CHECKING:
    from collections.abc import Sequence

    from markdown_it import MarkdownIt
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

    from umrunbook.faces.registry import RenderOptions

WHERE_KEYS = {label: key for key, label in PLACES.items()}
SHELL_NAMES = {"sh": "Shell", "powershell": "PowerShell", "cmd": "Command Prompt"}
# Paragraphs that open with one of these bold labels get a class of their own.
LABELLED = {"Where:": "meta", "Expected:": "expect", "If not:": "if-not"}
# The bar of a block of what the agent runs: it says whose it is in place of a copy button.
AGENT_RUNS_BAR = "Reference: run by the agent"
# The line under a GO / NO-GO checkpoint's heading.
CHECKPOINT_TAG = "GO / NO-GO checkpoint"
CHECKPOINT_NOTE = "Tick it for GO, with your initials."

# Small line icons for the "where" badges; drawn with currentColor, hidden from screen readers
# (the badge's text says the same).
ICONS = {
    "workstation": '<rect x="2" y="3" width="12" height="8" rx="1"/><path d="M6 14h4M8 11v3"/>',
    "console": '<rect x="2" y="2.5" width="12" height="11" rx="1"/>'
    '<path d="M4.5 6l2 2-2 2M8 10h3"/>',
    "ssh": '<path d="M2 4l4 4-4 4M8 12h6"/>',
    "webui": '<circle cx="8" cy="8" r="6"/>'
    '<path d="M2 8h12M8 2c2 2 2 10 0 12M8 2c-2 2-2 10 0 12"/>',
    "vcenter": '<rect x="2" y="2" width="12" height="5" rx="1"/><rect x="2" y="9" width="12" '
    'height="5" rx="1"/><path d="M4.5 4.5h1M4.5 11.5h1"/>',
}


@dataclass
class Heading:
    level: int
    id: str
    text: str
    where: str = ""
    children: list[Heading] = field(default_factory=list)


@dataclass
class Page:
    body: str
    toc: list[Heading]
    boxes: int


def icon(key: str) -> Markup:
    paths = ICONS.get(key, '<circle cx="8" cy="8" r="5"/>')
    return Markup(
        f'<svg class="icon" viewBox="0 0 16 16" aria-hidden="true" focusable="false">{paths}</svg>'
    )


def where_badge(label: str, small: bool = False) -> Markup:
    key = WHERE_KEYS.get(label, "other")
    size = " where-small" if small else ""
    return Markup(
        f'<span class="where where-{key}{size}">{icon(key)}<span>{escape(label)}</span></span>'
    )


@cache
def _parser(as_executed: bool = False) -> MarkdownIt:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.tasklists import tasklists_plugin

    md = MarkdownIt("commonmark", {"html": False, "typographer": False, "xhtmlOut": False})
    md.enable("table")
    # On the as-executed page the boxes are records, not controls: no label to click.
    md.use(tasklists_plugin, enabled=not as_executed, label=not as_executed)
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("where_badge", _render_where)
    md.add_render_rule("tick_box", _render_tick)
    md.add_render_rule("checkpoint_tag", _render_checkpoint_tag)
    md.add_render_rule("table_open", _render_table_open)
    md.add_render_rule("table_close", _render_table_close)
    return md


def _render_fence(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    shell, *marks = token.info.strip().split(" ")
    name = SHELL_NAMES.get(shell, shell.capitalize() or "Text")
    language = f' class="language-{escape(shell)}"' if shell else ""
    if AGENT_RUNS_INFO in marks:
        # What the agent runs: for reference, with no copy button, so that nothing invites
        # typing it.
        return (
            '<div class="code code-agent">'
            f'<div class="code-bar"><span class="code-lang">{escape(AGENT_RUNS_BAR)}</span></div>'
            f'<pre tabindex="0"><code{language}>{escape(token.content)}</code></pre></div>\n'
        )
    return (
        '<div class="code">'
        f'<div class="code-bar"><span class="code-lang">{escape(name)}</span>'
        '<button type="button" class="copy" hidden><span class="copy-state">Copy</span>'
        f'<span class="vh"> the {escape(name)} commands</span></button></div>'
        f'<pre tabindex="0"><code{language}>{escape(token.content)}</code></pre></div>\n'
    )


def _render_where(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return str(where_badge(tokens[idx].content))


def _render_tick(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    if token.meta.get("record"):
        # A record of the as-executed page: a mark, with the words beside it saying the same.
        kind = escape(token.meta["record"])
        return f'<span class="mark mark-{kind}" aria-hidden="true"></span>'
    checked = " checked" if token.meta.get("checked") else ""
    tick: Tick = token.meta["tick"]
    return (
        f'<input type="checkbox" class="tick" id="{escape(tick.box_id)}"'
        f' data-step="{escape(tick.key)}" data-number="{escape(tick.number)}"'
        f' data-title="{escape(tick.title)}"{_path_data(token.meta.get("place"))}{checked}>'
    )


def _path_data(place: PathPlace | None) -> str:
    """The box's place on the planned path, for the page's script: on the path (the progress
    and the current step count it), its estimate in the window (the clock adds them up), and
    whether it is a GO / NO-GO checkpoint. A backout or clean-up box has none of them."""
    if place is None:
        return ""
    minutes = "" if place.minutes is None else f' data-minutes="{place.minutes}"'
    checkpoint = " data-checkpoint" if place.checkpoint else ""
    return f" data-planned{minutes}{checkpoint}"


def _render_checkpoint_tag(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    note = tokens[idx].content
    return (
        f'<p class="checkpoint-note"><span class="checkpoint-tag">{escape(CHECKPOINT_TAG)}</span>'
        f"{' ' + escape(note) if note else ''}</p>\n"
    )


def _render_table_open(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return '<div class="table-wrap"><table>\n'


def _render_table_close(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return "</table></div>\n"


def slug(text: str) -> str:
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return value or "section"


def inline_text(token: Token) -> str:
    return "".join(
        child.content for child in token.children or () if child.type in ("text", "code_inline")
    )


class PageMismatch(RuntimeError):
    """The text has another number of boxes than the view: a defect of the package."""


def render_page(view: RunbookView) -> Page:
    """The view's runbook as the page's main content, with its table of contents.

    Each tick box is the next of the view's boxes; on the as-executed page each box becomes
    the mark of its record.
    """
    from markdown_it.token import Token

    as_executed = view.executed
    md = _parser(as_executed)
    markdown_text = render_view(view)
    view_boxes = iter(view.boxes)
    path = view.planned_path
    step_card: Token | None = None
    card_marks: list[str] = []
    env: dict[str, Any] = {}
    tokens = md.parse(markdown_text, env)
    used: set[str] = set()
    toc: list[Heading] = []
    out: list[Token] = []
    open_part = open_step = False
    current: Heading | None = None
    boxes = 0
    checkpoints: set[int] = set()  # the cards of GO / NO-GO checkpoints

    def unique(base: str) -> str:
        candidate, n = base, 2
        while candidate in used:
            candidate, n = f"{base}-{n}", n + 1
        used.add(candidate)
        return candidate

    def section(tag_class: str) -> Token:
        """Opens a section with that class; an empty class closes one."""
        if not tag_class:
            return Token("section_close", "section", -1, block=True)
        token = Token("section_open", "section", 1, block=True)
        token.attrSet("class", tag_class)
        return token

    def close_card() -> None:
        nonlocal step_card, card_marks
        if step_card is not None and card_marks and "none" not in card_marks:
            step_card.attrJoin("class", "is-done")
        step_card, card_marks = None, []

    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            level = int(token.tag[1])
            text = inline_text(tokens[i + 1])
            ident = unique(slug(text))
            token.attrSet("id", ident)
            heading = Heading(level, ident, text)
            if level <= 2:
                if open_step:
                    out.append(section(""))
                    open_step = False
                close_card()
                if open_part:
                    out.append(section(""))
                    open_part = False
                if level == 2:
                    out.append(section(f"part part-{ident}"))
                    open_part = True
                    toc.append(heading)
            elif level == 3:
                if open_step:
                    out.append(section(""))
                kind = "step" if text.startswith(("Step ", "Backout ")) else "block"
                close_card()
                card = section(kind)
                out.append(card)
                open_step = True
                if kind == "step":
                    step_card = card
                if toc:
                    toc[-1].children.append(heading)
            if level <= 3:
                # A deeper heading is a part of its step (the upload's ways), in its card.
                current = heading
        elif token.type == "blockquote_open" and _opens_with(tokens, i, AGENT_RUNS):
            # The quote that holds what the agent runs, under the words that say so.
            token.attrJoin("class", "agent-runs")
        elif token.type == "inline" and i and tokens[i - 1].type == "paragraph_open":
            label = _leading_label(token)
            if label in LABELLED:
                tokens[i - 1].attrJoin("class", LABELLED[label])
            if label == "Where:":
                where = _badge_where(token, Token)
                if current is not None and where:
                    current.where = where
            box = _tick_box(token, Token)
            if box is not None:
                boxes += 1
                tick, mark = next(view_boxes, (None, None))
                if tick is None:
                    name = view.plan.appliance.name
                    raise PageMismatch(f"{name}: box {boxes} of the page is not in the view")
                box.meta["tick"] = tick
                place = path.get(tick.box_id)
                if not as_executed:
                    box.meta["place"] = place
                if place is not None and place.checkpoint and step_card is not None:
                    checkpoints.add(id(step_card))
                if as_executed:
                    box.meta["record"] = _mark_kind(mark)
                    card_marks.append(box.meta["record"])
        out.append(token)
    close_card()
    if open_step:
        out.append(section(""))
    if open_part:
        out.append(section(""))
    if next(view_boxes, None) is not None:
        raise PageMismatch(f"{view.plan.appliance.name}: the view has more boxes than the page")
    # On the as-executed page there is nothing to tick: the tag alone.
    out = _tag_checkpoints(out, checkpoints, "" if as_executed else CHECKPOINT_NOTE, Token)
    body = md.renderer.render(out, md.options, env)
    return Page(body, toc, boxes)


def _tag_checkpoints(
    out: list[Token], cards: set[int], note: str, token_class: type[Token]
) -> list[Token]:
    """Each GO / NO-GO checkpoint's card set apart, its tag (and note) under its heading."""
    tagged: list[Token] = []
    pending = False
    for token in out:
        if id(token) in cards:
            token.attrJoin("class", "checkpoint")
            pending = True
        tagged.append(token)
        if pending and token.type == "heading_close":
            tag = token_class("checkpoint_tag", "", 0)
            tag.content = note
            tagged.append(tag)
            pending = False
    return tagged


def _opens_with(tokens: Sequence[Token], i: int, label: str) -> bool:
    """Whether the block opened at `i` starts with a paragraph led by that bold label."""
    return (
        i + 2 < len(tokens)
        and tokens[i + 1].type == "paragraph_open"
        and _leading_label(tokens[i + 2]) == label
    )


def _significant(token: Token) -> list[Token]:
    """The inline children without the empty text runs the parser leaves at the edges."""
    children = token.children or []
    while children and children[0].type == "text" and not children[0].content:
        children.pop(0)
    return children


def _leading_label(token: Token) -> str:
    children = _significant(token)
    if len(children) >= 3 and children[0].type == "strong_open" and children[1].type == "text":
        return children[1].content
    return ""


def _badge_where(token: Token, token_class: type[Token]) -> str:
    """`**Where:** Workstation · ...`: the place becomes a badge token; returns its label."""
    children = _significant(token)
    if len(children) < 4 or children[3].type != "text":
        return ""
    text = children[3].content
    label, sep, rest = text.partition("·")
    label = label.strip()
    badge = token_class("where_badge", "", 0)
    badge.content = label
    tail = token_class("text", "", 0)
    tail.content = f" ·{rest}" if sep else rest
    children[3:4] = [_space(token_class), badge, tail]
    return label


def _space(token_class: type[Token]) -> Token:
    token = token_class("text", "", 0)
    token.content = " "
    return token


def _tick_box(token: Token, token_class: type[Token]) -> Token | None:
    """The task-list plugin's checkbox, replaced by a token that renders a labelled tick box
    (or, on the as-executed page, a mark)."""
    children = token.children or []
    for n, child in enumerate(children[:2]):
        if child.type == "html_inline" and 'type="checkbox"' in child.content:
            box = token_class("tick_box", "input", 0)
            box.meta = {"checked": "checked=" in child.content}
            children[n] = box
            return box
    return None


def _mark_kind(mark: Mark | None) -> str:
    """The look of a record's mark: its result, or none without a record."""
    return mark.kind if mark is not None else "none"


@cache
def environment() -> Environment:
    env = Environment(
        loader=template_loader(),
        undefined=StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["where_badge"] = where_badge
    return env


def video_qr_codes(plan: Plan) -> list[tuple[str, str, Markup]]:
    """(title, url, inline SVG) of each video reference: printed, since paper has no links."""
    from umrunbook.faces.qrcodes import qr_svg

    codes: list[tuple[str, str, Markup]] = []
    seen: set[str] = set()
    for hop in plan.hops:
        for ref in hop.procedure.references.values():
            if ref.kind == "video" and ref.url and ref.url not in seen:
                seen.add(ref.url)
                codes.append((ref.title, ref.url, Markup(qr_svg(ref.url, 3, omit_size=True))))
    return codes


def render_html(view: RunbookView, options: RenderOptions) -> bytes:
    """The HTML runbook; from an as-executed view, the as-executed page: the records shown,
    nothing to tick, nothing remembered."""
    as_executed = view.executed
    plan = view.plan
    page = render_page(view)
    style = read_template("assets/runbook.css")
    script = read_template("assets/runbook.js")
    policy = (
        "default-src 'none'; "
        f"style-src {csp_hash(style)}; script-src {csp_hash(script)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    a = plan.appliance
    planned = len(view.planned_path)
    html = (
        environment()
        .get_template("runbook.html.j2")
        .render(
            plan=plan,
            appliance=a,
            change=plan.change,
            body=Markup(page.body),
            toc=page.toc,
            boxes=page.boxes,
            planned=planned,
            style=Markup(style),
            script=Markup(script),
            policy=policy,
            qr_codes=video_qr_codes(plan),
            storage_key=f"umrunbook:{plan.change.ticket}:{a.name}",
            as_executed=as_executed,
        )
    )
    return html.encode("utf-8")
