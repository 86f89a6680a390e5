"""``jarvis-play bench policy``: frame-to-action latency of three ways to run the same model.

    jarvis-play bench policy                               # the tiny model, CPU
    jarvis-play bench policy --config qwen2-vl-7b/config.json --device cuda   # 7B shape, random weights

(a) baseline: plain transformers ``generate`` as a user would write it — the official prompt, sampling
    until the end of the message; (b) the official request shape: JPEG + base64 per frame over HTTP to an
    OpenAI-compatible server (vLLM where installed and ``--vllm-url`` given, else ``jarvis-play serve``'s
    server in-process on localhost); (c) our local policy: begin tag forced, action grammar, END implied.
(fast) is (c) through ``model.fast.FastVLA`` (static cache, CUDA-graph decode step), with
``--paths a,b,c,fast``. All paths see the same frames and instruction. Random weights never end a
message, so with ``--config`` (or ``--answer-tokens``) the baseline and the server generate exactly
that many tokens, the length of a real answer (BEGIN, one button, pitch, yaw, END, ``<|im_end|>``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from model.actions.codec import ActionCodec
from model.actions.tokens import IM_END_ID, ids_from_text
from model.greedy_check import greedy_agreement
from model.image import prepare_frame
from model.policies.factory import model_path
from model.policies.local import LocalPolicy, LocalPolicyConfig
from model.policies.remote import RemotePolicy, RemotePolicyConfig
from model.prompts import PromptHistory, user_turn
from model.random_weights import random_vla
from model.vla import VLA, Sampling


def register(sub: Any) -> None:
    p = sub.add_parser("policy", help="latency and actions/s: plain generate vs HTTP vs our local policy")
    p.add_argument("--model", default="tiny", help="checkpoint: HF id, folder or 'tiny' (default)")
    p.add_argument(
        "--config", type=Path, help="a Qwen2-VL config.json: build that architecture with random weights"
    )
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--steps", type=int, default=10, help="measured steps per path (after 2 warm-up steps)")
    p.add_argument(
        "--answer-tokens",
        type=int,
        default=0,
        help="fixed answer length for (a)/(b); default 6 with random weights, else until <|im_end|>",
    )
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--paths", default="a,b,c", help="which paths to run, e.g. 'a,c' or 'a,c,fast'")
    p.add_argument("--vllm-url", help="an already running vLLM (or other) server for path (b)")
    p.add_argument("--adapter", help="PEFT adapter to apply to --model")
    p.add_argument(
        "--check-greedy",
        action="store_true",
        help="also check that greedy (c) picks exactly the tokens greedy free decoding picks",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=main)


def _frames(n: int) -> list[np.ndarray]:
    """Textured 640×360 frames that change every step, so no path can cache an image."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
    return [np.roll(base, 7 * i, axis=1) for i in range(n)]


def _load(args: argparse.Namespace) -> Any:
    import torch  # heavy: torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.config:
        return random_vla(args.config, device), True
    from model.tiny import MARKER  # heavy: transformers

    path = model_path(args.model)
    random_weights = (Path(path) / MARKER).is_file()  # the tiny model is random too: it never ends a message
    return VLA.load(path, device=device, adapter=args.adapter), random_weights


def _peak_gib() -> float | None:
    import torch  # heavy: torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / 2**30


def _reset_peak() -> None:
    import torch  # heavy: torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def _sync() -> None:
    import torch  # heavy: torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _baseline(vla: Any, answer_tokens: int, temperature: float) -> Any:
    """What a user writes from the model card: processor, generate, decode. No grammar, no tricks."""
    import torch  # heavy: torch

    codec = ActionCodec()

    def step(frame: np.ndarray, instruction: str) -> list[int]:
        image = Image.fromarray(frame).resize((644, 364))
        text = vla.processor.apply_chat_template(
            [user_turn(instruction + "\nobservation: ")], tokenize=False, add_generation_prompt=True
        )
        inputs = vla.processor(text=[text], images=[image], return_tensors="pt").to(vla.device)
        options: dict[str, Any] = {
            "do_sample": temperature > 0,
            "temperature": temperature or None,
            "top_k": None,
            "top_p": None,
            "pad_token_id": vla.tokenizer.pad_token_id,
        }
        if answer_tokens:
            options.update(max_new_tokens=answer_tokens, min_new_tokens=answer_tokens)
        else:
            options.update(max_new_tokens=1024, eos_token_id=IM_END_ID)
        with torch.inference_mode():
            out = vla.model.generate(**inputs, **options)
        answer = vla.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=False)
        codec.decode(ids_from_text(answer))
        return out[0, inputs["input_ids"].shape[1] :].tolist()

    return step


def _measure(name: str, step: Any, frames: list[np.ndarray], warmup: int = 2) -> dict[str, Any]:
    for frame in frames[:warmup]:
        step(frame, "Kill a zombie.")
    _reset_peak()
    times = []
    parts: dict[str, list[float]] = {}
    for frame in frames[warmup:]:
        start = time.perf_counter()
        result = step(frame, "Kill a zombie.")
        _sync()
        times.append((time.perf_counter() - start) * 1e3)
        for key, value in (getattr(result, "timings_ms", None) or {}).items():
            parts.setdefault(key, []).append(value)
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    measured = {
        "path": name,
        "p50_ms": statistics.median(times),
        "p99_ms": p99,
        "actions_per_s": 1000 / statistics.mean(times),
        "peak_gib": _peak_gib(),
        "steps": len(times),
    }
    if parts:  # where the time goes (medians): prepare, prefill, generate, new tokens...
        measured["breakdown_ms"] = {key: round(statistics.median(v), 2) for key, v in parts.items()}
    return measured


