"""The fleet index: every appliance, its path and state, links to the files that exist."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.helpers.html import example_plans, parse_html, render_package
from umrunbook.faces.humanize import duration
from umrunbook.faces.index import render_index
from umrunbook.planning.plan import NO_PATH, NOTHING_TO_DO, Plan
from umrunbook.versions import Version


def fleet() -> list[Plan]:
    ams1, ams2, fra = example_plans()
    done = replace(
        ams2,
        appliance=replace(ams2.appliance, name="um-done-01", version=Version.parse("4.3.0")),
        state=NOTHING_TO_DO,
        hops=(),
    )
    stuck = replace(
        fra,
        appliance=replace(fra.appliance, name="<b>um-old-01</b>", version=Version.parse("3.6")),
        state=NO_PATH,
        hops=(),
    )
    return [ams1, done, stuck]


FILES = {
    "um-ams-01/runbook.md": b"",
    "um-ams-01/runbook.html": b"",
    "um-ams-01/runbook.pdf": b"",
    "um-ams-01/agent/um-upgrade-agent.sh": b"",
    "um-ams-01/transfer/upload.sh": b"",
    "um-ams-01/transfer/winscp-upload.txt": b"",
    "fleet.csv": b"",
}


@pytest.fixture(scope="module")
def rows() -> dict[str, object]:
    doc = parse_html(render_index(fleet(), FILES).decode())
    return {tr.attrs["id"]: tr for tr in doc.iter("tbody")[0].iter("tr")}


def test_every_appliance_has_a_row_with_its_path_and_state(rows: dict[str, object]) -> None:
    assert list(rows) == ["um-ams-01", "um-done-01", "<b>um-old-01</b>"]
    ams = rows["um-ams-01"].text  # type: ignore[attr-defined]
    assert "4.2.0 → 4.3" in ams and "planned" in ams and "um-ams-01.corp.example" in ams
    assert f"about {duration(fleet()[0].estimate_minutes)} in the window" in ams
    done = rows["um-done-01"].text  # type: ignore[attr-defined]
    assert "4.3.0 → 4.3" in done and "nothing to do" in done
    stuck = rows["<b>um-old-01</b>"].text  # type: ignore[attr-defined]
    assert "3.6 → 4.3" in stuck and "no supported path" in stuck and "umrunbook paths" in stuck


def test_links_go_to_the_files_that_exist_and_only_those(rows: dict[str, object]) -> None:
    ams_links = [a.attrs["href"] for a in rows["um-ams-01"].iter("a")]  # type: ignore[attr-defined]
    assert ams_links == [
        "um-ams-01/runbook.html",
        "um-ams-01/runbook.pdf",
        "um-ams-01/runbook.md",
        "um-ams-01/transfer/upload.sh",
        "um-ams-01/transfer/winscp-upload.txt",
        "um-ams-01/agent/um-upgrade-agent.sh",
    ]
    assert rows["um-done-01"].iter("a") == []  # type: ignore[attr-defined]


def test_the_page_is_offline_and_escapes_every_value() -> None:
    html = render_index(fleet(), FILES).decode()
    doc = parse_html(html)
    assert not doc.iter("b") and "&lt;b&gt;um-old-01&lt;/b&gt;" in html
    assert not doc.iter("script") and not doc.iter("link") and not doc.iter("img")
    hrefs = {a.attrs["href"] for a in doc.iter("a")}
    assert hrefs <= set(FILES) | {"SHA256SUMS"}
    assert {"fleet.csv", "SHA256SUMS"} <= hrefs
    (meta,) = [m for m in doc.iter("meta") if m.attrs.get("http-equiv")]
    assert meta.attrs["content"].startswith("default-src 'none';")
    summary = doc.iter("ul", "summary")[0].text
    assert "3 appliances" in " ".join(summary.split())
    assert "1 planned" in " ".join(summary.split())


def test_the_command_line_writes_an_index_whose_links_all_resolve(tmp_path: Path) -> None:
    out = render_package(tmp_path / "pkg", "--format", "md,html")
    html = (out / "index.html").read_text(encoding="utf-8")
    links = [a.attrs["href"] for a in parse_html(html).iter("a")]
    assert "um-fra-01/runbook.html" in links and "um-fra-01/runbook.pdf" not in links
    assert len(links) > 6
    for link in links:
        assert (out / link).is_file(), link
