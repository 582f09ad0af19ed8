"""The figures of a fleet render, against their floors: run as root for the agent's figure.

    .venv/bin/python bench/bench_fleet.py [--appliances 200] [--big 500] [--sample 20]

Prints, for a generated inventory: per-runbook Markdown, HTML and PDF times (the PDF against a
bare compile is bench_pdf.py); --jobs 1 against --jobs 2; an unchanged
fleet's re-render against a full one; a 500-appliance fleet against its floor (the bare
per-appliance costs divided by the cores); `umrunbook --version`'s start-up and the proof that
it imports neither the PDF engine nor the Markdown renderer; the binary's size and start-up;
the agent's checksum of a 1 GB bundle against bare sha256sum. Timings are printed, never
asserted; everything stays on this machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_markdown import generated_inventory
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.faces.commonmark import render_markdown
from umrunbook.faces.html import render_html
from umrunbook.faces.pdf import compile_pdf, render_pdf, typst_inputs
from umrunbook.faces.registry import RenderOptions
from umrunbook.faces.view import runbook_view
from umrunbook.inventory.load import load_inventory
from umrunbook.package.build import default_jobs, render_fleet
from umrunbook.planning.bind import plan_fleet

ROOT = Path(__file__).resolve().parent.parent
ALL = RenderOptions()


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def per_runbook(plans: list, sample: int) -> dict[str, float]:  # type: ignore[type-arg]
    md, html, pdf, bare = [], [], [], []
    for plan in plans[:sample]:
        view = runbook_view(plan)
        md.append(timed(lambda p=plan: render_markdown(p)))
        html.append(timed(lambda v=view: render_html(v, ALL)))
        pdf.append(timed(lambda v=view: render_pdf(v, ALL)))
        inputs = typst_inputs(view, "a4")
        stamp = int(plan.generated_at.timestamp())
        bare.append(timed(lambda i=inputs, s=stamp: compile_pdf(i, s)))
    return {
        "md": median_ms(md),
        "html": median_ms(html),
        "pdf": median_ms(pdf),
        "bare": median_ms(bare),
    }


def fleet(inventory: Path, out: Path, jobs: int, force: bool) -> float:
    loaded = load_inventory(inventory)
    return timed(lambda: render_fleet(loaded, load_catalogue(), out, ALL, jobs=jobs, force=force))


def startup(command: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        samples.append(timed(lambda: subprocess.run(command, capture_output=True, check=True)))
    return median_ms(samples)


def heavy_imports(command: list[str]) -> list[str]:
    result = subprocess.run(
        [*command[:1], "-X", "importtime", *command[1:]], capture_output=True, text=True, check=True
    )
    modules = {
        line.split("|")[-1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    return sorted(modules & {"typst", "markdown_it", "mdit_py_plugins", "segno", "jinja2"})


def agent_checksum(folder: Path) -> tuple[float, float, float] | None:
    """The agent's checksum of a 1 GB bundle, against bare sha256sum of the same file.

    Both run inside the simulated appliance's namespace. The agent's figure is its preflight
    on the 1 GB bundle less its preflight on the small one: the other checks cost the same
    either way, so the difference is the time the agent spends on the bundle's SHA-256.
    """
    from umrunbook.planning.agent_file import build_agent
    from umrunbook.rehearsal.simulator import INSTALL_DIR, SimulatedAppliance, SimulatorUnavailable

    try:
        app = SimulatedAppliance.create(folder / "sim")
    except SimulatorUnavailable as exc:
        print(f"agent checksum: skipped ({exc})")
        return None
    sys.path.insert(0, str(ROOT))
    from tests.agent.helpers import manifest_for

    def preflight() -> float:
        manifest = manifest_for(app.bundle_sha256, free_space_min_mb="1", free_space_factor="1")
        app.put_agent(build_agent(manifest))

        def run() -> None:
            result = app.agent("preflight", "--snapshot", "bench", timeout=600)
            assert "bundle sha256" in result.stdout, result.stdout + result.stderr

        return min(timed(run) for _ in range(3))

    small = preflight()
    with app.bundle_path.open("ab") as bundle:  # a shar stops reading at its `exit`
        block = os.urandom(1 << 20)
        for _ in range(1024):
            bundle.write(block)
    large = preflight()
    inside = f"{INSTALL_DIR}/{app.bundle_path.name}"
    bare = min(timed(lambda: app.run(["sha256sum", inside], timeout=600)) for _ in range(3))
    empty = min(timed(lambda: app.run(["true"])) for _ in range(3))
    return large - small, bare - empty, large


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appliances", type=int, default=200)
    parser.add_argument("--big", type=int, default=500)
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--no-agent", action="store_true", help="skip the 1 GB checksum")
    args = parser.parse_args()
    cores = default_jobs()
    print(f"machine: {cores} CPUs usable, Python {sys.version.split()[0]}")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inventory = generated_inventory(folder, args.appliances)
        plans = list(plan_fleet(load_inventory(inventory), load_catalogue()))
        one = per_runbook(plans, args.sample)
        print(
            f"per runbook ({args.sample} of {args.appliances}, median): md {one['md']:.1f} ms, "
            f"html {one['html']:.1f} ms, pdf {one['pdf']:.1f} ms"
        )
        print(
            f"pdf against a bare typst.compile of the same template and data: "
            f"{one['pdf']:.1f} / {one['bare']:.1f} ms = {one['pdf'] / one['bare']:.3f}x "
            "(target <= 1.10x)"
        )

        serial = fleet(inventory, folder / "j1", 1, True)
        parallel = fleet(inventory, folder / "j2", 2, True)
        print(
            f"{args.appliances} appliances, all formats: --jobs 1 {serial:.2f} s, --jobs 2 "
            f"{parallel:.2f} s, speed-up {serial / parallel:.2f}x (target >= 1.8x)"
        )
        again = fleet(inventory, folder / "j2", 2, False)
        print(
            f"unchanged re-render: {again:.2f} s against a full {parallel:.2f} s = "
            f"{again / parallel * 100:.1f}% (target <= 5%)"
        )

        (folder / "big").mkdir()
        big = generated_inventory(folder / "big", args.big)
        big_s = fleet(big, folder / "big-out", 2, True)
        floor = args.big * (one["bare"] + one["md"] + one["html"]) / 1000 / min(2, cores)
        print(
            f"{args.big} appliances, all formats, --jobs 2: {big_s:.2f} s; floor (bare typst + "
            f"md + html per appliance, / {min(2, cores)} cores) {floor:.2f} s = "
            f"{big_s / floor:.2f}x (target <= 1.3x)"
        )

        cli = [str(ROOT / ".venv/bin/python"), "-m", "umrunbook", "--version"]
        script = [str(ROOT / ".venv/bin/umrunbook"), "--version"]
        print(f"umrunbook --version: {startup(script, 20):.0f} ms median of 20 (target <= 150 ms)")
        heavy = heavy_imports(cli)
        print(
            "python -X importtime -m umrunbook --version imports: "
            + (
                ", ".join(heavy)
                if heavy
                else "none of typst, markdown_it, mdit_py_plugins, segno, jinja2"
            )
        )

        binary = ROOT / "dist" / "umrunbook"
        if binary.is_file():
            size = binary.stat().st_size / 1e6
            print(
                f"binary dist/umrunbook: {size:.1f} MB, --version "
                f"{startup([str(binary), '--version'], 5):.0f} ms median of 5"
            )
        else:
            print("binary: not built (./dev.sh binary)")

        if not args.no_agent and shutil.which("unshare") and os.geteuid() == 0:
            figures = agent_checksum(folder)
            if figures:
                agent, bare, whole = figures
                print(
                    f"agent checksum of a 1 GB bundle {agent:.2f} s against bare sha256sum "
                    f"{bare:.2f} s = {agent / bare:.3f}x (target <= 1.05x); its whole "
                    f"preflight {whole:.2f} s"
                )
        else:
            print("agent checksum: skipped (needs root and unshare)")


if __name__ == "__main__":
    main()
