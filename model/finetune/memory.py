"""Will a LoRA run fit on this GPU, next to whatever else is on it? Estimated before it starts.

The estimate is deliberately simple and errs high: frozen weights, LoRA parameters with their
gradients and two Adam moments in fp32, activations by the usual per-layer transformer rule
(about 34·s·h bytes per layer and sample in 16-bit without checkpointing, about 2·s·h with it), and
the fp32 logits over the whole vocabulary, which at 152k tokens is often the single largest item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GIB = 1024**3


@dataclass
class MemoryEstimate:
    weights: float
    lora: float
    activations: float
    logits: float

    @property
    def total(self) -> float:
        return (self.weights + self.lora + self.activations + self.logits) * 1.1  # allocator slack

    def describe(self) -> str:
        gib = {k: getattr(self, k) / GIB for k in ("weights", "lora", "activations", "logits")}
        return (
            f"~{self.total / GIB:.1f} GiB (weights {gib['weights']:.1f}, LoRA+Adam {gib['lora']:.2f}, "
            f"activations {gib['activations']:.1f}, logits {gib['logits']:.1f})"
        )


def estimate(
    model_config: Any,
    lora_r: int,
    batch: int,
    seq: int,
    bytes_per_weight: float,
    gradient_checkpointing: bool,
) -> MemoryEstimate:
    text = getattr(model_config, "text_config", model_config)
    hidden, layers, vocab = text.hidden_size, text.num_hidden_layers, text.vocab_size
    inter = text.intermediate_size
    vision = getattr(model_config, "vision_config", None)
    vision_params = 0
    if vision is not None:
        embed = getattr(vision, "embed_dim", getattr(vision, "hidden_size", 0))
        vision_params = getattr(vision, "depth", 0) * 12 * embed * embed
    text_params = layers * (4 * hidden * hidden + 3 * hidden * inter) + 2 * vocab * hidden
    weights = (text_params + vision_params) * bytes_per_weight
    lora_params = layers * lora_r * (4 * 2 * hidden + 3 * (hidden + inter))
    lora = lora_params * 4 * 4
    per_layer = (2 if gradient_checkpointing else 34) * seq * hidden * batch
    activations = layers * per_layer + (34 * seq * hidden * batch if gradient_checkpointing else 0)
    logits = batch * seq * vocab * 4 * 2  # fp32 logits and their gradient
    return MemoryEstimate(weights, lora, activations, logits)


def suggestions(
    model_config: Any,
    lora_r: int,
    batch: int,
    seq: int,
    bytes_per_weight: float,
    gradient_checkpointing: bool,
    free_bytes: float,
) -> list[str]:
    """Settings that fit ``free_bytes``, most faithful first; empty when the given ones already fit."""

    def fits(batch_size: int, checkpointing: bool, weight_bytes: float = bytes_per_weight) -> bool:
        need = estimate(model_config, lora_r, batch_size, seq, weight_bytes, checkpointing)
        return need.total <= free_bytes

    if fits(batch, gradient_checkpointing):
        return []
    tips = []
    if not gradient_checkpointing and fits(batch, True):
        tips.append("--gradient-checkpointing")
    for smaller in (batch // 2, batch // 4, 1):
        if smaller >= 1 and fits(smaller, True):
            tips.append(
                f"--gradient-checkpointing --batch-size {smaller} --grad-accum {max(1, batch // smaller)}"
            )
            break
    if fits(1, True, weight_bytes=0.55):
        tips.append("--quantize 4bit --gradient-checkpointing --batch-size 1")
    return tips or ["nothing fits: free GPU memory (stop the agent) or use a larger GPU"]
