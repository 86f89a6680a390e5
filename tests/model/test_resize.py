"""The GPU resize must give the official pipeline's pixels: PIL's bicubic 640×360 -> 644×364, bit for bit.

Checked against PIL itself (the oracle), on the real Minecraft frames in ``../shared/fixtures/frames``
and on frames made to stress the arithmetic: noise, black-and-white edges (where the filter's negative
lobes clip), and other source sizes (a downscale, whose filter is wider)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from model.fast.resize import BicubicResize
from model.image import prepare_frame
from tests.conftest import shared_path


def _real_frames() -> list[np.ndarray]:
    folder = shared_path("fixtures", "frames")
    files = sorted(p for p in folder.glob("*.png") if not p.name.startswith("vpt_mouse_cursor"))
    frames = [np.asarray(Image.open(p).convert("RGB")) for p in files]
    assert len(frames) >= 9 and all(f.shape == (360, 640, 3) for f in frames[:9]), [f.shape for f in frames]
    return frames


def _resized(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(PIL's resize as the official agent does it, ours on torch)."""
    expected = np.asarray(prepare_frame(frame))
    resize = BicubicResize(frame.shape[:2], expected.shape[:2], "cpu")
    return expected, resize(torch.from_numpy(frame.copy())).numpy()


def test_real_frames_resize_to_pils_bytes() -> None:
    for frame in _real_frames():
        expected, got = _resized(frame)
        assert expected.shape == (364, 644, 3)
        assert np.array_equal(got, expected), np.abs(got.astype(int) - expected).max()


@pytest.mark.parametrize("shape", [(360, 640, 3), (720, 1280, 3)])
def test_hard_frames_resize_to_pils_bytes(shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    noise = rng.integers(0, 256, shape, dtype=np.uint8)
    edges = np.where(rng.random(shape) < 0.5, 0, 255).astype(np.uint8)  # every sum clips somewhere
    for frame in (noise, edges) if shape[0] == 360 else (noise,):
        expected, got = _resized(frame)
        assert np.array_equal(got, expected), np.abs(got.astype(int) - expected).max()


def test_a_plain_float_bicubic_is_not_pils() -> None:
    """Control: torch's own bicubic interpolation, the obvious shortcut, does not give PIL's bytes,
    so the comparison above can fail."""
    frame = np.asarray(
        Image.open(shared_path("fixtures", "frames", "jarvisvla_episode_1_f000.png")).convert("RGB")
    )
    expected = np.asarray(prepare_frame(frame))
    x = torch.from_numpy(frame.copy()).permute(2, 0, 1)[None].float()
    naive = torch.nn.functional.interpolate(x, size=(364, 644), mode="bicubic", align_corners=False)
    naive = naive.round().clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()
    assert (naive != expected).mean() > 0.01
