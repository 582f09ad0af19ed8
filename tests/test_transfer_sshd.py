"""upload.sh against a real OpenSSH server (tests/sshd): keys, passwords, refusals.

Every appliance of the inventories rendered here is 127.0.0.1 at the test server's port:
nothing leaves this machine.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need, need_root, umrunbook
from tests.helpers.upload import run_upload, sha256, write_bundle
from tests.sshd import Server, keygen, running_agent, running_sshd

NAME = "um-loop-01"
BUNDLE = "ums-system-upgrade.shar"
AGENT = "um-upgrade-agent.sh"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    need_root()
    need("sshd", "sftp", "ssh-keygen", "ssh-agent", "ssh-add", "unshare", "openssl", "setsid")
    with running_sshd() as started:
        yield started


@pytest.fixture
def remote(server: Server) -> Iterator[Path]:
    server.clear_remote()
    yield server.remote()
    server.clear_remote()


def inventory(
    folder: Path,
    port: int,
    bundle_sha256: str,
    host_key: str | None,
    name: str = NAME,
    host: str = "127.0.0.1",
) -> Path:
    """An inventory whose every appliance is this machine's loopback address."""
    key_line = f"    ssh_host_key: {host_key}\n" if host_key else ""
    path = folder / "inventory.yaml"
    path.write_text(
        "change:\n"
        "  ticket: CHG0099999\n"
        "  window:\n"
        "    start: 2026-12-05T22:00:00+01:00\n"
        "    end: 2026-12-06T02:00:00+01:00\n"
        "  implementer: Test Operator\n"
        "upgrade:\n"
        '  target: "4.3"\n'
        "  bundle:\n"
        f"    file: {BUNDLE}\n"
        f"    sha256: {bundle_sha256}\n"
        "appliances:\n"
        f"  - name: {name}\n"
        f'    host: "{host}"\n'
        "    version: 4.2.0\n"
        f"    ssh_port: {port}\n"
        f"{key_line}",
        encoding="utf-8",
    )
    return path


