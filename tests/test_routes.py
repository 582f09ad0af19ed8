"""Later targets as data (4.4 to 4.7) and routes of several hops."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import umrunbook
from tests.helpers import NOW
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.errors import InputError
from umrunbook.faces.ticket import ticket_fields
from umrunbook.inventory.load import load_inventory
from umrunbook.planning.bind import plan_fleet
from umrunbook.planning.plan import Plan
from umrunbook.planning.routes import find_route
from umrunbook.versions import Version

CATALOGUE = load_catalogue()
ISO_TARGETS = ("4.4", "4.5", "4.6", "4.7")

# Every version against every target: the route's stops after the start, or None.
GRID = {
    ("4.1.2", "4.2"): ("4.2",),
    ("4.1.2", "4.3"): ("4.3",),
    ("4.1.2", "4.4"): ("4.4",),
    ("4.1.2", "4.5"): ("4.5",),
    ("4.1.2", "4.6"): ("4.3", "4.6"),
    ("4.1.2", "4.7"): ("4.3", "4.7"),
    ("4.2.1", "4.2"): None,
    ("4.2.0", "4.2"): (),
    ("4.2.1", "4.3"): ("4.3",),
    ("4.2.1", "4.4"): ("4.4",),
    ("4.2.1", "4.5"): ("4.5",),
    ("4.2.1", "4.6"): ("4.3", "4.6"),
    ("4.2.1", "4.7"): ("4.3", "4.7"),
    ("4.3", "4.4"): ("4.4",),
    ("4.3", "4.5"): ("4.5",),
    ("4.3", "4.6"): ("4.6",),
    ("4.3", "4.7"): ("4.7",),
    ("4.4", "4.5"): ("4.5",),
    ("4.4", "4.6"): ("4.6",),
    ("4.4", "4.7"): ("4.7",),
    ("4.5", "4.6"): ("4.6",),
    ("4.5", "4.7"): ("4.7",),
    ("4.6", "4.7"): ("4.7",),
    ("4.7", "4.7"): (),
    ("4.0", "4.3"): None,
    ("4.0", "4.7"): ("4.5", "4.7"),
    ("3.6.1", "4.7"): None,
    ("4.5", "4.3"): None,
}


@pytest.mark.parametrize(("version", "target"), sorted(GRID))
def test_route_grid(version: str, target: str) -> None:
    route = find_route(Version.parse(version), Version.parse(target), CATALOGUE)
    stops = None if route is None else tuple(p.target for p in route)
    assert stops == GRID[(version, target)]


def test_every_hop_is_allowed_by_the_catalogue() -> None:
    """No route ever jumps where the catalogue has no entry: each hop accepts its start."""
    versions = ["4.1.0", "4.2.0", "4.3", "4.4", "4.5", "4.6"]
    for start in versions:
        for target in CATALOGUE.procedures:
            route = find_route(Version.parse(start), target.target_version, CATALOGUE) or ()
            at = Version.parse(start)
            for procedure in route:
                assert procedure.accepts(at), (start, target.target, procedure.target)
                at = procedure.target_version


@pytest.mark.parametrize("target", ISO_TARGETS)
def test_iso_targets_carry_the_vendor_checks_and_mark_field_reports(target: str) -> None:
    procedure = CATALOGUE.get(target)
    assert procedure is not None and procedure.delivery == "iso"
    assert [b.role for b in procedure.bundle] == ["iso", "manifest", "certificate", "signature"]
    assert [b.name for b in procedure.bundle] == [
        f"Usage_Meter_Agent-{target}.0.0-{{build}}_Upgrade.{ext}"
        for ext in ("iso", "mf", "crt", "sign")
    ]
    lines = [line for step in procedure.steps for b in step.commands for line in b.lines]
    for command in (
        "systemctl enable sshd",
        "systemctl start sshd",
        "sha1sum -c {bundle_manifest}",
        "openssl x509 -in {bundle_certificate} -text",
        "openssl verify {bundle_certificate}",
        "openssl x509 -pubkey -in {bundle_certificate} > {bundle_key}",
        "openssl dgst -sha1 -verify {bundle_key} -signature {bundle_signature} {bundle_iso}",
        "mount -o loop {upload_dir}/{bundle_iso} /root/upgrade",
        "bash /root/upgrade/upgrade-um.sh",
    ):
        assert command in lines, command
    assert "mount -o loop /dev/cdrom /root/upgrade" not in lines
    kinds = {step.id: procedure.reference(step.source).kind for step in procedure.steps}
    # The vendor's pages stop at the signature check; what follows comes from field reports.
    assert kinds["attach-iso"] == kinds["run-upgrade"] == kinds["reboot"] == "field"
    assert kinds["check-upload"] == kinds["enable-ssh"] == "vendor"
    has_proxy = any(step.condition == "proxy" for step in procedure.steps)
    assert has_proxy is (target in ("4.4", "4.5"))
    reverts = "advises not to revert" in procedure.backout.snapshot_until
    assert reverts is (target != "4.4")
    # The sources say it for 4.5 only: a later target says it is carried over.
    extrapolated = "extrapolated from 4.5" in procedure.backout.snapshot_until
    assert extrapolated is (target in ("4.6", "4.7"))


ROUTE_INVENTORY = """\
    change:
      ticket: CHG0047000
      window: {start: 2026-12-05T20:00:00+01:00, end: 2026-12-06T06:00:00+01:00}
      implementer: Jane Operator
    upgrade:
      target: "4.7"
      bundle: {build: "22010000", local_folder: 'C:\\Upgrades\\4.7'}
      via: ["4.5"]
      bundles:
        "4.5": {build: "19934127", sha256: %s}
    appliances:
      - name: um-ams-01
        host: um-ams-01.corp.example
        version: 4.2.0
        proxy: proxy.corp.example:3128
        metered_servers: [vc01.corp.example]
      - name: um-ams-02
        host: um-ams-02.corp.example
        version: 4.3.0
