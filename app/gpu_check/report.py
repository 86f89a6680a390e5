"""A ``make gpu-check`` run as people read it: the goals it met or missed, and a markdown table.

The same markdown goes into ``gpu-check.md`` beside the run and, through ``tables``, into the README,
so a figure in the README is always a line of a committed result file. Goals whose figure is missing
are "not measured", never met.
"""

from __future__ import annotations

import re
from typing import Any

# issue 23 (the fast engine, a 12–16 GB path, the whole tick) and issue 12's LoRA goal
GOALS: dict[str, tuple[float, bool, str]] = {  # name -> (goal, higher is better, what)
    "fast_bf16_p50_ms": (30.0, False, "bf16 fast engine p50, slowest decode length"),
    "fast_bf16_p99_ms": (40.0, False, "bf16 fast engine p99 (≥ 200 actions), slowest decode length"),
    "small_card_actions_per_s": (15.0, True, "best int4/fp8 path fitting 10 GiB: actions/s, slowest length"),
    "small_card_peak_gib": (10.0, False, "that path's peak GPU memory"),
    "loop_actions_per_s": (15.0, True, "whole tick at 20 Hz (bench loop, test pattern): model actions/s"),
    "lora_samples_per_s": (15.0, True, "LoRA fine-tune, bf16, sequence 512"),
}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def measured_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if _number(r.get("p50_ms"))]


