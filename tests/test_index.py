"""The fleet index: every appliance, its path and state, links to the files that exist."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import umrunbook
from tests.helpers.html import example_plans, parse_html, render_package
from umrunbook.faces.humanize import duration, window_warning
from umrunbook.faces.index import render_index
from umrunbook.inventory.model import Window
from umrunbook.planning.plan import NO_PATH, NOTHING_TO_DO, Plan
from umrunbook.planning.timing import timing
from umrunbook.versions import Version

MIXED = Path(__file__).parent / "golden" / "packages" / "mixed-fleet.yaml"


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


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mixed fleet (two targets, one route) rendered by the real command line."""
    out = tmp_path_factory.mktemp("mixed") / "pkg"
    result = umrunbook(["render", str(MIXED), "--format", "md,html", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    return out


def _rows(html: str) -> dict[str, object]:
    doc = parse_html(html)
    return {tr.attrs["id"]: tr for tr in doc.iter("tbody")[0].iter("tr")}


def test_the_mixed_fleet_lists_each_appliance_with_its_target_route_and_files(
    mixed: Path,
) -> None:
    html = (mixed / "index.html").read_text(encoding="utf-8")
    rows = _rows(html)
    assert list(rows) == ["um-mix-01", "um-mix-02", "um-mix-03", "um-mix-04"]
    targets = {
        name: [t.text for t in row.iter("span", "target")]  # type: ignore[attr-defined]
        for name, row in rows.items()
    }
    assert targets == {
        "um-mix-01": ["4.3"],
        "um-mix-02": ["4.3"],
        "um-mix-03": ["4.7"],
        "um-mix-04": ["4.7"],
    }
    route = rows["um-mix-04"]
    assert "via 4.2.1 → 4.3 → 4.7" in route.text  # type: ignore[attr-defined]
    # A route's files are under its hop folders: each one listed, none shown as missing.
    assert route.iter("span", "none") == []  # type: ignore[attr-defined]
    hops = [h.text for h in route.iter("p", "hop")]  # type: ignore[attr-defined]
    assert hops == ["Upgrade 1 to 4.3: hop-1-4.3/", "Upgrade 2 to 4.7: hop-2-4.7/"] * 2
    links = [a.attrs["href"] for a in route.iter("a")]  # type: ignore[attr-defined]
    for hop in ("hop-1-4.3", "hop-2-4.7"):
        assert f"um-mix-04/{hop}/agent/um-upgrade-agent.sh" in links
        assert f"um-mix-04/{hop}/transfer/upload.sh" in links
    single = [a.attrs["href"] for a in rows["um-mix-03"].iter("a")]  # type: ignore[attr-defined]
    assert "um-mix-03/agent/um-upgrade-agent.sh" in single
    every = [a.attrs["href"] for a in parse_html(html).iter("a")]
    for link in every:
        assert (mixed / link).is_file(), link
    # Every file of the package under an appliance's folder is linked, but the runbooks' formats
    # the index names by their label.
    files = {p.relative_to(mixed).as_posix() for p in mixed.rglob("*") if p.is_file()}
    assert {f for f in files if "/agent/" in f or "/transfer/" in f} <= set(every)
    assert "fits" in parse_html(html).iter("p", "window")[0].text


def test_a_window_shorter_than_the_plan_is_shown_as_check_shows_it() -> None:
    plans = fleet()
    change = plans[0].change
    start = change.window.start
    short = replace(change, window=Window(start, start + timedelta(hours=1)))
    plans = [replace(p, change=short) for p in plans]
    warning = window_warning(timing(plans, short))
    doc = parse_html(render_index(plans, FILES).decode())
    (window,) = doc.iter("p", "window")
    assert "window-short" in window.classes() and "Window too short" in window.text
    assert warning in " ".join(window.text.split()) and "widen the window" in warning
    fitting = parse_html(render_index(fleet(), FILES).decode()).iter("p", "window")[0]
    assert "window-short" not in fitting.classes() and "fits" in fitting.text


def test_readiness_has_a_column_once_there_is_any() -> None:
    headers = [th.text for th in parse_html(render_index(fleet(), FILES).decode()).iter("th")]
    assert "Readiness" not in headers
    doc = parse_html(render_index(fleet(), FILES, {"um-ams-01": "ready <b>x</b>"}).decode())
    assert "Readiness" in [th.text for th in doc.iter("th")]
    cells = [td.text for td in doc.iter("td", "readiness")]
    assert cells == ["ready <b>x</b>", "not recorded", "not recorded"]
    assert not doc.iter("b")
