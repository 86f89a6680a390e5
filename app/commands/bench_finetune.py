"""``jarvis-play bench finetune``: LoRA training throughput and peak memory.

    jarvis-play bench finetune                                   # tiny model, CPU
    jarvis-play bench finetune --config qwen2-vl-7b/config.json --device cuda   # 7B architecture, bf16

Every sample is one 640×360 frame with the official prompt and an action answer, padded to the
official sequence length (512), trained exactly as ``jarvis-play finetune`` trains: LoRA on the
language model, vision tower frozen, loss on the answer tokens only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from model.actions.codec import ActionCodec
from model.finetune.collate import SftCollator, answer_loss
from model.finetune.config import DEFAULTS, FinetuneConfig, add_flags
from model.finetune.sft_data import encode_image
from model.policies.factory import model_path
from model.prompts import sft_conversation
from model.random_weights import random_vla
from model.vla import VLA


def register(sub: Any) -> None:
    p = sub.add_parser(
        "finetune", help=f"LoRA training samples/s and peak memory at sequence length {DEFAULTS.max_length}"
    )
    add_flags(p, ("model", "batch_size", "lora_r", "gradient_checkpointing"))
    p.add_argument("--config", type=Path, help="Qwen2-VL config.json: that architecture with random weights")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--steps", type=int, default=10, help="measured steps (after 2 warm-up steps)")
    p.add_argument(
        "--seq", type=int, default=DEFAULTS.max_length, help="padded sequence length (default: %(default)s)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=main)


def _records(n: int) -> list[dict[str, Any]]:
    codec = ActionCodec()
    rng = np.random.default_rng(0)
    text = codec.text(codec.encode({"forward": 1, "attack": 1, "camera": [2.0, -3.0]}))
    return [
        {
            "conversations": sft_conversation("Mine the oak log.", text),
            "image_bytes": [encode_image(rng.integers(0, 255, (360, 640, 3), dtype=np.uint8))],
        }
        for _ in range(n)
    ]


def main(args: argparse.Namespace) -> int:
    import torch  # heavy: torch

    from model.finetune.trainable import optimizer_for, with_lora  # heavy: peft, torch

    # The trainer's own settings, so the bench measures the LoRA, optimizer and length it trains with.
    config = FinetuneConfig(
        model=args.model,
        batch_size=args.batch_size,
        lora_r=args.lora_r,
        max_length=args.seq,
        gradient_checkpointing=args.gradient_checkpointing,
    )
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    vla = random_vla(args.config, device) if args.config else VLA.load(model_path(args.model), device=device)
    model = with_lora(vla.model, config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = optimizer_for(params, config)
    collator = SftCollator(vla.processor, max_length=config.max_length, pad_to_max=True)
    batch = {k: v.to(device) for k, v in collator(_records(args.batch_size)).items()}

    def step() -> None:
        loss = answer_loss(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    result = {
        "model": vla.name,
        "device": torch.cuda.get_device_name() if cuda else f"CPU ({torch.get_num_threads()} threads)",
        "seq": int(batch["input_ids"].shape[1]),
        "batch_size": args.batch_size,
        "steps": args.steps,
        "samples_per_s": args.steps * args.batch_size / seconds,
        "step_ms": seconds / args.steps * 1e3,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "trainable_params": sum(p.numel() for p in params),
        "gradient_checkpointing": args.gradient_checkpointing,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        peak = f"{result['peak_gib']:.1f} GiB" if result["peak_gib"] is not None else "n/a (CPU)"
        print(
            f"{result['model']} on {result['device']}: {result['samples_per_s']:.2f} samples/s "
            f"({result['step_ms']:.0f} ms/step, batch {args.batch_size}, seq {result['seq']}), peak {peak}, "
            f"{result['trainable_params'] / 1e6:.2f} M trainable"
        )
    return 0
