"""Qwen2-VL's vision tower with each image's attention span fixed on the host, through SDPA.

The library's vision attention splits the patch sequence by image with ``cu_seqlens`` read back to
the host: a synchronisation in the middle of the prefill, which a CUDA graph cannot hold. The spans
are known from the layout, so here each image's patches attend to each other through
``scaled_dot_product_attention`` (flash attention on a GPU where it applies) with no host read.
Before it is used, its image features are checked against the library's on the first image size
seen; if they differ the library's tower is used (eagerly) and the reason is noted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.nn import functional as F
from transformers.models.qwen2_vl.modeling_qwen2_vl import apply_rotary_pos_emb_vision

from model.fast.parts import inner

Grids = tuple[tuple[int, int, int], ...]


class VisionTower:
    def __init__(self, note: Callable[[str], None]) -> None:
        self.own: bool | None = None  # None: not yet checked against the library's
        self._note = note
        self._rope: dict[Grids, Any] = {}  # grids -> (cos, sin)

    def __call__(self, model: Any, pixels: torch.Tensor, grid: torch.Tensor, grids: Grids) -> torch.Tensor:
        visual = inner(model).visual
        if self.own is None:
            self._check(visual, pixels, grid, grids)
        if not self.own:
            out = visual(pixels, grid_thw=grid)
            return getattr(out, "pooler_output", out)
        return self.forward(visual, pixels, grid, grids)

    def rope(self, visual: Any, pixels: torch.Tensor, grid: torch.Tensor, grids: Grids) -> tuple[Any, Any]:
        """The tower's rotary (cos, sin) for these image sizes, as the library computes them, and
        the library's own output on the way (None when the rope was known already)."""
        found = self._rope.get(grids)
        if found is not None:
            return found, None
        seen: dict[str, Any] = {}

        def grab(module: Any, args: Any, kwargs: Any) -> None:
            seen.setdefault("rope", kwargs.get("position_embeddings"))

        handle = visual.blocks[0].register_forward_pre_hook(grab, with_kwargs=True)
        try:
            out = visual(pixels, grid_thw=grid)
        finally:
            handle.remove()
        if seen.get("rope") is None:
            raise TypeError("the vision blocks take no position_embeddings in this transformers version")
        self._rope[grids] = seen["rope"]
        return seen["rope"], getattr(out, "pooler_output", out)

    def _check(self, visual: Any, pixels: torch.Tensor, grid: torch.Tensor, grids: Grids) -> None:
        try:
            _, expected = self.rope(visual, pixels, grid, grids)
            if expected is None:
                out = visual(pixels, grid_thw=grid)
                expected = getattr(out, "pooler_output", out)
            got = self.forward(visual, pixels, grid, grids)
            scale = float(expected.float().abs().max()) or 1.0
            if got.shape != expected.shape or not torch.allclose(
                got.float(), expected.float(), atol=2e-2 * scale, rtol=2e-2
            ):
                raise RuntimeError("image features differ from the library's vision tower")
            self.own = True
        except Exception as exc:
            self.own = False
            self._note(f"library vision tower, eager prefill ({type(exc).__name__}: {exc})")

    def forward(self, visual: Any, pixels: torch.Tensor, grid: torch.Tensor, grids: Grids) -> torch.Tensor:
        (cos, sin), _ = self.rope(visual, pixels, grid, grids)  # a new image size runs the library once
        spans, at = [], 0
        for t, h, w in grids:
            for _ in range(t):
                spans.append((at, at + h * w))
                at += h * w
        hidden = visual.patch_embed(pixels)
        n = hidden.shape[0]
        for block in visual.blocks:
            attn = block.attn
            q, k, v = (
                attn.qkv(block.norm1(hidden)).reshape(n, 3, attn.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
            )
            q, k = apply_rotary_pos_emb_vision(q, k, cos, sin)
            q, k, v = (x.transpose(0, 1).unsqueeze(0) for x in (q, k, v))
            parts = [
                F.scaled_dot_product_attention(
                    q[:, :, a:b],
                    k[:, :, a:b],
                    v[:, :, a:b],
                    dropout_p=0.0,
                    scale=attn.scaling,
                    is_causal=False,
                ).transpose(1, 2)
                for a, b in spans
            ]
            out = torch.cat(parts, dim=1).reshape(n, -1)
            hidden = hidden + attn.proj(out)
            hidden = hidden + block.mlp(block.norm2(hidden))
        return visual.merger(hidden)
