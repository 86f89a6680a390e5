"""The window's first download of a hub model, under Xvfb, clicked with real X input.

The window (``download_window_child``, Qt on xcb) loads ``test-org/tiny-jarvis`` from ``tests.fake_hub``
(``HF_ENDPOINT``; throttled so the weights take seconds). From outside the test reads the screen (the
X server's own pixels, saved to artifacts/ for a person to look at) and clicks with xdotool: Download
on the plan, Episodes while it downloads (the rest of the window works), Cancel part-way, Load model
again, Download again (it says it resumes), and the model is loaded in the end.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.app.gui.child_window import child_window
from tests.fake_hub import FakeHub
from tests.xdesktop import screenshot, virtual_display

pytestmark = [pytest.mark.xvfb, pytest.mark.slow]

REPO = "test-org/tiny-jarvis"
State = dict[str, Any]


class Window:
    """The child window's reports (one JSON line per 100 ms), and the person's mouse on its X server."""

    def __init__(self, proc: subprocess.Popen[str], display: str) -> None:
        self.proc, self.display = proc, display
        self.lines: queue.Queue[State] = queue.Queue()
        self.state: State = {}
        self.reports = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.lines.put(json.loads(line))

    def wait(self, what: str, ok: Callable[[State], bool], timeout: float = 120) -> State:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                self.state = self.lines.get(timeout=1)
                self.reports += 1
            except queue.Empty:
                assert self.proc.poll() is None, (
                    f"the window exited ({self.proc.returncode}) waiting for {what}"
                )
                continue
            if ok(self.state):
                return self.state
        raise AssertionError(f"timed out waiting for {what}; last state: {self.state}")

    def click(self, name: str) -> None:
        x, y, w, h = self.state[name]
        env = {**os.environ, "DISPLAY": self.display}
        subprocess.run(["xdotool", "mousemove", str(x + w // 2), str(y + h // 2), "click", "1"], env=env,
                       check=True, timeout=10)  # fmt: skip

    def screenshot(self, path: Path) -> np.ndarray:
        """The screen as the X server has it (not Qt's idea of the window), kept in artifacts/."""
        return screenshot(self.display, path)

    def filled(self, pixels: np.ndarray) -> float:
        """The share of the progress bar drawn in its fill colour (the palette's highlight, blue)."""
        x, y, w, h = self.state["bar_rect"]
        bar = pixels[y : y + h, x : x + w].astype(int)
        blue = (bar[..., 2] > bar[..., 0] + 60) & (bar[..., 2] > 120)
        return float(blue.mean())


@pytest.fixture
def window(tiny_model_dir: Path, tmp_path: Path) -> Iterator[tuple[Window, FakeHub, Path]]:
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool)")
    with virtual_display(1366, 768) as display, FakeHub({REPO: tiny_model_dir}, rate=5e6) as hub:
        cache = tmp_path / "hub-cache"
        env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", HF_ENDPOINT=hub.url,
                   HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="0",
                   JARVIS_PLAY_CONFIG_DIR=str(tmp_path / "config"))  # fmt: skip
        env.pop("WAYLAND_DISPLAY", None)
        with child_window(
            "tests.app.gui.download_window_child", REPO, env=env, log=tmp_path / "window.log"
        ) as proc:
            yield Window(proc, display), hub, cache


def test_the_window_plans_shows_progress_cancels_and_resumes(
    window: tuple[Window, FakeHub, Path], tmp_path: Path
) -> None:
    win, hub, cache = window
    plan = win.wait("the plan", lambda s: s["download"] is not None)
    assert "39.5 MB to download into" in plan["text"] and hub.weight_bytes() == 0
    win.screenshot(tmp_path / "download_plan.png")
    win.click("download")

    first = win.wait("progress", lambda s: s["bar"][0] > 150 and "model.safetensors" in s["text"])
    assert "MB/s" in first["text"] or "measuring speed" in first["text"]
    shot_a = win.filled(win.screenshot(tmp_path / "download_progress_a.png"))
    reports = win.reports
    win.click("episodes")  # the rest of the window answers while the bytes arrive
    win.wait("the episodes panel", lambda s: s["episodes_open"], timeout=20)
    later = win.wait("more progress", lambda s: s["bar"][0] > first["bar"][0] + 150)
    assert "left" in later["text"] and win.reports - reports >= 5  # the GUI thread kept reporting
    shot_b = win.filled(win.screenshot(tmp_path / "download_progress_b.png"))
    assert shot_b > shot_a > 0.05, (shot_a, shot_b)  # the picture shows a longer bar

    win.click("cancel")
    stopped = win.wait("the stop", lambda s: not s["shown"] and not s["loading"], timeout=30)
    assert "stopped" in stopped["banner"] and "is kept in" in stopped["banner"], stopped["banner"]
    (partial,) = cache.rglob("*.incomplete")
    kept = partial.stat().st_size
    assert 0 < kept < 39.5e6 and stopped["model"] is None

    win.click("live")  # the pickers are on the Live tab
    win.wait("the Live tab", lambda s: s["load"] is not None)
    win.click("load")
    again = win.wait("the plan again", lambda s: s["download"] is not None)
    assert "Resuming: " in again["text"]
    win.screenshot(tmp_path / "download_resume_plan.png")
    win.click("download")
    win.wait("the resumed bar", lambda s: s["text"].startswith("Resuming ") and s["bar"][0] > 0)
    done = win.wait("the model loaded", lambda s: s["model"] == REPO and not s["loading"], timeout=180)
    assert not done["shown"] and ("model.safetensors", kept) in hub.ranges
    assert not list(cache.rglob("*.incomplete"))
