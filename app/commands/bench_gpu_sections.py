"""The sections of ``make gpu-check`` (``app.commands.bench_gpu``), each a child process with a time limit.

Every section builds the 7B architecture with random weights from a config.json (compute and memory
depend on shapes, not values) and saves its result after every figure, so a section killed by its
time limit still reports what it measured. Sections: ``policy`` (paths (a), (b), (c), the bf16 fast
engine per decode length, greedy fast = plain), ``int4`` and ``fp8`` (the same engine on PyTorch's
low-bit kernels), ``loop`` (the whole tick at 20 Hz against a test pattern), ``finetune`` (LoRA),
and ``quant4``/``quant8`` (bitsandbytes, for comparison; not run by default).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import statistics
import time
import traceback
from collections.abc import Callable
from typing import Any

from app.commands import bench_finetune
from app.commands.bench_loop import run_pattern
from app.commands.bench_policy import _frames, _measure, _peak_gib, _reset_peak, run_paths
from model.actions.grammar import ALLOWED
from model.image import prepare_frame
from model.policies.factory import use_fast_engine
from model.policies.local import LocalPolicy, LocalPolicyConfig
from model.prompts import PromptHistory
from model.quantize import bitsandbytes, check_quantize, quantize_language_model, quantize_model
from model.random_weights import random_vla
from model.vla import Sampling

Save = Callable[[], None]
INSTRUCTION = "Kill a zombie."
GROUPS = (1, 2, 3)  # decode lengths measured: button groups per action (+ pitch and yaw)
SHARPEN = 10.0
WARMUP = 5  # actions before each row is timed (the second layout sighting captures the graphs)


def run(name: str, args: argparse.Namespace, device: str, result: dict[str, Any], save: Save) -> None:
    sections = {
        "policy": policy,
        "int4": lowbit,
        "fp8": lowbit,
        "loop": loop,
        "finetune": finetune,
        "quant4": bitsandbytes_quant,
        "quant8": bitsandbytes_quant,
    }
    sections[name](args, device, result, save)


def _build(args: argparse.Namespace, device: str, result: dict[str, Any]) -> Any:
    t0 = time.perf_counter()
    vla = random_vla(args.config, device)
    result["build_s"] = round(time.perf_counter() - t0, 1)
    return vla


def allocated_gib() -> float | None:
    import torch  # heavy: torch

    return torch.cuda.memory_allocated() / 2**30 if torch.cuda.is_available() else None


def _release() -> None:
    import torch  # heavy: torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def fast_rows(vla: Any, precision: str, actions: int, save: Save, rows: list[dict[str, Any]]) -> None:
    """One row per decode length: the fast engine with k button groups forced, ``actions`` timed
    actions each (p99 over all of them), sampled at the official temperature. Appends to ``rows``
    and saves after each, so a time limit keeps the rows already measured."""
    from model.fast import FastVLA  # heavy: torch, transformers

    fast = FastVLA(vla)
    agent = LocalPolicy(fast, LocalPolicyConfig(sampling=Sampling(temperature=0.7)))
    distinct = _frames(24)  # frames change every action, so nothing can cache an image
    frames = [distinct[i % len(distinct)] for i in range(actions + WARMUP)]
    for groups in GROUPS:
        label = f"(fast) {precision}, {groups} button group{'s' if groups > 1 else ''}"
        fast.force_groups(groups)
        try:
            row = _measure(label, agent.act, frames, warmup=WARMUP)
        except Exception as exc:
            row = {"path": label, "error": f"{type(exc).__name__}: {exc}"[:300]}
        row.update(precision=precision, groups=groups, mode=fast.mode, fast_stats=dict(fast.stats))
        rows.append(row)
        save()
    fast.force_groups(None)


def policy(args: argparse.Namespace, device: str, result: dict[str, Any], save: Save) -> None:
    vla = _build(args, device, result)
    result["model"] = vla.name
    result["weights_gib"] = allocated_gib()
    result["params_b"] = sum(p.numel() for p in vla.model.parameters()) / 1e9
    config = vla.model.config
    result["attention"] = {
        "language": getattr(getattr(config, "text_config", config), "_attn_implementation", None),
        "vision": getattr(getattr(config, "vision_config", None), "_attn_implementation", None),
        "vision_fast_engine": "torch scaled_dot_product_attention per image span",
    }
    result["engine_auto"] = "fast" if use_fast_engine("auto", vla.device) else "plain"
    result["answer_tokens"] = 6  # random weights never end a message: (a)/(b) write a real answer's length
    result["fast"] = []
    fast_rows(vla, "bf16", args.actions, save, result["fast"])  # the goal's figures first
    result["paths"] = []
    for path in ("a", "b", "c"):  # one at a time, saved as we go: a timeout keeps the others
        result["paths"] += run_paths(vla, [path], args.steps, 0.7, 6, keep_going=True)
        save()
    a = next((r for r in result["paths"] if r["path"].startswith("(a)") and "error" not in r), None)
    for r in result["paths"] + result["fast"]:
        if a and "error" not in r:
            r["speedup_vs_a"] = r["actions_per_s"] / a["actions_per_s"]
    save()
    result["fast_greedy"] = fast_greedy(vla, args.steps)


def fast_greedy(vla: Any, frames_n: int) -> dict[str, Any]:
    """Greedy constrained tokens of the fast engine against the plain path on the same frames. The
    instruction changes after the first half (the reused prompt head must be recomputed) and comes
    back for the last quarter (its layout's captured prefill graph is replayed again)."""
    try:
        from model.fast import FastVLA  # heavy: torch, transformers
        from model.policies.local import LocalPolicy, LocalPolicyConfig  # heavy: torch
        from model.vla import Sampling  # heavy: torch

        greedy = LocalPolicyConfig(sampling=Sampling(temperature=0))
        fast_vla = FastVLA(vla)
        plain, fast = LocalPolicy(vla, greedy), LocalPolicy(fast_vla, greedy)
        same = 0
        frames = _frames(frames_n)
        half, back = len(frames) // 2, max(len(frames) // 2 + 1, 3 * len(frames) // 4)
        for i, frame in enumerate(frames):
            instruction = "Mine the oak log." if half <= i < back else INSTRUCTION
            same += plain.act(frame, instruction).ids == fast.act(frame, instruction).ids
        return {"same": same, "frames": len(frames), "mode": fast_vla.mode, "stats": dict(fast_vla.stats)}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-1500:]}


