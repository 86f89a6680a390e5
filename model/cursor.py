"""The white GUI cursor JARVIS-VLA saw in every frame with a screen open, drawn the way its data drew it.

The env the model was evaluated in renders a 16×16 white cursor at the cursor position whenever a GUI
screen is open (MineRL's ``FakeMouseCursor``, spec §1.4); VPT's data loader, which built the training
frames from contractor videos that have no cursor, pastes the same sprite (spec §5.3 d). A desktop
capture has neither, so crafting and smelting would run on frames the model never saw. This module
redoes VPT's step bit for bit, so live play, the SFT export and VPT's loader give the same pixels:

* the sprite is the top-left 16×16 of ``cursors/mouse_cursor_white_16x16.png`` (a 256×256 RGBA file)
  with its alpha as opacity (``alpha / 255.0``, float64);
* its top-left corner goes to the cursor position scaled from window to frame pixels and truncated
  (``int(x · H / 720)`` for VPT's 1280×720 windows and 360-row frames);
* ``(frame · (1 − α) + sprite · α).astype(uint8)``: float64 arithmetic, truncated, as numpy does there;
* a sprite that runs off the right or bottom edge is cut there.

Channel order does not matter: the same permutation applies to frame and sprite (VPT works in BGR).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

SPRITE_SIZE = 16  # VPT's loader assumes 16×16 ("Assume 16x16") and cuts the file to it
SPRITE_FILE = "mouse_cursor_white_16x16.png"


def sprite_path() -> Path:
    """The shipped copy of VPT's sprite (assets/cursor, with its MIT notice), beside the packages."""
    path = Path(__file__).resolve().parents[1] / "assets" / "cursor" / SPRITE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"the GUI cursor sprite is missing (looked for {path}); reinstall jarvis-play"
        )
    return path


@lru_cache(maxsize=4)
def load_sprite(path: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(colour uint8 (16, 16, 3), opacity float64 (16, 16, 1)) exactly as VPT's loader makes them."""
    with Image.open(path or sprite_path()) as im:
        rgba = np.asarray(im.convert("RGBA"))
    rgba = rgba[:SPRITE_SIZE, :SPRITE_SIZE, :]
    return np.ascontiguousarray(rgba[:, :, :3]), rgba[:, :, 3:] / 255.0


def frame_position(
    x: float, y: float, window: tuple[int, int], frame: tuple[int, int] = (640, 360)
) -> tuple[int, int]:
    """Window pixels (x, y) -> the sprite's top-left in frame pixels, truncated as VPT does.

    ``window`` and ``frame`` are (width, height). For a 1280×720 window and a 640×360 frame this is
    VPT's ``int(x · 360/720)``; other window sizes scale each axis by its own ratio.
    """
    return int(x * frame[0] / window[0]), int(y * frame[1] / window[1])


def draw_cursor(
    frame: np.ndarray, x: int, y: int, sprite: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """A copy of ``frame`` (H, W, 3 uint8) with the sprite's top-left at frame pixel (x, y).

    A copy, never in place: the caller's frame is what gets recorded, and recordings stay cursor-free
    (spec §5.1). Positions left of or above the frame are clamped to 0 (the game clips its cursor to the
    window, so only rounding can put one there).
    """
    image, alpha = sprite if sprite is not None else load_sprite()
    out = np.array(frame, dtype=np.uint8, copy=True)
    x, y = max(0, int(x)), max(0, int(y))
    ch = max(0, min(out.shape[0] - y, image.shape[0]))
    cw = max(0, min(out.shape[1] - x, image.shape[1]))
    if ch == 0 or cw == 0:
        return out
    a = alpha[:ch, :cw]
    out[y : y + ch, x : x + cw, :] = (
        out[y : y + ch, x : x + cw, :] * (1 - a) + image[:ch, :cw, :] * a
    ).astype(np.uint8)
    return out


def draw_at_window_position(frame: np.ndarray, x: float, y: float, window: tuple[int, int]) -> np.ndarray:
    """``draw_cursor`` for a cursor given in window pixels of a ``window`` (width, height) sized game."""
    fx, fy = frame_position(x, y, window, (frame.shape[1], frame.shape[0]))
    return draw_cursor(frame, fx, fy)
