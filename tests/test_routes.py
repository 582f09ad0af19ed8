"""Later targets as data (4.4 to 4.7) and routes of several hops."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.conftest import umrunbook
from tests.helpers import NOW
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.errors import InputError
from umrunbook.faces.ticket import ticket_fields
from umrunbook.inventory.load import load_inventory
from umrunbook.planning.bind import find_route, plan_fleet
from umrunbook.planning.plan import Plan
from umrunbook.versions import Version

CATALOGUE = load_catalogue()
ISO_TARGETS = ("4.4", "4.5", "4.6", "4.7")

# Every version against every target: the route's stops after the start, or None.
GRID = {
    ("4.1.2", "4.2"): ("4.2",),
    ("4.1.2", "4.3"): ("4.3",),
    ("4.1.2", "4.4"): ("4.4",),
    ("4.1.2", "4.5"): ("4.5",),
    ("4.1.2", "4.6"): ("4.5", "4.6"),
    ("4.1.2", "4.7"): ("4.5", "4.7"),
    ("4.2.1", "4.2"): None,
    ("4.2.0", "4.2"): (),
    ("4.2.1", "4.3"): ("4.3",),
    ("4.2.1", "4.4"): ("4.4",),
    ("4.2.1", "4.5"): ("4.5",),
    ("4.2.1", "4.6"): ("4.5", "4.6"),
    ("4.2.1", "4.7"): ("4.5", "4.7"),
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
    assert second.route_text == "4.3.0 → 4.7"
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
    numbers = [s.number for hop in first.hops for s in hop.steps]
    assert numbers == [str(n) for n in range(1, len(numbers) + 1)]


def test_missing_bundle_or_build_names_what_to_add(tmp_path: Path) -> None:
    text = ROUTE_INVENTORY.replace(
        '        "4.5": {build: "19934127", sha256: %s}\n' % ("1" * 64),
        '        "4.6": {build: "1"}\n',
    )
    with pytest.raises(InputError) as caught:
        route_plans(tmp_path, text)
    (problem,) = caught.value.problems
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
