"""Times the Markdown path: the example fleet and a generated 500-appliance inventory.

Run: .venv/bin/python bench/bench_markdown.py [--appliances N] [--repeat R]
Prints the best of R runs for each stage; nothing here touches the network.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.faces.commonmark import render_markdown
from umrunbook.faces.registry import RenderOptions
from umrunbook.inventory.example import example_inventory
from umrunbook.inventory.load import load_inventory
from umrunbook.package.build import render_fleet
from umrunbook.planning.bind import plan_fleet

T = TypeVar("T")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICNP8KqokjuNoiuoVu5vMer+SR0pzsOgcK8FNRL1b/1Y"


def best(repeat: int, work: Callable[[], T]) -> tuple[float, T]:
    times = []
    result: T
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def generated_inventory(folder: Path, count: int) -> Path:
    lines = [
        "change:",
        "  ticket: CHG0099999",
        "  window: {start: 2026-12-05T22:00:00+01:00, end: 2026-12-06T06:00:00+01:00}",
        "  implementer: Bench Operator",
        "upgrade:",
        "  target: '4.3'",
        f"  bundle: {{sha256: {'ab' * 32}}}",
        "appliances:",
    ]
    for index in range(count):
        version = ("4.2.0", "4.2.1", "4.1.0")[index % 3]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appliances", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    catalogue = load_catalogue()
    md_only = RenderOptions(formats=("md",))

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        example = example_inventory()
        seconds, _ = best(
            args.repeat, lambda: render_fleet(example, catalogue, folder / "example", md_only)
        )
        print(f"example fleet (3 appliances) to Markdown, whole package: {seconds * 1000:.1f} ms")

        path = generated_inventory(folder, args.appliances)
        load_s, inventory = best(args.repeat, lambda: load_inventory(path))
        plan_s, plans = best(args.repeat, lambda: plan_fleet(inventory, catalogue))
        per_runbook = []
        for plan in plans[:50]:
            start = time.perf_counter()
            render_markdown(plan)
            per_runbook.append(time.perf_counter() - start)
        whole_s, _ = best(
            args.repeat, lambda: render_fleet(inventory, catalogue, folder / "fleet", md_only)
        )
        n = args.appliances
        print(
            f"{n} appliances: load + validate {load_s * 1000:.1f} ms, "
            f"plan (agent included) {plan_s * 1000:.1f} ms "
            f"({plan_s / n * 1000:.2f} ms each)"
        )
        print(
            f"{n} appliances: Markdown runbook, median {statistics.median(per_runbook) * 1000:.2f}"
            f" ms each"
        )
        print(
            f"{n} appliances to Markdown, whole package written: {whole_s:.2f} s "
            f"({whole_s / n * 1000:.2f} ms per appliance)"
        )


if __name__ == "__main__":
    main()
