"""The transfer sets of a route with ISO hops (4.2 → 4.5 → 4.7): one set per hop, each uploading
that hop's four files and agent into the folder the procedure names, the ISO checked against
the vendor's SHA-1 manifest (and the inventory's SHA-256 where given) before connecting.

The upload tests run the generated upload.sh against a real OpenSSH server (tests/sshd) on
127.0.0.1: every appliance of the inventories here is this machine's loopback address. The
WinSCP files are checked against WinSCP's documented syntax as in tests/test_transfer.py (see
its references; scriptcommand_call: `call <command>` runs a remote shell command, with SFTP in
a separate shell session; a command with error output and no standard output fails).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from tests.conftest import need, need_root, umrunbook
from tests.helpers import ISO_BUILDS as BUILDS
from tests.helpers import NOW, step_heading
from tests.helpers import ROUTE_NAME as NAME
from tests.helpers import route_inventory_text as inventory_text
from tests.helpers.upload import run_upload, sha256, write_bundle
from tests.helpers.winscp import WINSCP_SWITCHES, assert_documented, winscp_commands
from tests.sshd import Server, running_agent, running_sshd
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.faces.markdown import render_markdown
from umrunbook.faces.transfer import transfer_files, uploads, windows_folder
from umrunbook.inventory.load import parse_inventory
from umrunbook.planning.bind import plan_fleet
from umrunbook.planning.plan import Plan

AGENT = "um-upgrade-agent.sh"


def iso_names(target: str) -> dict[str, str]:
    stem = f"Usage_Meter_Agent-{target}.0.0-{BUILDS[target]}_Upgrade"
    return {
        "iso": f"{stem}.iso",
        "manifest": f"{stem}.mf",
        "certificate": f"{stem}.crt",
        "signature": f"{stem}.sign",
    }


def route_plan(tmp_path: Path, **options: object) -> Plan:
    path = tmp_path / "inventory.yaml"
    path.write_text(inventory_text(**options), encoding="utf-8")  # type: ignore[arg-type]
    inventory = parse_inventory(path.read_text(encoding="utf-8"), path)
    (plan,) = plan_fleet(inventory, load_catalogue(), NOW)
    return plan


def text(files: dict[str, bytes], name: str) -> str:
    return files[name].decode("utf-8")


HOP1 = f"{NAME}/hop-1-4.5/transfer"
HOP2 = f"{NAME}/hop-2-4.7/transfer"


# -- one transfer set per hop -----------------------------------------------------------------


def test_a_route_gets_one_transfer_set_per_hop_in_order(tmp_path: Path) -> None:
    plan = route_plan(tmp_path)
    assert [u.folder for u in uploads(plan)] == [HOP1, HOP2]
    assert [u.remote_dir for u in uploads(plan)] == ["/root/um-upgrade-4.5", "/root/um-upgrade-4.7"]
    files = transfer_files(plan)
    names = [
        "fetch-evidence.sh",
        "known_hosts",
        "sftp-fetch-evidence.batch",
        "sftp-upload.batch",
        "upload.sh",
        "winscp-fetch-evidence.cmd",
        "winscp-fetch-evidence.txt",
        "winscp-upload.cmd",
        "winscp-upload.txt",
    ]
    assert sorted(files) == [f"{hop}/{name}" for hop in (HOP1, HOP2) for name in names]
    for upload in uploads(plan):
        assert upload.agent_relpath == "../agent/um-upgrade-agent.sh"
        # Every hop's fetch copies into the appliance's one evidence folder by default.
        assert upload.evidence_relpath == "../../evidence"


def test_each_hop_uploads_its_own_four_files_and_agent_into_its_folder(tmp_path: Path) -> None:
    plan = route_plan(tmp_path)
    files = transfer_files(plan)
    for hop, target in ((HOP1, "4.5"), (HOP2, "4.7")):
        batch = text(files, f"{hop}/sftp-upload.batch")
        commands = [line for line in batch.splitlines() if not line.startswith("#")]
        folder = f"/root/um-upgrade-{target}"
        names = [*iso_names(target).values(), AGENT]
        assert commands[:2] == [f'-mkdir "{folder}"', f'cd "{folder}"']
        # Only the mkdir may fail (an existing folder): every other command stops sftp.
        assert not any(line.startswith("-") for line in commands[1:])
        assert commands[2:] == (
            [f'put "{n}" "{n}.part"' for n in names]
            + [f'rename "{n}.part" "{n}"' for n in names]
            + [f'ls -l "{n}"' for n in names]
        )
        script = text(files, f"{hop}/upload.sh")
        assert f"remote_dir='{folder}'" in script
        assert f"iso_name='{iso_names(target)['iso']}'" in script
        assert f"manifest_name='{iso_names(target)['manifest']}'" in script


def test_the_iso_sha256_is_checked_only_where_the_inventory_gives_one(tmp_path: Path) -> None:
    files = transfer_files(route_plan(tmp_path))
    hop1 = text(files, f"{HOP1}/upload.sh")
    hop2 = text(files, f"{HOP2}/upload.sh")
    assert f"iso_sha256='{'1' * 64}'" in hop1
    assert 'check_sha256 "$iso" "the ISO"' in hop1
    assert "iso_sha256=''" in hop2  # the check runs only where a value is given
    for script in (hop1, hop2):  # the manifest in any case, before connecting
        main = script[script.index("\nmain() {") :]
        assert (
            main.index("check_manifest") < main.index("check_known_hosts") < main.index("upload\n")
        )


def test_the_single_shar_hop_keeps_its_transfer_folder(tmp_path: Path) -> None:
    """One hop: <name>/transfer, as before; the installation folder is not created."""
    from tests.helpers import example_plan

    files = transfer_files(example_plan())
    assert "um-ams-01/transfer/upload.sh" in files
    assert "mkdir" not in text(files, "um-ams-01/transfer/sftp-upload.batch")
    assert "call" not in text(files, "um-ams-01/transfer/winscp-upload.txt")


def test_windows_folder_is_the_one_folder_of_all_files() -> None:
    assert windows_folder([("C:\\Up\\a.iso", "a.iso"), ("C:\\Up\\a.mf", "a.mf")]) == "C:\\Up"
    assert windows_folder([("C:\\Up\\a.iso", "a.iso"), ("D:\\a.mf", "a.mf")]) is None
    assert windows_folder([("a.iso", "a.iso")]) is None  # no folder in the inventory
    assert windows_folder([("C:\\50%\\a.iso", "a.iso")]) is None


@pytest.mark.parametrize(
    "options",
    [{}, {"host_key": None}, {"sha256_47": "2" * 64}],
    ids=["manifest only", "no host key", "with sha256"],
)
@pytest.mark.parametrize("protocol", ["sftp", "scp"])
def test_iso_upload_sh_passes_shellcheck_and_dash(
    tmp_path: Path, options: dict[str, object], protocol: str
) -> None:
    need("shellcheck", "dash")
    import dataclasses

    plan = route_plan(tmp_path, **options)
    plan = dataclasses.replace(plan, transfer=dataclasses.replace(plan.transfer, protocol=protocol))
    for hop in (HOP1, HOP2):
        script = tmp_path / "upload.sh"
        script.write_bytes(transfer_files(plan)[f"{hop}/upload.sh"])
        check = subprocess.run(
            ["shellcheck", "-s", "sh", "-S", "style", str(script)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stdout
        parse = subprocess.run(["dash", "-n", str(script)], capture_output=True, check=False)
        assert parse.returncode == 0, parse.stderr


def test_windows_files_have_crlf_and_the_others_lf(tmp_path: Path) -> None:
    for name, data in transfer_files(route_plan(tmp_path)).items():
        if name.endswith((".cmd", ".txt")):
            assert data.count(b"\n") == data.count(b"\r\n"), name
            assert data.endswith(b"\r\n")
        else:
            assert b"\r" not in data, name
        data.decode("ascii")


# -- the WinSCP script and the .cmd of an ISO hop ----------------------------------------------

ISO_SWITCHES = {**WINSCP_SWITCHES, "call": {"-p"}}


@pytest.mark.parametrize("protocol", ["sftp", "scp"])
def test_iso_winscp_script_follows_the_documented_syntax(protocol: str, tmp_path: Path) -> None:
    import dataclasses

    plan = route_plan(tmp_path, host="192.0.2.41", port=2222)
    plan = dataclasses.replace(plan, transfer=dataclasses.replace(plan.transfer, protocol=protocol))
    script = text(transfer_files(plan), f"{HOP2}/winscp-upload.txt")
    commands = winscp_commands(script)
    assert_documented(commands, ISO_SWITCHES)
    names = [c[0] for c in commands]
    opening = names.index("open")
    assert commands[opening - 2] == ["option", "batch", "off"]
    assert commands[opening + 1] == ["option", "batch", "abort"]
    assert commands[opening][1] == f"{protocol}://root@192.0.2.41:2222/"
    assert names[-1] == "exit"

    folder = "/root/um-upgrade-4.7"
    # WinSCP's mkdir fails on an existing folder (and any failure sets exit code 1, even in
    # batch continue mode): the remote shell's mkdir -p, in abort mode, before the cd.
    assert "mkdir" not in names
    call = names.index("call")
    assert commands[call] == ["call", "mkdir", "-p", folder]
    assert commands[call + 1] == ["cd", folder]
    assert names.index("option", opening + 1) < call

    files = [*iso_names("4.7").values(), AGENT]
    puts = [c for c in commands if c[0] == "put"]
    assert [p[-2] for p in puts] == ["%1%", "%2%", "%3%", "%4%", "%5%"]
    assert all("-transfer=binary" in p for p in puts)
    if protocol == "sftp":
        assert all("-resumesupport=on" in p for p in puts)
        assert [p[-1] for p in puts] == [f"{folder}/{f}" for f in files]
    else:
        assert [p[-1] for p in puts] == [f"{folder}/{f}.part" for f in files]
        moves = [c[1:] for c in commands if c[0] == "mv"]
        assert moves == [[f"{folder}/{f}.part", f"{folder}/{f}"] for f in files]
    assert [c[1] for c in commands if c[0] == "ls"] == [f"{folder}/{f}" for f in files]
    body = "\r\n".join(line for line in script.split("\r\n") if not line.startswith("#"))
    assert re.findall(r"%[^%\s]*%", body) == ["%1%", "%2%", "%3%", "%4%", "%5%"]
    assert "password" not in body.lower()


SYSTEM_VARIABLES = {"ERRORLEVEL", "ProgramFiles", "ProgramFiles(x86)", "LOCALAPPDATA", "WINSCP_COM"}


def cmd_code(plan: Plan, hop: str = HOP2) -> list[str]:
    lines = text(transfer_files(plan), f"{hop}/winscp-upload.cmd").split("\r\n")
    assert lines[0] == "@echo off"
    return [line for line in lines if line and not line.lower().startswith("rem")]


@pytest.mark.parametrize(
    "options", [{}, {"host_key": None}, {"sha256_47": "2" * 64}], ids=["key", "no key", "sha256"]
)
def test_iso_cmd_labels_variables_and_blocks(tmp_path: Path, options: dict[str, object]) -> None:
    code = cmd_code(route_plan(tmp_path, **options))
    labels = {line[1:] for line in code if line.startswith(":")}
    targets = re.findall(r"\b(?:goto|call) :?(\w+)", "\n".join(code), flags=re.IGNORECASE)
    assert targets and set(targets) <= labels, set(targets) - labels
    assert not any(line.rstrip().endswith("(") or line.strip() == ")" for line in code)
    assigned = set(re.findall(r'set "(\w+)=', "\n".join(code)))
    for line in code:
        stripped = re.sub(r"%%|%~(?:dp0|1|2)|%%~\$PATH:W", "", line)
        for variable in re.findall(r"%([^%]+)%", stripped):
            # cmd.exe's substring form %NAME:~start,length% reads NAME.
            assert variable.split(":~")[0] in assigned | SYSTEM_VARIABLES, (variable, line)
        assert stripped.count("%") % 2 == 0, line
    # Paths never go through `call` (it would expand their percent signs a second time).
    assert all(re.fullmatch(r"call :check_\w+", line.strip()) for line in code if "call " in line)


def iso_section(code: list[str]) -> list[str]:
    """The ISO way of the .cmd's one program, from :iso to :no_host_key."""
    return code[code.index(":iso") : code.index(":no_host_key")]


