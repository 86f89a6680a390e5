"""Frame preprocessing exactly as the official agent does it (spec §4.2).

The official client resizes the raw 640×360 ``pov`` with PIL's default filter (bicubic) to the
``smart_resize`` size, 644×364, and the processor then leaves it alone. Doing the same resize here,
with the same library and filter, is what makes our pixels equal theirs.
"""

from __future__ import annotations

import base64
import functools
import io
import math
from typing import Any

import numpy as np
from PIL import Image

FACTOR = 28
MIN_PIXELS = 4 * 28 * 28
MAX_PIXELS = 1024 * 28 * 28
MAX_RATIO = 200


def smart_resize(
    height: int, width: int, factor: int = FACTOR, min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS
) -> tuple[int, int]:
    """(height, width) rounded to multiples of ``factor`` within the pixel budget, as upstream."""
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise ValueError(f"aspect ratio above {MAX_RATIO}: {width}x{height}")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def prepare_frame(frame: np.ndarray | Image.Image) -> Image.Image:
    """An RGB frame (H×W×3 uint8 or PIL) resized as the official agent resizes it."""
    image = frame if isinstance(frame, Image.Image) else Image.fromarray(np.ascontiguousarray(frame))
    image = image.convert("RGB")
    height, width = smart_resize(image.height, image.width)
    if (width, height) != image.size:
        image = image.resize((width, height))  # PIL default filter: BICUBIC, as upstream
    return image


class SourceFrame:
    """A captured frame whose official resize is not done yet.

    An engine that resizes on the GPU (``model.fast``, bit for bit as PIL) takes ``pixels``, the
    captured (height, width, 3) uint8 bytes; everything else takes ``image``, the PIL resize, done
    once on first use. ``size``, ``width`` and ``height`` are the resized image's, so prompts and
    token layouts are the same either way."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = np.ascontiguousarray(pixels)
        self.height, self.width = smart_resize(*self.pixels.shape[:2])
        self.size = (self.width, self.height)

    @functools.cached_property
    def image(self) -> Image.Image:
        return prepare_frame(self.pixels)

    @staticmethod
    def accepts(frame: Any) -> bool:
        """Whether ``frame`` is what capture gives: an RGB (height, width, 3) uint8 array."""
        return (
            isinstance(frame, np.ndarray)
            and frame.dtype == np.uint8
            and frame.ndim == 3
            and frame.shape[2] == 3
        )


def pil_image(image: Image.Image | SourceFrame) -> Image.Image:
    """The PIL image the processor takes, resizing a ``SourceFrame`` on the host if it must."""
    return image.image if isinstance(image, SourceFrame) else image


def image_tokens(image: Image.Image, patch: int = 14, merge: int = 2) -> int:
    """How many ``<|image_pad|>`` tokens the processor will insert (299 for 644×364)."""
    return (image.height // patch) * (image.width // patch) // (merge * merge)


def jpeg_bytes(image: Image.Image) -> bytes:
    """JPEG with PIL defaults (quality 75), what the official client sends over HTTP."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


def jpeg_data_url(image: Image.Image) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes(image)).decode("ascii")


def image_from_data_url(url: str) -> Image.Image:
    """Inverse of ``jpeg_data_url`` for any base64 data URL (the server side)."""
    if not url.startswith("data:") or ";base64," not in url:
        raise ValueError("only base64 data: URLs are accepted for images")
    payload = url.split(";base64,", 1)[1]
    return Image.open(io.BytesIO(base64.b64decode(payload))).convert("RGB")
