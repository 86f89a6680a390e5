"""``jarvis-play bench gpu-check``: every GPU figure the README needs, from one unattended run.

    make gpu-check CONFIG=path/to/qwen2-vl-7b-instruct/config.json     # NVIDIA machine, no internet
    PYTHONPATH=. python3 -m app.commands.bench_gpu --config CONFIG --out DIR   # the same, by hand

A lent GPU machine is bare (torch, transformers, peft, accelerate; no platformdirs, Qt, mss, datasets)
and is lent for minutes, once. So the check builds the 7B architecture with random weights from a
config.json (compute and memory depend on shapes, not values), runs each section in its own child
process under its own time limit, and records a failure as an error string instead of stopping: one
call always returns every figure it could get, in ``gpu-check.json`` and ``gpu-check.md``.

Sections: ``policy`` (bench policy paths (a), (b), (c) and the fast path, plus a greedy check that the
fast path picks the plain path's tokens), ``finetune`` (LoRA, sequence 512, bf16), ``quant4`` and
``quant8`` (bitsandbytes weight quantisation of the language model, vision tower kept in bf16: memory,
speed, and agreement of the greedy action with bf16 on the same frames).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

# section -> default time limit (s); the total budget caps them all
SECTIONS: dict[str, int] = {"policy": 200, "finetune": 120, "quant4": 110, "quant8": 110}
RESULT_JSON = "gpu-check.json"
RESULT_MD = "gpu-check.md"
LOG_FILE = "gpu-check.log"
FIT_TABLE = "fit-table.json"
GOALS = {
    "fast_p50_ms": 40.0,
    "fast_p99_ms": 60.0,
    "fast_speedup_vs_a": 3.0,
    "lora_samples_per_s": 15.0,
    "quant4_peak_gib": 16.0,
    "quant4_agreement": 0.95,
}


def register(sub: Any) -> None:
    p = sub.add_parser("gpu-check", help="all GPU figures in one time-limited run (JSON + markdown)")
    _arguments(p)
    p.set_defaults(func=main)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, required=True, help="Qwen2-VL config.json (the 7B shapes)")
    p.add_argument("--out", type=Path, default=Path("artifacts/gpu-check"), help="folder for the results")
    p.add_argument("--device", help="cuda or cpu (default: cuda when available)")
    p.add_argument("--sections", default=",".join(SECTIONS), help="comma list of " + ", ".join(SECTIONS))
    p.add_argument("--budget-s", type=float, default=460.0, help="total wall-clock limit for all sections")
    p.add_argument("--steps", type=int, default=20, help="measured steps per policy path")
    p.add_argument("--finetune-steps", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8, help="LoRA batch size")
    p.add_argument("--agreement-frames", type=int, default=20, help="frames for the quantised-vs-bf16 check")
    p.add_argument(
        "--quant-path",
        help="folder with bitsandbytes (an unpacked wheel), on the 4-/8-bit sections' import path only",
    )
    p.add_argument("--section", help=argparse.SUPPRESS)  # child mode: run one section
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)


# ----- orchestrator ---------------------------------------------------------------------------------
def main(args: argparse.Namespace) -> int:
    if args.section:
        return _child(args)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    root = str(Path(__file__).resolve().parents[2])  # the children import this checkout, from any cwd
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    # The tiny model supplies the tokenizer and processor (same token layout); build it once, here.
    scratch = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    env.setdefault("JARVIS_PLAY_TINY_DIR", str(scratch / "tiny"))
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "environment": _environment()}
    report["config"] = str(args.config)
    print(f"GPU: {report['environment'].get('gpu') or 'none (CPU run)'}", flush=True)
    deadline = time.monotonic() + args.budget_s
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    report["sections"] = {}
    log = (out / LOG_FILE).open("w", encoding="utf-8")
    for name in sections:
        left = deadline - time.monotonic()
        limit = min(SECTIONS.get(name, 120), left)
        if limit < 10:
            report["sections"][name] = {"error": f"skipped: total budget of {args.budget_s:.0f} s spent"}
            continue
        print(f"== {name} (limit {limit:.0f} s)", flush=True)
        report["sections"][name] = _run_child(args, name, limit, env, scratch, log)
        _write(out, report)  # after every section, so a killed run still leaves what it measured
        print(json.dumps(report["sections"][name], default=str)[:2000], flush=True)
    log.close()
    report["goals"] = _goals(report["sections"])
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    _write(out, report)
    print((out / RESULT_MD).read_text(encoding="utf-8"), flush=True)
    return 0


def _run_child(
    args: argparse.Namespace, name: str, limit: float, env: dict[str, str], scratch: Path, log: Any
) -> dict[str, Any]:
    result = scratch / f"{name}.json"
    command = [
        sys.executable,
        "-m",
        "app.commands.bench_gpu",
        "--section",
        name,
        "--result",
        str(result),
        "--config",
        str(args.config),
        "--steps",
        str(args.steps),
        "--finetune-steps",
        str(args.finetune_steps),
        "--batch-size",
        str(args.batch_size),
        "--agreement-frames",
        str(args.agreement_frames),
    ]
    if args.device:
        command += ["--device", args.device]
    if name.startswith("quant") and args.quant_path:
        # only here: peft imports bitsandbytes whenever it can find it, so LoRA must not see a broken one
        env = dict(env, PYTHONPATH=os.pathsep.join([str(Path(args.quant_path).resolve()), env["PYTHONPATH"]]))
    log.write(f"===== {name}\n")
    log.flush()
    start = time.monotonic()
    # its own session, so a timeout kills the whole process group (the in-process HTTP server too)
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        child.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, 9)
        child.wait()
        partial = _read(result)
        return {**partial, "error": f"timed out after {limit:.0f} s", "seconds": limit}
    seconds = time.monotonic() - start
    data = _read(result)
    if child.returncode != 0 and "error" not in data:
        data["error"] = f"child exited with code {child.returncode} (see {LOG_FILE})"
    if not data:
        data = {"error": "no result written (see log)"}
    data["seconds"] = round(seconds, 1)
    return data


def _read(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _environment() -> dict[str, Any]:
    env: dict[str, Any] = {"python": platform.python_version(), "host": platform.node()}
    try:
        import torch

        env["torch"] = torch.__version__
        env["cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            env["gpu"] = torch.cuda.get_device_name(0)
            env["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        env["cpu_threads"] = torch.get_num_threads()
    except Exception as exc:  # the check must still report what it can
        env["torch_error"] = f"{type(exc).__name__}: {exc}"
    for package in ("transformers", "peft", "accelerate"):
        try:
            env[package] = __import__(package).__version__
        except Exception as exc:
            env[package] = f"not available ({type(exc).__name__})"
    return env


# ----- child: one section ---------------------------------------------------------------------------
def _child(args: argparse.Namespace) -> int:
    result: dict[str, Any] = {}

    def save() -> None:
        args.result.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")

    try:
        import torch

        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        result["device"] = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
        run = {"policy": _policy, "finetune": _finetune, "quant4": _quant, "quant8": _quant}[args.section]
        run(args, device, result, save)
    except BaseException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()[-3000:]
        save()
        traceback.print_exc()
        return 1
    save()
    return 0


def _policy(args: argparse.Namespace, device: str, result: dict[str, Any], save: Any) -> None:
    from app.commands.bench_policy import run_paths
    from model.random_weights import random_vla

    t0 = time.perf_counter()
    vla = random_vla(args.config, device)
    result["build_s"] = round(time.perf_counter() - t0, 1)
    result["model"] = vla.name
    result["weights_gib"] = _allocated_gib()
    result["params_b"] = sum(p.numel() for p in vla.model.parameters()) / 1e9
    config = vla.model.config
    result["attention"] = {
        "language": getattr(getattr(config, "text_config", config), "_attn_implementation", None),
        "vision": getattr(getattr(config, "vision_config", None), "_attn_implementation", None),
    }
    from model.policies.factory import use_fast_engine

    result["engine_auto"] = "fast" if use_fast_engine("auto", vla.device) else "plain"
    result["answer_tokens"] = 6  # random weights never end a message: (a)/(b) write a real answer's length
    result["paths"] = []
    for path in ("a", "b", "c", "fast"):  # one at a time, saved as we go: a timeout keeps the others
        result["paths"] += run_paths(vla, [path], args.steps, 0.7, 6, keep_going=True)
        save()
    a = next((r for r in result["paths"] if r["path"].startswith("(a)") and "error" not in r), None)
    for r in result["paths"]:
        if a and "error" not in r:
            r["speedup_vs_a"] = r["actions_per_s"] / a["actions_per_s"]
    result["fast_greedy"] = _fast_greedy(vla, args.steps)


def _fast_greedy(vla: Any, frames_n: int) -> dict[str, Any]:
    """Greedy constrained tokens of the fast path against the plain path on the same frames. The
    instruction changes after the first half (the reused prompt head must be recomputed) and comes
    back for the last quarter (its layout's captured prefill graph is replayed again)."""
    try:
        from app.commands.bench_policy import _frames
        from model.fast import FastVLA
        from model.policies.local import LocalPolicy, LocalPolicyConfig
        from model.vla import Sampling

        greedy = LocalPolicyConfig(sampling=Sampling(temperature=0))
        fast_vla = FastVLA(vla)
        plain, fast = LocalPolicy(vla, greedy), LocalPolicy(fast_vla, greedy)
        same = 0
        frames = _frames(frames_n)
        half, back = len(frames) // 2, max(len(frames) // 2 + 1, 3 * len(frames) // 4)
        for i, frame in enumerate(frames):
            instruction = "Mine the oak log." if half <= i < back else "Kill a zombie."
            same += plain.act(frame, instruction).ids == fast.act(frame, instruction).ids
        return {"same": same, "frames": len(frames), "mode": fast_vla.mode, "stats": dict(fast_vla.stats)}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-1500:]}