def test_iso_cmd_checks_the_files_then_runs_winscp_with_five_parameters(tmp_path: Path) -> None:
    whole = cmd_code(route_plan(tmp_path, sha256_47="2" * 64))
    code = [*[line for line in whole if line.startswith("set ")], *iso_section(whole)]
    joined = "\n".join(code)
    assert 'set "UM_DEFAULT=C:\\Upgrades\\4.7"' in code
    assert 'set "UM_FOLDER=%UM_DEFAULT%"' in code
    assert 'if not "%~1"=="" set "UM_FOLDER=%~1"' in code
    assert 'set "UM_ISO=%UM_FOLDER%\\%UM_ISO_NAME%"' in code
    assert f'set "UM_ISO_NAME={iso_names("4.7")["iso"]}"' in code
    assert f'set "UM_MANIFEST_NAME={iso_names("4.7")["manifest"]}"' in code
    assert f'set "UM_ISO_SHA256={"2" * 64}"' in code
    run = next(line for line in code if "/script=" in line)
    assert run.startswith('"%UM_WINSCP%" /ini=nul /log="%UM_LOG%" /script="%UM_SCRIPT%"')
    assert run.endswith(
        '/parameter // "%UM_ISO%" "%UM_MANIFEST%" "%UM_CERTIFICATE%" "%UM_SIGNATURE%" "%UM_AGENT%"'
    )
    before = joined[: joined.index("/script=")]
    assert before.count("call :check_file") == 3
    assert before.count("call :check_sha256") == 2  # the ISO (SHA-256 given) and the agent
    assert before.count("call :check_manifest") == 1
    assert before.count("if errorlevel 1 goto refused") == 6
    for powershell in (line for line in whole if line.startswith("powershell.exe")):
        assert powershell.count('"') == 2 and powershell.endswith('"')
        assert "%" not in powershell
    manifest = next(line for line in whole if "Get-FileHash -Algorithm SHA1" in line)
    assert "Get-FileHash -Algorithm SHA1 -LiteralPath $p" in manifest
    for form in ("'SHA1(' + $n + ')'", "'SHA1 (' + $n + ')'", "(' ' + $n)", "('*' + $n)"):
        assert form in manifest
    assert "exit 4" in manifest  # no line for the ISO: refused


