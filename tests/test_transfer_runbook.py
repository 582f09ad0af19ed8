"""The runbook's transfer detail: this appliance's values, WinSCP steps, checksums both sides.

The detail stands where it is used: a missing host key with the prerequisites, the
workstation's check at its step, the upload's ways at the upload step."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from markdown_it import MarkdownIt

from tests.helpers import (
    NOW,
    example_plan,
    route_inventory_text,
    step_heading,
    with_appliance,
)
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.faces.markdown import render_markdown
from umrunbook.inventory.example import example_text
from umrunbook.inventory.load import parse_inventory
from umrunbook.planning.bind import plan_fleet
from umrunbook.planning.plan import Plan


def section(plan: Plan, first: str = "", last: str = "check-upload") -> str:
    """From the prerequisites (or the step `first`) up to the step `last`."""
    text = render_markdown(plan)
    start = text.index(f"### {step_heading(plan, first)}\n" if first else "## Prerequisites\n")
    return text[start : text.index(f"### {step_heading(plan, last)}\n", start)]


def bound_with_local_path(path: str) -> Plan:
    """The example's first plan with the bundle's local path set in the inventory, so that
    every line naming it is bound (and quoted) from there."""
    yaml_path = "'" + path.replace("'", "''") + "'"
    text = example_text().replace("'C:\\Upgrades\\ums-system-upgrade.shar'", yaml_path, 1)
    inventory = parse_inventory(text, Path("inventory.yaml"))
    return plan_fleet(inventory, load_catalogue(), NOW)[0]


def fences(markdown: str) -> list[tuple[str, list[str]]]:
    tokens = MarkdownIt("commonmark").parse(markdown)
    return [(t.info, t.content.rstrip("\n").split("\n")) for t in tokens if t.type == "fence"]


def test_the_appliance_values_and_the_winscp_steps() -> None:
    plan = example_plan(2)  # um-fra-01: 192.0.2.41, port 2222
    text = section(plan)
    key = plan.appliance.ssh_host_key
    assert key is not None
    assert "**Protocol:** SFTP, binary transfer mode" in text
    assert "`192.0.2.41`, port 2222, user `root`" in text
    assert "**Port number** 2222" in text
    assert "`/opt/vmware/cloudusagemetering`" in text
    assert f"`{key.sha256}`" in text
    assert f"must read\n   exactly `{key.winscp}`" in text
    assert "**Transfer mode: Binary**" in text
    assert "Leave **Password** empty" in text


def test_checksums_on_windows_before_and_on_the_appliance_after() -> None:
    """Each once: the workstation's at its step, the appliance's at the step after the
    upload; the upload's detail repeats neither."""
    plan = example_plan()
    hop = plan.hops[0]
    bundle = hop.bundle[0]
    before = fences(section(plan, "check-bundle", "snapshot"))
    assert (
        "powershell",
        ["Get-FileHash -Algorithm SHA256 -LiteralPath C:\\Upgrades\\ums-system-upgrade.shar"],
    ) in before
    assert ("sh", ["sha256sum ums-system-upgrade.shar"]) in before
    after = fences(section(plan, "check-upload", "preflight"))
    assert after == [
        (
            "sh",
            [
                "cd /opt/vmware/cloudusagemetering",
                f"echo '{hop.agent.sha256}  {hop.agent.name}' | sha256sum -c -",
                f"echo '{bundle.sha256}  {bundle.name}' | sha256sum -c -",
            ],
        )
    ]
    upload = section(plan, "upload")
    assert "sha256sum" not in upload and "Get-FileHash" not in upload


def test_the_generated_scripts_are_named_with_their_command_lines() -> None:
    blocks = fences(section(example_plan()))
    assert ("cmd", ['winscp-upload.cmd "C:\\Upgrades\\ums-system-upgrade.shar"']) in blocks
    assert ("sh", ["sh um-ams-01/transfer/upload.sh ums-system-upgrade.shar"]) in blocks


def test_a_hostile_local_path_stays_one_quoted_argument() -> None:
    path = "C:\\It's `new` *here* $(x)\\ums.shar"
    blocks = fences(section(bound_with_local_path(path)))
    assert (
        "powershell",
        ["Get-FileHash -Algorithm SHA256 -LiteralPath 'C:\\It''s `new` *here* $(x)\\ums.shar'"],
    ) in blocks
    assert ("cmd", [f'winscp-upload.cmd "{path}"']) in blocks


def test_powershell_typographic_quotes_are_doubled_too() -> None:
    """PowerShell ends a single-quoted string at a typographic quote as well (U+2018 to U+201B):
    each is doubled like the straight one."""
    path = "C:\\x\u2018y\u2019z\\ums.shar"
    plan = bound_with_local_path(path)
    (_, [command]) = next(b for b in fences(section(plan)) if b[0] == "powershell")
    assert command.endswith("'C:\\x\u2018\u2018y\u2019\u2019z\\ums.shar'")


