"""The package owns what umrunbook wrote, and nothing else (issue 13).

Real files, the real command line in child processes, real signals.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FIXED_EPOCH, umrunbook
from tests.helpers import tree
from umrunbook.inventory.example import example_text

MANIFEST = ".umrunbook-package.json"


def render(inventory: Path | None, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["render", *([str(inventory)] if inventory else []), "--format", "md", "--out", str(out)]
    return umrunbook([*args, *extra])


def sums_ok(out: Path) -> bool:
    check = subprocess.run(
        ["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=out, capture_output=True, check=False
    )
    return check.returncode == 0


def listed(out: Path) -> set[str]:
    return {line.split("  ", 1)[1] for line in (out / "SHA256SUMS").read_text().splitlines()}


def add_operator_files(out: Path, appliance: str = "um-ams-01") -> dict[str, int]:
    (out / "NOTES.txt").write_text("call Jane before the reboot\n")
    (out / "evidence").mkdir()
    (out / "evidence" / "screenshot.png").write_bytes(b"\x89PNG...")
    (out / appliance / "my-notes.txt").write_text("ask about the proxy\n")
    return {
        name: (out / name).stat().st_ino
        for name in ("NOTES.txt", "evidence/screenshot.png", f"{appliance}/my-notes.txt")
    }


def assert_operator_files_intact(out: Path, inodes: dict[str, int]) -> None:
    for name, inode in inodes.items():
        assert (out / name).stat().st_ino == inode, name
    assert (out / "NOTES.txt").read_text() == "call Jane before the reboot\n"
    assert not listed(out) & set(inodes), "operator files are not the package's"


def test_a_download_folder_with_a_sha256sums_is_refused_untouched(tmp_path: Path) -> None:
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    (downloads / "ums-system-upgrade.shar").write_bytes(b"bundle")
    (downloads / "SHA256SUMS").write_text("abc  ums-system-upgrade.shar\n")
    before = tree(downloads)
    result = render(None, downloads)
    assert result.returncode == 1
    assert "is not a change package written by umrunbook" in result.stderr
    assert tree(downloads) == before


def test_rendering_again_keeps_as_executed_runbooks_and_operator_files(
    tmp_path: Path, example_inventory_file: Path
) -> None:
    from umrunbook.library import load, plans_of
    from umrunbook.package.build import update_package

    out = tmp_path / "pkg"
    assert render(example_inventory_file, out).returncode == 0
    # What ingest writes: an as-executed runbook, owned by the package from then on.
    plans = plans_of(load(example_inventory_file))
    update_package(out, plans, {"um-ams-01/as-executed.md": b"# As executed\n"})
    assert "um-ams-01/as-executed.md" in listed(out)
    inodes = add_operator_files(out)
    for extra in ((), ("--force",)):
        result = render(example_inventory_file, out, *extra)
        assert result.returncode == 0, result.stderr
        assert (out / "um-ams-01/as-executed.md").read_bytes() == b"# As executed\n"
        assert "um-ams-01/as-executed.md" in listed(out)
        assert_operator_files_intact(out, inodes)
        assert sums_ok(out)
    assert "0 rendered, 3 unchanged" in render(example_inventory_file, out).stdout


def test_ingest_keeps_operator_files(tmp_path: Path, example_inventory_file: Path) -> None:
    from umrunbook.library import load, plans_of
    from umrunbook.package.build import update_package

    out = tmp_path / "pkg"
    assert render(example_inventory_file, out).returncode == 0
    inodes = add_operator_files(out)
    update_package(out, plans_of(load(example_inventory_file)), {"um-fra-01/as-executed.md": b"x"})
    assert_operator_files_intact(out, inodes)
    assert sums_ok(out)


def test_only_keeps_the_other_appliances_and_prune_removes_them(
    tmp_path: Path, example_inventory_file: Path
) -> None:
    out = tmp_path / "pkg"
    assert render(example_inventory_file, out).returncode == 0
    inodes = add_operator_files(out)
    result = render(example_inventory_file, out, "--only", "um-fra-01", "--force")
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir() if p.is_dir()} >= {"um-ams-01", "um-ams-02", "um-fra-01"}
    assert "um-ams-01: not in this render, kept (--prune removes it)" in result.stderr
    assert "um-ams-02/runbook.md" in listed(out) and sums_ok(out)
    assert 'href="um-ams-02/runbook.md"' in (out / "index.html").read_text()

    result = render(example_inventory_file, out, "--only", "um-fra-01", "--prune")
    assert result.returncode == 0, result.stderr
    assert "um-ams-02: removed (--prune)" in result.stderr
    assert not (out / "um-ams-02").exists()
    # The folder of a pruned appliance stays where the operator keeps a file in it.
    assert sorted(p.name for p in (out / "um-ams-01").iterdir()) == ["my-notes.txt"]
    assert_operator_files_intact(out, inodes)
    assert sums_ok(out)


def test_another_inventory_keeps_the_first_ones_runbooks_and_says_so(
    tmp_path: Path, example_inventory_file: Path
) -> None:
    out = tmp_path / "pkg"
    assert render(example_inventory_file, out).returncode == 0
    other = tmp_path / "b.yaml"
    text = example_text()
    other.write_text(text[: text.index("  - name: um-ams-02")].replace("um-ams-01", "um-lon-01"))
    result = render(other, out)
    assert result.returncode == 0, result.stderr
    for name in ("um-ams-01", "um-ams-02", "um-fra-01"):
        assert f"{name}: not in this render, kept (--prune removes it)" in result.stderr
        assert f"{name}/runbook.md" in listed(out)
    assert (out / "um-lon-01/runbook.md").is_file() and sums_ok(out)


def test_a_symlinked_out_is_written_through_never_replaced(
    tmp_path: Path, example_inventory_file: Path
) -> None:
    target = tmp_path / "real"
    assert render(example_inventory_file, target).returncode == 0
    link = tmp_path / "link"
    link.symlink_to(target)
    (target / "NOTES.txt").write_text("mine")
    result = render(example_inventory_file, link, "--force")
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and link.resolve() == target
    assert (target / "NOTES.txt").read_text() == "mine" and sums_ok(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inventory.yaml", "link", "real"]


def test_a_file_changed_by_hand_is_rendered_again_and_named(
    tmp_path: Path, example_inventory_file: Path
) -> None:
    out = tmp_path / "pkg"
    assert render(example_inventory_file, out).returncode == 0
    original = (out / "um-ams-01/runbook.md").read_bytes()
    (out / "um-ams-01/runbook.md").write_text("tampered")
    result = render(example_inventory_file, out)
    assert result.returncode == 0, result.stderr
    assert "um-ams-01/runbook.md was changed by hand: rendered again" in result.stderr
    assert "1 rendered, 2 unchanged" in result.stdout
    assert (out / "um-ams-01/runbook.md").read_bytes() == original
    assert sums_ok(out)


def test_a_package_of_the_previous_version_is_taken_over(
    tmp_path: Path, example_inventory_file: Path
) -> None:
    out = tmp_path / "pkg"
    assert render(example_inventory_file, out).returncode == 0
    # What the previous version wrote: SHA256SUMS and a fingerprints file, no record.
    record = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).unlink()
    fingerprints = {
        name: {"fingerprint": entry["fingerprint"], "files": entry["rendered"]}
        for name, entry in record["appliances"].items()
    }
    (out / ".umrunbook-fingerprints.json").write_text(json.dumps(fingerprints))
    files = {n: d for n, d in record["files"].items()}
    files[".umrunbook-fingerprints.json"] = subprocess.run(
        ["sha256sum", ".umrunbook-fingerprints.json"], cwd=out, capture_output=True, text=True
    ).stdout.split()[0]
    (out / "SHA256SUMS").write_text("".join(f"{d}  {n}\n" for n, d in sorted(files.items())))
    (out / "NOTES.txt").write_text("mine")
    result = render(example_inventory_file, out)
    assert result.returncode == 0, result.stderr
    assert "0 rendered, 3 unchanged" in result.stdout
    assert not (out / ".umrunbook-fingerprints.json").exists()
    assert (out / MANIFEST).is_file() and (out / "NOTES.txt").read_text() == "mine"
    assert sums_ok(out)


def test_a_signal_during_the_swap_leaves_the_new_package_complete(
    tmp_path: Path, example_inventory_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C after the first file is in place: the swap finishes, and says so."""
    from umrunbook.errors import INTERRUPTED_AFTER, Interrupted
    from umrunbook.package import write

    out = tmp_path / "pkg"
    assert render(example_inventory_file, out).returncode == 0
    real_replace = os.replace
    calls: list[str] = []

    def replace_then_signal(src: str | Path, dst: str | Path) -> None:
        real_replace(src, dst)
        calls.append(str(dst))
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(write.os, "replace", replace_then_signal)
    with pytest.raises(Interrupted) as raised:
        write.write_package_atomically(out, {"um-ams-01/runbook.md": b"new", "fleet.csv": b"x"})
    assert raised.value.message == INTERRUPTED_AFTER
    assert len(calls) == 4  # two files, SHA256SUMS and the record: all moved
    assert sums_ok(out) and sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [
        MANIFEST
    ]


