"""Shared fixtures. Qt runs offscreen; nothing reaches the network; ../shared is optional."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Xvfb + minetest session fixtures (xvfb, minetest_session, game) for the real-game tests
pytest_plugins = ["tests.game_fixtures"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or a skip that says why (a fresh clone has no ../shared)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/{'/'.join(parts)} (the project's shared fixtures), absent here")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny random Qwen2-VL per test session, built by the same code as `model make-tiny`."""
    from model.tiny import make_tiny

    return make_tiny(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_vla(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    from model.vla import VLA

    return VLA.load(str(tiny_model_dir), device="cpu")


@pytest.fixture
def frame() -> np.ndarray:  # noqa: F821
    """A real 640×360 Minecraft frame when ../shared exists, else a synthetic one of the same shape."""
    import numpy as np

    real = SHARED / "fixtures" / "frames" / "jarvisvla_episode_1_f029.png"
    if real.exists():
        from PIL import Image

        return np.asarray(Image.open(real).convert("RGB"))
    # Without ../shared: a smooth scene (sky gradient, ground, a few blocks) with the statistics of a
    # game frame; pure noise would make every lossy step (JPEG, resize) look broken.
    y = np.linspace(0.0, 1.0, 360)[:, None]
    x = np.linspace(0.0, 1.0, 640)[None, :]
    scene = np.empty((360, 640, 3), np.float64)
    scene[..., 0] = 90 + 80 * y + 10 * x
    scene[..., 1] = 150 + 60 * y - 20 * x
    scene[..., 2] = 230 - 120 * y
    scene[200:] = (96, 140, 60)  # ground
    scene[150:260, 300:380] = (110, 80, 50)  # a tree trunk
    scene[120:170, 260:420] = (40, 110, 40)  # leaves
    return scene.clip(0, 255).astype(np.uint8)
