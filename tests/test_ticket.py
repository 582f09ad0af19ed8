"""`ticket`: change-request fields as text and as ServiceNow JSON; `check`'s window warning."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import umrunbook
from tests.helpers import example_plans, step_heading
from umrunbook.faces.humanize import duration

SERVICENOW_FIELDS = [
    "short_description",
    "description",
    "justification",
    "implementation_plan",
    "backout_plan",
    "test_plan",
    "risk_impact_analysis",
    "start_date",
    "end_date",
    "cmdb_ci",
    "affected_cis",
]


def test_json_uses_servicenow_field_names(example_inventory_file: Path) -> None:
    result = umrunbook(["ticket", str(example_inventory_file), "--format", "json"])
    assert result.returncode == 0, result.stderr
    fields = json.loads(result.stdout)
    assert list(fields) == SERVICENOW_FIELDS
    assert fields["short_description"] == "Upgrade 3 Usage Meter appliances to 4.3"
    # 22:00 and 02:00 at UTC+01:00
    assert (fields["start_date"], fields["end_date"]) == (
        "2026-12-05 21:00:00",
        "2026-12-06 01:00:00",
    )
    # One item ServiceNow can resolve, and every affected one in a list of its own.
    assert fields["cmdb_ci"] == "um-ams-01"
    assert fields["affected_cis"] == ["um-ams-01", "um-ams-02", "um-fra-01"]
    preflight = step_heading(example_plans()[0], "preflight").removeprefix("Step ")
    assert (
        f"{preflight.replace(':', '.', 1)} (SSH session) [agent]" in fields["implementation_plan"]
    )
    assert (
        "um-ams-01: vc01.corp.example, vcd01.corp.example, nsx01.corp.example"
        in fields["implementation_plan"]
    )
    assert "CHG0012345-before-4.3 at vc02 / DC-Frankfurt / um-fra-01" in fields["backout_plan"]
    assert fields["risk_impact_analysis"].startswith("Risk: moderate.")
    ams = example_plans()[0]
    assert f"um-ams-01: {duration(ams.estimate_minutes)} (estimate)" in fields["description"]


def test_text_for_one_appliance_with_window_against_plan(example_inventory_file: Path) -> None:
    result = umrunbook(["ticket", str(example_inventory_file), "--only", "um-fra-01"])
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for label in (
        "Short description (short_description):",
        "Backout plan (backout_plan):",
        "Planned start (start_date):\n"
        "  2026-12-05 21:00:00 UTC (local: 2026-12-05 22:00 UTC+01:00)",
        "Configuration item (cmdb_ci):\n  um-fra-01\n",
        "Affected configuration items (affected_cis):\n  - um-fra-01\n",
    ):
        assert label in text
    assert "Upgrade Usage Meter appliance um-fra-01 to 4.3" in text
    assert "B1. Write the agent's evidence before the revert: The revert deletes" in text
    assert "B4. Check the services of the restored appliance: Log in as root" in text
    fra = example_plans()[2]
    minutes = duration(fra.estimate_minutes)
    backout = duration(fra.hops[-1].backout.estimate_minutes)
    assert f"window 4 h, plan {minutes} + backout {backout}: fits" in text


def test_a_short_window_is_a_warning_not_an_error(example_inventory_file: Path) -> None:
    text = example_inventory_file.read_text().replace(
        "2026-12-06T02:00:00+01:00", "2026-12-05T23:30:00+01:00"
    )
    example_inventory_file.write_text(text)
    check = umrunbook(["check", str(example_inventory_file)])
    assert check.returncode == 0
    # The appliances one after another, and the longest backout.
    plans = example_plans()
    needs = sum(p.estimate_minutes for p in plans)
    needs += max(p.hops[-1].backout.estimate_minutes for p in plans)
    assert (
        f"warning: {example_inventory_file}:9: change.window: the window is 1 h 30 min but "
        f"the plan needs {duration(needs)}"
    ) in check.stderr
    ticket = umrunbook(["ticket", str(example_inventory_file)])
    assert ticket.returncode == 0 and "TOO SHORT" in ticket.stdout


def test_nothing_to_do_and_bad_format(example_inventory_file: Path) -> None:
    text = example_inventory_file.read_text()
    for old in ("4.2.0", "4.2.1", "4.1.0"):
        text = text.replace(f"version: {old}", "version: 4.3.0")
    example_inventory_file.write_text(text)
    result = umrunbook(["ticket", str(example_inventory_file)])
    assert result.returncode == 2 and "nothing to put in a change" in result.stderr
    bad = umrunbook(["ticket", str(example_inventory_file), "--format", "xml"])
    assert bad.returncode == 2 and "choose text or json" in bad.stderr


ROUTE_FLEET = Path(__file__).parent / "golden" / "packages" / "route-fleet.yaml"


def test_a_route_ticket_backs_out_every_upgrade_and_names_its_sources() -> None:
    result = umrunbook(["ticket", str(ROUTE_FLEET), "--format", "json"])
    assert result.returncode == 0, result.stderr
    fields = json.loads(result.stdout)
    backout = fields["backout_plan"]
    # Each upgrade of the route has its backout and its own snapshots.
    at43 = backout.index("If the upgrade to 4.3 fails (um-lon-01):")
    at47 = backout.index("If the upgrade to 4.7 fails (um-lon-01, um-lon-02):")
    assert at43 < at47
    assert "um-lon-01: CHG0047000-before-4.3 at vc01 / DC-London / um-lon-01" in backout[at43:at47]
    assert "um-lon-01: CHG0047000-before-4.7 at vc01 / DC-London / um-lon-01" in backout[at47:]
    assert "um-lon-02: CHG0047000-before-4.7" in backout[at47:]
    # The change board is told which steps come from field reports, and from which.
    risk = fields["risk_impact_analysis"]
    assert "Steps from field reports, not from a vendor document" in risk
    assert "- 4.7: Only where the ISO could not be uploaded: attach it as a CD;" in risk
    assert "(source: IBM Cloud documentation" in risk
    # No claim without a source.
    for text in fields.values():
        assert "collectors catch up" not in str(text) and "no usage data is lost" not in str(text)
    # The evidence files by the names the agent writes (agent/parts/20-options.sh; the agent
    # run in tests/test_agent_flow.py writes evidence-<appliance>-<ticket>-<target>.json).
    for name in (
        "evidence-um-lon-01-CHG0047000-4.3.json",
        "evidence-um-lon-01-CHG0047000-4.7.json",
        "evidence-um-lon-02-CHG0047000-4.7.json",
    ):
        assert name in fields["test_plan"]
    assert "<appliance>" not in fields["test_plan"]
    assert fields["cmdb_ci"] == "um-lon-01"
    assert fields["affected_cis"] == ["um-lon-01", "um-lon-02"]
    assert (
        "Window: 2026-12-12 21:00 UTC+00:00 to 2026-12-13 05:00 UTC+00:00 (local)"
        in (fields["description"])
    )
    only = umrunbook(["ticket", str(ROUTE_FLEET), "--only", "um-lon-02", "--format", "json"])
    assert json.loads(only.stdout)["cmdb_ci"] == "um-lon-02"
