"""Fine-tuning settings: defaults follow the released JARVIS-VLA recipe where it applies to LoRA."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Language-model linear layers only: the vision tower and merger stay frozen, as upstream freezes them.
LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


@dataclass
class FinetuneConfig:
    model: str = "tiny"
    episodes: list[str] = field(default_factory=list)
    out: str = "adapter"
    steps: int = 0  # 0: one pass over the training samples
    batch_size: int = 8  # per device, as the released script
    grad_accum: int = 1
    lr: float = 2e-4  # LoRA learns at a higher rate than the 5e-6 of full fine-tuning
    warmup_steps: int = 0  # 0: 5% of the steps (the official 200 assumes a far longer run)
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.95)
    max_grad_norm: float = 1.0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    max_length: int = 512
    correction_weight: int = 3  # each correction tick counts this many times
    only_corrections: bool = False
    valid_fraction: float = 0.2
    eval_every: int = 0  # 0: ten evaluations over the run
    eval_samples: int = 64  # validation samples decoded for action accuracy
    checkpoint_every: int = 0  # 0: at every evaluation
    gradient_checkpointing: bool = False
    load_in_4bit: bool = False
    seed: int = 0
    resume: bool = False
    device: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
