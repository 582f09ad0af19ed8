"""Damage in transfer is detected and named (exit 4) before the agent does anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agent.helpers import Rig, make_rig


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return make_rig(tmp_path / "appliance")


def assert_untouched(rig: Rig) -> None:
    assert list(rig.app.state_dir.iterdir()) == []
    assert not rig.bundle_ran()


def test_crlf_line_endings_are_named(rig: Rig) -> None:
    rig.app.put_agent(rig.text.replace("\n", "\r\n").encode())
    for command in ("preflight", "upgrade", "help"):
        result = rig.agent(command, "--yes")
        assert result.code == 4, result
        assert "CRLF" in result.out and "BINARY mode" in result.out
    assert_untouched(rig)


@pytest.mark.parametrize("keep", [0.05, 0.25, 0.5, 0.9, 0.999, -1, -12])
def test_truncated_file_is_named(rig: Rig, keep: float) -> None:
    data = rig.text.encode()
    size = int(len(data) * keep) if keep > 0 else len(data) + int(keep)
    rig.app.put_agent(data[:size])
    result = rig.agent("upgrade", "--yes")
    assert result.code == 4, result
    assert "truncated" in result.out
    assert_untouched(rig)


def test_changed_manifest_value(rig: Rig) -> None:
    rig.app.put_agent(rig.text.replace("#@ inventory_version=4.2.0", "#@ inventory_version=4.1.0"))
    result = rig.agent("upgrade", "--yes")
    assert result.code == 4, result
    assert "was changed after it was generated" in result.out
    assert_untouched(rig)


def test_changed_script_body(rig: Rig) -> None:
    rig.app.put_agent(rig.text.replace("if ((EUID == 0)); then", "if true; then", 1))
    result = rig.agent("preflight")
    assert result.code == 4, result
    assert "was changed after it was generated" in result.out


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("#@ ticket=", "#@ ticket=X\n#@ ticket=", 1), "appears twice"),
        (lambda t: t.replace("#@ generator=umrunbook 0.1.0\n", ""), "keys are not the expected"),
        (lambda t: t.replace("#@ target=4.3", "#@ target 4.3"), "has no '='"),
    ],
)
def test_edited_manifest_structure(rig: Rig, edit: object, message: str) -> None:
    assert callable(edit)
    rig.app.put_agent(edit(rig.text))
    result = rig.agent("preflight")
    assert result.code == 4, result
    assert message in result.out


def test_changed_bundle_never_runs(rig: Rig) -> None:
    with rig.app.bundle_path.open("ab") as bundle:
        bundle.write(b"\n# damaged\n")
    preflight = rig.agent("preflight")
    assert preflight.code == 4, preflight
    assert "damaged or not the right download" in preflight.line("FAIL", "bundle sha256")
    upgrade = rig.agent("upgrade", "--yes")
    assert upgrade.code == 4, upgrade
    assert "the bundle was not run" in upgrade.out
    assert not rig.bundle_ran()
    assert "bundle_started_at" not in rig.state()


def test_missing_bundle_fails(rig: Rig) -> None:
    rig.app.bundle_path.unlink()
    result = rig.agent("preflight")
    assert result.code == 1, result
    assert "not found" in result.line("FAIL", "bundle")
