"""A model of a given architecture with random weights, for benchmarks without the real checkpoint.

Compute and memory depend on the architecture, not on the values of the weights, so the 7B config
with random weights measures what the real JARVIS-VLA would cost. The tokenizer and processor come
from the tiny model, which has the same token layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model.checkpoint import load_processor
from model.vla import VLA


def random_vla(config: Path, device: str) -> Any:
    import torch  # heavy: torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration  # heavy: transformers

    from model.tiny import ensure_tiny_model  # heavy: transformers

    folder = config.parent if config.is_file() else config
    model_config = Qwen2VLConfig.from_pretrained(str(folder))
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    with torch.device(device):
        model = Qwen2VLForConditionalGeneration._from_config(
            model_config, dtype=dtype, attn_implementation="sdpa"
        )
    return VLA(model.eval(), load_processor(ensure_tiny_model()), name=f"random weights, {folder.name}")
