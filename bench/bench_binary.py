"""The binary's start and size: the single file against the one-folder build.

    ./dev.sh binary && .venv/bin/python bench/bench_binary.py [--runs 10]

`--version` and `check` of a 1,000-row CSV fleet, each a whole process timed from outside
(medians), for dist/umrunbook (which unpacks what it holds at every start, all but Typst's
engine) and for dist/umrunbook-folder.zip unpacked (nothing to unpack), beside the target:
--version in <= 300 ms. Then a render of one appliance's PDF (the example's um-ams-01): for
the single file once with an empty engine cache (the first command that typesets unpacks
Typst's engine) and then with the cache filled; the cache is a temporary XDG_CACHE_HOME.
Then the size report: both artefacts, the engine cache, and the largest files inside the
one folder.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import repeated, run, verdict
from bench_check import csv_fleet

ROOT = Path(__file__).resolve().parent.parent
SINGLE = ROOT / "dist" / "umrunbook"
FOLDER_ZIP = ROOT / "dist" / "umrunbook-folder.zip"
TARGET_MS = 300.0


def unpack(folder: Path) -> Path:
    with zipfile.ZipFile(FOLDER_ZIP) as archive:
        archive.extractall(folder)
    binary = folder / "umrunbook" / "umrunbook"
    binary.chmod(0o755)
    return binary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    if not SINGLE.is_file() or not FOLDER_ZIP.is_file():
        print("binary: not built (./dev.sh binary)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inventory = csv_fleet(folder, 1000)
        cache = folder / "cache"
        os.environ["XDG_CACHE_HOME"] = str(cache)  # inherited by every run
        builds = {"single file": SINGLE, "one folder": unpack(folder / "unzipped")}
        for label, binary in builds.items():
            version = repeated([str(binary), "--version"], args.runs)
            check = repeated([str(binary), "check", str(inventory)], max(3, args.runs // 2))
            print(
                f"{label:<11}: --version {version.wall * 1000:4.0f} ms "
                f"(target <= {TARGET_MS:.0f} ms: {verdict(version.wall * 1000, TARGET_MS)}), "
                f"check of 1,000 CSV rows {check.wall * 1000:4.0f} ms, peak {check.peak_mb:.0f} MB"
            )
            example = folder / "example" / label.replace(" ", "-")
            example.mkdir(parents=True)
            run([str(binary), "init", str(example / "inventory.yaml")])
            pdf = [str(binary), "render", str(example / "inventory.yaml"), "--out"]
            pdf += [str(example / "pkg"), "--only", "um-ams-01", "--format", "pdf", "--force"]
            first = run(pdf)
            again = repeated(pdf, 3, warmup=0)
            note = f" (the first, with an empty engine cache: {first.wall * 1000:4.0f} ms)"
            print(
                f"{'':<11}  render of one PDF {again.wall * 1000:4.0f} ms"
                + (note if binary == SINGLE else "")
            )
        cached = [path for path in cache.rglob("*") if path.is_file()]
        inside = [path for path in (folder / "unzipped").rglob("*") if path.is_file()]
        total = sum(path.stat().st_size for path in inside)
        print(
            f"size: dist/umrunbook {SINGLE.stat().st_size / 1e6:.1f} MB, "
            f"dist/umrunbook-folder.zip {FOLDER_ZIP.stat().st_size / 1e6:.1f} MB; "
            f"the single file's engine cache "
            f"{sum(path.stat().st_size for path in cached) / 1e6:.1f} MB; the one folder "
            f"{len(inside)} files, {total / 1e6:.1f} MB unpacked; the largest:"
        )
        for path in sorted(inside, key=lambda p: p.stat().st_size, reverse=True)[:8]:
            name = path.relative_to(folder / "unzipped" / "umrunbook")
            print(f"  {path.stat().st_size / 1e6:6.1f} MB  {name}")


if __name__ == "__main__":
    main()
