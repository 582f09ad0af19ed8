"""The fleet's index.html: every appliance, its target and route, its plan's state, links to
its files (on a route, each upgrade's folder), and the window set against the plan.

Like the runbooks it is one offline file: inlined style, no script, and a
Content-Security-Policy that forbids every request. It links only files the package holds
(fleet.csv and SHA256SUMS, which the package writer always adds, included).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from umrunbook.faces.registry import document_links
from umrunbook.faces.templating import read_template
from umrunbook.faces.view import night_view
from umrunbook.planning.night import NightPlan, night_plan
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
class HopFiles:
    """One upgrade's transfer files and agent: in the appliance's folder for a single upgrade,
    under `hop-N-<target>/` for each upgrade of a route."""

    label: str  # "" for a single upgrade; "Upgrade 1 to 4.3" on a route
    folder: str  # "" or "hop-1-4.3/"
    transfer: tuple[Link, ...]
    agent: tuple[Link, ...]


@dataclass(frozen=True, slots=True)
class Row:
    plan: Plan
    state_class: str
    note: str
    documents: tuple[Link, ...]
    hops: tuple[HopFiles, ...]
    readiness: str = ""  # what the readiness run found; "" where none is recorded

    @property
    def has_transfer(self) -> bool:
        return any(hop.transfer for hop in self.hops)

    @property
    def has_agent(self) -> bool:
        return any(hop.agent for hop in self.hops)


def row(
    plan: Plan, files: Mapping[str, bytes], readiness: str = "", ordered: Sequence[str] = ()
) -> Row:
    """The appliance's row; `ordered` is the files' names sorted (sorted here without it):
    the page sorts them once for every row, not once for each folder of each row."""
    name = plan.appliance.name
    prefix = f"{name}/"
    documents = tuple(
        Link(f"{prefix}{file}", label) for file, label in DOCUMENTS if f"{prefix}{file}" in files
    )
    names = ordered or sorted(files)

    def under(folder: str) -> tuple[Link, ...]:
        start = f"{prefix}{folder}/"
        found = []
        # Sorted, the names under a folder are one run, from the first at or after it.
        for path in names[bisect_left(names, start) :]:
            if not path.startswith(start):
                break
            found.append(Link(path, path[len(start) :]))
        return tuple(found)

    several = len(plan.hops) > 1
    hops = tuple(
        HopFiles(
            label=f"Upgrade {number} to {hop.target_version.short}" if several else "",
            folder=hop.folder,
            transfer=under(f"{hop.folder}transfer"),
            agent=under(f"{hop.folder}agent"),
        )
        for number, hop in enumerate(plan.hops, 1)
    )
    return Row(
        plan=plan,
        state_class=plan.state.replace(" ", "-"),
        note=STATE_NOTES.get(plan.state, ""),
        documents=documents,
        hops=hops,
        readiness=readiness,
    )


def render_index(
    plans: Sequence[Plan],
    files: Mapping[str, bytes],
    readiness: Mapping[str, str] | None = None,
    night: NightPlan | None = None,
) -> bytes:
    """The page. `readiness`, by appliance name, adds a Readiness column (None: no column);
    `night` is the fleet's night plan (by default, of these plans)."""
    from jinja2 import Environment, StrictUndefined
    from markupsafe import Markup

    from umrunbook.faces.humanize import duration, when, when_utc, window_warning
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
    change = changes[0] if len(changes) == 1 else None
    if night is None and change is not None:
        night = night_plan(plans, change)
    # The window against the plan, as `check` and the ticket give it: the night plan's.
    window = night.timing if night is not None and counts[PLANNED] else None
    ordered = sorted(files)
    html = env.get_template("index.html.j2").render(
        night=night_view(night) if night is not None and night.appliances else None,
        rows=[
            row(plan, files, (readiness or {}).get(plan.appliance.name, ""), ordered)
            for plan in plans
        ],
        counts=counts,
        change=change,
        window=window,
        window_warning=window_warning(window) if window is not None and not window.fits else "",
        readiness=readiness is not None,
        generated=when_utc(plans[0].generated_at) if plans else "",
        generator=plans[0].generator if plans else "umrunbook",
        style=Markup(style),
        policy=f"default-src 'none'; style-src {csp_hash(style)}; base-uri 'none'; "
        "form-action 'none'",
    )
    return html.encode("utf-8")
