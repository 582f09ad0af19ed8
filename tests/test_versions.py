from __future__ import annotations

import pytest

from umrunbook.versions import Version, VersionRange


@pytest.mark.parametrize("a,b", [("4.2", "4.2.0"), ("4.2.0", "4.2.0.0"), ("4.2", "4.2.0.0-12345")])
def test_missing_parts_count_as_zero_and_builds_are_not_compared(a: str, b: str) -> None:
    assert Version.parse(a) == Version.parse(b)
    assert Version.parse(a).key() == Version.parse(b).key()


def test_order_is_numeric_not_textual() -> None:
    assert Version.parse("4.10") > Version.parse("4.9")
    assert Version.parse("4.2.1") > Version.parse("4.2")
    assert Version.parse("4.1.9") < Version.parse("4.2")


def test_build_is_kept_for_display() -> None:
    version = Version.parse("4.6.0.0-20554128")
    assert version.build == "20554128"
    assert str(version) == "4.6.0.0-20554128"
    assert version.short == "4.6"


@pytest.mark.parametrize("text", ["", "4.", "v4.2", "4.2.x", "4.2.0.0.0", "4.2-beta", "four"])
def test_bad_versions_are_refused_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match=r"for example 4\.2\.0"):
        Version.parse(text)


@pytest.mark.parametrize(
    "spec,inside,outside",
    [
        ("4.1.x", ["4.1", "4.1.0", "4.1.5.2-99"], ["4.0.9", "4.2", "5.1"]),
        ("4.x", ["4.0", "4.7.1"], ["3.6.1", "5.0"]),
        (">=4.3", ["4.3", "4.7"], ["4.2.9", "5.0"]),
        ("4.2", ["4.2.0.0"], ["4.2.1", "4.1"]),
    ],
)
def test_ranges(spec: str, inside: list[str], outside: list[str]) -> None:
    version_range = VersionRange.parse(spec)
    for text in inside:
        assert Version.parse(text) in version_range, text
    for text in outside:
        assert Version.parse(text) not in version_range, text
