"""fetch-evidence.sh against a real OpenSSH server (tests/sshd), copying what the real agent
wrote on a simulated appliance whose bundle failed: the evidence a backout must keep.

The appliance of the inventory rendered here is 127.0.0.1 at the test server's port: nothing
leaves this machine.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.helpers import APPLIANCE, TICKET, make_rig
from tests.conftest import need, need_root, umrunbook
from tests.helpers import example_plan, with_appliance
from tests.helpers.winscp import WINSCP_SWITCHES, assert_documented, winscp_commands
from tests.sshd import Server, keygen, running_agent, running_sshd
from umrunbook.faces.transfer import transfer_files
from umrunbook.planning.agent_file import verify_evidence_digest
from umrunbook.rehearsal.simulator import ApplianceSpec

STATE_DIR = "/var/lib/um-upgrade-agent"
LOGS = "/opt/vmware/cloudusagemetering/var/logs"
EVIDENCE = f"evidence-{APPLIANCE}-{TICKET}-4.3.json"


@pytest.fixture(scope="module")
def appliance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real agent's records after a failed bundle: preflight, upgrade (exit 1), report."""
    rig = make_rig(tmp_path_factory.mktemp("appliance"), ApplianceSpec(bundle="fail"))
    assert rig.agent("preflight", "--snapshot", "CHG0012345-before-4.3").code == 0
    assert rig.agent("upgrade", "--yes").code == 1
    assert rig.agent("report", from_state=True).code == 0
    return rig.app.state_dir


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    need_root()
    need("sshd", "sftp", "ssh-keygen", "ssh-agent", "ssh-add", "unshare", "openssl", "setsid")
    with running_sshd() as started:
        yield started


@pytest.fixture
def on_box(server: Server, appliance: Path) -> Iterator[Path]:
    """The agent's folder and one upgrade log, where the appliance keeps them (in the chroot)."""
    state = server.remote(STATE_DIR)
    logs = server.remote(LOGS)
    shutil.rmtree(state, ignore_errors=True)
    shutil.copytree(appliance, state, symlinks=True)
    logs.mkdir(parents=True, exist_ok=True)
    # Bytes a text-mode copy would change: CR LF, NUL, high bytes.
    (logs / "inplaceupgradeum-20261205.log").write_bytes(b"upgrade\r\nline\x00\xff\n" * 500)
    yield state
    shutil.rmtree(state, ignore_errors=True)
    shutil.rmtree(logs, ignore_errors=True)


def inventory(folder: Path, port: int, host_key: str) -> Path:
    path = folder / "inventory.yaml"
    path.write_text(
        "change:\n"
        f"  ticket: {TICKET}\n"
        "  window:\n"
        "    start: 2026-12-05T22:00:00+01:00\n"
        "    end: 2026-12-06T02:00:00+01:00\n"
        "  implementer: Test Operator\n"
        "upgrade:\n"
        '  target: "4.3"\n'
        "  bundle:\n"
        f"    sha256: {'ab' * 32}\n"
        "appliances:\n"
        f"  - name: {APPLIANCE}\n"
        '    host: "127.0.0.1"\n'
        "    version: 4.2.0\n"
        f"    ssh_port: {port}\n"
        f"    ssh_host_key: {host_key}\n",
        encoding="utf-8",
    )
    return path