PATH_LABELS = {
    "a": "(a) transformers generate",
    "b": "(b) HTTP + JPEG/base64",
    "c": "(c) jarvis-play local",
    "fast": "(fast) static cache + graphs + prompt-head reuse",
}


def _path_step(vla: Any, path: str, answer_tokens: int, temperature: float, vllm_url: str | None) -> Any:
    """(label, step, close) for one path; ``close`` releases what the path started (the server) and
    may return extra fields for the result (the fast path's mode)."""
    if path == "a":
        return PATH_LABELS["a"], _baseline(vla, answer_tokens, temperature), lambda: None
    if path == "b":
        server = None
        url = vllm_url
        if not url:
            from model.server import ChatServer  # heavy: uvicorn

            server = ChatServer(("127.0.0.1", 0), vla, "jarvisvla", constrained=False)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            url = f"http://127.0.0.1:{server.server_address[1]}"
        remote = RemotePolicy(
            url,
            RemotePolicyConfig(temperature=temperature, timeout_s=600, max_tokens=answer_tokens or 1024),
        )
        label = PATH_LABELS["b"] + (" (vLLM)" if vllm_url else " (jarvis-play serve)")
        return label, remote.act, (server.shutdown if server else lambda: None)
    if path == "c":
        local = LocalPolicy(vla, LocalPolicyConfig(sampling=Sampling(temperature=temperature)))
        return PATH_LABELS["c"], local.act, lambda: None
    if path == "fast":
        from model.fast import FastVLA  # heavy: torch, transformers

        fast = FastVLA(vla)
        policy = LocalPolicy(fast, LocalPolicyConfig(sampling=Sampling(temperature=temperature)))
        return PATH_LABELS["fast"], policy.act, lambda: {"mode": fast.mode, "fast_stats": dict(fast.stats)}
    raise ValueError(f"unknown path {path!r}: use a, b, c or fast")


def run_paths(
    vla: Any,
    paths: list[str],
    steps: int,
    temperature: float,
    answer_tokens: int,
    vllm_url: str | None = None,
    keep_going: bool = False,
) -> list[dict[str, Any]]:
    """One result per path, speed-ups against (a) filled in. With ``keep_going`` a path that fails
    becomes ``{"path", "error"}`` and the others still run (the unattended GPU check needs every figure
    it can get)."""
    frames = _frames(steps + 2)
    results: list[dict[str, Any]] = []
    for path in paths:
        try:
            label, step, close = _path_step(vla, path, answer_tokens, temperature, vllm_url)
            try:
                result = _measure(label, step, frames)
            finally:
                extra = close()
            results.append({**result, **(extra or {})})
        except Exception as exc:
            if not keep_going:
                raise
            results.append({"path": PATH_LABELS.get(path, path), "error": f"{type(exc).__name__}: {exc}"})
    baseline = next((r for r in results if r["path"].startswith("(a)") and "error" not in r), None)
    for r in results:
        if "error" not in r:
            r["speedup_vs_a"] = r["actions_per_s"] / baseline["actions_per_s"] if baseline else None
    return results


def main(args: argparse.Namespace) -> int:
    vla, random_weights = _load(args)
    answer_tokens = args.answer_tokens or (6 if random_weights else 0)
    frames = _frames(args.steps + 2)
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    results = run_paths(vla, paths, args.steps, args.temperature, answer_tokens, args.vllm_url)
    agreement = None
    if args.check_greedy:
        prompts = [PromptHistory(0, "").build(prepare_frame(f), "Kill a zombie.") for f in frames]
        agreement = greedy_agreement(vla, prompts)
    import torch  # heavy: torch

    device = (
        torch.cuda.get_device_name()
        if str(vla.device).startswith("cuda")
        else f"CPU ({torch.get_num_threads()} threads)"
    )
    header = {
        "model": vla.name,
        "device": device,
        "random_weights": random_weights,
        "answer_tokens": answer_tokens,
    }
    if args.json:
        extra = {"greedy": vars(agreement)} if agreement else {}
        print(json.dumps({**header, "results": results, **extra}, indent=2, default=str))
        return 0
    print(
        f"model: {vla.name} | device: {device} | random weights: {random_weights}"
        + (f" | (a)/(b) answer length fixed at {answer_tokens} tokens" if answer_tokens else "")
    )
    print(f"{'path':<44}{'p50 ms':>9}{'p99 ms':>9}{'act/s':>8}{'peak GiB':>10}{'× (a)':>8}")
    for r in results:
        peak = f"{r['peak_gib']:.1f}" if r["peak_gib"] is not None else "-"
        ratio = f"{r['speedup_vs_a']:.2f}" if r["speedup_vs_a"] else "-"
        print(
            f"{r['path']:<44}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['actions_per_s']:>8.2f}{peak:>10}{ratio:>8}"
        )
    if agreement is not None:
        if agreement.compared:
            print(
                f"greedy check: {agreement.same}/{agreement.compared} frames identical"
                + (f", {agreement.not_actions} without an action" if agreement.not_actions else "")
            )
        else:
            print(
                "greedy check: not comparable — the model wrote no action by itself on any frame "
                "(random weights); run it with a trained checkpoint"
            )
    return 0
