"""Usage Meter 4.8 and VCF Usage Meter 9.0.1 and 9.1: the targets, their routes, the access
token, the prompts, SSH, the snapshot, the connectivity, the known errors, and the agent on a
simulated 9.x appliance (the ISO alone with its SHA-256, with and without its .mf; no
status.sh; the token typed at the script's prompt, never written)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.agent.helpers import Rig, iso_manifest_for, require_simulator
from tests.conftest import need
from tests.helpers import KEY, NOW
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.errors import InputError
from umrunbook.faces.markdown import render_markdown
from umrunbook.faces.uploads import uploads
from umrunbook.inventory.load import parse_inventory
from umrunbook.library import paths
from umrunbook.planning.agent_file import build_agent, parse_manifest
from umrunbook.planning.bind import plan_fleet
from umrunbook.planning.plan import Plan, PlannedStep
from umrunbook.planning.routes import choose_route, pinned_route
from umrunbook.rehearsal.simulator import ApplianceSpec, SimulatedAppliance, fake_iso
from umrunbook.versions import Version

CATALOGUE = load_catalogue()
BUILDS = {"4.8": "23000000", "9.0.1": "24500000", "9.1": "24900000"}
ISO = {
    "9.0.1": "Usage_Meter_Agent-9.0.1.0-24500000_Upgrade.iso",
    "9.1": "Usage_Meter_Agent-9.1.0.0-24900000_Upgrade.iso",
}
SHA = {t: hashlib.sha256(fake_iso(f"{t}.0" if t == "9.0.1" else "9.1.0.0", BUILDS[t])).hexdigest()
       for t in ISO}  # fmt: skip
TOKEN = "UMA-never-written-7f3c9a"


def inventory_text(target: str, version: str, *, extra_bundle: str = "", extra: str = "") -> str:
    bundles = "".join(
        f'    "{stop}": {{build: "{BUILDS[stop]}"'
        + (f", sha256: {SHA[stop]}" if stop in SHA else "")
        + "}\n"
        for stop in BUILDS
        if stop != target
    )
    main = f'build: "{BUILDS[target]}"' + (f", sha256: {SHA[target]}" if target in SHA else "")
    return (
        "change:\n"
        "  ticket: CHG0012345\n"
        "  window: {start: 2026-12-05T22:00:00+01:00, end: 2026-12-06T06:00:00+01:00}\n"
        "  implementer: Test Operator\n"
        "upgrade:\n"
        f'  target: "{target}"\n'
        f"  bundle: {{{main}{extra_bundle}}}\n"
        "  bundles:\n" + bundles + "appliances:\n"
        "  - name: um-ams-01\n"
        "    host: um-ams-01.corp.example\n"
        f"    version: {version}\n"
        "    snapshot: vc01 / DC1 / um-ams-01\n"
        f"    ssh_host_key: {KEY}\n" + extra
    )


def plan_of(target: str, version: str) -> Plan:
    (plan,) = plan_fleet(
        parse_inventory(inventory_text(target, version), Path("inventory.yaml")), CATALOGUE, NOW
    )
    return plan


def steps_of(plan: Plan, hop: int = 0) -> dict[str, PlannedStep]:
    return {s.id: s for s in plan.hops[hop].steps}


def words(text: str) -> str:
    return " ".join(text.split())


# -- targets and routes ----------------------------------------------------------------------


def test_paths_lists_the_targets_and_their_routes() -> None:
    lines = "\n".join(paths())
    assert re.search(r">=4\.3 +-> 4\.8 ", lines)
    assert re.search(r"4\.8\.x +-> 9\.0\.1 ", lines)
    assert re.search(r"9\.0\.x +-> 9\.1 ", lines)
    assert "4.7 -> 4.8 -> 9.0.1 -> 9.1" in lines
    assert "4.3 -> 4.8 -> 9.0.1 -> 9.1" in lines
    assert "4.8 -> 9.0.1 -> 9.1" in lines
    assert "4.8 -> 9.1\n" not in lines + "\n" and "-> 4.8 -> 9.1" not in lines


@pytest.mark.parametrize(
    ("source", "stops"),
    [
        ("4.3.0", ["4.8", "9.0.1", "9.1"]),
        ("4.7.0", ["4.8", "9.0.1", "9.1"]),
        ("4.8.0", ["9.0.1", "9.1"]),
        ("9.0.0", ["9.1"]),
        ("9.0.1", ["9.1"]),
        ("9.0.1.1", ["9.1"]),  # 9.0.1.1 is a 9.0.x: one upgrade to 9.1
    ],
)
def test_the_route_to_9_1_never_skips_9_0_1(source: str, stops: list[str]) -> None:
    choice = choose_route(Version.parse(source), Version.parse("9.1"), CATALOGUE)
    assert choice is not None
    assert [p.target for p in choice.procedures] == stops


def test_4_8_to_9_1_in_one_upgrade_is_refused_and_4_x_goes_through_4_8() -> None:
    nine_one = CATALOGUE.get("9.1")
    nine = CATALOGUE.get("9.0.1")
    assert nine_one is not None and nine is not None
    assert not nine_one.accepts(Version.parse("4.8.0"))
    assert not nine.accepts(Version.parse("4.7.0"))  # 4.x reaches 9 through 4.8 only
    pinned = pinned_route(Version.parse("4.7.0"), Version.parse("9.1"), ("4.8",), CATALOGUE)
    assert isinstance(pinned, str) and "no upgrade from 4.8 to 9.1" in pinned
    text = inventory_text("9.1", "4.7.0").replace("  bundles:\n", '  via: ["4.8"]\n  bundles:\n')
    with pytest.raises(InputError) as caught:
        plan_fleet(parse_inventory(text, Path("inventory.yaml")), CATALOGUE, NOW)
    assert "no upgrade from 4.8 to 9.1" in str(caught.value)


def test_a_4_7_appliance_with_target_9_1_renders_three_hops_in_order() -> None:
    plan = plan_of("9.1", "4.7.0")
    assert [(str(h.source_version), h.procedure.target) for h in plan.hops] == [
        ("4.7.0", "4.8"), ("4.8", "9.0.1"), ("9.0.1", "9.1"),
    ]  # fmt: skip
    markdown = render_markdown(plan)
    heads = [markdown.index(f"## Upgrade {n} of 3: {s}") for n, s in
             ((1, "4.7.0 → 4.8"), (2, "4.8 → 9.0.1"), (3, "9.0.1 → 9.1"))]  # fmt: skip
    assert heads == sorted(heads)
    assert [h.folder for h in plan.hops] == ["hop-1-4.8/", "hop-2-9.0.1/", "hop-3-9.1/"]
    # Each 9.x ISO goes up alone, its SHA-256 checked by the transfer scripts.
    moved = uploads(plan)
    assert [u.bundle.name for u in moved][1:] == [ISO["9.0.1"], ISO["9.1"]]
    assert all(u.bundle.sha256 for u in moved[1:]) and [u.delivery for u in moved[1:]] == [
        "shar", "shar",
    ]  # fmt: skip
    assert all(u.make_remote_dir for u in moved)


# -- 4.8: 4.7's steps, extrapolated -----------------------------------------------------------


def test_4_8_carries_4_7_steps_each_marked_and_says_so_at_the_top() -> None:
    four_eight, four_seven = CATALOGUE.get("4.8"), CATALOGUE.get("4.7")
    assert four_eight is not None and four_seven is not None
    assert [s.id for s in four_eight.steps] == [s.id for s in four_seven.steps]
    for step in four_eight.all_steps():
        assert step.source_note.endswith("extrapolated from 4.7"), step.id
    plan = plan_of("4.8", "4.7.0")
    markdown = render_markdown(plan)
    top = markdown[: markdown.index("## Plan")]
    assert "> **4.8:** No vendor document for the 4.8 in-place upgrade" in top
    assert "extrapolated from 4.7" in top
    assert markdown.count("extrapolated from 4.7") >= len(four_eight.all_steps())


# -- the access token -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "key"),
    [("appliance", "token"), ("appliance", "access_token"), ("bundle", "access-token"),
     ("bundles", "vcf_token")],
)  # fmt: skip
def test_a_token_key_is_refused_like_a_password_with_the_token_hint(where: str, key: str) -> None:
    if where == "appliance":
        text = inventory_text("9.0.1", "4.8.0", extra=f"    {key}: {TOKEN}\n")
    elif where == "bundle":
        text = inventory_text("9.0.1", "4.8.0", extra_bundle=f", {key}: {TOKEN}")
    else:
        text = inventory_text("9.0.1", "4.8.0").replace(
            "  bundles:\n", f"  bundles:\n    {key}: {TOKEN}\n"
        )
    with pytest.raises(InputError) as caught:
        parse_inventory(text, Path("inventory.yaml"))
    message = str(caught.value)
    assert TOKEN not in message
    assert re.search(r"inventory\.yaml:\d+: ", message), message
    assert key in message
    assert "starts with UMA" in message and "upgrade-um.sh's prompt" in message, message


def test_the_token_is_prepared_before_the_window_and_never_in_any_output() -> None:
    plan = plan_of("9.0.1", "4.8.0")
    steps = steps_of(plan)
    token = steps["access-token"]
    assert token.phase == "before" and token.source.id == "KB441358"
    text = words(token.text.plain)
    assert "starts with UMA" in text and "VCF Business Services console" in text
    assert "never goes into the inventory" in text
    assert "token-valid" not in steps
    later = steps_of(plan_of("9.1", "9.0.1"))
    valid = words(later["token-valid"].text.plain)
    assert "carried over" in valid and "expired" in valid and "access-token" not in later
    assert later["token-valid"].source.id == "KB441358"
    # The agent's manifest carries no token and the agent never asks for one.
    for hop in plan_of("9.1", "4.8.0").hops:
        assert not any("token" in key for key, _ in hop.agent.manifest)
        assert "read -r -s" not in hop.agent.text and "UMA" not in dict(hop.agent.manifest).values()


# -- the prompts, SSH, the snapshot, connectivity, verification -------------------------------


def test_the_prompts_of_upgrade_um_sh_in_ibm_order_marked_unverified() -> None:
    first = words(steps_of(plan_of("9.0.1", "4.8.0"))["run-upgrade"].text.plain)
    later = words(steps_of(plan_of("9.1", "9.0.1"))["run-upgrade"].text.plain)
    order = ["access token", "provider organization", "snapshot of the VM was taken",
             "host name", "y to restart"]  # fmt: skip
    places = [first.index(phrase) for phrase in order]
    assert places == sorted(places), first
    assert "starts with UMA" in first
    assert "exact wording is not confirmed" in first and "exact wording is not confirmed" in later
    assert "no access token" in later and "carried over" in later
    assert later.index("provider organization") < later.index("y to restart")


def test_ssh_both_ways_the_snapshot_way_and_connectivity_before_the_window() -> None:
    plan = plan_of("9.0.1", "4.8.0")
    steps = steps_of(plan)
    ssh = words(steps["enable-ssh"].text.plain)
    assert "https://um-ams-01.corp.example:5480/" in ssh and "usagemeter" in ssh
    assert "Access, then Edit, and tick Enable SSH login" in ssh
    assert "root on the VM's console" in ssh and "/dev/cdrom" in ssh
    snap = words(steps["snapshot"].text.plain)
    assert "powered off" in snap and "clear Connected" in snap
    assert '"Connection control operation failed for disk"' in snap and "needs no drive" in snap
    conn = steps["connectivity"]
    assert conn.phase == "before" and conn.source.id == "KB322769"
    assert "HTTPS" in conn.text.plain and "proxy" in conn.text.plain
    ids = list(steps)
    assert ids.index("connectivity") < ids.index("snapshot") < ids.index("enable-ssh")
    assert "proxy" not in steps  # the 4.x OS proxy step is not 9.x's
    verify = words(steps["verify"].text.plain)
    assert "No source mentions status.sh for 9.x" in verify
    web = steps["web-version"]
    assert web.where == "webui" and "VCF Usage Meter 9.0.1" in web.expect.plain
    assert "confirm the health" in web.text.plain
    assert plan.hops[0].procedure.product == "VCF Usage Meter"
    assert ids.index("verify") < ids.index("web-version")


def test_the_sha256_is_required_for_a_9x_iso_and_the_workstation_commands_are_ibms() -> None:
    text = inventory_text("9.1", "9.0.1").replace(f", sha256: {SHA['9.1']}", "")
    with pytest.raises(InputError) as caught:
        plan_fleet(parse_inventory(text, Path("inventory.yaml")), CATALOGUE, NOW)
    assert "upgrade.bundle.sha256" in str(caught.value) and "9.1 ISO" in str(caught.value)
    check = steps_of(plan_of("9.1", "9.0.1"))["check-bundle"]
    lines = [line for block in check.commands for line in block.lines]
    assert lines == [f"certutil -hashfile {ISO['9.1']} SHA256", f"sha256sum {ISO['9.1']}",
                     f"shasum -a 256 {ISO['9.1']}"]  # fmt: skip
    assert SHA["9.1"] in check.expect.plain


def test_the_known_errors_each_with_its_source() -> None:
    markdown = render_markdown(plan_of("9.1", "4.7.0"))
    section = markdown[markdown.index("## Known errors") : markdown.index("## Closing")]
    for needle, label in (
        ("Unable to obtain VCF access token", "Vendor document (KB322769)"),
        ("OutOfMemoryError", "Vendor document (KB399693)"),
        ("access token has expired", "Vendor document (KB441358)"),
        ("host name", "Field report (IBM)"),
        ("Connection control operation failed for disk", "Field report (IBM)"),
    ):
        line = next(ln for ln in section.splitlines() if needle in ln.replace("\\", ""))
        assert f"(**Source:** {label})" in line, line
    references = markdown[markdown.index("## References") :]
    for kb in ("441358", "322769", "399693"):
        assert "knowledge.broadcom.com/external/article" in references and kb in references


# -- the agent on a simulated 9.x appliance ---------------------------------------------------


def nine_rig(root: Path, target: str, version: str, **spec: object) -> Rig:
    """The planner's agent for the first upgrade of `version` -> `target`, on a simulated
    appliance at `version` with the ISO uploaded alone."""
    require_simulator()
    plan = plan_of(target, version)
    hop = plan.hops[0]
    app = SimulatedAppliance.create(
        root,
        ApplianceSpec(
            version=version,
            upload_dir=hop.procedure.upload_folder,
            build=BUILDS[hop.procedure.target],
            **spec,  # type: ignore[arg-type]
        ),
    )  # fmt: skip
    four = "9.0.1.0" if hop.procedure.target == "9.0.1" else "9.1.0.0"
    iso = app.put_iso_bundle({"iso": ISO[hop.procedure.target]}, target_version=four,
                             build=BUILDS[hop.procedure.target])  # fmt: skip
    assert iso.sha256 == SHA[hop.procedure.target]
    app.put_agent(hop.agent.text, where="upload")
    manifest = parse_manifest(hop.agent.text)
    return Rig(app, {k: v for k, v in manifest.items() if k != "self_sha256"}, hop.agent.text, iso)


def test_4_8_to_9_0_1_with_the_token_typed_then_9_0_1_to_9_1_without_it(tmp_path: Path) -> None:
    rig = nine_rig(tmp_path / "a", "9.1", "4.8.0.0-23000000")
    assert rig.manifest["manifest_file"] == "" and rig.manifest["bundle_sha256"] == SHA["9.0.1"]
    preflight = rig.agent("preflight", "--snapshot", "snap-9.0.1")
    assert preflight.code == 0, preflight
    assert "the published value" in preflight.line("PASS", "iso sha256")
    assert "not checked" in preflight.line("INFO", "iso manifest")
    assert "not checked" in preflight.line("INFO", "signature")
    preflight.line("PASS", "services")  # 4.8 still has status.sh: it is checked

    upgrade = rig.agent("upgrade", "--yes")
    assert upgrade.code == 0, upgrade
    out = upgrade.out[upgrade.out.index("Its questions") :]
    prompts = ["the access token of this instance (UMA...)", "provider organization",
               "a snapshot of the VM was taken", "host name", "restart the appliance"]  # fmt: skip
    places = [out.index(p) for p in prompts]
    assert places == sorted(places) and "exact wording is not confirmed" in out, out

    # The operator runs the vendor's script and types the token at its first prompt.
    script = rig.app.run_iso_script(f"{TOKEN}\ny\ny\ny\n")
    assert script.returncode == 0, script.stdout + script.stderr
    assert "Enter the access token" in script.stdout
    assert rig.app.reboot_requested
    verify = rig.agent("verify", "--poll-interval", "1", from_state=True)
    assert verify.code == 0, verify
    assert "9.0.1.0-24500000" in verify.line("PASS", "version")
    assert "no source documents it" in verify.line("INFO", "services")
    assert "VERIFY PASSED" in verify.out
    assert rig.agent("report", from_state=True).code == 0
    evidence = rig.evidence()
    assert evidence["result"] == "upgraded"
    # The token went to the script's prompt only: nowhere in the agent's records or outputs.
    for path in rig.app.root.rglob("*"):
        if path.is_file() and path.name != "upgrade-um.sh":
            assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in preflight.out + upgrade.out + verify.out

    # Next hop, same appliance: 9.0.1 -> 9.1, its own folder, no token asked.
    plan = plan_of("9.1", "4.8.0")
    hop = plan.hops[1]
    rig.app.move_upload_dir(hop.procedure.upload_folder)
    rig.app.put_iso_bundle({"iso": ISO["9.1"]}, target_version="9.1.0.0", build=BUILDS["9.1"])
    rig.app.put_agent(hop.agent.text, where="upload")
    rig.manifest = {k: v for k, v in parse_manifest(hop.agent.text).items() if k != "self_sha256"}
    rig.text = hop.agent.text
    preflight = rig.agent("preflight", "--snapshot", "snap-9.1")
    assert preflight.code == 0, preflight
    assert "9.0.1.0-24500000" in preflight.line("PASS", "version")
    assert "no source documents it" in preflight.line("INFO", "services")
    upgrade = rig.agent("upgrade", "--yes")
    assert upgrade.code == 0 and "no access token" in upgrade.out, upgrade
    assert "UMA..." not in upgrade.out
    script = rig.app.run_iso_script("y\ny\ny\n")
    assert script.returncode == 0, script.stdout + script.stderr
    assert "Enter the access token" not in script.stdout and "carried over" in script.stdout
    verify = rig.agent("verify", "--poll-interval", "1", from_state=True)
    assert verify.code == 0, verify
    assert "9.1.0.0-24900000" in verify.line("PASS", "version")
    tokens = (rig.app.sim_dir / "token.log").read_text().splitlines()
    assert len(tokens) == 1  # asked once, at the first upgrade to 9


def test_a_token_that_is_not_one_stops_the_script_before_anything_changes(tmp_path: Path) -> None:
    rig = nine_rig(tmp_path / "a", "9.0.1", "4.8.0.0-23000000")
    assert rig.agent("upgrade", "--yes", "--snapshot", "s").code == 0
    script = rig.app.run_iso_script("\ny\ny\ny\n")
    assert script.returncode == 1 and "Nothing was changed" in script.stdout
    assert not rig.app.reboot_requested and not (rig.app.sim_dir / "upgraded").exists()


@pytest.mark.parametrize("companions", ["sha1", "sha256"])
def test_the_sha256_check_with_the_mf_crt_and_sign_uploaded(
    companions: str, tmp_path: Path
) -> None:
    need("openssl")
    rig = nine_rig(tmp_path / "a", "9.1", "9.0.1.0-24500000")
    rig.app.put_iso_bundle({"iso": ISO["9.1"]}, target_version="9.1.0.0", build=BUILDS["9.1"],
                           companions=companions)  # type: ignore[arg-type]  # fmt: skip
    preflight = rig.agent("preflight", "--snapshot", "s")
    assert preflight.code == 0, preflight
    mf = ISO["9.1"].removesuffix(".iso") + ".mf"
    algorithm = "SHA-1" if companions == "sha1" else "SHA-256"
    assert f"{mf} agrees with {ISO['9.1']} ({algorithm}" in preflight.line("PASS", "iso manifest")
    assert "Verified OK" in preflight.line("PASS", "signature")
    # A .mf that describes another ISO is refused, as a changed ISO is.
    (rig.app.upload_path / mf).write_text(f"{'0' * 40}  {ISO['9.1']}\n")
    wrong = rig.agent("preflight", "--snapshot", "s")
    assert wrong.code == 1 and "never upgrade with it" in wrong.line("FAIL", "iso manifest")


def test_a_changed_9x_iso_is_an_integrity_failure(tmp_path: Path) -> None:
    rig = nine_rig(tmp_path / "a", "9.1", "9.0.1.0-24500000")
    assert rig.iso is not None
    rig.iso.iso.write_bytes(rig.iso.iso.read_bytes() + b"\0")
    preflight = rig.agent("preflight", "--snapshot", "s")
    assert preflight.code == 4, preflight
    assert "the inventory expects" in preflight.line("FAIL", "iso sha256")
    assert not (rig.app.state_dir / "um-upgrade-agent.sh").exists()


def test_the_agent_checks_what_it_sees_and_fails_nothing_it_cannot_see(tmp_path: Path) -> None:
    # The version hidden and no status.sh: the verify passes, saying what it could not see.
    rig = nine_rig(tmp_path / "a", "9.1", "9.0.1.0-24500000", version_visible=False)
    preflight = rig.agent("preflight", "--snapshot", "s")
    assert preflight.code == 0, preflight
    assert "does not show its version" in preflight.line("WARN", "version")
    preflight.line("INFO", "services")
    assert rig.agent("upgrade", "--yes").code == 0
    assert rig.app.run_iso_script().returncode == 0
    verify = rig.agent("verify", "--poll-interval", "1", from_state=True)
    assert verify.code == 0, verify
    assert "confirm in the web interface" in verify.line("WARN", "version")
    assert "the health shown in the web interface" in verify.line("INFO", "services")
    evidence = json.loads(rig.evidence_path().read_text())
    assert evidence["result"] == "upgraded"

    # Where status.sh is there, it is checked: a service still Offline fails the verify.
    seen = nine_rig(tmp_path / "b", "9.1", "9.0.1.0-24500000", vcf_status_script=True,
                    services_after="offline")  # fmt: skip
    assert seen.agent("preflight", "--snapshot", "s").line("PASS", "services")
    assert seen.agent("upgrade", "--yes").code == 0
    assert seen.app.run_iso_script().returncode == 0
    failed = seen.agent("verify", "--timeout", "2", "--poll-interval", "1",
                        from_state=True)  # fmt: skip
    assert failed.code == 1 and "still not healthy" in failed.line("FAIL", "services"), failed


def test_the_host_name_warning_is_answered_and_the_upgrade_goes_on(tmp_path: Path) -> None:
    rig = nine_rig(tmp_path / "a", "9.1", "9.0.1.0-24500000", hostname_warning=True)
    assert rig.agent("upgrade", "--yes", "--snapshot", "s").code == 0
    script = rig.app.run_iso_script()  # y to each: organization, snapshot, host name, restart
    assert script.returncode == 0 and "WARNING: the Usage Meter hostname" in script.stdout
    stopped = nine_rig(tmp_path / "b", "9.1", "9.0.1.0-24500000", hostname_warning=True)
    assert stopped.agent("upgrade", "--yes", "--snapshot", "s").code == 0
    assert stopped.app.run_iso_script("y\ny\nn\n").returncode == 1
    assert not (stopped.app.sim_dir / "upgraded").exists()


def test_a_hand_written_manifest_without_companions_needs_the_sha256() -> None:
    manifest = iso_manifest_for(
        "", manifest_file="", certificate_file="", signature_file="", target="9.1"
    )
    with pytest.raises(ValueError, match="bundle_sha256: is required for an ISO without"):
        build_agent(manifest)
    build_agent({**manifest, "bundle_sha256": "ab" * 32})


def test_rehearsal_walks_9_0_1_to_9_1_and_ssh_goes_off_in_the_interface(tmp_path: Path) -> None:
    """9.x: SSH is turned on and off in the management interface, the vendor's script is
    answered in IBM's order, and the rehearsal runs the runbook's own commands."""
    import io

    from umrunbook.rehearsal.rehearse import rehearse_plan

    require_simulator()
    need("openssl")
    text = inventory_text("9.1", "9.0.1.0-24500000")
    (plan,) = plan_fleet(parse_inventory(text, Path("inventory.yaml")), load_catalogue(), NOW)
    out = io.StringIO()
    code = rehearse_plan(plan, out)
    walked = out.getvalue()
    assert code == 0, walked
    typed = [
        line
        for step in plan.hops[0].steps
        if step.where in ("ssh", "console")
        for c in step.commands
        if c.shell == "sh"
        for line in c.lines
    ]
    ran = [line[2:] for line in walked.splitlines() if line.startswith("$ ")]
    sha = re.compile(r"[0-9a-f]{64}")
    assert [sha.sub("SHA", line) for line in ran] == [sha.sub("SHA", line) for line in typed]
    assert "(simulated: SSH login enabled in the interface)" in walked
    assert "(simulated: SSH login disabled in the interface)" in walked
    assert "VERIFY PASSED" in walked
    assert walked.rstrip().endswith("went through every step as the runbook lists it.")
