"""Bundles to upload, and the generated upload.sh run as an operator runs it."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_bundle(path: Path, size: int = 3 * 1024 * 1024 + 17) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Bytes a text-mode transfer would change: CR, LF, NUL and high bytes throughout.
    block = bytes(range(256)) + b"\r\n\n\r\x00" * 8
    data = (block * (size // len(block) + 1))[:size]
    path.write_bytes(data)
    return path


def run_upload(
    script: Path,
    bundle: Path,
    cwd: Path,
    env: dict[str, str],
) -> subprocess.CompletedProcess[str]:
    """Run the generated upload.sh as an operator would, from another folder, with no terminal."""
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SSH_") and key not in {"DISPLAY", "WAYLAND_DISPLAY"}
    }
    return subprocess.run(
        ["sh", str(script), str(bundle)],
        cwd=cwd,
        env={**base, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        start_new_session=True,  # no controlling terminal: ssh cannot prompt on a tty
    )
