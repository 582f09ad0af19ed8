"""The agent file as generated: manifest block, self-hash, refusals, shellcheck, bash level."""

from __future__ import annotations

import hashlib
import re
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from tests.agent.helpers import iso_manifest_for, manifest_for
from tests.conftest import need, umrunbook
from umrunbook.package.fingerprint import _files
from umrunbook.planning.agent_file import (
    MANIFEST_KEYS,
    agent_parts,
    agent_source,
    build_agent,
    parse_manifest,
    verify_evidence_digest,
)

SHA = "ab" * 32
SIMULATOR = Path(str(resources.files("umrunbook.rehearsal.simulator")))


def test_manifest_block_holds_every_key_in_order() -> None:
    text = build_agent(manifest_for(SHA))
    keys = [line[3:].split("=", 1)[0] for line in text.splitlines() if line.startswith("#@ ")]
    assert tuple(keys) == MANIFEST_KEYS
    assert parse_manifest(text)["bundle_sha256"] == SHA
    assert "\r" not in text and text.endswith("# end of um-upgrade-agent.sh\n")


def test_self_sha256_covers_the_file_without_its_own_line() -> None:
    text = build_agent(manifest_for(SHA))
    self_line = next(line for line in text.splitlines() if line.startswith("#@ self_sha256="))
    without = text.replace(self_line + "\n", "")
    assert hashlib.sha256(without.encode()).hexdigest() == self_line.split("=", 1)[1]


def test_values_are_kept_verbatim() -> None:
    hostile = "$(touch /tmp/pwned) `id` ; rm -rf / \"'<script>"
    text = build_agent(manifest_for(SHA, snapshot=hostile))
    assert parse_manifest(text)["snapshot"] == hostile


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\0b"])
def test_refuses_line_breaks_and_nul(bad: str) -> None:
    with pytest.raises(ValueError, match="snapshot"):
        build_agent(manifest_for(SHA, snapshot=bad))


def test_refuses_unknown_and_missing_keys() -> None:
    with pytest.raises(ValueError, match="unknown key"):
        build_agent({**manifest_for(SHA), "command": "reboot"})
    manifest = manifest_for(SHA)
    del manifest["ticket"]
    with pytest.raises(ValueError, match=r"missing key.*ticket"):
        build_agent(manifest)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("bundle_file", "../etc/passwd"),
        ("bundle_sha256", "AB" * 32),
        ("reboot_required", "maybe"),
        ("free_space_factor", "3x"),
        ("install_dir", "opt/vmware"),
        ("ssh_service_manager", "rc"),
    ],
)
def test_refuses_values_the_agent_would_refuse(key: str, value: str) -> None:
    with pytest.raises(ValueError, match=key):
        build_agent({**manifest_for(SHA), key: value})


def test_given_self_sha256_is_recomputed() -> None:
    text = build_agent({**manifest_for(SHA), "self_sha256": "0" * 64})
    assert parse_manifest(text)["self_sha256"] != "0" * 64


def test_source_alone_refuses_to_run(tmp_path: Path) -> None:
    path = tmp_path / "um-upgrade-agent.sh"
    path.write_text(agent_source())
    result = subprocess.run(["bash", str(path), "help"], capture_output=True, text=True)
    assert result.returncode == 4
    assert "agent's source" in result.stderr