def _finetune(args: argparse.Namespace, device: str, result: dict[str, Any], save: Any) -> None:
    from app.commands import bench_finetune

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


def _quant(args: argparse.Namespace, device: str, result: dict[str, Any], save: Any) -> None:
    """bf16 greedy actions first, then the same model quantised in place, the same frames again."""
    import torch

    from app.commands.bench_policy import _frames, _measure, _peak_gib, _reset_peak
    from model.policies.local import LocalPolicy, LocalPolicyConfig
    from model.quantize import quantize_language_model
    from model.random_weights import random_vla
    from model.vla import Sampling

    bits = 4 if args.section == "quant4" else 8
    from model.quantize import bitsandbytes

    result["bitsandbytes"] = bitsandbytes().__version__
    vla = random_vla(args.config, device)
    # Random weights pick an action by logit gaps far below quantisation noise (0.05 agreement on the
    # 2026-11-29 run): that measures noise, not the quantiser. Scaling the layers' output projections,
    # as the fast-decoder tests do, makes the frame decide the action, as a trained model's would.
    sharpen_actions(vla.model, SHARPEN)
    result["sharpened"] = SHARPEN
    frames = _frames(args.agreement_frames)
    greedy = LocalPolicyConfig(sampling=Sampling(temperature=0))
    reference = [LocalPolicy(vla, greedy).act(f, "Kill a zombie.").ids for f in frames]
    reference_scores = [_first_scores(vla, f) for f in frames]
    result["bf16_weights_gib"] = _allocated_gib()
    quantize_language_model(vla.model, bits)
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    result["weights_gib"] = _allocated_gib()
    _reset_peak()
    quantised = [LocalPolicy(vla, greedy).act(f, "Kill a zombie.").ids for f in frames]
    quantised_scores = [_first_scores(vla, f) for f in frames]
    result["agreement"] = sum(a == b for a, b in zip(reference, quantised, strict=True)) / len(frames)
    result["agreement_frames"] = len(frames)
    result["distinct_bf16_actions"] = len({tuple(ids) for ids in reference})
    result.update(_margins(reference_scores, quantised_scores))
    result["greedy_peak_gib"] = _peak_gib()
    save()
    sampled = LocalPolicy(vla, LocalPolicyConfig(sampling=Sampling(temperature=0.7)))
    result.update(_measure(f"(c) {bits}-bit", sampled.act, _frames(args.steps + 2)))


