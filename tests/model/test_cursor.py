"""The GUI cursor sprite: the same pixels VPT's data loader pastes onto a GUI frame."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from model import cursor
from tests.conftest import shared_path


def _vpt_reference(frame_bgr: np.ndarray, mouse_x: float, mouse_y: float) -> np.ndarray:
    """VPT data_loader.py @095519f, lines 34-56 and 113-117, as written there (cv2, BGR, in place)."""
    import cv2

    cursor_image = cv2.imread(str(cursor.sprite_path()), cv2.IMREAD_UNCHANGED)
    cursor_image = cursor_image[:16, :16, :]
    cursor_alpha = cursor_image[:, :, 3:] / 255.0
    cursor_image = cursor_image[:, :, :3]
    image1 = frame_bgr.copy()
    camera_scaling_factor = image1.shape[0] / 720
    x = int(mouse_x * camera_scaling_factor)
    y = int(mouse_y * camera_scaling_factor)
    ch = max(0, min(image1.shape[0] - y, cursor_image.shape[0]))
    cw = max(0, min(image1.shape[1] - x, cursor_image.shape[1]))
    if ch == 0 or cw == 0:
        return image1
    alpha = cursor_alpha[:ch, :cw]
    image1[y : y + ch, x : x + cw, :] = (
        image1[y : y + ch, x : x + cw, :] * (1 - alpha) + cursor_image[:ch, :cw, :] * alpha
    ).astype(np.uint8)
    return image1


def test_shipped_sprite_is_vpts_file_unchanged() -> None:
    digest = hashlib.sha256(cursor.sprite_path().read_bytes()).hexdigest()
    assert digest == "8e4ff0fbbff52c1db89a4fe4ede8f3ecc5cdbc0b35d596b60a65307b55e4f805"
    assert (cursor.sprite_path().parent / "LICENSE").read_text().count("MIT License") == 1
    fixture = shared_path("fixtures", "frames", "vpt_mouse_cursor_white_16x16.png")
    assert fixture.read_bytes() == cursor.sprite_path().read_bytes()


def test_sprite_is_the_white_arrow_with_its_alpha() -> None:
    image, alpha = cursor.load_sprite()
    assert image.shape == (16, 16, 3) and alpha.shape == (16, 16, 1) and alpha.dtype == np.float64
    assert alpha[0, 0, 0] == 1.0 and alpha[0, 15, 0] == 0.0  # the arrow's tip is the top-left pixel
    opaque = image[alpha[:, :, 0] == 1.0]
    assert {0, 255} <= set(np.unique(opaque)) <= {0, 238, 255}  # a white arrow with a black outline
    assert (opaque == 255).all(axis=1).sum() > 40


@pytest.mark.parametrize(
    "mouse",
    [(640.0, 360.0), (0.0, 0.0), (1279.0, 719.0), (1270.5, 5.9), (3.3, 711.2), (101.7, 333.3)],
)
def test_pixels_equal_vpts_loader_on_a_real_frame(frame: np.ndarray, mouse: tuple[float, float]) -> None:
    """``frame`` is a real Minecraft frame when ../shared exists; edges cut the sprite as VPT does."""
    bgr = np.ascontiguousarray(frame[:, :, ::-1])
    want = _vpt_reference(bgr, *mouse)[:, :, ::-1]
    got = cursor.draw_at_window_position(frame, mouse[0], mouse[1], (1280, 720))
    assert np.array_equal(got, want)
    assert not np.array_equal(got, frame)  # something was drawn, also at the corners


def test_drawing_copies_and_lands_at_the_scaled_position(frame: np.ndarray) -> None:
    before = frame.copy()
    out = cursor.draw_at_window_position(frame, 200.0, 100.0, (640, 360))  # a 640×360 window: 1:1
    assert np.array_equal(frame, before)  # the recorded frame stays cursor-free
    changed = np.argwhere((out != frame).any(axis=2))
    assert changed.min(axis=0).tolist() == [100, 200] and changed.max(axis=0).tolist() <= [115, 215]
    assert cursor.frame_position(1279.9, 719.9, (1280, 720)) == (639, 359)
    assert cursor.frame_position(100.0, 50.0, (800, 600)) == (80, 30)  # each axis by its own ratio
    off = cursor.draw_cursor(frame, 640, 10)  # entirely right of the frame: nothing to draw
    assert np.array_equal(off, frame)
