"""`umrunbook check` of a fleet in a CSV file: 1,000, 10,000 and 100,000 rows.

    .venv/bin/python bench/bench_check.py [--rows 1000,10000,100000] [--runs 3]

Each size is a whole process (`umrunbook check`), timed from outside: wall time and peak
resident memory, medians of --runs runs after one warm-up (one run for 100,000 rows). Printed
beside the targets: 10,000 rows in <= 2 s and <= 200 MB; linear (the time per 1,000 rows does
not grow with the fleet: the cost of each further 1,000 rows is printed). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import repeated, verdict

ROOT = Path(__file__).resolve().parent.parent
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICNP8KqokjuNoiuoVu5vMer+SR0pzsOgcK8FNRL1b/1Y"
TARGET_S = 2.0
TARGET_MB = 200.0


def csv_fleet(folder: Path, rows: int) -> Path:
    """An inventory whose appliances are a CSV of `rows` rows of some 200 bytes."""
    lines = ["name,host,version,ssh_host_key,snapshot,metered_servers"]
    for index in range(rows):
        version = ("4.2.0", "4.2.1", "4.1.0")[index % 3]
        lines.append(
            f"um-{index:06d},um-{index:06d}.corp.example,{version},{KEY},"
            f"vc01 / DC1 / um-{index:06d},vc01.corp.example;vcd01.corp.example"
        )
    (folder / "fleet.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = folder / "inventory.yaml"
    path.write_text(
        "change:\n"
        "  ticket: CHG0099999\n"
        "  window: {start: 2026-12-05T22:00:00+01:00, end: 2026-12-06T06:00:00+01:00}\n"
        "  implementer: Bench Operator\n"
        f"upgrade:\n  target: '4.3'\n  bundle: {{sha256: {'ab' * 32}}}\n"
        "appliances: fleet.csv\n",
        encoding="utf-8",
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    command = str(ROOT / ".venv" / "bin" / "umrunbook")
    walls: dict[int, float] = {}
    for rows in (int(n) for n in args.rows.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            inventory = csv_fleet(Path(tmp), rows)
            size = (Path(tmp) / "fleet.csv").stat().st_size
            runs = 1 if rows >= 100_000 else args.runs
            result = repeated([command, "check", str(inventory)], runs, warmup=1)
        walls[rows] = result.wall
        line = (
            f"check, {rows:>7,} CSV rows ({size / 1e6:.1f} MB): {result.wall:6.2f} s, "
            f"peak {result.peak_mb:6.0f} MB, {result.wall / rows * 1e6:.0f} ms per 1,000 rows"
        )
        if rows == 10_000:
            line += (
                f"; targets <= {TARGET_S:.0f} s: {verdict(result.wall, TARGET_S)}, "
                f"<= {TARGET_MB:.0f} MB: {verdict(result.peak_mb, TARGET_MB)}"
            )
        print(line, flush=True)
    sizes = sorted(walls)
    if len(sizes) > 1:
        # The cost of the rows added from one size to the next: start-up falls out.
        steps = [
            f"{a:,} -> {b:,}: {(walls[b] - walls[a]) / (b - a) * 1e6:.0f} ms"
            for a, b in itertools.pairwise(sizes)
        ]
        print(f"  linear: each further 1,000 rows cost {'; '.join(steps)}")


if __name__ == "__main__":
    main()
