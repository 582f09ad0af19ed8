"""The command line as a user runs it: a child process, exit codes, stderr, files on disk."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import textwrap
from pathlib import Path

from tests.conftest import umrunbook
from tests.helpers import inventory_text, tree


def test_version_and_module_entry_point() -> None:
    result = umrunbook(["--version"])
    assert result.returncode == 0
    assert re.fullmatch(
        r"umrunbook 0\.1\.0 \(Typst [0-9.]+, markdown-it-py [0-9.]+, Jinja2 [0-9.]+\)\n",
        result.stdout,
    ), result.stdout


def test_help_lists_the_commands() -> None:
    result = umrunbook(["--help"])
    assert result.returncode == 0
    for command in ("init", "check", "paths", "render"):
        assert command in result.stdout


def test_init_then_check_accepts_it_and_init_never_overwrites(tmp_path: Path) -> None:
    result = umrunbook(["init"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "inventory.yaml").read_text()
    assert "REPLACE" in written
    check = umrunbook(["check", "inventory.yaml"], cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "valid" in check.stdout and "um-fra-01" in check.stdout

    (tmp_path / "inventory.yaml").write_text("mine\n")
    again = umrunbook(["init"], cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert (tmp_path / "inventory.yaml").read_text() == "mine\n"
    forced = umrunbook(["init", "--force"], cwd=tmp_path)
    assert forced.returncode == 0 and (tmp_path / "inventory.yaml").read_text() == written


def test_check_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    inventory = tmp_path / "bad.yaml"
    inventory.write_text(
        textwrap.dedent("""\
        change:
          ticket: CHG1
          window: {start: 2026-12-05T22:00:00+01:00, end: 2026-12-05T21:00:00+01:00}
          implementer: J
        upgrade:
          target: "4.3"
          bundle: {sha256: 1234}
        appliances:
          - {name: um1, host: 192.0.2.300, version: 4.2, password: x}
        """)
    )
    result = umrunbook(["check", str(inventory)])
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if not line.startswith("  hint:")]
    assert lines == [
        f"{inventory}:3: change.window.end: the window ends (2026-12-05T21:00:00+01:00) before "
        "it starts (2026-12-05T22:00:00+01:00)",
        f"{inventory}:7: upgrade.bundle.sha256: '1234' is not a SHA-256 checksum (4 characters)",
        f"{inventory}:9: appliances[0].password: unknown key 'password'",
        f"{inventory}:9: appliances[0].host: '192.0.2.300' is not a valid IP address",
        "4 problems found; nothing was written.",
    ]
    assert result.stderr.count("  hint: ") == 4
    assert "Traceback" not in result.stderr


def test_check_unsupported_version_names_the_supported_paths(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        textwrap.dedent(f"""\
        change: {{ticket: C1, implementer: J, window: {{start: 2026-12-05T22:00:00Z,
                  end: 2026-12-06T02:00:00Z}}}}
        upgrade: {{target: "4.3", bundle: {{sha256: {"a" * 64}}}}}
        appliances:
          - name: um-old
            host: um-old.corp.example
            version: 4.0.1
        """)
    )
    result = umrunbook(["check", str(inventory)])
    assert result.returncode == 2
    assert (
        f"{inventory}:7: version: um-old: 4.0.1 has no in-place path to 4.3\n"
        "  hint: supported: 4.1.x → 4.2; 4.1.x, 4.2.x → 4.3"
    ) in result.stderr


def test_missing_inventory_and_bad_usage() -> None:
    result = umrunbook(["check", "/nonexistent/inventory.yaml"])
    assert result.returncode == 2
    assert result.stderr.startswith("/nonexistent/inventory.yaml: inventory: no such file")
    usage = umrunbook(["render", "--paper", "a3"])
    assert usage.returncode == 2 and "--paper 'a3': choose a4 or letter" in usage.stderr
    fmt = umrunbook(["render", "--format", "md,docx"])
    assert fmt.returncode == 2 and "choose among md, html, pdf" in fmt.stderr
    txt = umrunbook(["render", "--format", "txt", "--out", "/nonexistent/never-written"])
    assert txt.returncode == 2 and "choose among md, html, pdf" in txt.stderr
    unknown = umrunbook(["frobnicate"])
    assert unknown.returncode == 2


def test_unreadable_inventory(example_inventory_file: Path) -> None:
    """Root reads anything; without the capabilities that override file modes, it cannot."""
    import sys

    example_inventory_file.chmod(0)
    command = [sys.executable, "-m", "umrunbook", "check", str(example_inventory_file)]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        f"{example_inventory_file}: inventory: cannot be read: Permission denied"
    )


def test_paths_lists_the_catalogue_and_its_routes() -> None:
    result = umrunbook(["paths"])
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[:7] == [
        "In-place upgrades (source versions -> target, bundle):",
        "  4.1.x          -> 4.2   ums-system-upgrade.shar (no reboot)",
        "  4.1.x, 4.2.x   -> 4.3   ums-system-upgrade.shar (reboot)",
        "  4.x            -> 4.4   Usage_Meter_Agent-4.4.0.0-{build}_Upgrade.iso"
        " (reboot: field reports, not the vendor's pages)",
        "  4.x            -> 4.5   Usage_Meter_Agent-4.5.0.0-{build}_Upgrade.iso"
        " (reboot: field reports, not the vendor's pages)",
        "  >=4.3          -> 4.6   Usage_Meter_Agent-4.6.0.0-{build}_Upgrade.iso"
        " (reboot: field reports, not the vendor's pages)",
        "  >=4.3          -> 4.7   Usage_Meter_Agent-4.7.0.0-{build}_Upgrade.iso"
        " (reboot: field reports, not the vendor's pages)",
    ]
    assert "  4.2 -> 4.3 -> 4.7" in lines
    assert lines[-1].startswith("From 3.x there is no in-place upgrade")


def test_render_without_inventory_writes_the_example_fleet(tmp_path: Path) -> None:
    result = umrunbook(["render", "--format", "md"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "dist" / "runbooks"
    files = tree(out)
    for name in ("um-ams-01", "um-ams-02", "um-fra-01"):
        assert f"{name}/runbook.md" in files
        assert f"{name}/agent/um-upgrade-agent.sh" in files
    assert (
        (out / "fleet.csv")
        .read_text()
        .splitlines()[1]
        .startswith("um-ams-01,um-ams-01.corp.example,4.2.0,4.3,4.2.0 → 4.3,planned,")
    )
    sums = subprocess.run(
        ["sha256sum", "-c", "--quiet", "SHA256SUMS"],
        cwd=out,
        capture_output=True,
        text=True,
        check=False,
    )
    assert sums.returncode == 0, sums.stdout + sums.stderr
    listed = {line.split("  ", 1)[1] for line in (out / "SHA256SUMS").read_text().splitlines()}
    assert listed == set(files) - {"SHA256SUMS"}
    assert (out / "um-ams-01/agent/um-upgrade-agent.sh").stat().st_mode & 0o111


def test_a_failed_render_leaves_the_earlier_output_untouched(
    tmp_path: Path, example_inventory_file: Path
) -> None:
    out = tmp_path / "pkg"
    assert (
        umrunbook(
            ["render", str(example_inventory_file), "--format", "md", "--out", str(out)]
        ).returncode
        == 0
    )
    before = tree(out)
    text = inventory_text(appliances={"um-ams-02": {"version": "4.0.0"}})
    broken = tmp_path / "broken.yaml"
    broken.write_text(text)
    result = umrunbook(["render", str(broken), "--format", "md", "--out", str(out)])
    assert result.returncode == 2
    assert "um-ams-02: 4.0.0 has no in-place path" in result.stderr
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.yaml", "inventory.yaml", "pkg"]


def test_render_refuses_to_replace_a_folder_that_is_not_a_package(tmp_path: Path) -> None:
    out = tmp_path / "documents"
    out.mkdir()
    (out / "thesis.txt").write_text("precious")
    result = umrunbook(["render", "--format", "md", "--out", str(out)])
    assert result.returncode == 1
    assert "is not a change package written by umrunbook" in result.stderr
    assert tree(out) == {"thesis.txt": hashlib.sha256(b"precious").hexdigest()}


def test_render_only_and_unknown_only(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    result = umrunbook(["render", "--format", "md", "--only", "um-fra-01", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["um-fra-01"]
    bad = umrunbook(["render", "--format", "md", "--only", "um-nope", "--out", str(out)])
    assert bad.returncode == 2 and "no appliance named um-nope" in bad.stderr


def test_inventory_text_is_data_everywhere(tmp_path: Path, example_inventory_file: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = f"{{{{ 7*7 }}}} $(touch {marker}) `touch {marker}` <script>alert(1)</script>"
    text = inventory_text(
        appliances={"um-ams-01": {"notes": f"'{hostile}'", "snapshot": f"'{hostile}'"}}
    )
    example_inventory_file.write_text(text)
    out = tmp_path / "pkg"
    result = umrunbook(["render", str(example_inventory_file), "--format", "md", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    runbook = (out / "um-ams-01/runbook.md").read_text()
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark", {"html": False}).render(runbook)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "{{ 7*7 }}" in html
    agent = (out / "um-ams-01/agent/um-upgrade-agent.sh").read_text()
    assert f"#@ snapshot={hostile}\n" in agent
    assert not marker.exists()


def test_rehearse_walks_the_runbook_on_a_simulated_appliance() -> None:
    from tests.conftest import need, need_root

    need_root()
    need("unshare")
    result = umrunbook(["rehearse", "um-fra-01"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "REHEARSAL PASSED: um-fra-01" in result.stdout
    for command in ("preflight", "upgrade", "verify", "report", "finish"):  # the runbook's
        assert f"um-upgrade-agent.sh {command}\n" in result.stdout
    unknown = umrunbook(["rehearse", "um-nope"])
    assert unknown.returncode == 2 and "no appliance named um-nope" in unknown.stderr


def test_a_narrow_console_encoding_gets_utf8_not_a_crash(example_inventory_file: Path) -> None:
    """As on Windows with output redirected: the ANSI code page has no arrow."""
    result = umrunbook(["ticket", str(example_inventory_file)], env={"PYTHONIOENCODING": "cp1252"})
    assert result.returncode == 0, result.stderr
    assert "4.2.0 → 4.3" in result.stdout


def test_every_options_help_shows_whole_in_its_commands_help() -> None:
    """Help text goes through Rich's markup: a bracketed "[default: ...]" was taken for a tag
    and dropped without a word."""
    import typer.main

    from umrunbook.cli import app

    group = typer.main.get_command(app)
    commands = getattr(group, "commands", {})
    assert commands
    for name, command in commands.items():
        shown = umrunbook([name, "--help"], env={"COLUMNS": "100"})
        assert shown.returncode == 0, shown.stderr
        flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", shown.stdout).split())
        for param in command.params:
            text = " ".join((getattr(param, "help", None) or "").split())
            assert text in flat, (name, param.name, text)
