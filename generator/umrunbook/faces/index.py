"""The fleet's index.html: every appliance, its path, its plan's state, links to its files.

Like the runbooks it is one offline file: inlined style, no script, and a
Content-Security-Policy that forbids every request. It links only files the package holds
(fleet.csv and SHA256SUMS, which the package writer always adds, included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from umrunbook.faces.registry import document_links
from umrunbook.faces.templating import read_template
from umrunbook.planning.plan import NO_PATH, NOTHING_TO_DO, PLANNED, Plan

DOCUMENTS = document_links((("runbook", "Runbook"), ("as-executed", "As executed")))
STATE_NOTES = {
    PLANNED: "",
    NOTHING_TO_DO: "Already at the target version: no change needed.",
    NO_PATH: "No supported in-place upgrade path: `umrunbook paths` lists them.",
}


@dataclass(frozen=True, slots=True)
class Link:
    path: str
    label: str


@dataclass(frozen=True, slots=True)
class Row:
    plan: Plan
    state_class: str
    note: str
    documents: tuple[Link, ...]
    transfer: tuple[Link, ...]
    agent: tuple[Link, ...]


def row(plan: Plan, files: dict[str, bytes]) -> Row:
    name = plan.appliance.name
    prefix = f"{name}/"
    documents = tuple(
        Link(f"{prefix}{file}", label) for file, label in DOCUMENTS if f"{prefix}{file}" in files
    )

    def under(folder: str) -> tuple[Link, ...]:
        start = f"{prefix}{folder}/"
        return tuple(
            Link(path, path[len(start) :]) for path in sorted(files) if path.startswith(start)
        )

    return Row(
        plan=plan,
        state_class=plan.state.replace(" ", "-"),
        note=STATE_NOTES.get(plan.state, ""),
        documents=documents,
        transfer=under("transfer"),
        agent=under("agent"),
    )


def render_index(plans: Sequence[Plan], files: dict[str, bytes]) -> bytes:
    from jinja2 import Environment, StrictUndefined
    from markupsafe import Markup

    from umrunbook.faces.humanize import duration, when, when_utc
    from umrunbook.faces.templating import csp_hash, template_loader

    env = Environment(
        loader=template_loader(),
        undefined=StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(duration=duration, when=when)
    style = read_template("assets/index.css")
    counts = {state: sum(1 for p in plans if p.state == state) for state in STATE_NOTES}
    changes = list(dict.fromkeys(p.change for p in plans))
    html = env.get_template("index.html.j2").render(
        rows=[row(plan, files) for plan in plans],
        counts=counts,
        change=changes[0] if len(changes) == 1 else None,
        generated=when_utc(plans[0].generated_at) if plans else "",
        generator=plans[0].generator if plans else "umrunbook",
        style=Markup(style),
        policy=f"default-src 'none'; style-src {csp_hash(style)}; base-uri 'none'; "
        "form-action 'none'",
    )
    return html.encode("utf-8")
