"""The transfer files as files: which ones, their line ends, their quoting, and the WinSCP script
and .cmd wrapper checked against WinSCP's documented syntax (WinSCP cannot run here).

WinSCP references (winscp.net/eng/docs): scripting (commands syntax: a parameter with spaces in
double quotes, a literal '"' doubled; %N% script parameters; %NAME% environment variables;
exit code 1 when a command fails), scriptcommand_open (-hostkey="<fingerprint>", SHA-256 form
"ssh-ed25519 255 <base64>", session URL <protocol>://<user>@<host>:<port>/), scriptcommand_option
(batch off|on|abort|continue: in batch mode an input prompt is cancelled after a short time;
confirm off; failonnomatch on), scriptcommand_put (-transfer=binary, -resumesupport=on: transfer
to a temporary file name), scriptcommand_ls, scriptcommand_mv, scriptcommand_exit, commandline
(/ini=nul, /log=, /script=, /parameter // ...).
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, need, umrunbook
from tests.helpers import example_plan, with_appliance, with_local_path
from tests.helpers.winscp import WINSCP_SWITCHES, assert_documented, winscp_commands
from umrunbook.faces.transfer import (
    VALUES_END,
    VALUES_START,
    Quoted,
    cmd_value,
    known_hosts_host,
    sftp_quote,
    sh_quote,
    transfer_files,
    uploads,
    windows_path,
    winscp_quote,
    winscp_session_url,
    with_values,
)
from umrunbook.planning.plan import Plan


def text(files: dict[str, bytes], name: str) -> str:
    return files[name].decode("utf-8")


# -- which files, and how they are written ---------------------------------------------------


def test_files_with_a_host_key() -> None:
    files = transfer_files(example_plan())
    assert sorted(files) == [
        "um-ams-01/transfer/fetch-evidence.sh",
        "um-ams-01/transfer/known_hosts",
        "um-ams-01/transfer/sftp-fetch-evidence.batch",
        "um-ams-01/transfer/sftp-upload.batch",
        "um-ams-01/transfer/upload.sh",
        "um-ams-01/transfer/winscp-fetch-evidence.cmd",
        "um-ams-01/transfer/winscp-fetch-evidence.txt",
        "um-ams-01/transfer/winscp-upload.cmd",
        "um-ams-01/transfer/winscp-upload.txt",
    ]


def test_without_a_host_key_only_the_refusing_scripts(tmp_path: Path) -> None:
    files = transfer_files(with_appliance(example_plan(), ssh_host_key=None))
    assert sorted(files) == [
        "um-ams-01/transfer/fetch-evidence.sh",
        "um-ams-01/transfer/upload.sh",
        "um-ams-01/transfer/winscp-fetch-evidence.cmd",
        "um-ams-01/transfer/winscp-upload.cmd",
    ]
    cmd = text(files, "um-ams-01/transfer/winscp-upload.cmd")
    assert "REFUSED: the inventory has no SSH host key" in cmd
    assert "ssh-keygen -l -E sha256 -f" in cmd
    assert 'set "UM_HOSTKEY="' in cmd
    code = [line for line in cmd.split("\r\n") if line and not line.startswith("rem")]
    first_branch = next(line for line in code if "goto" in line)
    assert first_branch == 'if "%UM_HOSTKEY%"=="" goto no_host_key'  # before WinSCP is sought
    upload = text(files, "um-ams-01/transfer/upload.sh")
    assert "host_key_fingerprint=''" in upload
    # Run, it refuses before any connection: an sftp on the PATH is never started.
    script = tmp_path / "upload.sh"
    script.write_text(upload, encoding="utf-8")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "sftp").write_text(f"#!/bin/sh\ntouch {tmp_path}/sftp-ran\n", encoding="utf-8")
    (fake / "sftp").chmod(0o755)
    bundle = tmp_path / "ums-system-upgrade.shar"
    bundle.write_bytes(b"bundle")
    result = subprocess.run(
        ["sh", str(script), str(bundle)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"},
        check=False,
    )
    assert result.returncode == 1
    assert "REFUSED: the inventory has no SSH host key" in result.stderr
    assert not (tmp_path / "sftp-ran").exists()


def test_windows_files_have_crlf_and_the_others_lf() -> None:
    files = transfer_files(example_plan())
    for name, data in files.items():
        if name.endswith((".cmd", ".txt")):
            assert b"\r\n" in data
            assert data.count(b"\n") == data.count(b"\r\n"), name
            assert data.endswith(b"\r\n")
        else:
            assert b"\r" not in data, name
            assert data.endswith(b"\n")
        data.decode("ascii")  # the example's values are ASCII; nothing else crept in


def test_known_hosts_form_depends_on_the_port() -> None:
    assert known_hosts_host("um.corp.example", 22) == "um.corp.example"
    assert known_hosts_host("192.0.2.41", 2222) == "[192.0.2.41]:2222"
    fra = transfer_files(example_plan(2))  # um-fra-01: 192.0.2.41, port 2222
    line = text(fra, "um-fra-01/transfer/known_hosts")
    assert line.startswith("[192.0.2.41]:2222 ssh-ed25519 AAAA")
    assert line.count("\n") == 1


def test_session_url_brackets_an_ipv6_address_and_never_holds_a_password() -> None:
    assert winscp_session_url("sftp", "2001:db8::5", 22) == "sftp://root@[2001:db8::5]:22/"
    assert winscp_session_url("scp", "um.corp.example", 2222) == "scp://root@um.corp.example:2222/"


def test_each_upgrade_of_a_route_gets_its_own_transfer_folder() -> None:
    plan = example_plan()
    hop = plan.hops[0]
    route = (
        dataclasses.replace(hop, folder="hop-1-4.3/"),
        dataclasses.replace(hop, folder="hop-2-4.3/"),
    )
    plan = dataclasses.replace(plan, hops=route)
    assert [u.folder for u in uploads(plan)] == [
        "um-ams-01/hop-1-4.3/transfer",
        "um-ams-01/hop-2-4.3/transfer",
    ]
    assert [u.agent_relpath for u in uploads(plan)] == ["../agent/um-upgrade-agent.sh"] * 2
    assert "um-ams-01/hop-2-4.3/transfer/upload.sh" in transfer_files(plan)


def test_a_bundle_without_a_sha256_gets_no_scripts() -> None:
    plan = example_plan()
    hop = plan.hops[0]
    bundle = (dataclasses.replace(hop.bundle[0], sha256=""),)
    plan = dataclasses.replace(plan, hops=(dataclasses.replace(hop, bundle=bundle),))
    assert transfer_files(plan) == {}


# -- quoting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["plain", "it's", "a b", "$(id)", "`id`", "back\\slash", "'", "", "*?[x]", "-n"]
)
def test_sh_quote_is_one_literal_word(value: str) -> None:
    need("dash")
    result = subprocess.run(
        ["dash", "-c", f"printf '%s' {sh_quote(value)}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == value


def test_sftp_quote_refuses_what_sftp_would_glob_or_unquote() -> None:
    assert sftp_quote("/opt/vmware/cloudusagemetering") == '"/opt/vmware/cloudusagemetering"'
    for bad in ['a"b', "a*b", "a?b", "a[b]", "a\\b", "a\nb", "a$b"]:
        with pytest.raises(ValueError):
            sftp_quote(bad)


def test_winscp_quote_doubles_quotes_and_refuses_percent() -> None:
    assert winscp_quote('say "hi"') == '"say ""hi"""'
    with pytest.raises(ValueError):
        winscp_quote("%TEMP%")


