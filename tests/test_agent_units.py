"""The agent's functions, one at a time: the assembled agent sourced by an ordinary user.

Sourcing the file defines its constants and functions and runs nothing else (no self-check, no
main), so these tests need neither root nor a simulated appliance. As root they drop to
nobody (setpriv), so that nothing here can touch a root-only path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.helpers import manifest_for
from tests.conftest import need
from umrunbook.planning.agent_file import (
    MANIFEST_KEYS,
    agent_parts,
    agent_source,
    build_agent,
    manifest_keys_line,
    parse_manifest,
)

SHA = "ab" * 32
HOSTILE = "$(touch /tmp/pwned) `id` ; \"'<b>"


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    """A folder nobody can read (tmp_path is root's own), with the agent built for um-ams-01."""
    path = Path(tempfile.mkdtemp(prefix="um-agent-units-", dir="/tmp"))
    try:
        path.chmod(0o755)
        agent = path / "um-upgrade-agent.sh"
        agent.write_text(build_agent(manifest_for(SHA, snapshot=HOSTILE)))
        agent.chmod(0o644)
        source = path / "source.sh"
        source.write_text(agent_source())
        source.chmod(0o644)
        yield path
    finally:
        shutil.rmtree(path)


def sh(
    folder: Path, body: str, agent: str = "um-upgrade-agent.sh", **env: str
) -> subprocess.CompletedProcess[str]:
    """Source the agent in a new bash as an ordinary user, then run BODY (errexit off)."""
    script = f'. "$UM_AGENT"\nset +e\n{body}\n'
    command = ["bash", "-c", script, "bash"]
    if os.geteuid() == 0:
        need("setpriv")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "UM_AGENT": str(folder / agent),
        **env,
    }
    return subprocess.run(
        command, cwd=folder, env=environment, capture_output=True, text=True, timeout=30
    )


