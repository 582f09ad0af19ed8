"""All-or-nothing output: a failure while writing leaves the previous package as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from umrunbook.errors import OutputError
from umrunbook.package.write import write_package_atomically


def test_new_package_and_replacement(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    write_package_atomically(
        out, {"a/x.md": b"one", "run.sh": b"#!/bin/sh\n"}, frozenset({"run.sh"})
    )
    assert (out / "a/x.md").read_bytes() == b"one"
    assert (out / "run.sh").stat().st_mode & 0o777 == 0o755
    write_package_atomically(out, {"b/y.md": b"two"})
    assert not (out / "a").exists() and (out / "b/y.md").read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]


def test_failure_mid_write_leaves_the_old_package(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    write_package_atomically(out, {"keep.md": b"old"})
    # "x" as a file and as a folder cannot both be written: the write fails half-way.
    with pytest.raises(OutputError, match="previous package is untouched"):
        write_package_atomically(out, {"x": b"file", "x/inner": b"clash"})
    assert (out / "keep.md").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]