SHARPEN = 10.0


def sharpen_actions(model: Any, scale: float) -> None:
    """Scale the residual branches' output projections so the context (the image), not the last
    token's own embedding, decides the action of a random-weight model."""
    import torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight", "attn.proj.weight", "mlp.fc2.weight")):
                param.mul_(scale)


def _first_scores(vla: Any, frame: Any) -> Any:
    """Logits of the first answer token over the tokens the grammar allows there (bf16 or not)."""
    import torch

    from model.actions.grammar import ALLOWED
    from model.image import prepare_frame
    from model.prompts import PromptHistory

    messages, images = PromptHistory(0, "").build(prepare_frame(frame), "Kill a zombie.")
    with torch.inference_mode():
        logits = vla.model(**vla.inputs(messages, images, force_begin=True)).logits[0, -1].float()
    return logits[sorted(ALLOWED[-1])].cpu()


def _margins(reference: list[Any], quantised: list[Any]) -> dict[str, Any]:
    """First-token agreement, overall and where bf16's top-2 margin exceeds the quantisation noise
    (twice the median largest logit change): frames a trained model would not call a coin toss."""
    import statistics

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


def _allocated_gib() -> float | None:
    import torch

    return torch.cuda.memory_allocated() / 2**30 if torch.cuda.is_available() else None


