"""Private X desktops for the tests that open real windows: Xvfb alone, or Xvfb with openbox managing it.

Each is a context manager that skips the test, saying what to install, where Xvfb or openbox is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Tests talk to their Xvfb with python-xlib directly, and some to a compositor's XWayland too: each
# connection gets its own extension tables, as the product's own connections do (recorder.desktop.x11).
from recorder.desktop.x11 import xlib_tables  # noqa: F401


@contextlib.contextmanager
def virtual_display(width: int, height: int) -> Iterator[str]:
    """A private Xvfb of ``width``×``height``; yields its DISPLAY name."""
    import pytest

    from recorder.desktop import VirtualDisplay

    if not VirtualDisplay.available():
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    vd = VirtualDisplay(width, height).start()
    try:
        yield vd.name
    finally:
        vd.stop()


@contextlib.contextmanager
def openbox_display(width: int, height: int) -> Iterator[str]:
    """A private Xvfb with openbox managing it (frames, placement, raise on activate), once it is up."""
    import pytest

    if shutil.which("openbox") is None:
        pytest.skip("openbox is not installed (apt-get install openbox)")
    with virtual_display(width, height) as name:
        wm = subprocess.Popen(
            ["openbox", "--sm-disable"],
            env={**os.environ, "DISPLAY": name},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert _wait_for_wm(name), "openbox did not start managing the display within 10 s"
            yield name
        finally:
            wm.terminate()
            wm.wait(10)


def _wait_for_wm(display: str, timeout: float = 10.0) -> bool:
    """Whether a window manager announced itself (``_NET_SUPPORTING_WM_CHECK``) within ``timeout``."""
    from Xlib import X
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    try:
        atom = d.intern_atom("_NET_SUPPORTING_WM_CHECK")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if d.screen().root.get_full_property(atom, X.AnyPropertyType) is not None:
                return True
            time.sleep(0.1)
        return False
    finally:
        d.close()


def window_env(display: str, tmp_path: Path) -> dict[str, str]:
    """The environment a ``jarvis-play window`` process runs in: Qt on xcb at ``display``, offline,
    its settings in the test's own folder, never Wayland."""
    env = dict(
        os.environ,
        DISPLAY=display,
        QT_QPA_PLATFORM="xcb",
        HF_HUB_OFFLINE="1",
        JARVIS_PLAY_CONFIG_DIR=str(tmp_path / "config"),
    )
    env.pop("WAYLAND_DISPLAY", None)
    return env


def x_pixels(display: str, window: int | None = None) -> Any:
    """The pixels of ``window`` (default: the whole screen) as the X server has them, RGB, (h, w, 3):
    what a person sees, not Qt's or the game's own idea of it."""
    import numpy as np
    from Xlib import X
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    try:
        drawable = d.screen().root if window is None else d.create_resource_object("window", window)
        geo = drawable.get_geometry()
        raw = drawable.get_image(0, 0, geo.width, geo.height, X.ZPixmap, 0xFFFFFFFF).data
    finally:
        d.close()
    return np.frombuffer(raw, np.uint8).reshape(geo.height, geo.width, 4)[..., 2::-1].copy()


def screenshot(display: str, path: Path) -> Any:
    """The whole screen saved to ``path`` and copied to artifacts/ for a person to look at; its pixels."""
    from PIL import Image

    from tests.conftest import REPO

    pixels = x_pixels(display)
    Image.fromarray(pixels).save(path)
    artifacts = REPO / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(path, artifacts / path.name)
    return pixels