def render(folder: Path, inventory_path: Path) -> Path:
    out = folder / "change package"  # a space: nothing may depend on plain paths
    result = umrunbook(["render", str(inventory_path), "--format", "md", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    return out


def run_fetch(
    script: Path, args: list[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SSH_") and key not in {"DISPLAY", "WAYLAND_DISPLAY"}
    }
    return subprocess.run(
        ["sh", str(script), *args],
        cwd=cwd,
        env={**base, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        start_new_session=True,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_evidence_and_the_logs_arrive_whole_and_checked(
    server: Server, on_box: Path, tmp_path: Path
) -> None:
    out = render(tmp_path, inventory(tmp_path, server.port, server.host_key_line))
    script = out / APPLIANCE / "transfer" / "fetch-evidence.sh"
    with running_agent(server.client_key) as agent_env:
        result = run_fetch(script, [], tmp_path, agent_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FETCHED" in result.stdout
    assert f"digest OK: um-upgrade-agent/{EVIDENCE}" in result.stdout
    copy = out / APPLIANCE / "evidence"  # the default: the appliance's folder in the package
    remote = {p.relative_to(on_box) for p in on_box.rglob("*") if p.is_file()}
    agent_copy = copy / "um-upgrade-agent"
    local = {p.relative_to(agent_copy) for p in agent_copy.rglob("*") if p.is_file()}
    assert remote == local
    assert Path("run-um-ams-01-CHG0012345-4.3/bundle-output.log") in local
    for rel in remote:
        assert sha256(copy / "um-upgrade-agent" / rel) == sha256(on_box / rel), rel
    evidence = (copy / "um-upgrade-agent" / EVIDENCE).read_text(encoding="utf-8")
    assert verify_evidence_digest(evidence)
    assert '"result": "failed"' in evidence
    log = copy / "logs" / "cloudusagemetering" / "inplaceupgradeum-20261205.log"
    assert log.read_bytes() == server.remote(LOGS).joinpath(log.name).read_bytes()
    # A second copy never mixes with the first.
    with running_agent(server.client_key) as agent_env:
        again = run_fetch(script, [], tmp_path, agent_env)
    assert again.returncode == 1
    assert "is not empty" in again.stderr


def test_a_changed_evidence_file_is_caught(server: Server, on_box: Path, tmp_path: Path) -> None:
    evidence = on_box / EVIDENCE
    evidence.write_text(
        evidence.read_text(encoding="utf-8").replace('"failed"', '"upgraded"', 1),
        encoding="utf-8",
    )
    out = render(tmp_path, inventory(tmp_path, server.port, server.host_key_line))
    script = out / APPLIANCE / "transfer" / "fetch-evidence.sh"
    with running_agent(server.client_key) as agent_env:
        result = run_fetch(script, [str(tmp_path / "copy")], tmp_path, agent_env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"FAILED: um-upgrade-agent/{EVIDENCE} is not the file the agent wrote" in result.stderr
    assert "FETCHED" not in result.stdout


def test_a_wrong_host_key_is_refused_and_nothing_copied(
    server: Server, on_box: Path, tmp_path: Path
) -> None:
    other = keygen(tmp_path / "not_the_appliance")
    out = render(tmp_path, inventory(tmp_path, server.port, other))
    script = out / APPLIANCE / "transfer" / "fetch-evidence.sh"
    before = server.connections()
    with running_agent(server.client_key) as agent_env:
        result = run_fetch(script, [str(tmp_path / "copy")], tmp_path, agent_env)
    assert result.returncode == 1
    assert "REFUSED" in result.stderr
    assert "did not present the inventory's host key" in result.stderr
    assert server.connections() == before + 1
    assert not (tmp_path / "copy" / "um-upgrade-agent").exists()


def test_a_changed_batch_file_is_refused_before_connecting(
    server: Server, on_box: Path, tmp_path: Path
) -> None:
    out = render(tmp_path, inventory(tmp_path, server.port, server.host_key_line))
    transfer = out / APPLIANCE / "transfer"
    batch = transfer / "sftp-fetch-evidence.batch"
    batch.write_text(batch.read_text() + "rm /var/lib/um-upgrade-agent/*\n")
    before = server.connections()
    result = run_fetch(transfer / "fetch-evidence.sh", [str(tmp_path / "c")], tmp_path, {})
    assert result.returncode == 1
    assert "REFUSED: the sftp batch file" in result.stderr
    assert server.connections() == before


def test_an_appliance_without_the_agents_folder_is_named(server: Server, tmp_path: Path) -> None:
    shutil.rmtree(server.remote(STATE_DIR), ignore_errors=True)
    out = render(tmp_path, inventory(tmp_path, server.port, server.host_key_line))
    script = out / APPLIANCE / "transfer" / "fetch-evidence.sh"
    with running_agent(server.client_key) as agent_env:
        result = run_fetch(script, [str(tmp_path / "copy")], tmp_path, agent_env)
    assert result.returncode == 1
    assert f"has no {STATE_DIR}" in result.stderr


def test_fetch_sh_passes_shellcheck_and_dash(tmp_path: Path) -> None:
    need("shellcheck", "dash", "ssh-keygen", "openssl")
    key = keygen(tmp_path / "host_key")
    out = render(tmp_path, inventory(tmp_path, 2022, key))
    script = out / APPLIANCE / "transfer" / "fetch-evidence.sh"
    checked = subprocess.run(
        ["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout
    syntax = subprocess.run(["dash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    usage = subprocess.run(["dash", str(script), "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "usage: sh fetch-evidence.sh [FOLDER]" in usage.stdout


def test_the_winscp_fetch_follows_the_documented_syntax() -> None:
    plan = example_plan(2)  # um-fra-01: an IP address and port 2222
    files = transfer_files(plan)
    script = files["um-fra-01/transfer/winscp-fetch-evidence.txt"].decode()
    commands = winscp_commands(script)
    assert_documented(commands, WINSCP_SWITCHES)
    names = [c[0] for c in commands]
    opening = names.index("open")
    assert commands[opening - 2] == ["option", "batch", "off"]  # the password prompt
    assert commands[opening + 1] == ["option", "batch", "abort"]
    key = plan.appliance.ssh_host_key
    assert key is not None
    assert commands[opening][1:] == ["sftp://root@192.0.2.41:2222/", f"-hostkey={key.winscp}"]
    gets = [c for c in commands if c[0] == "get"]
    assert [g[-2:] for g in gets] == [
        [STATE_DIR, "%1%\\"],
        [f"{LOGS}/inplaceupgradeum-*", "%2%\\"],
        ["/opt/vmware/cloudusagemetering-old/var/logs/inplaceupgradeum-*", "%3%\\"],
    ]
    assert all("-transfer=binary" in g for g in gets)
    # The agent's folder must come whole (abort on error); the logs may be missing.
    assert names.index("get") < names.index("option", names.index("get"))
    assert commands[names.index("get") - 1] == ["option", "failonnomatch", "on"]
    body = "\r\n".join(line for line in script.split("\r\n") if not line.startswith("#"))
    assert sorted(set(re.findall(r"%[^%\s]*%", body))) == ["%1%", "%2%", "%3%"]
    assert "password" not in body.lower()
    cmd = files["um-fra-01/transfer/winscp-fetch-evidence.cmd"].decode()
    run = next(line for line in cmd.split("\r\n") if "/script=" in line)
    assert run.endswith(
        '/parameter // "%UM_DEST%" "%UM_DEST%\\logs\\%UM_INSTALL_LOGS_NAME%"'
        ' "%UM_DEST%\\logs\\%UM_BACKUP_LOGS_NAME%"'
    )
    assert 'set "UM_DEST_RELPATH=..\\evidence"' in cmd
    assert f'set "UM_EVIDENCE_JSON=evidence-um-fra-01-{TICKET}-4.3.json"' in cmd
    # The digest check runs whatever WinSCP's exit code: a log folder missing is no failure.
    assert cmd.index("call :check_evidence") > cmd.index("/script=")


def test_without_a_host_key_the_fetch_refuses_before_any_connection(tmp_path: Path) -> None:
    files = transfer_files(with_appliance(example_plan(), ssh_host_key=None))
    assert "um-ams-01/transfer/sftp-fetch-evidence.batch" not in files
    assert "um-ams-01/transfer/winscp-fetch-evidence.txt" not in files
    cmd = files["um-ams-01/transfer/winscp-fetch-evidence.cmd"].decode()
    code = [line for line in cmd.split("\r\n") if line and not line.startswith("rem")]
    assert next(line for line in code if "goto" in line) == 'if "%UM_HOSTKEY%"=="" goto no_host_key'
    script = tmp_path / "fetch-evidence.sh"
    script.write_bytes(files["um-ams-01/transfer/fetch-evidence.sh"])
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "sftp").write_text(f"#!/bin/sh\ntouch {tmp_path}/sftp-ran\n", encoding="utf-8")
    (fake / "sftp").chmod(0o755)
    result = subprocess.run(
        ["sh", str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"},
        check=False,
    )
    assert result.returncode == 1
    assert "REFUSED: the inventory has no SSH host key" in result.stderr
    assert not (tmp_path / "sftp-ran").exists()
    assert not (tmp_path / "evidence").exists()