def test_help_runs_anywhere(tmp_path: Path) -> None:
    path = tmp_path / "um-upgrade-agent.sh"
    path.write_text(build_agent(manifest_for(SHA)))
    result = subprocess.run(["bash", str(path), "help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "preflight" in result.stdout and "Exit codes" in result.stdout
    usage = subprocess.run(["bash", str(path), "frobnicate"], capture_output=True, text=True)
    assert usage.returncode == 2 and "unknown command" in usage.stderr
    usage = subprocess.run(
        ["bash", str(path), "verify", "--timeout", "soon"], capture_output=True, text=True
    )
    assert usage.returncode == 2 and "--timeout" in usage.stderr


def test_rendered_agent_runs_as_a_program(tmp_path: Path) -> None:
    """The rendered file is written with mode 0755: ./um-upgrade-agent.sh help works too."""
    out = tmp_path / "package"
    result = umrunbook(["render", "--out", str(out), "-j", "1"])
    assert result.returncode == 0, result.stderr
    agent = out / "um-ams-01" / "agent" / "um-upgrade-agent.sh"
    assert agent.read_text().split("\n", 1)[0] == "#!/bin/bash"
    result = subprocess.run([str(agent), "help"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: bash um-upgrade-agent.sh COMMAND")
    assert "Exit codes" in result.stdout


def test_run_with_sh_says_to_use_bash(tmp_path: Path) -> None:
    need("dash")
    path = tmp_path / "um-upgrade-agent.sh"
    path.write_text(build_agent(manifest_for(SHA)))
    result = subprocess.run(["dash", str(path), "help"], capture_output=True, text=True)
    assert result.returncode == 2 and "bash" in result.stderr


def test_shellcheck_clean() -> None:
    need("shellcheck")
    scripts = [*sorted(Path("agent/parts").glob("*.sh")), *sorted(SIMULATOR.glob("*.sh"))]
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        ["shellcheck", *(str(p if p.is_absolute() else root / p) for p in scripts)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout
    # The assembled file as a whole, without the parts' own directives.
    built = build_agent(manifest_for(SHA))
    assert "# shellcheck" not in built
    result = subprocess.run(["shellcheck", "-"], input=built, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# Features newer than bash 4.2 (the oldest bash the agent supports).
NEWER_THAN_4_2 = {
    r"\$\{[A-Za-z_][A-Za-z_0-9]*(\[[^]]*\])?@[QEPAKaUuLk]\}": "${var@op} (4.4)",
    r"\b(declare|local|typeset)\s+-n\b": "namerefs (4.3)",
    r"\bmapfile\s+-d\b|\breadarray\s+-d\b": "mapfile -d (4.4)",
    r"\bwait\s+-n\b": "wait -n (4.3)",
    r"\$\{?EPOCH(SECONDS|REALTIME)": "EPOCHSECONDS (5.0)",
    r"\$\{[A-Za-z_][A-Za-z_0-9]*\[-[0-9]+\]\}": "negative subscripts (4.3)",
    r"\bBASH_ARGV0\b|\bSRANDOM\b": "bash 5 variables",
}


def test_uses_bash_4_2_features_at_most() -> None:
    text = agent_source()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    found = [what for pattern, what in NEWER_THAN_4_2.items() if re.search(pattern, code)]
    assert not found


def test_evidence_digest_rejects_damage() -> None:
    assert not verify_evidence_digest("not json")
    assert not verify_evidence_digest('{"schema": "x", "digest": ""}')


def test_iso_manifest_builds_and_keeps_its_files() -> None:
    text = build_agent(iso_manifest_for(""))
    manifest = parse_manifest(text)
    assert manifest["delivery"] == "iso" and manifest["bundle_sha256"] == ""
    assert manifest["iso_file"] == manifest["bundle_file"]
    assert manifest["upload_dir"] == "/root/um-upgrade-4.7"
    assert build_agent(iso_manifest_for(SHA))


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"certificate_file": ""}, "certificate_file: is required for an ISO bundle"),
        ({"iso_file": "other.iso"}, "iso_file: must be bundle_file"),
        ({"signature_file": "x.mf", "manifest_file": "x.mf"}, "four different names"),
        ({"reboot_required": "no"}, "reboot_required: must be yes"),
        ({"delivery": "cd"}, "delivery: must be shar or iso"),
        ({"upload_dir": "root/up"}, "upload_dir: must be an absolute path"),
        ({"manifest_file": "../x.mf"}, "manifest_file"),
    ],
)
def test_iso_manifest_refusals(overrides: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        build_agent(iso_manifest_for("", **overrides))


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"bundle_sha256": ""}, "bundle_sha256: is required for a .shar bundle"),
        ({"iso_file": "ums-system-upgrade.shar"}, "iso_file: must be empty for a .shar bundle"),
        ({"upload_dir": "/root/up"}, "upload_dir: must be install_dir for a .shar bundle"),
    ],
)
def test_shar_manifest_refusals(overrides: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        build_agent({**manifest_for(SHA), **overrides})


def test_manifest_for_an_iso_procedure() -> None:
    """The generator's manifest for an ISO hop (4.3's catalogue entry turned into an ISO one)."""
    from dataclasses import replace

    from umrunbook.catalogue.procedure import BundleFile, load_catalogue
    from umrunbook.inventory.example import example_inventory
    from umrunbook.planning.agent_manifest import manifest_for as generator_manifest
    from umrunbook.planning.plan import BundleItem

    base = load_catalogue().get("4.3")
    assert base is not None
    names = {role: f"Usage_Meter_Agent-4.7.0.0-1_Upgrade.{ext}" for role, ext in ISO_EXT.items()}
    procedure = replace(
        base,
        target="4.7",
        delivery="iso",
        upload_dir="/root/um-upgrade-4.7",
        bundle=tuple(BundleFile(role, name, "none") for role, name in names.items()),
        agent=replace(base.agent, ssh_service_manager="systemctl"),
    )
    bundle = [BundleItem(role, name, "none", "", name) for role, name in names.items()]
    inventory = example_inventory()
    manifest = generator_manifest(
        inventory.appliances[0], inventory, procedure, bundle, "umrunbook test"
    )
    assert tuple(manifest) == MANIFEST_KEYS[:-1]
    assert manifest["delivery"] == "iso" and manifest["upload_dir"] == "/root/um-upgrade-4.7"
    assert manifest["bundle_file"] == manifest["iso_file"] == names["iso"]
    assert manifest["manifest_file"] == names["manifest"]
    assert manifest["certificate_file"] == names["certificate"]
    assert manifest["signature_file"] == names["signature"]
    assert manifest["bundle_sha256"] == ""
    assert parse_manifest(build_agent(manifest))["manifest_version"] == "2"
    shar = generator_manifest(
        inventory.appliances[0],
        inventory,
        base,
        [BundleItem("bundle", "ums-system-upgrade.shar", "sha256", SHA, "x")],
        "umrunbook test",
    )
    assert shar["inventory_version"] == str(inventory.appliances[0].version)
    later = generator_manifest(
        inventory.appliances[0], inventory, procedure, bundle, "t", source_version="4.3"
    )
    assert later["inventory_version"] == "4.3"  # a later hop starts from the previous target
    assert shar["delivery"] == "shar" and shar["upload_dir"] == shar["install_dir"]
    assert shar["iso_file"] == shar["manifest_file"] == ""
    assert build_agent(shar)


ISO_EXT = {"iso": "iso", "manifest": "mf", "certificate": "crt", "signature": "sign"}


def test_assembled_from_the_parts_in_order() -> None:
    parts = agent_parts()
    names = [name for name, _ in parts]
    assert names == sorted(names) and names[0] == "00-header.sh" and names[-1] == "99-main.sh"
    text = agent_source()
    assert text.startswith("#!/bin/bash\n") and text.endswith("\n# end of um-upgrade-agent.sh\n")
    where = [text.index(body.partition("\n")[2][:200]) for _, body in parts]
    assert where == sorted(where)
    for name, body in parts:
        assert body.startswith("# shellcheck shell=bash"), name


def test_the_fingerprint_covers_the_parts() -> None:
    """A changed part renders the appliances again: the fingerprint digests every part."""
    folder = resources.files("umrunbook.agent")
    found = {name for name, _ in _files(folder)}
    assert {f"parts/{name}" for name, _ in agent_parts()} <= found


def test_header_names_what_it_changes_and_runs() -> None:
    """The header's list of paths and root commands covers what the code writes and runs."""
    text = agent_source()
    start = text.index("# What this agent may change")
    header = text[start : text.index("\nset -Eeuo pipefail\n")]
    code = text[:start] + text[start + len(header) :]
    assert start < 6000  # near the top, after the checks that run before bash reads further
    for written in sorted(set(re.findall(r'\$RUN_DIR/([a-z.-]+?)(?:\.tmp)?"', code))):
        assert written in header, written
    for name in (".lock", ".lock.pid", "um-upgrade-agent-<target>.sh", "evidence-", "mktemp"):
        assert name in header, name
    ran = re.findall(r'\brun "[^"]*" ([a-z]+)', code)  # commands given to run()
    assert ran and all(command in header for command in ran)
    for command in ("service sshd stop", "systemctl stop sshd", "./scripts/status.sh", "tee -a"):
        assert command in code and command in header, command
    for command in ("sha1sum -c", "openssl x509", "openssl verify", "openssl dgst", "flock"):
        assert command in code and command in header, command
