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
    assert fields["cmdb_ci"] == "um-ams-01, um-ams-02, um-fra-01"
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
        "Planned start (start_date):\n  2026-12-05 21:00:00 UTC",
    ):
        assert label in text
    assert "Upgrade Usage Meter appliance um-fra-01 to 4.3" in text
    assert "B2. Check the services of the restored appliance: Log in as root" in text
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