def test_cmd_value_doubles_percent_and_refuses_quotes_and_non_ascii() -> None:
    assert cmd_value("C:\\Up & (grades)\\50%\\x") == "C:\\Up & (grades)\\50%%\\x"
    for bad in ['a"b', "a\nb", "C:\\Übergabe\\x.shar"]:
        with pytest.raises(ValueError):
            cmd_value(bad)


def test_windows_path_default_only_when_it_can_be_written_safely() -> None:
    assert windows_path("C:\\Upgrades\\ums.shar") == "C:\\Upgrades\\ums.shar"
    assert windows_path("D:\\It's (new) & old\\ums.shar") == "D:\\It's (new) & old\\ums.shar"
    for bad in ["C:\\50%\\x", 'C:\\a"b', "C:\\a|b", "C:\\Übergabe\\x", ""]:
        assert windows_path(bad) is None


def test_a_value_that_skips_the_quoting_filters_is_an_error() -> None:
    from umrunbook.faces.transfer import _environment

    template = _environment().from_string("x={{ value }}")
    with pytest.raises(TypeError, match="unquoted"):
        template.render(value="$(reboot)")
    assert template.render(value=Quoted("'ok'")) == "x='ok'"


def test_hostile_local_paths_in_the_cmd() -> None:
    plan = with_local_path(example_plan(), "D:\\It's (new) & old\\ums.shar")
    cmd = text(transfer_files(plan), "um-ams-01/transfer/winscp-upload.cmd")
    assert 'set "UM_DEFAULT=D:\\It\'s (new) & old\\ums.shar"\r\n' in cmd
    percent = with_local_path(example_plan(), "C:\\100%USERNAME%\\ums.shar")
    cmd = text(transfer_files(percent), "um-ams-01/transfer/winscp-upload.cmd")
    assert 'set "UM_DEFAULT="\r\n' in cmd  # no default: the operator names the bundle
    assert "USERNAME" not in cmd