# ----- report ---------------------------------------------------------------------------------------
def _goals(sections: dict[str, Any]) -> dict[str, Any]:
    """Each issue-12 goal with its measured value and whether it is met (None: not measured)."""
    paths = {r["path"].split(")")[0] + ")": r for r in sections.get("policy", {}).get("paths", [])}
    fast = paths.get("(fast)", {})
    finetune = sections.get("finetune", {})
    quant4 = sections.get("quant4", {})

    def goal(value: Any, limit: float, higher_is_better: bool) -> dict[str, Any]:
        if not isinstance(value, int | float):
            return {"value": None, "goal": limit, "met": None}
        return {"value": value, "goal": limit, "met": value >= limit if higher_is_better else value <= limit}

    return {
        "fast_p50_ms": goal(fast.get("p50_ms"), GOALS["fast_p50_ms"], False),
        "fast_p99_ms": goal(fast.get("p99_ms"), GOALS["fast_p99_ms"], False),
        "fast_speedup_vs_a": goal(fast.get("speedup_vs_a"), GOALS["fast_speedup_vs_a"], True),
        "lora_samples_per_s": goal(finetune.get("samples_per_s"), GOALS["lora_samples_per_s"], True),
        "quant4_peak_gib": goal(quant4.get("peak_gib"), GOALS["quant4_peak_gib"], False),
        "quant4_agreement": goal(quant4.get("agreement"), GOALS["quant4_agreement"], True),
    }


def _write(out: Path, report: dict[str, Any]) -> None:
    (out / RESULT_JSON).write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    (out / RESULT_MD).write_text(markdown(report), encoding="utf-8")
    try:  # the table ``model.fit`` reads (doctor --fit-table, JARVIS_PLAY_FIT_TABLE)
        from model.fit import table_from_gpu_check

        table = table_from_gpu_check(report, source="bench gpu-check")
        (out / FIT_TABLE).write_text(json.dumps(table.to_dict(), indent=2), encoding="utf-8")
    except ValueError:
        pass  # nothing measured yet