def render(folder: Path, inventory_path: Path) -> Path:
    # A package folder with a space in its name: nothing may depend on plain paths.
    out = folder / "change package"
    result = umrunbook(["render", str(inventory_path), "--format", "md", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def package(tmp_path: Path, server: Server) -> tuple[Path, Path]:
    """(the rendered upload.sh, the bundle it expects), for the server's real host key."""
    bundle = write_bundle(tmp_path / "downloads with spaces" / "bundle (copy).shar")
    out = render(tmp_path, inventory(tmp_path, server.port, sha256(bundle), server.host_key_line))
    return out / NAME / "transfer" / "upload.sh", bundle


def assert_uploaded(remote: Path, bundle: Path, package_dir: Path) -> None:
    assert sha256(remote / BUNDLE) == sha256(bundle)
    agent = package_dir / NAME / "agent" / AGENT
    assert sha256(remote / AGENT) == sha256(agent)
    assert sorted(p.name for p in remote.iterdir()) == sorted([BUNDLE, AGENT])


def test_key_login_uploads_both_files(
    server: Server, remote: Path, package: tuple[Path, Path], tmp_path: Path
) -> None:
    script, bundle = package
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with running_agent(server.client_key) as agent_env:
        result = run_upload(script, bundle, elsewhere, agent_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_uploaded(remote, bundle, script.parents[2])
    assert "UPLOADED" in result.stdout
    assert "sftp> rename" in result.stdout


def test_password_login_uploads_both_files(
    server: Server, remote: Path, package: tuple[Path, Path], tmp_path: Path
) -> None:
    """sftp -b turns BatchMode on; upload.sh turns it off so that root's password can be asked."""
    script, bundle = package
    secret = tmp_path / "secret"
    secret.write_text(server.password)
    asked = tmp_path / "asked"
    askpass = tmp_path / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\necho asked >> '{asked}'\ncat '{secret}'\n")
    askpass.chmod(0o700)
    env = {"SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}
    result = run_upload(script, bundle, tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert asked.read_text().count("asked") == 1
    assert_uploaded(remote, bundle, script.parents[2])


def test_a_stale_file_and_a_partial_upload_are_replaced(
    server: Server, remote: Path, package: tuple[Path, Path], tmp_path: Path
) -> None:
    script, bundle = package
    (remote / BUNDLE).write_bytes(b"an older bundle")
    (remote / f"{BUNDLE}.part").write_bytes(b"a cut-off upload")
    (remote / AGENT).write_bytes(b"an older agent")
    with running_agent(server.client_key) as agent_env:
        result = run_upload(script, bundle, tmp_path, agent_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_uploaded(remote, bundle, script.parents[2])


def test_a_changed_host_key_is_refused_and_nothing_uploaded(
    server: Server, remote: Path, tmp_path: Path
) -> None:
    bundle = write_bundle(tmp_path / "bundle.shar")
    other_key = keygen(tmp_path / "not_the_appliance")
    out = render(tmp_path, inventory(tmp_path, server.port, sha256(bundle), other_key))
    before = server.connections()
    with running_agent(server.client_key) as agent_env:
        result = run_upload(out / NAME / "transfer" / "upload.sh", bundle, tmp_path, agent_env)
    assert result.returncode == 1
    assert "REFUSED" in result.stderr
    assert "did not present the inventory's host key" in result.stderr
    assert server.connections() == before + 1  # it connected, saw the key, and stopped
    assert list(remote.iterdir()) == []


def test_a_wrong_bundle_is_refused_before_connecting(
    server: Server, remote: Path, package: tuple[Path, Path], tmp_path: Path
) -> None:
    script, bundle = package
    with bundle.open("r+b") as handle:  # one byte changed, the size unchanged
        handle.seek(1000)
        handle.write(b"\xff" if handle.read(1) != b"\xff" else b"\x00")
    before = server.connections()
    with running_agent(server.client_key) as agent_env:
        result = run_upload(script, bundle, tmp_path, agent_env)
    assert result.returncode == 1
    assert "REFUSED: the bundle" in result.stderr
    assert "expected SHA-256" in result.stderr
    assert server.connections() == before
    assert list(remote.iterdir()) == []


def test_a_changed_agent_is_refused_before_connecting(
    server: Server, remote: Path, package: tuple[Path, Path], tmp_path: Path
) -> None:
    script, bundle = package
    agent = script.parents[1] / "agent" / AGENT
    agent.write_text(agent.read_text() + "\n# changed\n")
    before = server.connections()
    result = run_upload(script, bundle, tmp_path, {})
    assert result.returncode == 1
    assert "REFUSED: the agent" in result.stderr
    assert server.connections() == before
    assert list(remote.iterdir()) == []


@pytest.mark.parametrize("damage", ["missing", "extra key"])
def test_known_hosts_missing_or_changed_is_refused_before_connecting(
    server: Server, remote: Path, package: tuple[Path, Path], tmp_path: Path, damage: str
) -> None:
    script, bundle = package
    known_hosts = script.parent / "known_hosts"
    if damage == "missing":
        known_hosts.unlink()
    else:
        extra = keygen(tmp_path / "extra")
        with known_hosts.open("a") as handle:
            handle.write(f"[127.0.0.1]:{server.port} {extra}\n")
    before = server.connections()
    result = run_upload(script, bundle, tmp_path, {})
    assert result.returncode == 1
    assert "REFUSED" in result.stderr
    assert "known_hosts" in result.stderr
    assert server.connections() == before
    assert list(remote.iterdir()) == []


def test_without_a_host_key_the_script_refuses_and_says_how_to_add_it(
    server: Server, remote: Path, tmp_path: Path
) -> None:
    bundle = write_bundle(tmp_path / "bundle.shar")
    out = render(tmp_path, inventory(tmp_path, server.port, sha256(bundle), None))
    transfer = out / NAME / "transfer"
    assert not (transfer / "known_hosts").exists()
    before = server.connections()
    result = run_upload(transfer / "upload.sh", bundle, tmp_path, {})
    assert result.returncode == 1
    assert "REFUSED: the inventory has no SSH host key" in result.stderr
    assert "ssh-keygen -l -E sha256 -f" in result.stderr
    assert "ssh_host_key" in result.stderr
    assert server.connections() == before
    assert list(remote.iterdir()) == []


def test_usage(package: tuple[Path, Path], tmp_path: Path) -> None:
    script, _bundle = package
    result = run_upload(script, Path("--help"), tmp_path, {})
    assert result.returncode == 0
    assert "usage: sh upload.sh BUNDLE" in result.stdout
    no_argument = subprocess.run(
        ["sh", str(script)], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert no_argument.returncode == 2
    assert "usage" in no_argument.stderr


def test_an_ipv6_appliance_is_reached_by_its_bracketed_address(tmp_path: Path) -> None:
    """sftp reads HOST:PATH: an IPv6 address given bare would be host "" or "2001" with a
    path. upload.sh names it in brackets, known_hosts as ssh looks it up."""
    need_root()
    need("sshd", "sftp", "ssh-keygen", "ssh-agent", "ssh-add", "openssl", "setsid")
    if not socket.has_ipv6:
        pytest.fail("this machine has no IPv6 loopback (::1)")
    with running_sshd("::1") as server:
        bundle = write_bundle(tmp_path / "bundle.shar", size=1024)
        path = inventory(tmp_path, server.port, sha256(bundle), server.host_key_line, host="::1")
        out = render(tmp_path, path)
        script = out / NAME / "transfer" / "upload.sh"
        with running_agent(server.client_key) as agent_env:
            result = run_upload(script, bundle, tmp_path, agent_env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert_uploaded(server.remote(), bundle, out)
        known = (out / NAME / "transfer" / "known_hosts").read_text(encoding="utf-8")
        assert known.startswith(f"[::1]:{server.port} ")


def test_sftp_is_given_an_ipv6_address_in_brackets(tmp_path: Path) -> None:
    """With an address that does not start with a colon (fd00::10), a bare one would be cut
    at its first colon: host "fd00". A stand-in sftp records what it is given."""
    need("ssh-keygen", "openssl")
    bundle = write_bundle(tmp_path / "bundle.shar", size=1024)
    key = keygen(tmp_path / "host_key")
    out = render(tmp_path, inventory(tmp_path, 2022, sha256(bundle), key, host="fd00::10"))
    fake = tmp_path / "bin"
    fake.mkdir()
    record = tmp_path / "sftp-args"
    (fake / "sftp").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >"{record}"\nexit 1\n')
    (fake / "sftp").chmod(0o755)
    script = out / NAME / "transfer" / "upload.sh"
    env = {"PATH": f"{fake}:{os.environ['PATH']}"}
    run_upload(script, bundle, tmp_path, env)
    args = record.read_text().splitlines()
    assert args[-2:] == ["--", "[fd00::10]"], args
