"""`check` reports what a render would plan, without binding every runbook.

The summaries `check` prints and times are compared with those of the full plans, over
fleets that take every kind of route, and the problems with those `plan_fleet` raises. A
check of a large CSV fleet keeps its memory small: it holds no agent per appliance.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from tests.helpers import KEY
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.errors import InputError
from umrunbook.inventory.load import parse_inventory
from umrunbook.library import check
from umrunbook.planning.bind import plan_fleet
from umrunbook.planning.summary import PlanSummary, summarize_fleet

CHANGE = (
    "change:\n"
    "  ticket: CHG0099997\n"
    "  window: {start: 2026-12-05T22:00:00+01:00, end: 2026-12-06T06:00:00+01:00}\n"
    "  implementer: Test Operator\n"
)
TO_47 = (
    "upgrade:\n"
    '  target: "4.7"\n'
    f'  bundle: {{build: "22010000", sha256: {"2" * 64}}}\n'
    "  bundles:\n"
    f'    "4.5": {{build: "19934127", sha256: {"1" * 64}}}\n'
    f'    "4.3": {{sha256: {"3" * 64}}}\n'
)
TO_43 = f"upgrade:\n  target: '4.3'\n  bundle: {{sha256: {'ab' * 32}}}\n"
# Every kind of route to 4.7 (two ISO hops, one, none) and to 4.3, with and without a proxy,
# with no, one and three metered servers.
VERSIONS = ("4.1.0", "4.2.1", "4.3.0", "4.5.0", "4.6.0", "4.7.0")


def _fleet(upgrade: str, versions: tuple[str, ...], count: int = 24, own_target: str = "") -> str:
    lines = [CHANGE + upgrade + "appliances:"]
    for index in range(count):
        servers = ["vc01.corp.example", "vcd01.corp.example", "vc02.corp.example"][: index // 3 % 4]
        lines += [
            f"  - name: um-{index:03d}",
            f"    host: um-{index:03d}.corp.example",
            f"    version: {versions[index % len(versions)]}",
            f"    ssh_host_key: {KEY}",
            f"    metered_servers: [{', '.join(servers)}]",
        ]
        if index % 5 in (1, 2):
            lines.append("    proxy: proxy.corp.example:3128")
        if own_target and index % 4 == 1 and versions[index % len(versions)] < own_target:
            lines.append(f'    target: "{own_target}"')
    return "\n".join(lines) + "\n"


def _from_plans(text: str) -> tuple[PlanSummary, ...]:
    plans = plan_fleet(parse_inventory(text, Path("inventory.yaml")), load_catalogue())
    return tuple(
        PlanSummary(
            p.appliance.name,
            p.target.short,
            p.route_text,
            p.state,
            p.estimate_minutes,
            max((hop.backout.estimate_minutes for hop in p.hops), default=0),
            p.route_reason,
        )
        for p in plans
    )


@pytest.mark.parametrize(
    ("upgrade", "versions"),
    [
        (TO_47, VERSIONS),
        # no SHA-256 for the ISO bundles: the steps that compare it are left out
        (TO_47.replace(f", sha256: {'2' * 64}", "").replace(f", sha256: {'1' * 64}", ""), VERSIONS),
        (TO_43, ("4.1.0", "4.2.0", "4.2.1", "4.3.0")),
    ],
    ids=["to-4.7", "to-4.7-no-sha256", "to-4.3"],
)
def test_summaries_are_those_of_the_full_plans(upgrade: str, versions: tuple[str, ...]) -> None:
    text = _fleet(upgrade, versions)
    _same_as_full_plans(text)


def test_a_mixed_fleets_summaries_are_those_of_the_full_plans() -> None:
    """Appliances of one version with targets of their own take their own routes."""
    text = _fleet(TO_47, VERSIONS, own_target="4.3")
    assert 'target: "4.3"' in text
    got = _same_as_full_plans(text)
    assert {s.target for s in got} == {"4.3", "4.7"}


def _same_as_full_plans(text: str) -> tuple[PlanSummary, ...]:
    expected = _from_plans(text)
    inventory = parse_inventory(text, Path("inventory.yaml"))
    got = summarize_fleet(inventory, load_catalogue())
    assert got == expected
    # The fleet is varied enough to say something: several routes, states and estimates.
    assert len({s.route_text for s in got}) >= 3
    assert len({s.state for s in got}) == 2
    assert len({s.estimate_minutes for s in got}) >= 4
    return got


def _problems(call: object) -> list[tuple[str, int | None, str, str, str]]:
    with pytest.raises(InputError) as caught:
        call()  # type: ignore[operator]
    return [(p.file, p.line, p.field, p.message, p.hint) for p in caught.value.problems]


@pytest.mark.parametrize(
    "upgrade",
    [
        # 4.5's bundle missing: every appliance on a route through 4.5 is named.
        'upgrade:\n  target: "4.7"\n  bundle: {build: "22010000"}\n',
        # a target the catalogue does not hold
        f"upgrade:\n  target: '4.9'\n  bundle: {{sha256: {'ab' * 32}}}\n",
        # an ISO hop without its build
        f'upgrade:\n  target: "4.7"\n  bundle: {{sha256: {"2" * 64}}}\n'
        f'  bundles:\n    "4.5": {{build: "19934127"}}\n',
    ],
    ids=["missing-hop-bundle", "unknown-target", "missing-build"],
)
def test_check_raises_the_problems_a_render_raises(upgrade: str) -> None:
    # 3.x has no in-place path and 4.8 is newer than 4.7: both are named as a render names them.
    text = _fleet(upgrade, (*VERSIONS, "3.9.0", "4.8.0"))
    inventory = parse_inventory(text, Path("inventory.yaml"))
    expected = _problems(lambda: plan_fleet(inventory, load_catalogue()))
    got = _problems(lambda: summarize_fleet(inventory, load_catalogue()))
    assert got == expected
    assert len(got) >= (1 if "4.9" in upgrade else 3)


def _csv_fleet(folder: Path, rows: int) -> Path:
    lines = ["name,host,version,ssh_host_key,snapshot,metered_servers"]
    for index in range(rows):
        version = ("4.2.0", "4.2.1", "4.1.0")[index % 3]
        lines.append(
            f"um-{index:06d},um-{index:06d}.corp.example,{version},{KEY},"
            f"vc01 / DC1 / um-{index:06d},vc01.corp.example;vcd01.corp.example"
        )
    (folder / "fleet.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = folder / "inventory.yaml"
    path.write_text(CHANGE + TO_43 + "appliances: fleet.csv\n", encoding="utf-8")
    return path


def test_check_of_a_large_csv_fleet_holds_no_runbook_per_appliance(tmp_path: Path) -> None:
    path = _csv_fleet(tmp_path, 2000)
    load_catalogue()  # cached: its own memory is not the check's
    tracemalloc.start()
    try:
        report = check(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(report.summary) == 2001
    assert report.summary[1] == "  um-000000  4.2.0 → 4.3       planned"
    # A plan with its agent is some 120 KB: 2,000 of them would be some 240 MB.
    assert peak < 40 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_check_of_a_csv_fleet_from_the_command_line(tmp_path: Path) -> None:
    path = _csv_fleet(tmp_path, 300)
    result = subprocess.run(
        [sys.executable, "-m", "umrunbook", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"{path}: valid: change CHG0099997, 300 appliances, target 4.3" in result.stdout
    assert "  um-000299  4.1.0 → 4.3       planned" in result.stdout
    assert "change.window: the window is 8 h but the plan needs" in result.stderr


def test_check_asks_the_font_engine_once_per_new_letters_not_once_per_row(
    tmp_path: Path,
) -> None:
    from umrunbook.inventory import glyphs

    path = _csv_fleet(tmp_path, 0)
    letters = "数据中心机房东西南北一二三四五六七八九十αβγδεζηθ"
    rows = ["name,host,version,snapshot"]
    for index in range(400):
        word = letters[index % len(letters)] + letters[index // len(letters)]  # 400 pairs
        rows.append(f"um-{index:04d},um-{index:04d}.corp.example,4.2.0,vc01 / {word} / {index}")
    (tmp_path / "fleet.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    before = glyphs._missing.cache_info().misses
    report = check(path)
    asked = glyphs._missing.cache_info().misses - before
    assert len(report.summary) == 401
    # A compile of the probe for each row that brings a letter not seen before: at most one
    # for each of the 27 letters, not one for each of the 400 rows.
    assert asked <= len(set(letters)), asked