def test_iso_cmd_without_a_sha256_checks_the_manifest_and_the_agent(tmp_path: Path) -> None:
    whole = cmd_code(route_plan(tmp_path))
    assert 'set "UM_ISO_SHA256="' in whole
    code = iso_section(whole)
    joined = "\n".join(code)
    # Without a SHA-256 the ISO's own check is skipped at run time; the manifest and the
    # agent are always checked.
    skip = code.index('if "%UM_ISO_SHA256%"=="" goto iso_manifest')
    assert code.index(":iso_manifest") > skip
    assert "call :check_sha256" in code[code.index(":iso_manifest") :]  # the agent
    assert joined.count("call :check_manifest") == 1


# -- the runbook's transfer section of each hop --------------------------------------------------


def section(plan: Plan, target: str) -> str:
    """One hop's transfer detail: where it stands, from its prerequisites up to the step that
    checks the files on the appliance."""
    markdown = render_markdown(plan)
    (hop,) = [n for n, h in enumerate(plan.hops) if h.target_version.short == target]
    # Its steps before the window (on a route in the part ahead of the upgrades) ...
    first = markdown.index(f"### {step_heading(plan, 'download-bundle', hop)}\n")
    before = markdown[first : markdown.index("\n## ", first)]
    # ... and its prerequisites and steps up to the check on the appliance.
    start = markdown.index(f"## {target}: Prerequisites\n")
    end = markdown.index(f"### {step_heading(plan, 'check-upload', hop)}\n", start)
    return before + markdown[start:end]


