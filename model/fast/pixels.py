"""The image processor's arithmetic on the device: from a frame's bytes to the vision tower's input.

The Qwen2-VL processor rescales, normalises and cuts a 644×364 frame into 14-pixel patches in numpy
on the host: most of a tick's host time, and a 5.6 MB float upload. Done on the device from the
0.7 MB uint8 frame, with the processor's own precisions (float64 rescale, float32 normalise), every
value is correctly rounded on any device, hence bit-identical; the engine still checks each new
layout against the processor and keeps the processor where they differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class PixelSpec:
    """The image processor's arithmetic, read from its settings (``None``: a step it skips)."""

    scale: float | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    patch: int
    merge: int
    temporal: int

    @classmethod
    def of(cls, processor: Any) -> PixelSpec | None:
        """The spec of a Qwen2-VL image processor, or ``None`` for one this module does not mirror."""
        try:
            rescale = bool(processor.do_rescale)
            normalize = bool(processor.do_normalize)
            return cls(
                scale=float(processor.rescale_factor) if rescale else None,
                mean=tuple(float(x) for x in processor.image_mean) if normalize else None,
                std=tuple(float(x) for x in processor.image_std) if normalize else None,
                patch=int(processor.patch_size),
                merge=int(processor.merge_size),
                temporal=int(processor.temporal_patch_size),
            )
        except (AttributeError, TypeError, ValueError):
            return None

    def constants(self, device: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(mean, std) as float32 device tensors, made outside any CUDA graph capture (an upload)."""
        if self.mean is None or self.std is None:
            return None
        mean, std = (torch.tensor(v, dtype=torch.float32, device=device) for v in (self.mean, self.std))
        return mean, std

    def patches(self, frames: list[torch.Tensor], constants: tuple[torch.Tensor, torch.Tensor] | None) -> Any:
        """Pixel values from (height, width, 3) uint8 tensors, as the processor computes them.

        The same operations in the same precisions as ``transformers``' numpy code: ``x.astype(float64)
        * scale`` cast to float32, then ``(x - mean) / std`` in float32 with tensor operands (a scalar
        divisor may be turned into a reciprocal multiply on CUDA)."""
        out = []
        for frame in frames:
            x = frame.to(torch.float64)
            x = (x * self.scale).to(torch.float32) if self.scale is not None else x.to(torch.float32)
            if constants is not None:
                mean, std = constants
                x = (x - mean) / std
            height, width, channels = x.shape
            p, m = self.patch, self.merge
            gh, gw = height // p, width // p
            x = x.permute(2, 0, 1).reshape(channels, gh // m, m, p, gw // m, m, p)
            x = x.permute(1, 4, 2, 5, 0, 3, 6).unsqueeze(5)
            x = x.expand(*x.shape[:5], self.temporal, p, p)
            out.append(x.reshape(gh * gw, channels * self.temporal * p * p))
        return torch.cat(out, dim=0)


def frame_bytes(image: Any) -> np.ndarray | None:
    """An RGB PIL image's (height, width, 3) uint8 array, or ``None`` for anything else."""
    if getattr(image, "mode", None) != "RGB":
        return None
    return np.asarray(image)
