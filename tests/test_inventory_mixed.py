"""A mixed fleet is one change: appliances with targets of their own, and routes, in one
inventory, one package, one fleet.csv and one ticket."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import umrunbook
from tests.helpers import NOW
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.errors import InputError
from umrunbook.inventory.load import load_inventory
from umrunbook.planning.bind import plan_fleet
from umrunbook.planning.plan import Plan

CATALOGUE = load_catalogue()
MIXED = Path(__file__).parent / "golden" / "packages" / "mixed-fleet.yaml"
SHA = "1" * 64

HEAD = f"""\
change:
  ticket: CHG0014001
  window: {{start: 2026-12-05T20:00:00+01:00, end: 2026-12-06T06:00:00+01:00}}
  implementer: Jane Operator
upgrade:
  target: "4.7"
  bundle: {{build: "22010000"}}
  bundles:
    "4.3": {{sha256: {SHA}}}
"""


def plans(path: Path) -> tuple[Plan, ...]:
    return plan_fleet(load_inventory(path), CATALOGUE, NOW)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as caught:
        plans(path)
    return [str(p) for p in caught.value.problems]


def test_each_appliance_takes_its_own_target_or_upgrade_target() -> None:
    one, two, three, four = plans(MIXED)
    assert [p.target.short for p in (one, two, three, four)] == ["4.3", "4.3", "4.7", "4.7"]
    assert one.route_text == "4.2.0 → 4.3" and two.route_text == "4.1.0 → 4.3"
    assert three.route_text == "4.5.0 → 4.7"
    assert four.route_text == "4.2.1 → 4.3 → 4.7"
    # The 4.3 bundle of upgrade.bundles serves the appliances whose target it is and the route's
    # first stop alike; upgrade.bundle serves upgrade.target's upgrades.
    assert one.hops[0].bundle[0].sha256 == SHA == four.hops[0].bundle[0].sha256
    assert one.hops[0].bundle[0].name == "ums-system-upgrade.shar"
    assert three.hops[0].bundle[0].name == "Usage_Meter_Agent-4.7.0.0-22010000_Upgrade.iso"
    assert four.hops[1].bundle[0].name == three.hops[0].bundle[0].name
    assert [h.folder for h in four.hops] == ["hop-1-4.3/", "hop-2-4.7/"]
    assert dict(one.hops[0].agent.manifest)["target"] == "4.3"


def test_the_csv_column_target(tmp_path: Path) -> None:
    rows = [
        "name,host,version,target",
        "um-a,um-a.corp.example,4.2.0,4.3",
        "um-b,um-b.corp.example,4.3.0,",
    ]
    (tmp_path / "fleet.csv").write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    a, b = plans(write(tmp_path, HEAD + "appliances: fleet.csv\n"))
    assert (a.target.short, b.target.short) == ("4.3", "4.7")
    assert a.appliance.target == "4.3" and b.appliance.target is None


def test_check_names_every_appliance_whose_target_lacks_a_bundle(tmp_path: Path) -> None:
    text = HEAD + textwrap.dedent(
        """\
        appliances:
          - {name: um-a, host: um-a.corp.example, version: 4.3.0, target: "4.5"}
          - {name: um-b, host: um-b.corp.example, version: 4.4.0, target: "4.5"}
          - {name: um-c, host: um-c.corp.example, version: 4.2.0, target: "4.3"}
        """
    )
    path = write(tmp_path, text)
    found = problems(path)
    assert found == [
        f"{path}:11: target: um-a: the target 4.5 needs its bundle in upgrade.bundles\n"
        '  hint: add under upgrade: `bundles: {"4.5": {build: ..., sha256: ...}}`',
        f"{path}:12: target: um-b: the target 4.5 needs its bundle in upgrade.bundles\n"
        '  hint: add under upgrade: `bundles: {"4.5": {build: ..., sha256: ...}}`',
    ], found
    # The command line says the same, as FILE:LINE: FIELD with the fix, and no traceback.
    result = umrunbook(["check", str(path)])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{path}:11: target: um-a:" in result.stderr
    assert f"{path}:12: target: um-b:" in result.stderr
    # A route's stop without its bundle names the appliance and the route.
    no_43 = text.replace(f'    "4.3": {{sha256: {SHA}}}\n', '    "4.5": {build: "1"}\n')
    found = problems(write(tmp_path, no_43))
    assert any("target: um-c: the target 4.3 needs its bundle" in p for p in found), found


def test_a_target_the_catalogue_lacks_is_named_at_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD + "appliances:\n  - {name: um-a, host: um-a.corp.example, version: 4.2.0, "
        'target: "4.8.5"}\n',
    )
    (found,) = problems(path)
    assert found.startswith(
        f"{path}:11: target: um-a: '4.8.5' is not a target in the procedure catalogue"
    )
    assert "umrunbook paths" in found and "leave it out to take upgrade.target" in found


def test_a_shar_target_needs_its_checksum_where_the_bundle_is_written(tmp_path: Path) -> None:
    text = HEAD.replace(f"{{sha256: {SHA}}}", '{local_path: "C:\\\\Up\\\\u.shar"}')
    path = write(
        tmp_path,
        text
        + 'appliances:\n  - {name: um-a, host: um-a.corp.example, version: 4.2.0, target: "4.3"}\n',
    )
    (found,) = problems(path)
    assert f"{path}:9: upgrade.bundles.4.3.sha256: is required for a .shar bundle" in found


def test_via_pins_the_stops_before_each_appliance_s_target(tmp_path: Path) -> None:
    text = HEAD.replace(
        "  bundles:\n",
        '  via: ["4.5"]\n  bundles:\n'
        '    "4.5": {build: "19934127"}\n    "4.6": {build: "21000000"}\n',
    )
    path = write(
        tmp_path,
        text
        + textwrap.dedent(
            """\
            appliances:
              - {name: um-a, host: um-a.corp.example, version: 4.2.0}
              - {name: um-b, host: um-b.corp.example, version: 4.2.0, target: "4.3"}
              - {name: um-c, host: um-c.corp.example, version: 4.2.0, target: "4.5"}
              - {name: um-d, host: um-d.corp.example, version: 4.3.0, target: "4.6"}
            """
        ),
    )
    a, b, c, d = plans(path)
    assert a.route_text == "4.2.0 → 4.5 → 4.7" and "pinned by upgrade.via" in a.route_reason
    assert b.route_text == "4.2.0 → 4.3" and b.route_reason == ""
    # A stop at or above an appliance's own target is left out for it; one below it holds.
    assert c.route_text == "4.2.0 → 4.5"
    assert d.route_text == "4.3.0 → 4.5 → 4.6" and "pinned by upgrade.via" in d.route_reason


def test_one_package_one_fleet_csv_one_ticket(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    result = umrunbook(["render", str(MIXED), "--format", "md", "--out", str(out), "-j", "1"])
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO((out / "fleet.csv").read_text(encoding="utf-8"))))
    assert [(r["name"], r["target"], r["route"]) for r in rows] == [
        ("um-mix-01", "4.3", "4.2.0 → 4.3"),
        ("um-mix-02", "4.3", "4.1.0 → 4.3"),
        ("um-mix-03", "4.7", "4.5.0 → 4.7"),
        ("um-mix-04", "4.7", "4.2.1 → 4.3 → 4.7"),
    ]
    for agent in (
        "um-mix-01/agent/um-upgrade-agent.sh",
        "um-mix-03/agent/um-upgrade-agent.sh",
        "um-mix-04/hop-1-4.3/agent/um-upgrade-agent.sh",
        "um-mix-04/hop-2-4.7/agent/um-upgrade-agent.sh",
    ):
        assert (out / agent).is_file(), agent
    assert "Upgrade um-mix-01 to Usage Meter 4.3" in (out / "um-mix-01/runbook.md").read_text()

    result = umrunbook(["ticket", str(MIXED), "--format", "json"])
    assert result.returncode == 0, result.stderr
    fields = json.loads(result.stdout)
    assert fields["short_description"] == "Upgrade 4 Usage Meter appliances to 4.3 and 4.7"
    assert fields["affected_cis"] == ["um-mix-01", "um-mix-02", "um-mix-03", "um-mix-04"]
    for line in (
        "- um-mix-01 (um-mix-01.corp.example): 4.2.0 → 4.3",
        "- um-mix-03 (um-mix-03.corp.example): 4.5.0 → 4.7",
        "- um-mix-04 (um-mix-04.corp.example): 4.2.1 → 4.3 → 4.7",
    ):
        assert line in fields["description"]
    assert "If the upgrade to 4.3 fails (um-mix-01, um-mix-02, um-mix-04)" in fields["backout_plan"]
    assert "If the upgrade to 4.7 fails (um-mix-03, um-mix-04)" in fields["backout_plan"]
    assert "- 4.3: Verify the upgraded appliance" in fields["test_plan"]
    assert "- 4.7: Verify the upgraded appliance" in fields["test_plan"]
    text = umrunbook(["ticket", str(MIXED)]).stdout
    assert text.count("Short description (short_description):") == 1

    result = umrunbook(["check", str(MIXED)])
    assert result.returncode == 0, result.stderr
    assert "4 appliances, targets 4.3, 4.7" in result.stdout


def test_the_mixed_fleets_pdf_cover_lists_the_four_in_order_and_the_ticket_is_one_change(
    tmp_path: Path,
) -> None:
    """Issue's measure: one package for two targets and a route, whose PDF cover lists the
    four appliances in order with their clock times, and one ticket for them all."""
    import re
    import subprocess

    from tests.conftest import need

    need("pdftotext")
    out = tmp_path / "pkg"
    result = umrunbook(["render", str(MIXED), "--out", str(out), "--format", "pdf"])
    assert result.returncode == 0, result.stderr
    names = ["um-mix-01", "um-mix-02", "um-mix-03", "um-mix-04"]
    for name in names:
        text = subprocess.run(
            ["pdftotext", "-layout", str(out / name / "runbook.pdf"), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        cover = text.split("\f")[0]
        assert "Sign-off" in cover and "Night plan" in cover, name
        rows = [
            (m.group(1), m.group(2), m.group(3))
            for m in re.finditer(r"^\s*(\d\d:\d\d)\s+(\d\d:\d\d)\s+(um-mix-0\d)", cover, re.M)
        ]
        assert [r[2] for r in rows] == names, (name, rows)
        assert all(rows[n][1] == rows[n + 1][0] for n in range(3))  # one after another
    ticket = umrunbook(["ticket", str(MIXED), "--format", "json"])
    assert ticket.returncode == 0, ticket.stderr
    fields = json.loads(ticket.stdout)
    assert fields["affected_cis"] == names and fields["cmdb_ci"] == "um-mix-01"


def test_a_bundles_entry_for_upgrade_target_is_refused_at_its_line(tmp_path: Path) -> None:
    """upgrade.bundle is upgrade.target's bundle: an entry under bundles for the same target
    would never be read, so it is named rather than ignored."""
    text = HEAD.replace('    "4.3":', '    "4.7.0": {build: "1"}\n    "4.3":') + (
        "appliances:\n  - {name: um-a, host: um-a.corp.example, version: 4.5.0}\n"
    )
    path = write(tmp_path, text)
    result = umrunbook(["check", str(path)])
    assert result.returncode == 2, result
    assert (
        f"{path}:9: upgrade.bundles.4.7.0: the bundle of upgrade.target (4.7) goes in "
        "upgrade.bundle; this entry would never be read"
    ) in result.stderr
    assert "hint: move its values to upgrade.bundle and remove this entry" in result.stderr