def test_without_a_host_key_the_console_step_for_each_key_type() -> None:
    plan = with_appliance(example_plan(), ssh_host_key=None)
    text = section(plan)
    assert "### Before the window: read the host key on the console" in text
    assert "Host key to expect" not in text
    assert "the generated scripts refuse to run" in text
    (info, lines) = next(b for b in fences(text) if "ssh-keygen" in b[1][0])
    assert info == "sh"
    assert lines[:3] == [
        f"ssh-keygen -l -E sha256 -f /etc/ssh/ssh_host_{kind}_key.pub"
        for kind in ("ed25519", "ecdsa", "rsa")
    ]
    assert "winscp-upload.cmd" in text and "refuse to run" in text
    assert not any(b[1][0].startswith("winscp-upload.cmd ") for b in fences(text))


def test_scp_protocol_is_named_in_the_steps() -> None:
    plan = example_plan()
    plan = dataclasses.replace(plan, transfer=dataclasses.replace(plan.transfer, protocol="scp"))
    text = section(plan)
    assert "**Protocol:** SCP, binary transfer mode" in text
    assert "**File protocol** SCP" in text


def route_plan(tmp_path: Path) -> Plan:
    path = tmp_path / "inventory.yaml"
    path.write_text(route_inventory_text(), encoding="utf-8")
    (plan,) = plan_fleet(
        parse_inventory(path.read_text(encoding="utf-8"), path), load_catalogue(), NOW
    )
    return plan


def backouts(plan: Plan) -> list[str]:
    """Each upgrade's backout plan (a route has one per hop)."""
    text = render_markdown(plan)
    starts = [m.start() for m in re.finditer(r"^## (?:[\d.]+: )?Backout plan$", text, re.M)]
    return [text[start : text.index("\n## ", start + 1)] for start in starts]


def test_the_backout_collects_the_evidence_before_the_revert(tmp_path: Path) -> None:
    """The revert deletes the agent's records and the upgrade logs: the backout's first steps
    write the evidence and copy it back with the fetch, before any revert."""
    plans = (example_plan(), route_plan(tmp_path))
    sections = [text for plan in plans for text in backouts(plan)]
    assert len(sections) == 3
    for text in sections:
        headings = re.findall(r"^### Backout B\d+: (.*)$", text, flags=re.MULTILINE)
        first_revert = next(i for i, h in enumerate(headings) if "Revert" in h)
        assert headings[:2] == [
            "Write the agent's evidence before the revert",
            "Copy the evidence and the upgrade logs to the workstation",
        ], headings
        assert first_revert == 2
        assert "bash /var/lib/um-upgrade-agent/um-upgrade-agent.sh report" in text
        collect = text[: text.index("### Backout B3")]
        for name in ("winscp-fetch-evidence.cmd", "fetch-evidence.sh", "FETCHED"):
            assert name in collect


def test_the_transfer_guide_names_the_fetch_for_the_backout_and_the_ticket() -> None:
    plan = example_plan(2)
    # At the step that uses it: the evidence step, whose own command writes the evidence.
    step = section(plan, "evidence", "stop-ssh")
    guide = step[step.index("#### Copy the evidence back to the workstation") :]
    assert "Before a backout reverts the snapshot" in guide
    assert "after a good night for the\nticket" in guide
    assert ("sh", ["bash /var/lib/um-upgrade-agent/um-upgrade-agent.sh report"]) in fences(step)
    blocks = fences(guide)
    assert not [b for b in blocks if "report" in b[1][0]]  # not repeated
    assert ("cmd", ["winscp-fetch-evidence.cmd"]) in blocks
    assert ("sh", ["sh um-fra-01/transfer/fetch-evidence.sh"]) in blocks
    # After a good night, the evidence step offers the same fetch for the ticket.
    whole = render_markdown(plan)
    evidence = whole[whole.index("Collect the evidence") :]
    assert "winscp-fetch-evidence.cmd" in evidence[:1500]


def test_the_gui_step_accepts_the_padded_fingerprint_of_winscp_before_5_20() -> None:
    plan = example_plan(2)
    key = plan.appliance.ssh_host_key
    assert key is not None
    text = section(plan)
    step = text[text.index("WinSCP shows the server's host key") :]
    step = step[: step.index("\n4. ")]
    assert "If it differs in any character, choose **Cancel**" in step
    assert "WinSCP before 5.20 shows the same fingerprint with a\n   trailing `=`" in step
    assert f"`{key.winscp}=` is the\n   same key" in step