""" % ("1" * 64)


def route_plans(tmp_path: Path, text: str = ROUTE_INVENTORY) -> tuple[Plan, ...]:
    path = tmp_path / "inventory.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return plan_fleet(load_inventory(path), CATALOGUE, NOW)


def test_a_route_binds_each_hop_to_its_own_bundle_and_agent(tmp_path: Path) -> None:
    first, second = route_plans(tmp_path)
    assert first.route_text == "4.2.0 → 4.5 → 4.7"
    # upgrade.via holds for the fleet: the 4.3 appliance goes through 4.5 as well.
    assert second.route_text == "4.3.0 → 4.5 → 4.7"
    hop45, hop47 = first.hops
    assert (hop45.folder, hop47.folder) == ("hop-1-4.5/", "hop-2-4.7/")
    assert hop45.bundle[0].name == "Usage_Meter_Agent-4.5.0.0-19934127_Upgrade.iso"
    assert hop45.bundle[0].sha256 == "1" * 64 and hop47.bundle[0].sha256 == ""
    assert (
        hop47.bundle[3].local_path
        == "C:\\Upgrades\\4.7\\Usage_Meter_Agent-4.7.0.0-22010000_Upgrade.sign"
    )
    m45, m47 = dict(hop45.agent.manifest), dict(hop47.agent.manifest)
    assert (m45["target"], m47["target"]) == ("4.5", "4.7")
    assert m47["inventory_version"].startswith("4.5")  # the second hop starts at 4.5
    assert m45["upload_dir"] == "/root/um-upgrade-4.5" and m45["delivery"] == "iso"
    # The proxy step only where the site has a proxy and the target's procedure has it.
    assert "proxy" in [s.id for s in hop45.steps] and "proxy" not in [s.id for s in hop47.steps]
    assert "proxy" not in [s.id for s in second.hops[0].steps]
    numbers = sorted(int(s.number) for hop in first.hops for s in hop.steps)
    assert numbers == list(range(1, len(numbers) + 1))


def test_missing_bundle_or_build_names_what_to_add(tmp_path: Path) -> None:
    text = ROUTE_INVENTORY.replace(
        '        "4.5": {build: "19934127", sha256: %s}\n' % ("1" * 64),
        '        "4.6": {build: "1"}\n',
    )
    with pytest.raises(InputError) as caught:
        route_plans(tmp_path, text)
    problem, _ = caught.value.problems  # both appliances go through 4.5
    assert "um-ams-01: the route 4.2.0 → 4.5 → 4.7 needs the bundle for 4.5" in str(problem)
    assert '"4.5": {build: ..., sha256: ...}' in str(problem)
    no_build = ROUTE_INVENTORY.replace('bundle: {build: "22010000", ', "bundle: {")
    with pytest.raises(InputError, match=r"upgrade.bundle.build: is required for the 4.7"):
        route_plans(tmp_path, no_build)


def test_three_x_needs_a_new_appliance(tmp_path: Path) -> None:
    text = ROUTE_INVENTORY.replace("version: 4.3.0", "version: 3.6.1")
    with pytest.raises(InputError, match="a new appliance with data migration is needed"):
        route_plans(tmp_path, text)


def test_the_route_runbook_reads_from_first_snapshot_to_last_certificate(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(textwrap.dedent(ROUTE_INVENTORY), encoding="utf-8")
    out = tmp_path / "pkg"
    result = umrunbook(["render", str(path), "--format", "md", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    for agent in ("hop-1-4.5/agent/um-upgrade-agent.sh", "hop-2-4.7/agent/um-upgrade-agent.sh"):
        assert (out / "um-ams-01" / agent).is_file()
    text = (out / "um-ams-01/runbook.md").read_text()
    order = [
        "route: 4.2.0 → 4.5 → 4.7",
        "## Upgrade 1 of 2: 4.2.0 → 4.5",
        "Take a snapshot of the appliance",
        "Set the operating system's proxy",
        "openssl dgst -sha1 -verify",
        "Mount the checked ISO and run the upgrade script",
        "## 4.5: After the upgrade",
        "## 4.5: Backout plan",
        "## Upgrade 2 of 2: 4.5 → 4.7",
        "Take a snapshot",
        "bash /root/upgrade/upgrade-um.sh",
        "## 4.7: After the upgrade",
        "`vc01.corp.example`: certificate accepted",
        "## 4.7: Backout plan",
        "## Sign-off",
    ]
    position = 0
    for marker in order:
        found = text.find(marker, position)
        assert found >= 0, f"{marker!r} not after position {position}"
        position = found
    assert text.count("**Field report, not the vendor's text:** confirm this step") >= 6
    assert "advises not to revert to the pre-upgrade snapshot" in text
    assert "evidence-um-ams-01-CHG0047000-4.7.json" in text
    fleet = (out / "fleet.csv").read_text()
    assert "um-ams-01,um-ams-01.corp.example,4.2.0,4.7,4.2.0 → 4.5 → 4.7,planned" in fleet


def test_the_ticket_says_until_when_the_snapshot_may_be_used(tmp_path: Path) -> None:
    plans = route_plans(tmp_path)
    fields = ticket_fields(plans, plans[0].change)
    assert "only until the verify step has passed" in fields["backout_plan"]


def test_as_executed_records_show_under_their_own_upgrade(tmp_path: Path) -> None:
    from umrunbook.evidence.records import StepRecord
    from umrunbook.faces.markdown import render_markdown

    plan = route_plans(tmp_path)[0]
    executed = {
        "verify": [StepRecord("verify", "PASS", "2026-12-05T23:10:00Z", "agent", "4.5 ok", "4.5")],
        "snapshot": [StepRecord("snapshot", "done", "2026-12-05T21:00:00Z", "JO")],
    }
    text = render_markdown(plan, executed, ["evidence.json"])
    verify = [s.number for hop in plan.hops for s in hop.steps if s.id == "verify"]
    assert f"- [x] Step {verify[0]}: **PASS** at 2026-12-05T23:10:00Z by agent (4.5 ok)" in text
    assert f"- [ ] Step {verify[1]}: no record in the evidence." in text
    assert text.count("by JO") == 2  # a manual record names no upgrade: it shows under both


PLANNER_INVENTORY = ROUTE_INVENTORY.replace('      via: ["4.5"]\n', "").replace(
    '"4.5": {build: "19934127", sha256: %s}' % ("1" * 64), '"4.3": {sha256: %s}' % ("2" * 64)
)


def test_among_the_shortest_routes_the_most_vendor_documented_one_wins(tmp_path: Path) -> None:
    """4.2 → 4.3 → 4.7 and 4.2 → 4.5 → 4.7 are both two upgrades; the first .shar hop is the
    vendor's own text, the 4.5 ISO hop's run steps are field reports."""
    from umrunbook.planning.routes import route_vendor_steps, shortest_routes

    start, target = Version.parse("4.2.0"), Version.parse("4.7")
    routes = {tuple(p.target for p in r): r for r in shortest_routes(start, target, CATALOGUE)}
    assert ("4.3", "4.7") in routes and ("4.5", "4.7") in routes
    assert (
        route_vendor_steps(routes[("4.3", "4.7")])[0]
        > route_vendor_steps(routes[("4.5", "4.7")])[0]
    )
    first, second = route_plans(tmp_path, PLANNER_INVENTORY)
    assert first.route_text == "4.2.0 → 4.3 → 4.7"
    assert first.route_reason.startswith("fewest upgrades (2), and the most steps from vendor")
    assert "4.2.0 → 4.5 → 4.7: " in first.route_reason
    assert second.route_reason == ""  # one upgrade: nothing to choose


def test_via_pins_the_route_and_check_says_why(tmp_path: Path) -> None:
    first, _ = route_plans(tmp_path)
    assert first.route_text == "4.2.0 → 4.5 → 4.7"
    assert first.route_reason.startswith(
        "pinned by upgrade.via; the planner would take 4.2.0 → 4.3"
    )
    path = tmp_path / "inventory.yaml"
    check = umrunbook(["check", str(path)])
    assert check.returncode == 0, check.stderr
    assert "um-ams-01  4.2.0 → 4.5 → 4.7" in check.stdout
    assert "route: pinned by upgrade.via" in check.stdout


@pytest.mark.parametrize(
    ("via", "message"),
    [
        ('["4.6"]', "the catalogue has no upgrade from 4.2.0 to 4.6"),
        ('["4.6", "4.5"]', "the stops must rise: 4.6 then 4.5"),
        ('["4.8"]', "4.8 is not before the target 4.7"),
        ('["4.2.5"]', "4.2.5 is not a target in the procedure catalogue"),
        ("[{a: 1}]", "expected a version, got a mapping"),
        ('["four"]', "'four' is not a version"),
    ],
)
def test_a_via_that_is_no_route_is_an_input_error(tmp_path: Path, via: str, message: str) -> None:
    text = ROUTE_INVENTORY.replace('via: ["4.5"]', f"via: {via}")
    path = tmp_path / "inventory.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    check = umrunbook(["check", str(path)])
    assert check.returncode != 0
    assert "Traceback" not in check.stderr
    assert f"{path}:8: upgrade.via: " in check.stderr
    assert message in check.stderr


def test_paths_shows_each_route_and_why() -> None:
    result = umrunbook(["paths"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    at = lines.index("  4.2 -> 4.3 -> 4.7")
    assert lines[at + 1].startswith("    why: fewest upgrades (2), and the most steps from vendor")
    assert "4.2 -> 4.5 -> 4.7: " in lines[at + 1]


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler's pdftotext is needed")
def test_a_route_does_everything_before_the_window_first(tmp_path: Path) -> None:
    first, _ = route_plans(tmp_path, PLANNER_INVENTORY)
    steps = sorted((s for hop in first.hops for s in hop.steps), key=lambda s: int(s.number))
    phases = [s.phase for s in steps]
    before = phases.count("before")
    assert before == 4  # both upgrades' downloads and workstation checks
    assert phases[:before] == ["before"] * before and "before" not in phases[before:]
    # Each upgrade's steps still read in their order.
    for hop in first.hops:
        numbers = [int(s.number) for s in hop.steps]
        assert numbers == sorted(numbers)
    # And the runbook shows them in one part, ahead of the first upgrade, in every face.
    path = tmp_path / "inventory.yaml"
    out = tmp_path / "pkg"
    result = umrunbook(["render", str(path), "--format", "md,html,pdf", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    markdown = (out / "um-ams-01/runbook.md").read_text()
    html = (out / "um-ams-01/runbook.html").read_text()
    pdf = subprocess.run(
        ["pdftotext", "-layout", str(out / "um-ams-01/runbook.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for text in (markdown, html, pdf):
        order = [
            "4.3: Before the window",
            "Download the upgrade bundle",
            "4.7: Before the window",
            "Download the four upgrade files",
            "Upgrade 1 of 2",
            "4.3: In the window",
            "Upgrade 2 of 2",
            "4.7: In the window",
            "GO / NO-GO: the upgrade to 4.7",
        ]
        at = [text.find(marker) for marker in order]
        assert -1 not in at and at == sorted(at), list(zip(order, at, strict=True))
    assert markdown.count("### Step 3: Download the four upgrade files") == 1


def test_between_two_upgrades_a_go_no_go_and_the_snapshot(tmp_path: Path) -> None:
    from umrunbook.planning.between import GO_NO_GO_ID

    pinned, _ = route_plans(tmp_path)  # 4.2 → 4.5 → 4.7
    hop45, hop47 = pinned.hops
    assert GO_NO_GO_ID not in [s.id for s in hop45.steps]
    window = [s for s in hop47.steps if s.phase == "window"]
    gate = window[0]
    assert gate.id == GO_NO_GO_ID and window[1].id == "snapshot"
    assert gate.title == "GO / NO-GO: the upgrade to 4.7"
    assert gate.source.kind == "tool"
    text = gate.text.plain
    assert "do not revert to it from now on" in text
    assert "CHG0047000-before-4.5" in [part for part, value in gate.text.segments if value]
    assert "vCloud Usage Meter 4.5 upgrade overview" in text
    assert "Delete CHG0047000-before-4.5 when you close the change" in text
    # Through 4.3 (before 4.5) no vendor text forbids the revert: the snapshot is kept.
    shar, _ = route_plans(tmp_path, PLANNER_INVENTORY)
    gate = next(s for s in shar.hops[1].steps if s.id == GO_NO_GO_ID)
    assert "keep it: it still takes the appliance back to 4.2.0" in gate.text.plain
    assert "do not revert" not in gate.text.plain
    path = tmp_path / "inventory.yaml"
    out = tmp_path / "pkg"
    result = umrunbook(["render", str(path), "--format", "md", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    runbook = (out / "um-ams-01/runbook.md").read_text()
    assert runbook.index("GO / NO-GO: the upgrade to 4.7") < runbook.index(
        ": Take a snapshot of the appliance\n", runbook.index("## Upgrade 2 of 2")
    )