def fences(markdown: str) -> list[tuple[str, list[str]]]:
    tokens = MarkdownIt("commonmark").parse(markdown)
    return [(t.info, t.content.rstrip("\n").split("\n")) for t in tokens if t.type == "fence"]


def test_the_iso_hop_section_lists_its_files_folder_and_scripts(tmp_path: Path) -> None:
    plan = route_plan(tmp_path)
    text = section(plan, "4.7")
    names = iso_names("4.7")
    assert "**Remote folder:** `/root/um-upgrade-4.7`" in text
    for name in names.values():
        assert f"`{name}`" in text
    assert "`hop-2-4.7/agent`" in text
    blocks = fences(text)
    iso = f"C:\\Upgrades\\4.7\\{names['iso']}"
    assert ("powershell", [f"Get-FileHash -Algorithm SHA1 -LiteralPath '{iso}'"]) in blocks
    assert ("cmd", [f'certutil -hashfile "{iso}" SHA1']) in blocks
    assert ("cmd", ['winscp-upload.cmd "C:\\Upgrades\\4.7"']) in blocks
    assert ("sh", [f"sh {NAME}/hop-2-4.7/transfer/upload.sh"]) in blocks
    assert f"`{NAME}/hop-2-4.7/transfer`" in text
    assert "openssl" in text  # optional on a Linux workstation
    # The checks on the appliance are the catalogue's step, not repeated here.
    assert "Check the files on the appliance" in text
    assert not any(line.startswith("sha1sum -c") for _, lines in blocks for line in lines)
    assert "**Expected:** ``" not in text and "`  `" not in text


