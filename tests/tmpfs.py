"""Real small disks for the "the disk is full" tests: a tmpfs mounted in the test's own folder.

A real ENOSPC (and a real read-only EROFS) comes from the kernel, not from a patched ``open``; mounting
needs root, as on the project's machines, so elsewhere the test skips and says why.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def tmpfs(mount: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``mount`` (created) with ``options`` (e.g. ``size=2m``), unmounted afterwards."""
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs with {options} ({proc.stderr.strip() or 'not root'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave_bytes: int = 0) -> Path:
    """Write one file until the disk refuses, then give back ``leave_bytes``; the file, to unlink later."""
    filler = disk / "filler"
    with open(filler, "wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    if leave_bytes:
        os.truncate(filler, filler.stat().st_size - leave_bytes)
    return filler
