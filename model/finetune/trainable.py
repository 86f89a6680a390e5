"""The model a fine-tune trains: the base checkpoint (bf16, or 4/8-bit for QLoRA) with LoRA on its
language model, its optimizer, and a memory check before the first step.

Shared with ``bench finetune``, so the benchmark measures exactly the training this package runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

from model.checkpoint import load_model, load_processor
from model.fetch import resolve
from model.finetune.config import LORA_TARGETS, FinetuneConfig
from model.finetune.errors import FinetuneError
from model.finetune.memory import estimate, suggestions
from model.policies.factory import model_path
from model.quantize import QuantizeError, check_quantize, parse_bits, quantize_language_model

Progress = Callable[[dict[str, Any]], None]


def build_model(config: FinetuneConfig, device: str) -> tuple[Any, Any, str]:
    """(the model with LoRA in training mode, its processor, the base checkpoint's folder)."""
    path = resolve(model_path(config.model))
    processor = load_processor(path)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    bits = quantized_bits(config, device)
    if bits:  # QLoRA: the base through host memory into 4/8-bit on the GPU, then frozen for k-bit training
        model = load_model(path, "cpu", dtype)
        quantize_language_model(model, bits, device=device)
        model = prepare_model_for_kbit_training(model.to(device), use_gradient_checkpointing=False)
    else:
        model = load_model(path, device, dtype)
    return with_lora(model, config), processor, str(path)


def quantized_bits(config: FinetuneConfig, device: str) -> int | None:
    """4 or 8 for a QLoRA run (None: bf16 base); refuses, before loading, what cannot run here."""
    try:
        bits = parse_bits(config.quantize)
        if bits:
            check_quantize(bits, device)
    except QuantizeError as exc:
        raise FinetuneError(
            str(exc).replace("Leave --quantize at none here", "Train without --quantize")
        ) from exc
    return bits


def with_lora(model: Any, config: FinetuneConfig) -> Any:
    """``model`` in training mode with the configured LoRA."""
    model.train()
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=LORA_TARGETS,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def optimizer_for(params: list[Any], config: FinetuneConfig) -> Any:
    """AdamW over the trainable (LoRA) ``params`` with the configured rate, betas and decay."""
    return torch.optim.AdamW(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)


def check_memory(config: FinetuneConfig, model_config: Any, device: str, progress: Progress) -> None:
    """On a GPU: report the estimate, and refuse with what would fit when the free memory is short."""
    if not device.startswith("cuda"):
        return
    free, _total = torch.cuda.mem_get_info()
    shape = (model_config, config.lora_r, config.batch_size, config.max_length, 2.0)
    need = estimate(*shape, config.gradient_checkpointing)
    progress(
        {
            "event": "memory",
            "estimate_gib": need.total / 2**30,
            "free_gib": free / 2**30,
            "detail": need.describe(),
        }
    )
    tips = suggestions(*shape, config.gradient_checkpointing, free)
    if tips:
        raise FinetuneError(
            f"this run needs {need.describe()} but the GPU has {free / 2**30:.1f} GiB free "
            f"(the agent may be using it). Try: {' | '.join(tips)}"
        )
