"""One plan for each target the catalogue knows, and routes: for tests that go over them all."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import KEY, NOW
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.inventory.load import parse_inventory
from umrunbook.planning.bind import plan_fleet
from umrunbook.planning.plan import Plan

CATALOGUE = load_catalogue()
SHA = "ab" * 32
BUILDS = {
    "4.4": "17000000",
    "4.5": "19934127",
    "4.6": "20554128",
    "4.7": "22010000",
    "4.8": "23000000",
    "9.0.1": "24500000",
    "9.1": "24900000",
}


def plan_for(
    target: str,
    version: str,
    *,
    proxy: str = "",
    sha256: bool = True,
    local_folder: str = "",
    host: str = "um-lab-01.corp.example",
    snapshot: str = "vc01 / DC1 / um-lab-01",
    host_key: str = "",
    via: str = "",
) -> Plan:
    procedure = CATALOGUE.get(target)
    assert procedure is not None
    bundle = []
    if procedure.delivery == "iso":
        bundle.append(f'build: "{BUILDS[target]}"')
    if sha256:
        bundle.append(f"sha256: {SHA}")
    if local_folder:
        bundle.append(f"local_folder: '{local_folder}'")
    # A 9.x ISO's SHA-256 is required: it is the published check.
    bundles = "".join(
        f'    "{stop}": {{build: "{BUILDS[stop]}"'
        + (f", sha256: {SHA}" if stop.startswith("9.") else "")
        + "}\n"
        for stop in BUILDS
        if stop != target
    )
    text = (
        "change:\n"
        "  ticket: CHG0070000\n"
        "  window: {start: 2026-12-05T22:00:00+01:00, end: 2026-12-06T06:00:00+01:00}\n"
        "  implementer: Test Operator\n"
        "upgrade:\n"
        f'  target: "{target}"\n'
        f"  bundle: {{{', '.join(bundle)}}}\n"
        + (f"  via: [{via}]\n" if via else "")
        + ("  bundles:\n" + bundles if procedure.delivery == "iso" else "")
        + "appliances:\n"
        "  - name: um-lab-01\n"
        f"    host: '{host}'\n"
        f"    version: {version}\n"
        + (f"    snapshot: {snapshot}\n" if snapshot else "")
        + (f"    proxy: {proxy}\n" if proxy else "")
        + (f"    ssh_host_key: {host_key}\n" if host_key else "")
    )
    (plan,) = plan_fleet(parse_inventory(text, Path("inventory.yaml")), CATALOGUE, NOW)
    return plan


# One plan per target, from the version that makes it one upgrade, and routes through 4.5.
PLANS = {
    "4.2": lambda: plan_for("4.2", "4.1.0"),
    "4.3": lambda: plan_for("4.3", "4.2.0"),
    "4.4": lambda: plan_for("4.4", "4.3.0", proxy="proxy.corp.example:3128"),
    "4.5": lambda: plan_for("4.5", "4.4.0", proxy="proxy.corp.example:3128"),
    "4.6": lambda: plan_for("4.6", "4.5.0"),
    "4.7": lambda: plan_for("4.7", "4.5.0"),
    "route 4.2 -> 4.7": lambda: plan_for(
        "4.7", "4.2.0", proxy="proxy.corp.example:3128", host_key=KEY, via='"4.5"'
    ),
    "route 4.1 -> 4.6": lambda: plan_for("4.6", "4.1.0", sha256=False, via='"4.5"'),
    "4.8": lambda: plan_for("4.8", "4.7.0"),
    "9.0.1": lambda: plan_for("9.0.1", "4.8.0"),
    "9.1": lambda: plan_for("9.1", "9.0.1"),
    "route 4.7 -> 9.1": lambda: plan_for("9.1", "4.7.0", host_key=KEY),
}
