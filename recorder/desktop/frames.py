"""Pictures as the model takes them: any BGRA grab becomes 640×360 RGB the same way on every backend."""

from __future__ import annotations

import cv2
import numpy as np


def to_rgb(bgra: np.ndarray, size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """BGRA of any size -> RGB at ``size`` (width, height), INTER_AREA when shrinking."""
    height, width = bgra.shape[:2]
    if (width, height) != size:
        shrink = width >= size[0] and height >= size[1]
        bgra = cv2.resize(bgra, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGB)
