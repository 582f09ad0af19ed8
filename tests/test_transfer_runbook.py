"""The runbook's transfer section: this appliance's values, WinSCP steps, checksums both sides."""

from __future__ import annotations

import dataclasses

from markdown_it import MarkdownIt

from tests.helpers import example_plan, with_appliance, with_local_path
from umrunbook.faces.markdown import render_markdown
from umrunbook.planning.plan import Plan


def section(plan: Plan) -> str:
    text = render_markdown(plan)
    start = text.index("## Transfer\n")
    return text[start : text.index("\n## ", start + 1)]


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
    plan = example_plan()
    blocks = fences(section(plan))
    hop = plan.hops[0]
    bundle = hop.bundle[0]
    assert (
        "powershell",
        ["Get-FileHash -Algorithm SHA256 -LiteralPath 'C:\\Upgrades\\ums-system-upgrade.shar'"],
    ) in blocks
    assert ("cmd", ['certutil -hashfile "C:\\Upgrades\\ums-system-upgrade.shar" SHA256']) in blocks
    assert (
        "sh",
        [
            "cd /opt/vmware/cloudusagemetering",
            "sha256sum ums-system-upgrade.shar um-upgrade-agent.sh",
        ],
    ) in blocks
    expected = [
        f"{bundle.sha256}  {bundle.name}",
        f"{hop.agent.sha256}  {hop.agent.name}",
    ]
    assert ("text", expected) in blocks


def test_the_generated_scripts_are_named_with_their_command_lines() -> None:
    blocks = fences(section(example_plan()))
    assert ("cmd", ['winscp-upload.cmd "C:\\Upgrades\\ums-system-upgrade.shar"']) in blocks
    assert ("sh", ["sh um-ams-01/transfer/upload.sh ums-system-upgrade.shar"]) in blocks


def test_a_hostile_local_path_stays_one_quoted_argument() -> None:
    path = "C:\\It's `new` *here* $(x)\\ums.shar"
    blocks = fences(section(with_local_path(example_plan(), path)))
    assert (
        "powershell",
        ["Get-FileHash -Algorithm SHA256 -LiteralPath 'C:\\It''s `new` *here* $(x)\\ums.shar'"],
    ) in blocks
    assert ("cmd", [f'certutil -hashfile "{path}" SHA256']) in blocks


def test_powershell_typographic_quotes_are_doubled_too() -> None:
    """PowerShell ends a single-quoted string at a typographic quote as well (U+2018 to U+201B):
    each is doubled like the straight one."""
    path = "C:\\x\u2018y\u2019z\\ums.shar"
    plan = with_local_path(example_plan(), path)
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
