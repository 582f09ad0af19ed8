"""What the tests share: the one moment plans are made at, the example fleet and inventories
built from it, and small readers of what the command line writes.

Test modules import from here (and from tests/conftest.py), never from one another.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import FIXED_EPOCH
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.inventory.example import example_text
from umrunbook.inventory.load import parse_inventory
from umrunbook.inventory.model import Inventory
from umrunbook.planning.bind import plan_fleet
from umrunbook.planning.plan import Plan

# The moment the command line stamps under the tests' SOURCE_DATE_EPOCH, so that plans made in
# a test and packages written by `umrunbook render` agree.
NOW = datetime.fromtimestamp(int(FIXED_EPOCH), UTC)

# The example's first appliance's host key, and the one the hand-written inventories use.
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICNP8KqokjuNoiuoVu5vMer+SR0pzsOgcK8FNRL1b/1Y"


def tree(folder: Path) -> dict[str, str]:
    """Every file under `folder`, by relative path, with its SHA-256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- the example inventory, with changes -----------------------------------------------------


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _set_key(lines: list[str], start: int, end: int, indent: int, key: str, value: str) -> int:
    """Set `key: value` at `indent` in lines[start:end]: the key's line and what is nested under
    it are replaced; a key that is not there is added at the end. Returns the change in length."""
    new = [f"{' ' * indent}{key}: {value}".rstrip()]
    for at in range(start, end):
        line = lines[at]
        if _indent(line) == indent and line.lstrip(" -").startswith(f"{key}:"):
            if line.lstrip().startswith("- "):  # the list item's first key keeps its dash
                new[0] = f"{' ' * (indent)}- {key}: {value}".rstrip()
            stop = at + 1
            while stop < end and (not lines[stop].strip() or _indent(lines[stop]) > indent):
                stop += 1
            while stop > at + 1 and not lines[stop - 1].strip():
                stop -= 1  # keep the blank lines between blocks
            lines[at:stop] = new
            return len(new) - (stop - at)
    last = end
    while last > start and not lines[last - 1].strip():
        last -= 1
    lines[last:last] = new
    return len(new)


def _block(lines: list[str], head: str, indent: int) -> tuple[int, int]:
    """The lines under `head` (an exact line, without its comment), up to the next line at
    `indent` or less."""
    for at, line in enumerate(lines):
        if line.split(" #", 1)[0].rstrip() == head:
            end = at + 1
            while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
                end += 1
            return at + 1, end
    raise AssertionError(f"the example inventory has no {head.strip()!r}: update the builder")


def inventory_text(
    *,
    change: Mapping[str, str] | None = None,
    upgrade: Mapping[str, str] | None = None,
    transfer: Mapping[str, str] | None = None,
    appliances: Mapping[str, Mapping[str, str]] | None = None,
    only: tuple[str, ...] | None = None,
) -> str:
    """The example inventory's text with keys of its sections set, each value as YAML text.

    `appliances` maps an appliance's name to its keys (`{"um-ams-02": {"version": "4.0.0"}}`);
    `only` keeps those appliances alone. A value may span lines (`"|\\n      a\\n      b"`).
    """
    lines = example_text().split("\n")
    for section, keys in (("change", change), ("upgrade", upgrade), ("transfer", transfer)):
        for key, value in (keys or {}).items():
            start, end = _block(lines, f"{section}:", 0)
            _set_key(lines, start, end, 2, key, value)
    for name, keys in (appliances or {}).items():
        for key, value in keys.items():
            start, end = _block(lines, f"  - name: {name}", 2)
            _set_key(lines, start - 1, end, 4, key, value)
    if only is not None:
        start, end = _block(lines, "appliances:", 0)
        kept: list[str] = []
        keep = False
        for line in lines[start:end]:
            if line.startswith("  - name: "):
                keep = line.split(" #", 1)[0].split(":", 1)[1].strip() in only
            if keep:
                kept.append(line)
        lines[start:end] = kept
    return "\n".join(lines)


def example_with(**changes: object) -> Inventory:
    """The example inventory, parsed, with the changes `inventory_text` takes."""
    return parse_inventory(inventory_text(**changes), Path("inventory.yaml"))  # type: ignore[arg-type]


# -- plans of the example fleet ---------------------------------------------------------------


def example_plans() -> tuple[Plan, ...]:
    from umrunbook.inventory.example import example_inventory

    return plan_fleet(example_inventory(), load_catalogue(), NOW)


def example_plan(index: int = 0) -> Plan:
    return example_plans()[index]


def with_appliance(plan: Plan, **changes: object) -> Plan:
    return dataclasses.replace(plan, appliance=dataclasses.replace(plan.appliance, **changes))


def with_local_path(plan: Plan, local_path: str) -> Plan:
    hop = plan.hops[0]
    bundle = (dataclasses.replace(hop.bundle[0], local_path=local_path), *hop.bundle[1:])
    return dataclasses.replace(plan, hops=(dataclasses.replace(hop, bundle=bundle),))


def step_number(plan: Plan, step_id: str, hop: int = 0) -> str:
    """The number the runbook gives the step `step_id` of the plan's upgrade `hop`: tests name
    steps by id, so that a step added to the catalogue does not renumber their expectations."""
    (number,) = [s.number for s in plan.hops[hop].steps if s.id == step_id]
    return number


def step_heading(plan: Plan, step_id: str, hop: int = 0) -> str:
    """`Step N: Title`, as the runbook heads the step."""
    (step,) = [s for s in plan.hops[hop].steps if s.id == step_id]
    return f"Step {step.number}: {step.title}"


# -- a route with ISO hops (4.2 -> 4.5 -> 4.7) on this machine's loopback address ------------

ROUTE_NAME = "um-loop-01"
ISO_BUILDS = {"4.5": "19934127", "4.7": "22010000"}


def route_inventory_text(
    port: int = 22,
    host_key: str | None = KEY,
    sha256_47: str | None = None,
    host: str = "127.0.0.1",
) -> str:
    key_line = f"    ssh_host_key: {host_key}\n" if host_key else ""
    sha_line = f"    sha256: {sha256_47}\n" if sha256_47 else ""
    return (
        "change:\n"
        "  ticket: CHG0099998\n"
        "  window:\n"
        "    start: 2026-12-05T22:00:00+01:00\n"
        "    end: 2026-12-06T06:00:00+01:00\n"
        "  implementer: Test Operator\n"
        "upgrade:\n"
        '  target: "4.7"\n'
        "  bundle:\n"
        f'    build: "{ISO_BUILDS["4.7"]}"\n'
        f"{sha_line}"
        "    local_folder: 'C:\\Upgrades\\4.7'\n"
        # Two ISO upgrades: the planner would go through 4.3 (a .shar), so the route is pinned.
        '  via: ["4.5"]\n'
        "  bundles:\n"
        '    "4.5":\n'
        f'      build: "{ISO_BUILDS["4.5"]}"\n'
        f"      sha256: {'1' * 64}\n"
        "      local_folder: 'C:\\Upgrades\\4.5'\n"
        "appliances:\n"
        f"  - name: {ROUTE_NAME}\n"
        f"    host: {host}\n"
        "    version: 4.2.0\n"
        f"    ssh_port: {port}\n"
        f"{key_line}"
    )
