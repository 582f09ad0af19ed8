"""Every target's procedure as the planner receives it, after inheritance is resolved.

The golden files hold each resolved procedure field by field, so that a change to how the
catalogue is written (shared bases, overrides by step id) proves that it alters nothing,
and a change to a procedure shows exactly what it changes. Refresh after an intended change
with UMRUNBOOK_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from umrunbook.catalogue.procedure import Procedure, load_catalogue

GOLDEN = Path(__file__).parent / "golden" / "procedures"


def resolved(procedure: Procedure) -> str:
    data = dataclasses.asdict(procedure)
    data.pop("file")  # where it was read from, not what it says
    return json.dumps(data, indent=1, default=str, ensure_ascii=False) + "\n"


TARGETS = load_catalogue().targets


@pytest.mark.parametrize("target", TARGETS)
def test_resolved_procedure_matches_its_golden_file(target: str) -> None:
    procedure = load_catalogue().get(target)
    assert procedure is not None
    golden = GOLDEN / f"um-{target}.json"
    text = resolved(procedure)
    if os.environ.get("UMRUNBOOK_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
        return
    assert text == golden.read_text(encoding="utf-8")


def test_every_golden_file_is_a_target() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(f"um-{t}" for t in TARGETS)
