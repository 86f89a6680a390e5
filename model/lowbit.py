"""Weight-only int4 and FP8 layers on PyTorch's own kernels: the 7B on a 12–16 GB card, at speed.

bitsandbytes' NF4 and LLM.int8 layers fit the model in 7–10 GiB but dequantise in Python-launched
kernels and synchronise with the host, so they run outside CUDA graphs at 3–7 actions/s. These two
layers are plain tensors and single aten ops, which the fast engine's CUDA graphs hold as they hold
bf16 matmuls; no package beyond torch is needed:

* ``int4``: groups of 128 input weights share a bf16 scale and zero (asymmetric, w = (q - 8)·s + z),
  packed for PyTorch's tinygemm kernel ``_weight_int4pack_mm`` (the kernel torchao's int4
  weight-only layout uses): a decode step reads 4 bits per weight instead of 16. On a CPU the same
  quantisation goes through the kernel's CPU twin, which is how it is tested here;
* ``fp8``: e4m3 weights with one scale per output row, activations scaled per token on the fly, and
  ``torch._scaled_mm`` on the FP8 tensor cores of Ada and Hopper cards.

Only the language model's linear layers are replaced; the vision tower, the embeddings and the head
stay in bf16, as with bitsandbytes. ``quantize_weights`` replaces them one by one, each moved to the
device as it is quantised, so the GPU never holds the bf16 language model (a 12 GB card could not).
The first replaced layer is checked against its own dequantised weights before the rest are done: a
kernel that reads the packing differently is refused with the reason, never used.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from model.errors import ModelError

KINDS = ("int4", "fp8")
INT4_KERNEL = "_weight_int4pack_mm"  # aten ops, present in torch >= 2.5
FP8_KERNEL = "_scaled_mm"
FP8_MAX = 448.0  # largest finite float8_e4m3fn
MIN_CAPABILITY = {"int4": (8, 0), "fp8": (8, 9)}  # tinygemm: Ampere; FP8 tensor cores: Ada, Hopper


class LowbitError(ModelError, ValueError):
    """A layer or a machine these kernels cannot serve; the message says which and why."""


def missing_kernel(kind: str) -> str | None:
    """The aten op ``kind`` needs when this torch lacks it, else None."""
    name = INT4_KERNEL if kind == "int4" else FP8_KERNEL
    return None if hasattr(torch.ops.aten, name) else name


def _int4_shape(k: int) -> tuple[int, int]:
    """(group size, inner k tiles) for ``k`` inputs: 128 and 8 for every 7B layer; smaller for the
    tiny test model (tinygemm takes groups of 32 to 256)."""
    for group, tiles in ((128, 8), (64, 4), (32, 2)):
        if k % group == 0:
            return group, tiles
    raise LowbitError(f"int4 needs a multiple of 32 inputs per layer, not {k}")


def _bias(linear: nn.Linear, device: Any) -> torch.Tensor | None:
    return None if linear.bias is None else linear.bias.detach().to(device=device, dtype=torch.bfloat16)


class Int4Linear(nn.Module):
    def __init__(self, linear: nn.Linear, device: Any, high_nibble_first: bool = True) -> None:
        super().__init__()
        n, k = linear.out_features, linear.in_features
        if n % 8:
            raise LowbitError(f"int4 needs a multiple of 8 outputs per layer, not {n}")
        self.in_features, self.out_features = k, n
        self.group, tiles = _int4_shape(k)
        w = linear.weight.detach().to(device=device, dtype=torch.float32).view(n, k // self.group, self.group)
        low, high = w.amin(-1), w.amax(-1)
        scale = (high - low).clamp(min=1e-6) / 15
        q = ((w - low[..., None]) / scale[..., None]).round().clamp(0, 15).to(torch.int32).view(n, k)
        zero = low + scale * 8
        self.cuda_kernel = torch.device(device).type == "cuda"
        if self.cuda_kernel:  # the CUDA packer takes two 4-bit values per byte
            first, second = (q[:, ::2], q[:, 1::2]) if high_nibble_first else (q[:, 1::2], q[:, ::2])
            packed = torch._convert_weight_to_int4pack((first << 4 | second).to(torch.uint8), tiles)
        else:
            packed = torch._convert_weight_to_int4pack_for_cpu(q, tiles)
        self.register_buffer("packed", packed)
        pairs = torch.stack([scale, zero], dim=-1).transpose(0, 1).contiguous()  # (k / group, n, 2)
        self.register_buffer("scales_and_zeros", pairs.to(torch.bfloat16))
        self.register_buffer("bias", _bias(linear, device))
        self._q = q  # kept until the check: the dequantised reference

    def dequantized(self) -> torch.Tensor:
        """The weights this layer multiplies by, in float32 (what the check compares with)."""
        n, k, g = self.out_features, self.in_features, self.group
        pairs = self.scales_and_zeros.float().transpose(0, 1)  # (n, k / group, 2)
        q = self._q.view(n, k // g, g).float()
        return ((q - 8) * pairs[..., :1] + pairs[..., 1:]).view(n, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).to(torch.bfloat16)
        if self.cuda_kernel:
            y = torch.ops.aten._weight_int4pack_mm(flat, self.packed, self.group, self.scales_and_zeros)
        else:
            kernel = torch.ops.aten._weight_int4pack_mm_for_cpu
            y = kernel(flat, self.packed, self.group, self.scales_and_zeros)
        if self.bias is not None:
            y = y + self.bias
        return y.view(*x.shape[:-1], self.out_features).to(x.dtype)


class Fp8Linear(nn.Module):
    def __init__(self, linear: nn.Linear, device: Any) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        w = linear.weight.detach().to(device=device, dtype=torch.float32)
        scale = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / FP8_MAX  # one per output row
        self.register_buffer("weight8", (w / scale).to(torch.float8_e4m3fn))
        self.register_buffer("weight_scale", scale.t().contiguous())  # (1, n)
        self.register_buffer("bias", _bias(linear, device))

    def dequantized(self) -> torch.Tensor:
        return self.weight8.float() * self.weight_scale.t()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).float()
        rows = flat.shape[0]
        pad = -rows % 16  # the FP8 GEMM takes multiples of 16 rows
        if pad:
            flat = torch.cat([flat, flat.new_zeros(pad, self.in_features)])
        scale = flat.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / FP8_MAX  # one per token
        y = torch._scaled_mm(
            (flat / scale).to(torch.float8_e4m3fn),
            self.weight8.t(),
            scale_a=scale,
            scale_b=self.weight_scale,
            bias=self.bias,
            out_dtype=torch.bfloat16,
        )
        return y[:rows].view(*x.shape[:-1], self.out_features).to(x.dtype)


def _check_layer(layer: nn.Module, kind: str) -> None:
    """The kernel must compute with the weights it was given: compare one layer with its own
    dequantised weights on a random input (bf16 rounding allowed, a misread packing is not)."""
    weight = layer.dequantized()
    x = torch.randn(3, layer.in_features, device=weight.device)
    expected = x.to(torch.bfloat16).float() @ weight.t()
    if layer.bias is not None:
        expected = expected + layer.bias.float()
    got = layer(x).float()
    error = float((got - expected).abs().max())
    bound = 0.05 * float(expected.abs().max()) + 1e-3  # FP8 activations round to 3 mantissa bits
    if not error <= bound:
        raise LowbitError(
            f"{kind} kernel disagrees with its own weights (error {error:.3g}, bound {bound:.3g})"
        )


def _make(kind: str, child: nn.Linear, device: Any) -> nn.Module:
    if kind == "fp8":
        return Fp8Linear(child, device)
    layer = Int4Linear(child, device)
    if layer.cuda_kernel:
        try:
            _check_layer(layer, kind)
        except LowbitError:  # the other nibble order, once: how torch's packer reads bytes
            layer = Int4Linear(child, device, high_nibble_first=False)
    return layer


def quantize_weights(language_model: nn.Module, kind: str, device: Any) -> int:
    """Replace every ``nn.Linear`` of ``language_model`` in place, one at a time, each quantised on
    ``device``; returns how many. Raises ``LowbitError`` when the kernel cannot serve them."""
    if kind not in KINDS:
        raise LowbitError(f"the low-bit kinds are {', '.join(KINDS)}, not {kind!r}")
    missing = missing_kernel(kind)
    if missing:
        raise LowbitError(f"this torch {torch.__version__} has no {missing} kernel (torch >= 2.5 has it)")
    replaced = 0
    for parent in list(language_model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not nn.Linear:
                continue
            layer = _make(kind, child, device)
            if replaced == 0:
                _check_layer(layer, kind)
            if isinstance(layer, Int4Linear):
                del layer._q
            setattr(parent, name, layer)
            del child
            replaced += 1
    return replaced
