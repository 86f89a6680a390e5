"""Real small disks for the "the disk is full" tests: a tmpfs mounted in the test's own folder.

A real ENOSPC (and a real read-only EROFS) comes from the kernel, not from a patched ``open``. Mounting
needs root, as on the project's machines. Elsewhere, where unprivileged user namespaces exist, a test
marked ``tmpfs`` runs whole in a child ``unshare -rm`` (a user and mount namespace of its own, in
which it may mount a tmpfs); tests/conftest.py sends it there and reports what it did. Only where
neither works does the test skip, saying why.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_NAMESPACE = "JARVIS_TEST_IN_MOUNT_NAMESPACE"  # set in the child ``unshare -rm`` runs the test in
HERE, NAMESPACE = "here", "namespace"
REPO = Path(__file__).resolve().parents[1]


def _try_mount(prefix: list[str]) -> str | None:
    """Mount and unmount a tiny tmpfs through ``prefix`` (nothing, or unshare): None, or why not."""
    folder = tempfile.mkdtemp(prefix="jarvis-mount-probe-")
    script = 'mount -t tmpfs -o size=64k tmpfs "$1" && umount "$1"'
    try:
        done = subprocess.run([*prefix, "sh", "-c", script, "sh", folder],
                              capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return None if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")


@functools.cache
def where_to_mount() -> str:
    """HERE (root, or already in the child's namespace), NAMESPACE (run the test in ``unshare -rm``),
    or the reason neither can mount a tmpfs."""
    if os.environ.get(IN_NAMESPACE):
        return HERE
    here = _try_mount([])
    if here is None:
        return HERE
    if shutil.which("unshare") is None:
        return f"cannot mount a tmpfs here ({here}) and util-linux's unshare is missing"
    namespace = _try_mount(["unshare", "-rm"])
    if namespace is None:
        return NAMESPACE
    return f"cannot mount a tmpfs here ({here}), nor in a user namespace ({namespace})"


@contextlib.contextmanager
def tmpfs(mount: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``mount`` (created) with ``options`` (e.g. ``size=2m``), unmounted afterwards.
    The test using it must be marked ``@pytest.mark.tmpfs``."""
    how = where_to_mount()
    if how == NAMESPACE:
        raise pytest.UsageError("a test that mounts a tmpfs must be marked @pytest.mark.tmpfs")
    if how != HERE:
        pytest.skip(how)
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs with {options} ({proc.stderr.strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def run_in_namespace(nodeid: str, timeout: float = 600.0) -> tuple[str, str]:
    """Run one test in a child ``unshare -rm`` pytest: ("passed" | "failed" | "skipped", what it said)."""
    with tempfile.TemporaryDirectory(prefix="jarvis-userns-") as tmp:
        report = Path(tmp) / "report.xml"
        cmd = ["unshare", "-rm", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "-p", "no:xdist", f"--junitxml={report}", nodeid]  # fmt: skip
        env = {**os.environ, IN_NAMESPACE: "1"}
        try:
            done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "failed", f"no result within {timeout:g} s in `unshare -rm`"
        said = (done.stdout + done.stderr)[-6000:]
        try:
            case = ET.parse(report).getroot().find(".//testcase")
        except (OSError, ET.ParseError):
            case = None
        if case is None:
            return "failed", f"the child `unshare -rm` pytest ran no test (exit {done.returncode}):\n{said}"
        for kind in ("failure", "error"):
            if case.find(kind) is not None:
                return "failed", said
        skipped = case.find("skipped")
        if skipped is not None:
            return "skipped", skipped.get("message", "skipped in the namespace")
        return ("passed", said) if done.returncode == 0 else ("failed", said)


def fill(disk: Path, leave_bytes: int = 0) -> Path:
    """Write one file until the disk refuses, then give back ``leave_bytes``; the file, to unlink later."""
    if not os.path.ismount(disk):
        raise RuntimeError(f"{disk} is not a mounted small disk: refusing to fill whatever holds it")
    filler = disk / "filler"
    with open(filler, "wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    if leave_bytes:
        os.truncate(filler, filler.stat().st_size - leave_bytes)
    return filler