def lowbit(args: argparse.Namespace, device: str, result: dict[str, Any], save: Save) -> None:
    """The fast engine on ``int4`` or ``fp8`` layers: rows per decode length (the figures), then the
    greedy actions' agreement with bf16 on a sharpened random model (an early warning only)."""
    from model.fast import FastVLA  # heavy: torch, transformers

    kind = args.section
    if device.startswith("cuda"):
        check_quantize(kind, device)  # an unsuitable GPU is reported as this section's error
    vla = _build(args, device, result)
    # Random weights pick an action by logit gaps far below quantisation noise; scaling the layers'
    # output projections makes the frame decide the action, as a trained model's would.
    sharpen_actions(vla.model, SHARPEN)
    result["sharpened"] = SHARPEN
    frames = _frames(args.agreement_frames)
    greedy = LocalPolicyConfig(sampling=Sampling(temperature=0))
    reference = [LocalPolicy(FastVLA(vla), greedy).act(f, INSTRUCTION).ids for f in frames]
    result["bf16_weights_gib"] = allocated_gib()
    t0 = time.perf_counter()
    result["replaced_layers"] = quantize_model(vla.model, kind, device)
    result["quantize_s"] = round(time.perf_counter() - t0, 1)
    _release()
    result["weights_gib"] = allocated_gib()
    save()
    result["rows"] = []
    fast_rows(vla, kind, args.actions, save, result["rows"])
    peaks = [r["peak_gib"] for r in result["rows"] if isinstance(r.get("peak_gib"), float)]
    result["peak_gib"] = max(peaks) if peaks else None
    quantised = [LocalPolicy(FastVLA(vla), greedy).act(f, INSTRUCTION).ids for f in frames]
    result["agreement"] = sum(a == b for a, b in zip(reference, quantised, strict=True)) / len(frames)
    result["agreement_frames"] = len(frames)
    result["distinct_bf16_actions"] = len({tuple(ids) for ids in reference})