def out(folder: Path, body: str, **env: str) -> str:
    result = sh(folder, body, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_sourcing_runs_nothing(folder: Path) -> None:
    for agent in ("um-upgrade-agent.sh", "source.sh"):
        result = sh(
            folder,
            'echo "euid=$EUID sourced=$UM_SOURCED keys=${#M[@]}"; declare -F main verify_self',
            agent=agent,
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        lines = result.stdout.splitlines()
        assert lines[0] == f"euid={65534 if os.geteuid() == 0 else os.geteuid()} sourced=1 keys=0"
        assert lines[1:] == ["main", "verify_self"]


def test_verify_self_reads_the_manifest_as_data(folder: Path) -> None:
    text = (folder / "um-upgrade-agent.sh").read_text()
    got = out(
        folder,
        'verify_self; printf "%s\\n" "${M[appliance]}" "${M[snapshot]}" '
        '"$UM_SELF_SHA256" "${#M[@]}"',
    )
    manifest = parse_manifest(text)
    assert got.splitlines() == [
        "um-ams-01",
        HOSTILE,
        manifest["self_sha256"],
        str(len(manifest)),
    ]
    assert not Path("/tmp/pwned").exists()


def test_verify_self_refuses_an_edited_copy(folder: Path) -> None:
    edited = folder / "edited.sh"
    edited.write_text((folder / "um-upgrade-agent.sh").read_text().replace("um-ams-01", "um-x"))
    edited.chmod(0o644)
    try:
        result = sh(folder, "verify_self; echo went-on", agent="edited.sh")
    finally:
        edited.unlink()
    assert result.returncode == 4
    assert "was changed after it was generated" in result.stderr
    assert "went-on" not in result.stdout


@pytest.mark.parametrize(
    ("raw", "rc", "healthy", "why"),
    [
        ("Nginx: Running\nDB: Running", "0", "1", "2 line(s) say Running"),
        ("\x1b[32mNginx: Running\x1b[0m", "0", "1", "1 line(s) say Running"),
        ("Services\nNginx: Running", "0", "1", "1 line(s) without a state shown, not judged"),
        ("Nginx: Running\nDB: Stopped", "0", "0", "1 line(s) not healthy: DB: Stopped"),
        ("Nginx: not running", "0", "0", "not healthy: Nginx: not running"),
        ("Collector: OFFLINE", "0", "0", "not healthy: Collector: OFFLINE"),
        ("Last error: none; Nginx: Running", "0", "0", "not healthy"),  # words, any line
        ("Errors: 0\nNginx: Running", "0", "1", "without a state"),
        ("Nginx: Running", "3", "0", "status.sh exited with 3"),
        ("  \n", "0", "0", "status.sh printed nothing"),
        ("Nginx: up", "0", "0", "no line says Running"),
        ("Nginx: Runningish", "0", "0", "no line says Running"),
    ],
)
def test_status_output_is_judged(folder: Path, raw: str, rc: str, healthy: str, why: str) -> None:
    got = out(
        folder,
        "STATUS_RAW=$RAW STATUS_RC=$RC; judge_status\n"
        'printf "%s\\n%s\\n" "$STATUS_HEALTHY" "$STATUS_WHY"',
        RAW=raw,
        RC=rc,
    )
    verdict, reason = got.splitlines()
    assert verdict == healthy
    assert why in reason


@pytest.mark.parametrize(
    ("text", "numeric"),
    [("4.2", "4.2"), ("v4.2.0.0-12345", "4.2.0.0"), ("4.7.0+b1", "4.7.0"), ("4", "4")],
)
def test_version_numeric(folder: Path, text: str, numeric: str) -> None:
    assert out(folder, 'version_numeric "$V"', V=text) == numeric


@pytest.mark.parametrize("text", ["", "abc", "4.x", "4..2"])
def test_version_numeric_refuses(folder: Path, text: str) -> None:
    assert sh(folder, 'version_numeric "$V"', V=text).returncode == 1


@pytest.mark.parametrize(
    ("a", "b", "cmp"),
    [
        ("4.2", "4.2.0.0", "0"),
        ("4.10", "4.9", "1"),
        ("4.2", "4.3", "-1"),
        ("4.08", "4.8", "0"),
        ("5", "4.99.99", "1"),
    ],
)
def test_version_cmp(folder: Path, a: str, b: str, cmp: str) -> None:
    assert out(folder, 'version_cmp "$A" "$B"', A=a, B=b) == cmp


@pytest.mark.parametrize(
    ("version", "pattern", "matches"),
    [
        ("4.1.5", "4.1.x", True),
        ("4.2", "4.1.x", False),
        ("4.9.1", "4.x", True),
        ("4.5", ">=4.3", True),
        ("4.2.9", ">=4.3", False),
        ("5.0", ">=4.3", False),
        ("4.2.0", "4.2", True),
        ("4.2.1", "4.2", False),
    ],
)
def test_version_matches(folder: Path, version: str, pattern: str, matches: bool) -> None:
    result = sh(folder, 'version_matches "$V" "$P"', V=version, P=pattern)
    assert (result.returncode == 0) is matches


def test_version_supported_reads_the_manifest(folder: Path) -> None:
    body = (
        'verify_self\nfor v in 4.1.3 4.2.0 4.3; do version_supported "$v" && echo "$v"; done\ntrue'
    )
    assert out(folder, body).split() == ["4.1.3", "4.2.0"]  # supported_sources: 4.1.x 4.2.x


@pytest.mark.parametrize(
    ("content", "found", "detail"),
    [
        ("version=4.2.0.0-12345\n", "4.2.0.0-12345|FILE (version)", ""),
        ("# version=9.9\nproduct.version: '4.3.0'\n", "4.3.0|FILE (product.version)", ""),
        ("4.2.0\r\n", "4.2.0|FILE", ""),
        ("java.version=11.0.2\n", "", "only java.version=11.0.2 (not taken)"),
        ("version=4.2\num.version=4.3\n", "", "several different versions (4.2 4.3), none taken"),
        ("version=4.2\num.version=4.2.0\n", "4.2|FILE (version)", ""),
        ("nothing here\n", "", "no version in it"),
    ],
)
def test_installed_version_is_read_only_when_unambiguous(
    folder: Path, content: str, found: str, detail: str
) -> None:
    base = folder / "install"
    (base / "platform" / "conf").mkdir(parents=True, exist_ok=True)
    for path in (base, base / "platform", base / "platform" / "conf"):
        path.chmod(0o755)
    file = base / "platform" / "conf" / "env.properties"
    file.write_text(content)
    file.chmod(0o644)
    body = (
        'M[version_files]="missing.txt platform/conf/env.properties"\n'
        'read_installed_version "$BASE"; echo "rc=$?"\n'
        'printf "%s|%s\\n%s\\n" "$VERSION_FOUND" "$VERSION_SOURCE" "$VERSION_DETAIL"'
    )
    rc, got, why = out(folder, body, BASE=str(base)).split("\n")[:3]
    assert got == (found.replace("FILE", str(file)) if found else "|")
    assert rc == ("rc=0" if found else "rc=1")
    assert f"{base}/missing.txt: not found" in why
    assert detail in why


@pytest.mark.parametrize(
    ("size", "factor", "min_mb", "kib"),
    [
        ("", "3", "16", 16 * 1024),
        ("1", "3", "16", 16 * 1024),
        (str(100 * 1024 * 1024), "3", "16", 300 * 1024),
        ("10000000", "3", "1", 29297),  # 30,000,000 bytes: KiB rounded up
        ("10000000", "0", "0", 0),
    ],
)
def test_free_space_margin(folder: Path, size: str, factor: str, min_mb: str, kib: int) -> None:
    body = 'M[free_space_factor]=$F M[free_space_min_mb]=$MIN; free_space_margin_kib "$SIZE"'
    assert out(folder, body, SIZE=size, F=factor, MIN=min_mb) == str(kib)


@pytest.mark.parametrize(
    ("size", "kib"), [("", 0), ("1", 1), ("1024", 1), ("1025", 2), ("10000000", 9766)]
)
def test_free_space_fit_is_the_bundle_itself(folder: Path, size: str, kib: int) -> None:
    # The hard limit: the bundle's own size in KiB, rounded up; no factor, no minimum.
    body = 'M[free_space_factor]=3 M[free_space_min_mb]=4096; free_space_fit_kib "$SIZE"'
    assert out(folder, body, SIZE=size) == str(kib)


def test_vendor_manifest_formats(folder: Path) -> None:
    sha1 = "0123456789abcdef0123456789abcdef01234567"
    mf = folder / "x.mf"
    mf.write_text(
        f"SHA1(um.iso)= {sha1.upper()}\r\n"
        f"SHA256 (um.iso) = {'c' * 64}\n"
        f"{'d' * 40}  other.iso\n"
        "nonsense\n"
    )
    mf.chmod(0o644)
    got = out(
        folder,
        'parse_vendor_manifest "$MF" um.iso\n'
        'printf "%s\\n" "$MF_SHA1" "$MF_SHA256" "$MF_NAMES" "$MF_CONFLICT"',
        MF=str(mf),
    )
    assert got.split("\n")[:4] == [sha1, "c" * 64, "um.iso, um.iso, other.iso", ""]
    mf.write_text(f"{sha1} *um.iso\n{'e' * 40}  ./um.iso\n")
    got = out(folder, 'parse_vendor_manifest "$MF" um.iso; echo "$MF_CONFLICT"', MF=str(mf))
    assert got.strip() == "two different SHA-1 values"


def test_paths_and_names_from_the_manifest(folder: Path) -> None:
    body = (
        'verify_self; M[ticket]="CHG 1/2"; setup_paths\n'
        'printf "%s\\n" "$RUN_DIR" "$AGENT_COPY_TARGET" "$EVIDENCE_BASE" "$BUNDLE_PATH" "$IS_ISO"'
    )
    assert out(folder, body).splitlines() == [
        "/var/lib/um-upgrade-agent/run-um-ams-01-CHG_1_2-4.3",
        "/var/lib/um-upgrade-agent/um-upgrade-agent-4.3.sh",
        "/var/lib/um-upgrade-agent/evidence-um-ams-01-CHG_1_2-4.3",
        "/opt/vmware/cloudusagemetering/ums-system-upgrade.shar",
        "0",
    ]


def test_a_refused_manifest_value_exits_4(folder: Path) -> None:
    result = sh(folder, "verify_self; M[install_dir]=relative; setup_paths; echo went-on")
    assert result.returncode == 4 and "install_dir='relative' is not an absolute path" in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        ("", "new"),
        ("preflight_result=fail", "preflight-failed"),
        ("preflight_result=warn", "preflight-passed"),
        ("bundle_started_at=t", "interrupted"),
        ("bundle_started_at=t bundle_ended_at=t bundle_exit=1", "bundle-failed"),
        (
            "bundle_started_at=t bundle_ended_at=t bundle_exit=0 boot_id_before=BOOT",
            "awaiting-reboot",
        ),
        ("bundle_started_at=t bundle_ended_at=t bundle_exit=0 boot_id_before=x", "awaiting-verify"),
        ("handed_over_at=t boot_id_before=BOOT", "handed-over"),
        ("handed_over_at=t boot_id_before=x", "awaiting-verify"),
        ("verify_result=pass bundle_started_at=t", "verified"),
        ("verify_result=fail", "verify-failed"),
    ],
)
def test_phase_from_the_state(folder: Path, state: str, phase: str) -> None:
    body = (
        "verify_self; STATE_DIR=$PWD\nboot=$(read_boot_id)\nfor kv in $STATE; do\n"
        "  v=${kv#*=}; S[${kv%%=*}]=${v/BOOT/$boot}\ndone\n"
        'phase; echo " $(evidence_result "$(phase)")"'
    )
    got = out(folder, body, STATE=state)
    assert got.split(" ", 1)[0] == phase


def test_json_and_markdown_escaping(folder: Path) -> None:
    value = 'a"b\\c\nd\te\x01f <x> |*`[]'
    got = out(folder, 'json_init; js "$V"; echo; md "$V"', V=value)
    js, md = got.split("\n", 1)
    assert json.loads(js) == value
    assert md == 'a"b\\\\c d e\x01f &lt;x&gt; \\|\\*\\`\\[\\]'
    assert out(folder, 'safe_name "$V"', V="CHG 1/2;x") == "CHG_1_2_x"
    assert out(folder, 'safe_name ""') == "none"


def test_the_key_list_comes_from_the_generator(folder: Path) -> None:
    """One list of manifest keys: MANIFEST_KEYS, written into the agent at build time."""
    packaged = "".join(text for _, text in agent_parts())
    assert "UM_MANIFEST_KEYS=(" not in packaged and "#@@MANIFEST_KEYS@@\n" in packaged
    for agent in ("um-upgrade-agent.sh", "source.sh"):
        got = sh(folder, 'printf "%s\\n" "${UM_MANIFEST_KEYS[@]}"', agent=agent)
        assert tuple(got.stdout.split()) == MANIFEST_KEYS
    assert manifest_keys_line() in agent_source()
