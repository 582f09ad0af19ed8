"""What an appliance's files depend on, as one digest: unchanged inputs, unchanged files.

The digest covers the generator's version, the render options, every packaged template,
catalogue file and the agent's source, and the plan itself (its generation time aside), so
that a change to any of them renders the appliance again.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from importlib.abc import Traversable

from umrunbook import __version__
from umrunbook.planning.plan import Plan

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@cache
def packaged_inputs_digest() -> str:
    digest = hashlib.sha256(__version__.encode())
    # The package's own modules too (the renderers), where their source is at hand: a wheel
    # or an editable install. In the single-file binary the version stands for them.
    for package in (
        "umrunbook",
        "umrunbook.templates",
        "umrunbook.catalogue.procedures",
        "umrunbook.agent",
    ):
        for entry in sorted(_files(resources.files(package)), key=lambda e: e[0]):
            digest.update(entry[0].encode() + b"\0" + entry[1].read_bytes())
    return digest.hexdigest()


def _files(folder: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for entry in folder.iterdir():
        if entry.name == "__pycache__" or entry.name.endswith(".pyc"):
            continue
        if entry.is_dir():
            found += _files(entry, f"{prefix}{entry.name}/")
        else:
            found.append((prefix + entry.name, entry))
    return found


def plan_fingerprint(plan: Plan, options: object) -> str:
    # The agent's text follows from its manifest (in the plan) and its source (packaged).
    hops = tuple(replace(hop, agent=replace(hop.agent, text="")) for hop in plan.hops)
    timeless = replace(plan, generated_at=_EPOCH, hops=hops)
    text = f"{packaged_inputs_digest()}\n{options!r}\n{timeless!r}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