def test_the_iso_hop_with_a_sha256_shows_it(tmp_path: Path) -> None:
    text = section(route_plan(tmp_path), "4.5")
    assert f"`{'1' * 64}`" in text
    names = iso_names("4.5")
    iso = f"C:\\Upgrades\\4.5\\{names['iso']}"
    # Once: the workstation's check step's own command (quoted only where it needs it).
    sha256 = [b for b in fences(text) if "-Algorithm SHA256" in b[1][0]]
    assert sha256 == [("powershell", [f"Get-FileHash -Algorithm SHA256 -LiteralPath {iso}"])]
    assert ("cmd", ['winscp-upload.cmd "C:\\Upgrades\\4.5"']) in fences(text)


# -- uploads against a real OpenSSH server ---------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    need_root()
    need("sshd", "sftp", "ssh-keygen", "ssh-agent", "ssh-add", "unshare", "openssl", "setsid")
    with running_sshd() as started:
        yield started


@pytest.fixture
def remote(server: Server) -> Iterator[Path]:
    server.clear_remote()
    yield server.remote("/root/um-upgrade-4.7")
    server.clear_remote()


def write_files(folder: Path, manifest: str | None = None, iso_size: int = 256 * 1024 + 3) -> Path:
    """The four 4.7 files in folder; the manifest names the ISO's real SHA-1 unless given."""
    names = iso_names("4.7")
    iso = write_bundle(folder / names["iso"], iso_size)
    sha1 = hashlib.sha1(iso.read_bytes()).hexdigest()
    text = manifest if manifest is not None else f"SHA1({names['iso']})= {sha1}\n"
    (folder / names["manifest"]).write_bytes(text.replace("{sha1}", sha1).encode("utf-8"))
    (folder / names["certificate"]).write_bytes(b"-----BEGIN CERTIFICATE-----\n...\n")
    (folder / names["signature"]).write_bytes(bytes(range(256)))
    return folder


