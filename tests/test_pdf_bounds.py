"""The PDF face keeps a step whole on its page without measuring it when it can prove that the
step fits (`keep` and `step-bound` in templates/runbook.typ): a bound below a step's real
height would let the step run off its page. With the input check-bounds set, the template
measures every step and stops at a bound below the height it measured; and the file it writes
is then byte for byte the one written without, so the proof decided as the measure would."""

from __future__ import annotations

import pytest
import typst

from tests.conftest import FIXED_EPOCH
from tests.helpers.html import hostile_plans, multi_hop_plan
from tests.helpers.targets import PLANS, plan_for
from umrunbook import typesetting
from umrunbook.evidence.records import StepRecord
from umrunbook.faces.pdf import compile_pdf, template_bytes, typst_inputs
from umrunbook.faces.view import RunbookView, runbook_view
from umrunbook.planning.plan import Plan

LONG_WORD = "um-" + "x" * 58 + "." + "y" * 60 + ".corp.example"  # no space to break at
CJK = "データセンター東京 / 長い名前の仮想マシン" * 6


def as_executed(plan: Plan) -> RunbookView:
    """Every step recorded twice, once with a long detail: the records make a card taller."""
    detail = "exit code 0; " + "the service answered on the second try after a restart " * 4
    executed = {
        step.id: [
            StepRecord(step.id, "PASS", "2026-12-05T22:30:00Z", "agent", detail),
            StepRecord(step.id, "FAIL", "2026-12-05T22:31:00Z", "JO", LONG_WORD),
        ]
        for hop in plan.hops
        for step in hop.steps
    }
    return runbook_view(plan, executed, ["evidence-um-lab-01.json"])


VIEWS = {
    **{name: lambda make=make: runbook_view(make()) for name, make in PLANS.items()},
    "two hops with a field report": lambda: runbook_view(multi_hop_plan()),
    "hostile notes": lambda: runbook_view(hostile_plans()[0]),
    "long words and CJK": lambda: runbook_view(
        plan_for("4.7", "4.2.0", host=LONG_WORD, snapshot=CJK, via='"4.5"')
    ),
    "as executed": lambda: as_executed(plan_for("4.3", "4.2.0")),
}


def pdf(view: RunbookView, paper: str, check: bool) -> bytes:
    inputs = typst_inputs(view, paper)
    if check:
        inputs["check-bounds"] = "1"
    return compile_pdf(inputs, int(FIXED_EPOCH))


@pytest.mark.parametrize("paper", ["a4", "letter"])
@pytest.mark.parametrize("name", VIEWS)
def test_no_step_is_taller_than_its_bound_and_the_choice_is_the_measured_one(
    name: str, paper: str
) -> None:
    view = VIEWS[name]()
    assert pdf(view, paper, check=True) == pdf(view, paper, check=False)


def test_a_bound_below_a_steps_height_is_caught() -> None:
    """The check itself can fail: a bound of a quarter of what step-bound works out."""
    source = template_bytes().decode("utf-8")
    low = source.replace("  total\n}\n\n#let step-card(", "  total / 4\n}\n\n#let step-card(")
    assert low != source
    inputs = typst_inputs(runbook_view(PLANS["4.3"]()), "a4")
    inputs["check-bounds"] = "1"
    with pytest.raises(typst.TypstError, match="step bound"):
        typesetting.compile_pdf(low.encode("utf-8"), inputs, int(FIXED_EPOCH))