def loop(args: argparse.Namespace, device: str, result: dict[str, Any], save: Save) -> None:
    """``bench loop`` with the fast engine: the whole tick against the test-pattern game."""
    from model.fast import FastVLA  # heavy: torch, transformers

    vla = _build(args, device, result)
    agent = LocalPolicy(FastVLA(vla), LocalPolicyConfig(sampling=Sampling(temperature=0.7)))
    result.update(run_pattern(agent, seconds=args.loop_seconds, hz=20.0))


def finetune(args: argparse.Namespace, device: str, result: dict[str, Any], save: Save) -> None:
    options = argparse.Namespace(
        model="tiny",
        config=args.config,
        device=device,
        batch_size=args.batch_size,
        steps=args.finetune_steps,
        lora_r=16,
        seq=512,
        gradient_checkpointing=False,
        json=True,
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        bench_finetune.main(options)
    result.update(json.loads(printed.getvalue()))


def bitsandbytes_quant(args: argparse.Namespace, device: str, result: dict[str, Any], save: Save) -> None:
    """bitsandbytes NF4 / LLM.int8 on the plain path, as before issue 23: bf16 greedy actions first,
    then the same model quantised in place, the same frames again."""
    bits = 4 if args.section == "quant4" else 8
    result["bitsandbytes"] = bitsandbytes().__version__
    vla = _build(args, device, result)
    sharpen_actions(vla.model, SHARPEN)
    result["sharpened"] = SHARPEN
    frames = _frames(args.agreement_frames)
    greedy = LocalPolicyConfig(sampling=Sampling(temperature=0))
    reference = [LocalPolicy(vla, greedy).act(f, INSTRUCTION).ids for f in frames]
    reference_scores = [first_scores(vla, f) for f in frames]
    result["bf16_weights_gib"] = allocated_gib()
    quantize_language_model(vla.model, bits)
    _release()
    result["weights_gib"] = allocated_gib()
    _reset_peak()
    quantised = [LocalPolicy(vla, greedy).act(f, INSTRUCTION).ids for f in frames]
    quantised_scores = [first_scores(vla, f) for f in frames]
    result["agreement"] = sum(a == b for a, b in zip(reference, quantised, strict=True)) / len(frames)
    result["agreement_frames"] = len(frames)
    result["distinct_bf16_actions"] = len({tuple(ids) for ids in reference})
    result.update(margins(reference_scores, quantised_scores))
    result["greedy_peak_gib"] = _peak_gib()
    save()
    sampled = LocalPolicy(vla, LocalPolicyConfig(sampling=Sampling(temperature=0.7)))
    result.update(_measure(f"(c) {bits}-bit", sampled.act, _frames(args.steps + 2)))


def sharpen_actions(model: Any, scale: float) -> None:
    """Scale the residual branches' output projections so the context (the image), not the last
    token's own embedding, decides the action of a random-weight model."""
    import torch  # heavy: torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight", "attn.proj.weight", "mlp.fc2.weight")):
                param.mul_(scale)


def first_scores(vla: Any, frame: Any) -> Any:
    """Logits of the first answer token over the tokens the grammar allows there (bf16 or not)."""
    import torch  # heavy: torch

    messages, images = PromptHistory(0, "").build(prepare_frame(frame), INSTRUCTION)
    with torch.inference_mode():
        logits = vla.model(**vla.inputs(messages, images, force_begin=True)).logits[0, -1].float()
    return logits[sorted(ALLOWED[-1])].cpu()


def margins(reference: list[Any], quantised: list[Any]) -> dict[str, Any]:
    """First-token agreement, overall and where bf16's top-2 margin exceeds the quantisation noise
    (twice the median largest logit change): frames a trained model would not call a coin toss."""
    noise = statistics.median(float((q - r).abs().max()) for r, q in zip(reference, quantised, strict=True))
    same, confident, confident_same = 0, 0, 0
    for r, q in zip(reference, quantised, strict=True):
        top2 = r.topk(2).values
        agree = int(r.argmax()) == int(q.argmax())
        same += agree
        if float(top2[0] - top2[1]) > 2 * noise:
            confident += 1
            confident_same += agree
    return {
        "first_token_agreement": same / len(reference),
        "logit_noise": noise,
        "confident_frames": confident,
        "confident_agreement": confident_same / confident if confident else None,
    }
