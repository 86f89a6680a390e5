"""A private Xvfb display for tests, benchmarks and headless demos.

Xvfb picks a free display number itself (``-displayfd``), so parallel runs never collide and no
lock files are guessed. Nothing here touches the user's own display.

It starts a process and speaks no X protocol, so it lives beside the backends rather than in ``x11``:
importing ``recorder.desktop`` must not need python-xlib, which a bare GPU machine lacks while it
runs the control loop (``make gpu-check``'s loop section) against the test-pattern game.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

LOG = logging.getLogger(__name__)


class VirtualDisplay:
    """``with VirtualDisplay() as vd: ... vd.name`` -> ":N"; stops Xvfb on exit."""

    def __init__(
        self, width: int = 1280, height: int = 720, depth: int = 24, die_with_parent: bool = True
    ) -> None:
        self.size = (width, height, depth)
        self.die_with_parent = die_with_parent  # Linux: Xvfb gets SIGTERM if the starting thread dies
        self.name = ""
        self._proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("Xvfb") is not None

    def start(self, timeout: float = 10.0) -> VirtualDisplay:
        binary = shutil.which("Xvfb")
        if binary is None:
            raise FileNotFoundError("Xvfb is not installed (Debian/Ubuntu: apt-get install xvfb)")
        read_fd, write_fd = os.pipe()
        width, height, depth = self.size
        self._proc = subprocess.Popen(
            [
                binary,
                "-displayfd",
                str(write_fd),
                "-screen",
                "0",
                f"{width}x{height}x{depth}",
                "-nolisten",
                "tcp",
                "-noreset",
            ],
            pass_fds=(write_fd,),
            preexec_fn=parent_death_signal if self.die_with_parent else None,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        deadline = time.monotonic() + timeout
        data = b""
        try:
            os.set_blocking(read_fd, False)
            while not data.endswith(b"\n"):
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("Xvfb did not start")
                try:
                    chunk = os.read(read_fd, 16)
                except BlockingIOError:
                    time.sleep(0.01)
                    continue
                if not chunk:
                    time.sleep(0.01)
                data += chunk
        finally:
            os.close(read_fd)
        self.name = f":{int(data.strip())}"
        LOG.debug("Xvfb %s started (pid %d)", self.name, self._proc.pid)
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> VirtualDisplay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def parent_death_signal() -> None:
    """In a child before exec: get SIGTERM when the parent dies, even by SIGKILL (Linux; else a no-op).

    Linux delivers it when the *thread* that forked exits, so use it only for children started from
    a thread that lives as long as they should (the main thread of a test run or a benchmark).
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
