"""This version against the one before issues 12 and 13, side by side on one fleet.

    .venv/bin/python bench/bench_versions.py [--appliances 500] [--runs 3] [--old cbd30b0]

The old version is taken from this repository's history (`git archive`) into a temporary
folder and installed in a virtualenv of its own; then both render the same generated fleet
(every format, --jobs 2, --force, a fixed SOURCE_DATE_EPOCH) in turn, A B A B ..., each a
whole process timed from outside. The figure is the median of the pairs' ratios, printed
beside its target. Nothing is asserted; nothing leaves this machine but the package index
that installs the old version's dependencies.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import paired, verdict

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "cbd30b0"  # the last commit before issues 12 and 13
TARGET = 1.15
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICNP8KqokjuNoiuoVu5vMer+SR0pzsOgcK8FNRL1b/1Y"
EPOCH = {"SOURCE_DATE_EPOCH": "1764633600"}


def mixed_fleet(folder: Path, count: int) -> Path:
    """An inventory to 4.7 that both versions take: two hops from 4.2, one from 4.3 to 4.6."""
    lines = [
        "change:",
        "  ticket: CHG0099999",
        "  window: {start: 2026-12-05T22:00:00+01:00, end: 2026-12-06T06:00:00+01:00}",
        "  implementer: Bench Operator",
        "upgrade:",
        "  target: '4.7'",
        f"  bundle: {{build: '22010000', sha256: {'ab' * 32}}}",
        "  bundles:",
        f"    '4.5': {{build: '19934127', sha256: {'cd' * 32}}}",
        f"    '4.3': {{sha256: {'ef' * 32}}}",
        "appliances:",
    ]
    for index in range(count):
        version = ("4.2.1", "4.3.0", "4.5.0", "4.6.0")[index % 4]
        lines += [
            f"  - name: um-{index:04d}",
            f"    host: um-{index:04d}.corp.example",
            f"    version: {version}",
            f"    ssh_host_key: {KEY}",
            f"    snapshot: vc01 / DC1 / um-{index:04d}",
            "    metered_servers: [vc01.corp.example, vcd01.corp.example]",
        ]
    path = folder / "inventory.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def install_old(commit: str, folder: Path) -> Path:
    """The `umrunbook` command of `commit`, installed from this repository's history."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit],
        capture_output=True,
        check=True,
    ).stdout
    source = folder / "source"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(source, filter="data")
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin/pip"), "install", "--quiet", "--disable-pip-version-check", str(source)],
        check=True,
    )
    return venv / "bin" / "umrunbook"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appliances", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3, help="pairs counted")
    parser.add_argument("--warmup", type=int, default=1, help="pairs run first, not counted")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--old", default=BASELINE, help="the commit to compare with")
    parser.add_argument(
        "--old-venv", type=Path, help="reuse the old version's virtualenv in this folder"
    )
    args = parser.parse_args()
    new = ROOT / ".venv" / "bin" / "umrunbook"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.old_venv and (args.old_venv / "venv" / "bin" / "umrunbook").is_file():
            old = args.old_venv / "venv" / "bin" / "umrunbook"
        else:
            print(f"installing {args.old} beside this version ...", flush=True)
            old = install_old(args.old, args.old_venv or folder)
        inventory = mixed_fleet(folder, args.appliances)
        command = [str(inventory), "--jobs", str(args.jobs), "--force"]
        pair = paired(
            [str(new), "render", *command, "--out", str(folder / "new")],
            [str(old), "render", *command, "--out", str(folder / "old")],
            runs=args.runs,
            warmup=args.warmup,
            env=EPOCH,
        )
    print(
        f"{args.appliances} appliances to 4.7 (1 or 2 hops), all formats, --jobs {args.jobs}, "
        f"whole process: this version {pair.a.wall:.2f} s (peak {pair.a.peak_mb:.0f} MB), "
        f"{args.old} {pair.b.wall:.2f} s (peak {pair.b.peak_mb:.0f} MB)"
    )
    print(
        f"  ratio {pair.ratio:.3f}x, median of {len(pair.ratios)} pairs "
        f"({', '.join(f'{r:.3f}' for r in pair.ratios)}); target <= {TARGET:.2f}x: "
        f"{verdict(pair.ratio, TARGET)}"
    )


if __name__ == "__main__":
    main()
