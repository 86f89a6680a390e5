"""The keys and values of one prompt in a ``StaticCache``: allocated once, rewound by setting lengths.

A static cache keeps its tensors at fixed addresses, which CUDA graphs need. Its lengths are rounded
up (``CACHE_STEP``) so that small prompt changes reuse it; a longer prompt makes a new one, and
everything bound to the old tensors (graphs, the prompt head) must then be dropped by the caller.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import StaticCache

CACHE_STEP = 256


class KVCache:
    def __init__(self, config: Any) -> None:
        self.config = config
        self.cache: Any = None
        self.length = 0  # slots allocated

    def ensure(self, needed: int) -> bool:
        """A cache of at least ``needed`` slots; True when a new one was allocated."""
        if self.cache is not None and self.length >= needed:
            return False
        self.length = -(-needed // CACHE_STEP) * CACHE_STEP
        self.cache = StaticCache(config=self.config, max_cache_len=self.length)
        return True

    def drop(self) -> None:
        self.cache, self.length = None, 0

    def set_length(self, length: int) -> None:
        """Where the next forward writes: the static cache layers append at their own counters. On a
        layer already in use this is a device fill, which a CUDA graph records and replays."""
        for layer in self.cache.layers:
            if getattr(layer, "is_initialized", False):
                layer.cumulative_length.fill_(length)
            else:
                layer.cumulative_length = layer.cumulative_length.new_tensor(length)

    def slots(self, device: Any) -> torch.Tensor:
        """0..length-1 on ``device``, to build attention masks from."""
        return torch.arange(self.length, device=device)
