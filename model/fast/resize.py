"""PIL's bicubic resize of an 8-bit frame, as torch operations on any device, bit for bit.

The official agent resizes each 640×360 frame to 644×364 with PIL (``model.image.prepare_frame``).
On the host that costs about 4.5 ms a tick and a float upload; on the GPU, inside the prefill's CUDA
graph, it costs nothing visible. To give the model the very pixels the official pipeline gives it,
this follows Pillow's ``Resample.c`` step by step: the filter weights are computed in double
precision exactly as Pillow does, rounded to its 22-bit fixed point, and applied in integer
arithmetic with its rounding and clipping, horizontally first, through an 8-bit intermediate image.
Integer sums do not depend on their order, so every device gives the same bytes.
"""

from __future__ import annotations

import math

import torch

PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed point for 8-bit images
SUPPORT = 2.0  # the bicubic filter's support


def _bicubic(x: float) -> float:
    """Pillow's bicubic kernel (a = -0.5), in double precision."""
    a = -0.5
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def coefficients(in_size: int, out_size: int) -> tuple[list[list[int]], list[list[int]]]:
    """(source indices, fixed-point weights) per output pixel, each row padded to the same length.

    Pillow's ``precompute_coeffs`` and ``normalize_coeffs_8bpc``: the same expressions in the same
    order (Python floats are C doubles, ``int()`` truncates toward zero as a C cast does)."""
    scale = float(in_size) / out_size  # (double)(in1 - in0) / outSize with in0 = 0
    filterscale = max(scale, 1.0)
    support = SUPPORT * filterscale
    ksize = math.ceil(support) * 2 + 1
    indices, weights = [], []
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        ss = 1.0 / filterscale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        k = [_bicubic((x + xmin - center + 0.5) * ss) for x in range(xmax)]
        ww = 0.0
        for w in k:
            ww += w
        if ww != 0.0:
            k = [w / ww for w in k]
        fixed = [
            int(-0.5 + w * (1 << PRECISION_BITS)) if w < 0 else int(0.5 + w * (1 << PRECISION_BITS))
            for w in k
        ]
        pad = ksize - xmax
        indices.append([xmin + x for x in range(xmax)] + [xmin] * pad)  # padded taps weigh 0
        weights.append(fixed + [0] * pad)
    return indices, weights


class BicubicResize:
    """Resize (height, width, channels) uint8 tensors from one size to another, as Pillow does.

    The tables live on ``device``; calling it launches a handful of kernels and never syncs, so it
    can sit inside a CUDA graph."""

    def __init__(self, source: tuple[int, int], target: tuple[int, int], device: torch.device | str) -> None:
        self.source, self.target = source, target
        (src_h, src_w), (dst_h, dst_w) = source, target
        self._x = self._tables(src_w, dst_w, device) if dst_w != src_w else None
        self._y = self._tables(src_h, dst_h, device) if dst_h != src_h else None

    @staticmethod
    def _tables(in_size: int, out_size: int, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        indices, weights = coefficients(in_size, out_size)
        return (
            torch.tensor(indices, dtype=torch.long, device=device),
            torch.tensor(weights, dtype=torch.int32, device=device),
        )

    def __call__(self, frame: torch.Tensor) -> torch.Tensor:
        x = frame
        if self._x is not None:  # horizontal pass first, as Pillow: an 8-bit intermediate image
            x = _pass(x, *self._x, dim=1)
        if self._y is not None:
            x = _pass(x, *self._y, dim=0)
        return x


def _pass(image: torch.Tensor, index: torch.Tensor, weight: torch.Tensor, dim: int) -> torch.Tensor:
    """One separable pass along ``dim`` (0: rows, 1: columns) of an (h, w, c) uint8 image: each tap
    is a gather, a multiply and an add over the whole image (int32, as Pillow's accumulators)."""
    shape = (-1, 1, 1) if dim == 0 else (1, -1, 1)
    total = torch.full((), 1 << (PRECISION_BITS - 1), dtype=torch.int32, device=image.device)
    for tap in range(index.shape[1]):
        total = total + image.index_select(dim, index[:, tap]).to(torch.int32) * weight[:, tap].view(shape)
    total = total >> PRECISION_BITS  # an arithmetic shift, as the index into Pillow's clip8 table
    return total.clamp_(0, 255).to(torch.uint8)