def test_upload_sh_passes_shellcheck_and_dash(tmp_path: Path) -> None:
    need("shellcheck", "dash")
    scp = dataclasses.replace(
        example_plan(), transfer=dataclasses.replace(example_plan().transfer, protocol="scp")
    )
    plans = [example_plan(), with_appliance(example_plan(), ssh_host_key=None), scp]
    for index, plan in enumerate(plans):
        script = tmp_path / f"upload-{index}.sh"
        script.write_bytes(transfer_files(plan)["um-ams-01/transfer/upload.sh"])
        check = subprocess.run(
            ["shellcheck", "-s", "sh", "-S", "style", str(script)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stdout
        parse = subprocess.run(["dash", "-n", str(script)], capture_output=True, check=False)
        assert parse.returncode == 0, parse.stderr


def test_upload_sh_keeps_the_password_prompt_possible_and_the_host_key_strict() -> None:
    script = text(transfer_files(example_plan()), "um-ams-01/transfer/upload.sh")
    command = script[script.index("sftp -o BatchMode=no") :].split("\n\n", 1)[0]
    # sftp -b adds "-oBatchMode yes" to ssh; ssh keeps the first value it is given.
    assert command.index("BatchMode=no") < command.index("-b ")
    assert "StrictHostKeyChecking=yes" in command
    assert "GlobalKnownHostsFile=/dev/null" in command
    assert "HostKeyAlgorithms=" in command
    batch = text(transfer_files(example_plan()), "um-ams-01/transfer/sftp-upload.batch")
    commands = [line for line in batch.splitlines() if not line.startswith("#")]
    assert not any(line.startswith("-") for line in commands)  # no error is ever ignored
    assert commands[0] == 'cd "/opt/vmware/cloudusagemetering"'
    assert [c.split()[0] for c in commands] == ["cd", "put", "put", "rename", "rename", "ls", "ls"]


# -- the WinSCP script against WinSCP's documented syntax ----------------------------------


def real_fingerprint(key_line: str, tmp_path: Path) -> str:
    """The key's SHA-256 (base64, unpadded) as ssh-keygen prints it: the reference for WinSCP's
    form. (ssh-keygen says 256 bits for ed25519 where WinSCP, as documented, says 255.)"""
    need("ssh-keygen")
    path = tmp_path / "key.pub"
    path.write_text(key_line + "\n")
    result = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()[1].removeprefix("SHA256:")


@pytest.mark.parametrize("protocol", ["sftp", "scp"])
def test_winscp_script_follows_the_documented_syntax(protocol: str, tmp_path: Path) -> None:
    plan = example_plan(2)  # um-fra-01: an IP address and port 2222
    plan = dataclasses.replace(plan, transfer=dataclasses.replace(plan.transfer, protocol=protocol))
    script = text(transfer_files(plan), "um-fra-01/transfer/winscp-upload.txt")
    commands = winscp_commands(script)
    assert_documented(commands, WINSCP_SWITCHES)

    names = [c[0] for c in commands]
    assert names[-1] == "exit"
    # Batch mode is off while the session opens (a password prompt would be cancelled after a
    # few seconds in batch mode), and abort-on-error right after.
    opening = names.index("open")
    assert commands[opening - 2] == ["option", "batch", "off"]
    assert commands[opening + 1] == ["option", "batch", "abort"]
    assert ["option", "confirm", "off"] in commands
    assert ["option", "failonnomatch", "on"] in commands

    _, url, hostkey = commands[opening]
    assert url == f"{protocol}://root@192.0.2.41:2222/"  # no password in it
    key = plan.appliance.ssh_host_key
    assert key is not None
    assert hostkey == f"-hostkey={key.winscp}"
    assert hostkey == f"-hostkey=ssh-ed25519 255 {real_fingerprint(key.line, tmp_path)}"
    assert re.fullmatch(r"-hostkey=ssh-ed25519 255 [A-Za-z0-9+/]{43}", hostkey)

    remote = "/opt/vmware/cloudusagemetering"
    assert ["cd", remote] in commands
    puts = [c for c in commands if c[0] == "put"]
    assert [p[-2] for p in puts] == ["%1%", "%2%"]
    for put in puts:
        assert "-transfer=binary" in put
    if protocol == "sftp":
        assert all("-resumesupport=on" in p for p in puts)
        assert [p[-1] for p in puts] == [
            f"{remote}/ums-system-upgrade.shar",
            f"{remote}/um-upgrade-agent.sh",
        ]
    else:
        assert [p[-1] for p in puts] == [
            f"{remote}/ums-system-upgrade.shar.part",
            f"{remote}/um-upgrade-agent.sh.part",
        ]
        moves = [c[1:] for c in commands if c[0] == "mv"]
        assert moves == [[p[-1], p[-1].removesuffix(".part")] for p in puts]
    listed = [c[1] for c in commands if c[0] == "ls"]
    assert listed == [f"{remote}/ums-system-upgrade.shar", f"{remote}/um-upgrade-agent.sh"]
    # WinSCP expands %NAME% in every command: the only ones here are the two parameters.
    body = "\r\n".join(line for line in script.split("\r\n") if not line.startswith("#"))
    assert re.findall(r"%[^%\s]*%", body) == ["%1%", "%2%"]
    assert "password" not in body.lower()


# -- the .cmd wrapper -----------------------------------------------------------------------

SYSTEM_VARIABLES = {"ERRORLEVEL", "ProgramFiles", "ProgramFiles(x86)", "LOCALAPPDATA", "WINSCP_COM"}


def cmd_lines(plan: Plan, cmd: str = "winscp-upload.cmd") -> list[str]:
    name = f"{plan.appliance.name}/transfer/{cmd}"
    return text(transfer_files(plan), name).split("\r\n")


@pytest.mark.parametrize("cmd", ["winscp-upload.cmd", "winscp-fetch-evidence.cmd"])
@pytest.mark.parametrize("has_key", [True, False])
def test_cmd_labels_variables_and_blocks(has_key: bool, cmd: str) -> None:
    plan = example_plan() if has_key else with_appliance(example_plan(), ssh_host_key=None)
    lines = cmd_lines(plan, cmd)
    assert lines[0] == "@echo off"
    code = [line for line in lines if line and not line.lower().startswith("rem")]
    labels = {line[1:] for line in code if line.startswith(":")}
    targets = re.findall(r"\b(?:goto|call) :?(\w+)", "\n".join(code), flags=re.IGNORECASE)
    assert targets and set(targets) <= labels, set(targets) - labels
    # No parenthesised blocks: %ProgramFiles(x86)% inside one would close it.
    assert not any(line.rstrip().endswith("(") or line.strip() == ")" for line in code)
    assigned = set(re.findall(r'set "(\w+)=', "\n".join(code)))
    for line in code:
        stripped = re.sub(r"%%|%~(?:dp0|1|2)|%%~\$PATH:W", "", line)
        for variable in re.findall(r"%([^%]+)%", stripped):
            # cmd.exe's substring form %NAME:~start,length% reads NAME.
            assert variable.split(":~")[0] in assigned | SYSTEM_VARIABLES, (variable, line)
        assert stripped.count("%") % 2 == 0, line
    # Paths never go through `call` (it would expand their percent signs a second time).
    assert all(
        re.fullmatch(r"call :(check_\w+|prepare)", line.strip()) for line in code if "call " in line
    )


def cmd_section(lines: list[str], label: str) -> list[str]:
    """The lines from :label to the next label a branch jumps to (the .cmd's one program holds
    the .shar and the ISO ways; the values choose one at run time)."""
    start = lines.index(f":{label}")
    ends = {":shar", ":iso", ":no_host_key"} - {f":{label}"}
    end = next(i for i in range(start + 1, len(lines)) if lines[i] in ends)
    return lines[start:end]


def test_cmd_checks_both_files_then_runs_winscp_with_a_log() -> None:
    whole = cmd_lines(example_plan())
    lines = cmd_section(whole, "shar")
    code = "\n".join(lines)
    run = next(line for line in lines if "/script=" in line)
    assert run.startswith('"%UM_WINSCP%" /ini=nul /log="%UM_LOG%" /script="%UM_SCRIPT%"')
    assert run.endswith('/parameter // "%UM_BUNDLE%" "%UM_AGENT%"')
    assert code.index("call :check_sha256") < code.index("/script=")
    assert code.count("call :check_sha256") == 2
    assert 'set "UM_AGENT_RELPATH=..\\agent\\um-upgrade-agent.sh"' in whole
    assert 'set "UM_AGENT=%~dp0%UM_AGENT_RELPATH%"' in whole
    assert 'set "UM_DEFAULT=C:\\Upgrades\\ums-system-upgrade.shar"' in whole
    assert 'set "UM_DELIVERY=shar"' in whole
    assert "if errorlevel 1 goto refused" in lines
    assert 'if not "%UM_RC%"=="0" goto failed' in lines
    powershell = next(line for line in whole if line.startswith("powershell.exe"))
    assert powershell.count('"') == 2 and powershell.endswith('"')
    assert "%" not in powershell
    assert "Get-FileHash -Algorithm SHA256 -LiteralPath $p" in powershell
    assert "$env:UM_FILE" in powershell


def test_upload_sh_is_one_program_that_shellcheck_reads_as_it_stands() -> None:
    """The repository's upload.sh is the program every appliance gets; only its block of
    values differs, so checking the file itself checks every variant."""
    need("shellcheck", "dash")
    program = ROOT / "templates" / "transfer" / "upload.sh"
    subprocess.run(["shellcheck", "--shell=sh", str(program)], check=True)
    subprocess.run(["dash", "-n", str(program)], check=True)
    rendered = text(transfer_files(example_plan()), "um-ams-01/transfer/upload.sh")
    block = rendered.split(VALUES_START, 1)[1].split(VALUES_END, 1)[0]
    outside = rendered.replace(block, "")
    assert outside == program.read_text(encoding="utf-8").replace(
        program.read_text(encoding="utf-8").split(VALUES_START, 1)[1].split(VALUES_END, 1)[0], ""
    )


def test_values_block_keeps_every_value_data(tmp_path: Path) -> None:
    """A value with quotes, $(...), backticks or %VAR% is one sh word in the block, and sh
    reads it back exactly (the inventory refuses such hosts; the quoting holds regardless)."""
    hostile = "um-x'; $(touch pwned) `id` %PATH% \\\\ \""
    program = (ROOT / "templates" / "transfer" / "upload.sh").read_text(encoding="utf-8")
    names = [
        line.split("=", 1)[0]
        for line in program.split(VALUES_START, 1)[1].split(VALUES_END, 1)[0].splitlines()
    ]
    lines = [f"{name}={sh_quote(hostile if name == 'host' else '')}" for name in names]
    block = with_values(program, lines, names).split(VALUES_START, 1)[1].split(VALUES_END)[0]
    script = tmp_path / "values.sh"
    script.write_text(block + 'printf %s "$host"\n', encoding="utf-8")
    result = subprocess.run(["sh", str(script)], cwd=tmp_path, capture_output=True, check=True)
    assert result.stdout.decode() == hostile
    assert not (tmp_path / "pwned").exists()


def test_a_value_the_program_does_not_declare_is_refused() -> None:
    program = f"#!/bin/sh\n{VALUES_START}a=''\n{VALUES_END}echo \"$a\"\n"
    assert "a='1'" in with_values(program, ["a='1'"], ["a"])
    with pytest.raises(ValueError, match="declares"):
        with_values(program, ["b='1'"], ["b"])


@pytest.mark.parametrize("inventory", [None, "route-fleet.yaml"])
def test_no_generated_file_bypasses_the_execution_policy(
    inventory: str | None, tmp_path: Path
) -> None:
    """powershell.exe -Command needs no -ExecutionPolicy Bypass (the policy governs script
    files), and endpoint-security rules flag it: no file of a package holds it."""
    out = tmp_path / "runbooks"
    source = [str(ROOT / "tests" / "golden" / "packages" / inventory)] if inventory else []
    result = umrunbook(["render", *source, "--out", str(out)])
    assert result.returncode == 0, result.stderr
    written = [path for path in out.rglob("*") if path.is_file()]
    assert any(path.name == "winscp-upload.cmd" for path in written)
    assert any(path.name == "winscp-fetch-evidence.cmd" for path in written)
    for path in written:
        assert b"executionpolicy" not in path.read_bytes().lower(), path
    for program in (ROOT / "templates" / "transfer").iterdir():
        assert "executionpolicy" not in program.read_text(encoding="utf-8").lower(), program
