"""The PDF face against a bare typst.compile of its own template and inputs.

    .venv/bin/python bench/bench_pdf.py [--appliances 8] [--rounds 5]

For each appliance of a generated fleet to 4.7 (one and two hops), the face (render_pdf: the
view's JSON, the QR codes and the compile) and a bare typst.compile of the same template bytes
with the same sys_inputs and engine options (typesetting.py) run in turn, in one process, the
ratio taken pair by pair; the figure is the median of the ratios, printed beside its target.
The two PDFs are compared byte for byte, which shows the bare compile had the face's inputs.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import typst

from _measure import verdict
from bench_versions import mixed_fleet
from umrunbook import typesetting
from umrunbook.catalogue.procedure import load_catalogue
from umrunbook.faces.pdf import render_pdf, template_bytes, typst_inputs
from umrunbook.faces.registry import RenderOptions
from umrunbook.faces.view import runbook_view
from umrunbook.inventory.load import load_inventory
from umrunbook.planning.bind import plan_fleet

TARGET = 1.10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appliances", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    options = RenderOptions()
    with tempfile.TemporaryDirectory() as tmp:
        inventory = load_inventory(mixed_fleet(Path(tmp), args.appliances))
    plans = plan_fleet(inventory, load_catalogue())
    views = [runbook_view(plan) for plan in plans]
    render_pdf(views[0], options)  # warm-up: the engine's fonts and the template loaded

    ratios: list[float] = []
    face_ms: list[float] = []
    bare_ms: list[float] = []
    same = True
    for _ in range(args.rounds):
        for view in views:
            start = time.perf_counter()
            face = render_pdf(view, options)
            face_ms.append((time.perf_counter() - start) * 1000)
            inputs = typst_inputs(view, "a4")
            start = time.perf_counter()
            bare = typst.compile(  # type: ignore[call-overload]
                template_bytes(),
                sys_inputs=inputs,
                timestamp=int(view.plan.generated_at.timestamp()),
                **typesetting.engine_options(),  # PDF/A-2b, umrunbook's fonts alone
            )
            bare_ms.append((time.perf_counter() - start) * 1000)
            ratios.append(face_ms[-1] / bare_ms[-1])
            same = same and face == bare
    routes = sorted({plan.route_text for plan in plans})
    print(
        f"PDF face, {len(views)} runbooks ({'; '.join(routes)}) x {args.rounds} rounds: "
        f"face {statistics.median(face_ms):.1f} ms, bare typst.compile "
        f"{statistics.median(bare_ms):.1f} ms (medians); the PDFs "
        + ("identical" if same else "DIFFER: the bare compile did not get the face's inputs")
    )
    ratio = statistics.median(ratios)
    print(
        f"  ratio {ratio:.3f}x, median of {len(ratios)} pairs; target <= {TARGET:.2f}x: "
        f"{verdict(ratio, TARGET)}"
    )


if __name__ == "__main__":
    main()
