"""``jarvis-play model download`` on a terminal: the plan, one updating line, a crash, and the resume.

The command runs as a person runs it, on a pseudo-terminal (so it draws its one line with carriage
returns), against ``tests.fake_hub`` through ``HF_ENDPOINT``, throttled so the weights take seconds.
It is killed with SIGKILL part-way (a crash: nothing gets to clean up), then run again.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO as ROOT
from tests.fake_hub import FakeHub

pytestmark = pytest.mark.slow

REPO = "test-org/tiny-jarvis"
PERCENT = re.compile(rb"\((\d+)%\)")


@pytest.fixture
def hub(tiny_model_dir: Path) -> Iterator[FakeHub]:
    with FakeHub({REPO: tiny_model_dir}, rate=8e6) as server:  # 39.5 MB of weights: ~5 s
        yield server


def download(
    env: dict[str, str], kill_at_percent: int | None = None, timeout: float = 240
) -> tuple[int, bytes]:
    """Run the command on a terminal; with ``kill_at_percent``, SIGKILL it once its line shows that much."""
    master, slave = pty.openpty()
    cmd = [sys.executable, "-m", "app.cli", "model", "download", REPO]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal closed: the process is gone
                    break
                out += chunk
            elif proc.poll() is not None:
                break
            last = out.rsplit(b"\r", 1)[-1]
            seen = [int(p) for p in PERCENT.findall(last)] if b"model.safetensors" in last else []
            if kill_at_percent is not None and seen and seen[0] >= kill_at_percent:
                proc.kill()
                kill_at_percent = None
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        os.close(master)
    return proc.returncode, out


def test_download_on_a_terminal_survives_a_crash_and_resumes(hub: FakeHub, tmp_path: Path) -> None:
    env = dict(
        os.environ,
        HF_ENDPOINT=hub.url,
        HF_HUB_CACHE=str(tmp_path / "hub-cache"),
        HF_HUB_OFFLINE="0",
        JARVIS_PLAY_CONFIG_DIR=str(tmp_path / "config"),
        COLUMNS="220",
    )
    code, out = download(env, kill_at_percent=40)
    assert code == -9, out[-2000:]
    text = out.decode()
    # the plan, on its own line, before any weight byte is counted
    plan = text.index("39.5 MB to download into")
    assert plan < text.index("model.safetensors: ")
    # one line, rewritten in place: each update starts with a carriage return and clears to the end
    updates = [u for u in text[plan:].split("\r") if "model.safetensors: " in u]
    assert len(updates) >= 4 and all(u.endswith("\x1b[K") for u in updates[:-1])
    percents = [int(PERCENT.search(u.encode()).group(1)) for u in updates]  # type: ignore[union-attr]
    assert percents == sorted(percents) and percents[-1] > percents[0]
    assert any(re.search(r"\d+\.\d MB/s, \d+ s left", u) for u in updates), updates
    partial = list((tmp_path / "hub-cache").rglob("*.incomplete"))
    assert len(partial) == 1 and partial[0].stat().st_size > 0
    kept = partial[0].stat().st_size

    code, out = download(env)
    text = out.decode()
    assert code == 0, text[-2000:]
    assert "Resuming: " in text and "\rResuming test-org/tiny-jarvis: " in text
    assert ("model.safetensors", kept) in hub.ranges  # it asked only for what the crash left out
    assert f"{REPO} is ready in " in text and not list((tmp_path / "hub-cache").rglob("*.incomplete"))