def render(tmp_path: Path, server: Server, **options: object) -> Path:
    path = tmp_path / "inventory.yaml"
    key = options.pop("host_key", server.host_key_line)
    path.write_text(
        inventory_text(port=server.port, host_key=key, **options),  # type: ignore[arg-type]
        encoding="utf-8",
    )
    out = tmp_path / "change package"
    result = umrunbook(["render", str(path), "--format", "md", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    return out


def assert_uploaded(remote: Path, folder: Path, package: Path) -> None:
    names = list(iso_names("4.7").values())
    assert sorted(p.name for p in remote.iterdir()) == sorted([*names, AGENT])
    for name in names:
        assert sha256(remote / name) == sha256(folder / name), name
    agent = package / NAME / "hop-2-4.7" / "agent" / AGENT
    assert sha256(remote / AGENT) == sha256(agent)


def test_hop_two_uploads_its_four_files_and_agent_into_a_new_folder(
    server: Server, remote: Path, tmp_path: Path
) -> None:
    folder = write_files(tmp_path / "downloads 4.7 (copy)")
    out = render(tmp_path, server)
    assert (out / NAME / "hop-1-4.5" / "transfer" / "upload.sh").is_file()
    script = out / NAME / "hop-2-4.7" / "transfer" / "upload.sh"
    assert not remote.exists()
    with running_agent(server.client_key) as agent_env:
        result = run_upload(script, folder, tmp_path, agent_env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SHA-1 OK" in result.stdout
        assert "UPLOADED" in result.stdout
        assert_uploaded(remote, folder, out)
        # Again, into the folder that now exists (sftp's -mkdir fails there, harmlessly).
        again = run_upload(script, folder, tmp_path, agent_env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert_uploaded(remote, folder, out)


MANIFEST_FORMS = {
    "openssl": "SHA1({iso})= {sha1}\n",
    "bsd": "SHA1 ({iso}) = {sha1}\n",
    "coreutils": "{sha1}  {iso}\n",
    "coreutils binary": "{sha1} *{iso}\n",
    "crlf, bom, capitals, other lines": "\ufeffSHA1(other.crt)= 0000\r\nSHA1({iso})= {SHA1}\r\n",
}


@pytest.mark.parametrize("form", MANIFEST_FORMS.values(), ids=MANIFEST_FORMS.keys())
def test_each_manifest_form_is_accepted(
    server: Server, remote: Path, tmp_path: Path, form: str
) -> None:
    iso = iso_names("4.7")["iso"]
    folder = tmp_path / "files"
    folder.mkdir()
    write_files(folder, iso_size=4096)
    sha1 = hashlib.sha1((folder / iso).read_bytes()).hexdigest()
    manifest = form.replace("{iso}", iso).replace("{sha1}", sha1).replace("{SHA1}", sha1.upper())
    (folder / iso_names("4.7")["manifest"]).write_bytes(manifest.encode("utf-8"))
    out = render(tmp_path, server)
    with running_agent(server.client_key) as agent_env:
        result = run_upload(
            out / NAME / "hop-2-4.7" / "transfer" / "upload.sh", folder, tmp_path, agent_env
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SHA-1 OK: {sha1}" in result.stdout


def refused_before_connecting(
    server: Server, remote: Path, script: Path, folder: Path, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    before = server.connections()
    with running_agent(server.client_key) as agent_env:
        result = run_upload(script, folder, tmp_path, agent_env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "REFUSED" in result.stderr
    assert "Nothing was uploaded" in result.stderr
    assert server.connections() == before
    assert not remote.exists()
    return result


def test_an_iso_that_does_not_match_its_manifest_is_refused_before_connecting(
    server: Server, remote: Path, tmp_path: Path
) -> None:
    folder = write_files(tmp_path / "files")
    iso = folder / iso_names("4.7")["iso"]
    with iso.open("r+b") as handle:  # one byte changed, the size unchanged
        handle.seek(1000)
        handle.write(b"\xff" if handle.read(1) != b"\xff" else b"\x00")
    out = render(tmp_path, server)
    script = out / NAME / "hop-2-4.7" / "transfer" / "upload.sh"
    result = refused_before_connecting(server, remote, script, folder, tmp_path)
    assert "the ISO does not match the vendor's manifest" in result.stderr
    assert "manifest SHA-1:" in result.stderr


@pytest.mark.parametrize(
    "manifest",
    [
        "",
        "SHA1(another.iso)= {sha1}\n",
        "SHA1({iso}.bak)= {sha1}\n",
        "{sha1}  x{iso}\n",
    ],
    ids=["empty", "another file", "a longer name", "a name ending in it"],
)
def test_a_manifest_without_a_line_for_the_iso_is_refused(
    server: Server, remote: Path, tmp_path: Path, manifest: str
) -> None:
    iso = iso_names("4.7")["iso"]
    folder = write_files(tmp_path / "files", manifest=manifest.replace("{iso}", iso))
    out = render(tmp_path, server)
    script = out / NAME / "hop-2-4.7" / "transfer" / "upload.sh"
    result = refused_before_connecting(server, remote, script, folder, tmp_path)
    assert f"the manifest has no line for {iso}" in result.stderr


def test_a_manifest_with_two_values_for_the_iso_is_refused(
    server: Server, remote: Path, tmp_path: Path
) -> None:
    iso = iso_names("4.7")["iso"]
    manifest = f"SHA1({iso})= {{sha1}}\n{'0' * 40}  {iso}\n"
    folder = write_files(tmp_path / "files", manifest=manifest)
    out = render(tmp_path, server)
    script = out / NAME / "hop-2-4.7" / "transfer" / "upload.sh"
    result = refused_before_connecting(server, remote, script, folder, tmp_path)
    assert "different SHA-1 values" in result.stderr


def test_an_iso_sha256_mismatch_is_refused_before_connecting(
    server: Server, remote: Path, tmp_path: Path
) -> None:
    folder = write_files(tmp_path / "files")
    out = render(tmp_path, server, sha256_47="3" * 64)
    script = out / NAME / "hop-2-4.7" / "transfer" / "upload.sh"
    result = refused_before_connecting(server, remote, script, folder, tmp_path)
    assert "REFUSED: the ISO is not the one in the plan" in result.stderr
    assert "expected SHA-256: " + "3" * 64 in result.stderr


def test_the_iso_sha256_from_the_inventory_is_accepted(
    server: Server, remote: Path, tmp_path: Path
) -> None:
    folder = write_files(tmp_path / "files")
    iso_sha256 = sha256(folder / iso_names("4.7")["iso"])
    out = render(tmp_path, server, sha256_47=iso_sha256)
    with running_agent(server.client_key) as agent_env:
        result = run_upload(
            out / NAME / "hop-2-4.7" / "transfer" / "upload.sh", folder, tmp_path, agent_env
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SHA-256" in result.stdout and "SHA-1 OK" in result.stdout
    assert_uploaded(remote, folder, out)


@pytest.mark.parametrize("missing", ["certificate", "signature", "folder"])
def test_a_missing_file_is_refused_before_connecting(
    server: Server, remote: Path, tmp_path: Path, missing: str
) -> None:
    folder = write_files(tmp_path / "files")
    if missing == "folder":
        folder = tmp_path / "no such folder"
    else:
        (folder / iso_names("4.7")[missing]).unlink()
    out = render(tmp_path, server)
    script = out / NAME / "hop-2-4.7" / "transfer" / "upload.sh"
    result = refused_before_connecting(server, remote, script, folder, tmp_path)
    assert (missing if missing != "folder" else "not a folder") in result.stderr