def goals(sections: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each goal with its measured value and whether it is met (None: not measured)."""
    fast = measured_rows(sections.get("policy", {}).get("fast", []))
    complete = len(fast) == 3  # one row per decode length, or the goal is not measured
    small = []
    for kind in ("int4", "fp8"):
        rows = measured_rows(sections.get(kind, {}).get("rows", []))
        if len(rows) == 3 and all(_number(r.get("peak_gib")) for r in rows):
            small.append((min(r["actions_per_s"] for r in rows), max(r["peak_gib"] for r in rows)))
    fitting = [s for s in small if s[1] <= GOALS["small_card_peak_gib"][0]] or small
    best = max(fitting, default=None)
    values = {
        "fast_bf16_p50_ms": max(r["p50_ms"] for r in fast) if complete else None,
        "fast_bf16_p99_ms": max(r["p99_ms"] for r in fast) if complete else None,
        "small_card_actions_per_s": best[0] if best else None,
        "small_card_peak_gib": best[1] if best else None,
        "loop_actions_per_s": sections.get("loop", {}).get("actions_per_s"),
        "lora_samples_per_s": sections.get("finetune", {}).get("samples_per_s"),
    }
    out = {}
    for name, (limit, higher, what) in GOALS.items():
        value = values[name]
        met = None if not _number(value) else (value >= limit if higher else value <= limit)
        out[name] = {"value": value if _number(value) else None, "goal": limit, "met": met, "what": what}
    return out


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "cpu"


def result_name(report: dict[str, Any]) -> str:
    """``<gpu>-<date>.json``: what ``make gpu-check`` writes under ``assets/benchmarks/``."""
    gpu = report.get("environment", {}).get("gpu") or "cpu"
    return f"{slug(gpu)}-{str(report.get('started', ''))[:10]}.json"


def _num(value: Any, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if _number(value) else "–"


def _row(r: dict[str, Any]) -> str:
    note = r.get("error") or r.get("mode", "")
    return (
        f"| {r.get('path', '?')} | {_num(r.get('p50_ms'))} | {_num(r.get('p99_ms'))} | {r.get('steps', '–')} "
        f"| {_num(r.get('actions_per_s'), 2)} | {_num(r.get('peak_gib'))} | {note} |"
    )


def markdown(report: dict[str, Any], heading: str = "#") -> str:
    env = report.get("environment", {})
    sections = report.get("sections", {})
    lines = [
        f"{heading} GPU check — {env.get('gpu') or 'CPU'}, {report.get('started', '?')}",
        "",
        f"torch {env.get('torch')} (CUDA {env.get('cuda')}), transformers {env.get('transformers')}; "
        f"commit {env.get('commit') or '–'}; Qwen2-VL-7B shapes with **random weights** "
        f"(`{report.get('config')}`): speeds and memory are the 7B's, agreement figures are not.",
        "",
        "| what | p50 ms | p99 ms | actions | actions/s | peak GiB | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    policy = sections.get("policy", {})
    for r in policy.get("paths", []) + policy.get("fast", []):
        lines.append(_row(r))
    if "error" in policy:
        lines.append(f"| policy | | | | | | {policy['error']} |")
    for kind in ("int4", "fp8"):
        section = sections.get(kind)
        if section is None:
            continue
        lines += [_row(r) for r in section.get("rows", [])]
        if section.get("error"):
            lines.append(f"| {kind} | | | | | | {section['error']} |")
    for bits in ("quant4", "quant8"):
        q = sections.get(bits)
        if q is not None:
            note = q.get("error") or f"bitsandbytes, eager; weights {_num(q.get('weights_gib'))} GiB"
            lines.append(_row({**q, "path": f"(c) {bits[5:]}-bit bitsandbytes", "mode": note}))
    for kind in ("int4", "fp8"):
        section = sections.get(kind, {})
        if _number(section.get("agreement")):
            lines += [
                "",
                f"{kind}: weights {_num(section.get('weights_gib'))} GiB (bf16 "
                f"{_num(section.get('bf16_weights_gib'))}); greedy actions equal to bf16 on "
                f"{_num(section['agreement'], 2)} of {section.get('agreement_frames')} frames of a model "
                f"sharpened ×{section.get('sharpened')} — an early warning only: random weights are not the "
                "real model, whose agreement is not known until it runs.",
            ]
    greedy = policy.get("fast_greedy")
    if greedy:
        lines += [
            "",
            "Fast engine greedy tokens equal to the plain path (instruction changed mid-way): "
            + (greedy.get("error") or f"{greedy['same']}/{greedy['frames']} frames; {greedy.get('stats')}"),
        ]
    for r in policy.get("fast", []):
        if r.get("breakdown_ms"):
            parts = ", ".join(f"{k} {v}" for k, v in r["breakdown_ms"].items())
            lines += ["", f"{r['path']}, per action (medians): {parts}"]
    if policy.get("attention"):
        lines += [
            "",
            f"attention: {policy['attention']}; --engine auto picks {policy.get('engine_auto')}; "
            f"bf16 weights {_num(policy.get('weights_gib'))} GiB, "
            f"{_num(policy.get('params_b'), 2)} B parameters",
        ]
    loop = sections.get("loop")
    if loop is not None:
        lines += [
            "",
            "bench loop, whole tick (capture a test pattern, preprocess, model, inject) at "
            f"{loop.get('hz', '–')} Hz for {_num(loop.get('seconds'), 0)} s: "
            + (
                loop.get("error")
                or f"{loop.get('ticks')} ticks, {loop.get('missed_ticks')} missed (the model was still "
                f"busy: the fallback was applied), {_num(loop.get('actions_per_s'), 2)} model actions/s, "
                f"model p50 {_num(loop.get('model_ms', {}).get('p50'))} ms, p99 "
                f"{_num(loop.get('model_ms', {}).get('p99'))} ms, overruns {loop.get('overruns')}"
            ),
        ]
    finetune = sections.get("finetune")
    if finetune is not None:
        lines += [
            "",
            f"LoRA fine-tune, bf16, r=16, batch {finetune.get('batch_size', '–')}, sequence "
            f"{finetune.get('seq', '–')}: "
            + (
                finetune.get("error")
                or f"{_num(finetune.get('samples_per_s'), 2)} samples/s, {_num(finetune.get('step_ms'), 0)} "
                f"ms/step, peak {_num(finetune.get('peak_gib'))} GiB"
            ),
        ]
    goal_rows = report.get("goals")
    if goal_rows:
        lines += ["", "| goal | measured | goal | met |", "|---|---:|---:|---|"]
        for g in goal_rows.values():
            met = {True: "yes", False: "**no**", None: "not measured"}[g["met"]]
            lines.append(f"| {g['what']} | {_num(g['value'], 2)} | {g['goal']:g} | {met} |")
    errors = {k: v["error"] for k, v in sections.items() if isinstance(v, dict) and v.get("error")}
    if errors:
        lines += ["", "Errors: " + "; ".join(f"{k}: {v}" for k, v in errors.items())]
    return "\n".join(lines) + "\n"