def big_fleet(folder: Path, ticket: str) -> Path:
    text = example_text().replace("CHG0012345", ticket)
    head = text[: text.index("appliances:")]
    body = "appliances:\n" + "".join(
        f"  - name: um-big-{n:02}\n    host: um-big-{n:02}.corp.example\n    version: 4.2.0\n"
        for n in range(30)
    )
    path = folder / f"{ticket}.yaml"
    path.write_text(head + body)
    return path


def owned_tree(out: Path) -> dict[str, str]:
    return {k: v for k, v in tree(out).items() if k in listed(out) | {"SHA256SUMS"}}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_process_group_leaves_one_whole_package_and_no_traceback(
    tmp_path: Path, signum: int
) -> None:
    """What a terminal sends on Ctrl-C (the whole group: parent and workers), at moments
    from planning to the last file, while the package changes from one ticket to another."""
    inventories = [big_fleet(tmp_path, "CHG0000001"), big_fleet(tmp_path, "CHG0000002")]
    out = tmp_path / "pkg"
    packages = []
    for inventory in reversed(inventories):
        started = time.monotonic()
        result = umrunbook(
            ["render", str(inventory), "--format", "md,html", "-j", "2", "--out", str(out)]
        )
        assert result.returncode == 0, result.stderr
        packages.append(owned_tree(out))
        duration = time.monotonic() - started
    packages.reverse()  # packages[i] is what inventories[i] renders; now in: inventories[0]
    inodes = add_operator_files(out, "um-big-00")
    current = 0
    delays = [0.6, 0.3, 0.45, 0.6, 0.75, 0.9] if signum == signal.SIGINT else [0.5, 0.8]
    for fraction in delays:
        command = [sys.executable, "-m", "umrunbook", "render", str(inventories[1 - current])]
        command += ["--format", "md,html", "-j", "2", "--out", str(out)]
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            process_group=0,
            env={**os.environ, "SOURCE_DATE_EPOCH": FIXED_EPOCH},
        )
        time.sleep(fraction * duration)
        sent = process.poll() is None
        if sent:
            os.killpg(process.pid, signum)
        _, stderr = process.communicate(timeout=120)
        assert "Traceback" not in stderr, stderr
        assert sent or process.returncode == 0
        if sent and process.returncode == 0:
            pass  # the signal came as the process was ending: the new package, complete
        elif sent:
            assert process.returncode != 0
            assert "interrupted" in stderr, stderr
        now = owned_tree(out)
        assert now in packages, f"a mixed package after a signal at {fraction:.2f}"
        assert sums_ok(out)
        new = packages.index(now)
        if "interrupted; the previous package is unchanged" in stderr:
            assert new == current
        if "interrupted after the new package was in place" in stderr:
            assert new != current
        current = new
        litter = [p.name for p in [*out.iterdir(), *tmp_path.iterdir()] if ".new-" in p.name]
        litter += [p.name for p in out.iterdir() if p.name.startswith(".umrunbook-transaction")]
        assert not litter
        assert_operator_files_intact(out, inodes)


