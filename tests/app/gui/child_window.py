"""A test's window in a process of its own: started with its stderr kept, asked to quit, killed if not."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO


@contextlib.contextmanager
def child_window(
    module: str, *args: str, env: dict[str, str], log: Path, quit_s: float = 20
) -> Iterator[subprocess.Popen[str]]:
    """``python -m module args`` whose JSON reports come on stdout and which quits on "quit" on stdin;
    its stderr goes to ``log``, for a failure's post-mortem."""
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", module, *args], env=env, cwd=REPO, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)  # fmt: skip
        try:
            yield proc
        finally:
            if proc.poll() is None:
                assert proc.stdin is not None
                proc.stdin.write("quit\n")
                proc.stdin.flush()
                try:
                    proc.wait(quit_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
