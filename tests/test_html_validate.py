"""The HTML runbook is valid HTML by the W3C Nu checker (npm vnu-jar, run with Java)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import need
from tests.helpers.html import NODE_DIR, example_plans, render_package
from tests.helpers.order import iso_route_plan
from umrunbook.evidence.records import StepRecord
from umrunbook.faces.html import render_html
from umrunbook.faces.registry import RenderOptions
from umrunbook.faces.view import runbook_view

VNU = NODE_DIR / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
# The checker cannot compute the hashes our Content-Security-Policy allows the inline style and
# script by, so it warns that they would be blocked; the browser test shows they are not.
CSP_WARNINGS = ("Inline style violates Content Security Policy", "Inline script violates")


def need_vnu() -> None:
    need("java")
    if not VNU.is_file():
        message = f"needs {VNU} (npm install --prefix tests/node, done by ./dev.sh test)"
        if os.environ.get("UMRUNBOOK_REQUIRE_ALL"):
            pytest.fail(message)
        pytest.skip(message)


def test_runbooks_and_index_have_no_error_or_warning(tmp_path: Path) -> None:
    need_vnu()
    out = render_package(tmp_path / "pkg", "--format", "md,html")
    pages = sorted(out.glob("*/runbook.html")) + sorted(out.glob("index.html"))
    assert len(pages) >= 3
    # The as-executed page, where the boxes are records.
    plan = example_plans()[0]
    executed = {"snapshot": [StepRecord("snapshot", "done", "2026-12-05T22:05:00Z", "JO")]}
    view = runbook_view(plan, executed, ["evidence.json"])
    as_executed = tmp_path / "as-executed.html"
    as_executed.write_bytes(render_html(view, RenderOptions()))
    pages.append(as_executed)
    # A route's page, whose go / no-go is a checkpoint, planned and as executed.
    route = iso_route_plan()
    for name, route_view in (
        ("route.html", runbook_view(route)),
        ("route-as-executed.html", runbook_view(route, {}, ["evidence.json"])),
    ):
        page = render_html(route_view, RenderOptions())
        assert b'class="checkpoint-note"' in page
        (tmp_path / name).write_bytes(page)
        pages.append(tmp_path / name)
    result = subprocess.run(
        ["java", "-jar", str(VNU), "--format", "json", *map(str, pages)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    messages = json.loads(result.stderr)["messages"]
    problems = [
        f"{Path(m.get('url', '')).name}:{m.get('lastLine')}: {m['type']}: {m['message']}"
        for m in messages
        if not m["message"].startswith(CSP_WARNINGS)
    ]
    assert problems == []