@pytest.mark.parametrize("moves", [1, 3, 4])
def test_a_run_killed_mid_swap_is_finished_by_the_next_one(
    tmp_path: Path, example_inventory_file: Path, moves: int
) -> None:
    """SIGKILL cannot be caught: the journal lets the next run roll back (the record not yet
    in place) or forward (it was)."""
    out = tmp_path / "pkg"
    assert render(example_inventory_file, out).returncode == 0
    old = owned_tree(out)
    script = f"""
import os, signal
from pathlib import Path
from umrunbook.package import write
real = os.replace
count = []
def replace(src, dst):
    real(src, dst)
    count.append(dst)
    if len(count) == {moves}:
        os.kill(os.getpid(), signal.SIGKILL)
write.os.replace = replace
files = {{"um-ams-01/runbook.md": b"new", "x/y.md": b"y"}}
write.write_package_atomically(Path({str(out)!r}), files)
"""
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert (out / ".umrunbook-transaction").is_dir()
    # --prune: rolled forward, the package owns x/y.md, which this inventory does not cover.
    result = render(example_inventory_file, out, "--force", "--prune")
    assert result.returncode == 0, result.stderr
    assert not (out / ".umrunbook-transaction").exists() and sums_ok(out)
    # Either way, the render after it owns exactly the package it wrote.
    assert owned_tree(out) == old and not (out / "x").exists()
