"""Why a connection failed, as upload.sh and fetch-evidence.sh name it: from ssh's and sftp's own
messages, shown beside the verdict, with what to do next. Against a real OpenSSH server
(tests/sshd) on 127.0.0.1, a loopback port nobody listens on, and a `.invalid` name (RFC 6761:
it never resolves, so nothing is dialled).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need, need_root, umrunbook
from tests.helpers.upload import run_upload, sha256, write_bundle
from tests.sshd import Server, free_port, keygen, running_agent, running_sshd

NAME = "um-loop-01"
SCRIPTS = ["upload.sh", "fetch-evidence.sh"]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    need_root()
    need("sshd", "sftp", "ssh-keygen", "ssh-agent", "ssh-add", "unshare", "openssl", "setsid")
    with running_sshd() as started:
        yield started


def render(folder: Path, host: str, port: int, host_key: str, bundle_sha256: str) -> Path:
    """The package's transfer folder for one appliance at host:port."""
    inventory = folder / "inventory.yaml"
    inventory.write_text(
        "change:\n"
        "  ticket: CHG0099999\n"
        "  window:\n"
        "    start: 2026-12-05T22:00:00+01:00\n"
        "    end: 2026-12-06T02:00:00+01:00\n"
        "  implementer: Test Operator\n"
        "upgrade:\n"
        '  target: "4.3"\n'
        "  bundle:\n"
        f"    sha256: {bundle_sha256}\n"
        "appliances:\n"
        f"  - name: {NAME}\n"
        f'    host: "{host}"\n'
        "    version: 4.2.0\n"
        f"    ssh_port: {port}\n"
        f"    ssh_host_key: {host_key}\n",
        encoding="utf-8",
    )
    out = folder / "package"
    result = umrunbook(["render", str(inventory), "--format", "md", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    return out / NAME / "transfer"


def run(
    script: str, folder: Path, host: str, port: int, host_key: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    bundle = write_bundle(folder / "bundle.shar", size=4096)
    transfer = render(folder, host, port, host_key, sha256(bundle))
    argument = bundle if script == "upload.sh" else folder / "copy"
    return run_upload(transfer / script, argument, folder, env)


def verdict(result: subprocess.CompletedProcess[str], script: str) -> list[str]:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    return [line for line in lines if line.startswith(f"{script}: ")]


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_port_nobody_listens_on_is_connection_refused(
    script: str, server: Server, tmp_path: Path
) -> None:
    port = free_port()
    lines = verdict(run(script, tmp_path, "127.0.0.1", port, server.host_key_line, {}), script)
    text = "\n".join(lines)
    assert f"FAILED: connection refused: nothing listens on 127.0.0.1 port {port}." in text
    assert "ssh/sftp said:" in text and "Connection refused" in text
    assert "check that SSH is started" in text
    assert "password" not in text


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_name_that_does_not_resolve_is_named(script: str, server: Server, tmp_path: Path) -> None:
    host = "um-loop-01.invalid"
    lines = verdict(run(script, tmp_path, host, 22, server.host_key_line, {}), script)
    text = "\n".join(lines)
    assert f"FAILED: name resolution: this workstation cannot resolve the name {host}." in text
    assert "ssh/sftp said:" in text and "Could not resolve hostname" in text
    assert f"nslookup {host}" in text
    assert "password" not in text


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_key_the_appliance_does_not_take_is_authentication(
    script: str, server: Server, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong_client_key"
    keygen(wrong)
    with running_agent(wrong) as agent_env:
        result = run(script, tmp_path, "127.0.0.1", server.port, server.host_key_line, agent_env)
    text = "\n".join(verdict(result, script))
    assert "FAILED: authentication: the appliance did not accept root's password or key." in text
    assert "ssh/sftp said:" in text and "Permission denied" in text


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_sshd_without_sftp_is_named(script: str, tmp_path: Path) -> None:
    need_root()
    need("sshd", "sftp", "ssh-keygen", "ssh-agent", "ssh-add", "unshare", "openssl", "setsid")
    with running_sshd(sftp=False) as bare, running_agent(bare.client_key) as agent_env:
        result = run(script, tmp_path, "127.0.0.1", bare.port, bare.host_key_line, agent_env)
    text = "\n".join(verdict(result, script))
    assert "FAILED: no SFTP: the appliance's SSH server offers no SFTP subsystem." in text
    assert "subsystem request failed" in text
    assert "use WinSCP with SCP" in text
    assert "password" not in text


def test_both_scripts_diagnose_with_the_same_code() -> None:
    """One diagnosis, copied into both programs: a fix to one is a fix to both."""
    root = Path(__file__).parents[1] / "templates" / "transfer"

    def diagnosis(name: str) -> str:
        text = (root / name).read_text(encoding="utf-8")
        start = text.index("# Why sftp could not start a session")
        return text[start : text.index("\ndiag_fail() {", start)]

    assert diagnosis("upload.sh") == diagnosis("fetch-evidence.sh")