def _num(value: Any, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "–"


def markdown(report: dict[str, Any]) -> str:
    env = report.get("environment", {})
    sections = report.get("sections", {})
    lines = [
        f"# GPU check — {env.get('gpu') or 'CPU'}",
        "",
        f"torch {env.get('torch')} (CUDA {env.get('cuda')}), transformers {env.get('transformers')}, "
        f"bitsandbytes {sections.get('quant4', {}).get('bitsandbytes', '–')}; "
        f"random weights, shapes from `{report.get('config')}`; "
        f"{report.get('started')}.",
        "",
        "| what | p50 ms | p99 ms | actions/s | × (a) | peak GiB | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    policy = sections.get("policy", {})
    for r in policy.get("paths", []):
        lines.append(
            f"| {r['path']} | {_num(r.get('p50_ms'))} | {_num(r.get('p99_ms'))} "
            f"| {_num(r.get('actions_per_s'), 2)}"
            f" | {_num(r.get('speedup_vs_a'), 2)} | {_num(r.get('peak_gib'))}"
            f" | {r.get('error') or r.get('mode', '')} |"
        )
    if "error" in policy:
        lines.append(f"| bench policy | | | | | | {policy['error']} |")
    for bits in ("quant4", "quant8"):
        q = sections.get(bits)
        if q is None:
            continue
        note = q.get("error") or (
            f"agreement with bf16 {_num(q.get('agreement'), 2)} on {q.get('agreement_frames')} frames "
            f"({q.get('distinct_bf16_actions', '–')} distinct bf16 actions, "
            f"model sharpened ×{q.get('sharpened', 1)}); "
            f"first token {_num(q.get('first_token_agreement'), 2)}, "
            f"{_num(q.get('confident_agreement'), 2)} on the {q.get('confident_frames', '–')} frames whose "
            f"bf16 margin > 2× noise ({_num(q.get('logit_noise'), 3)}); "
            f"weights {_num(q.get('weights_gib'))} GiB (bf16 {_num(q.get('bf16_weights_gib'))})"
        )
        lines.append(
            f"| (c) {bits[5:]}-bit | {_num(q.get('p50_ms'))} | {_num(q.get('p99_ms'))} | "
            f"{_num(q.get('actions_per_s'), 2)} | | {_num(q.get('peak_gib'))} | {note} |"
        )
    greedy = policy.get("fast_greedy")
    if greedy:
        lines += [
            "",
            "Fast path greedy tokens equal to the plain path (instruction changed mid-way): "
            + (greedy.get("error") or f"{greedy['same']}/{greedy['frames']} frames; {greedy.get('stats')}"),
        ]
    for r in policy.get("paths", []):
        if r.get("breakdown_ms"):
            parts = ", ".join(f"{k} {v}" for k, v in r["breakdown_ms"].items())
            lines += ["", f"{r['path']} per step (medians): {parts}; {r.get('fast_stats', '')}"]
    if policy.get("attention"):
        lines += [
            "",
            f"attention: {policy['attention']}; --engine auto picks {policy.get('engine_auto')}; "
            f"bf16 weights {_num(policy.get('weights_gib'))} GiB, "
            f"{_num(policy.get('params_b'), 2)} B parameters",
        ]
    finetune = sections.get("finetune")
    if finetune is not None:
        lines += [
            "",
            "| LoRA fine-tune | samples/s | ms/step | batch | seq | peak GiB | note |",
            "|---|---:|---:|---:|---:|---:|---|",
            f"| bf16, r=16 | {_num(finetune.get('samples_per_s'), 2)} "
            f"| {_num(finetune.get('step_ms'), 0)} | {finetune.get('batch_size', '–')} "
            f"| {finetune.get('seq', '–')} | {_num(finetune.get('peak_gib'))} "
            f"| {finetune.get('error', '')} |",
        ]
    goals = report.get("goals")
    if goals:
        lines += ["", "| goal (issue 12) | measured | goal | met |", "|---|---:|---:|---|"]
        for name, g in goals.items():
            met = {True: "yes", False: "NO", None: "not measured"}[g["met"]]
            lines.append(f"| {name} | {_num(g['value'], 2)} | {g['goal']} | {met} |")
    errors = {k: v["error"] for k, v in sections.items() if isinstance(v, dict) and v.get("error")}
    if errors:
        lines += ["", "Errors: " + "; ".join(f"{k}: {v}" for k, v in errors.items())]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m app.commands.bench_gpu", description=__doc__)
    _arguments(parser)
    sys.exit(main(parser.parse_args()))
