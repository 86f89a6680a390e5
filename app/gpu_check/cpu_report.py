"""A ``jarvis-play bench cpu`` result file as the README's CPU table: one row per figure, its goal,
and the machine's load while it ran (the machine is shared, and the same bench gives other figures
under another load). A section that failed is a row that says so, never a blank or an old figure."""

from __future__ import annotations

from typing import Any

KIND = "cpu"  # a result file's "kind": a GPU file (make gpu-check) has none or "gpu-check"
DID_NOT_WORK = "**did not work**"


def _goal(section: dict[str, Any]) -> str:
    target = section.get("goal")
    if not target:
        return "—"
    met = {True: "**met**", False: "**not met**", None: "not measured"}[target.get("met")]
    return f"{target['text']}: {met}"


def _load(section: dict[str, Any]) -> str:
    before, after = section.get("load_before") or ["?"], section.get("load_after") or ["?"]
    return f"{before[0]} → {after[0]}"


def _failed(section: dict[str, Any]) -> str:
    reason = " ".join(str(section["error"]).split())
    return f"{DID_NOT_WORK}: {reason[:200]}"


def _ms(value: float) -> str:
    return f"{value:.2f} ms"


def _actions(s: dict[str, Any], f: dict[str, Any]) -> list[tuple[str, str]]:
    what = (
        f"`actions encode` / `actions decode`, {s.get('lines', 0):,} JSON lines, one process each "
        "(start-up included)"
    )
    return [(what, f"**{f['encode_lines_per_s']:,}** / **{f['decode_lines_per_s']:,}** lines/s")]


def _loop(s: dict[str, Any], f: dict[str, Any]) -> list[tuple[str, str]]:
    what = (
        "`bench loop`: per-tick overhead outside the model (capture 640×360, preprocess, decode, inject), "
        f"demo game under Xvfb, {s.get('ticks')} ticks at {s.get('hz')} Hz"
    )
    stages = ", ".join(f"{k} {_ms(f[k]['p50'])}" for k in ("capture", "preprocess", "decode", "inject"))
    total = f["total"]
    return [(what, f"p50 **{_ms(total['p50'])}**, p99 **{_ms(total['p99'])}** (p50 of each step: {stages})")]


def _record(s: dict[str, Any], f: dict[str, Any]) -> list[tuple[str, str]]:
    what = f'`bench record`: {s.get("seconds", 0):g} s at 20 fps while one core is busy as "the model"'
    figure = (
        f"{f['ticks']:,} ticks, **{f['dropped']} dropped**, {f['frames_on_disk']:,} frames and "
        f"{f['lines_on_disk']:,} lines on disk; **{f['cpu_total_pct_of_one_core']}% of one core** "
        f"({f['cpu_recorder_process_pct']}% recorder, {f['cpu_encoder_pct']}% ffmpeg)"
    )
    return [(what, figure)]


def _policy(s: dict[str, Any], f: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for i, r in enumerate(f.get("results", [])):
        what = f"`bench policy`, tiny model, CPU, {s.get('steps')} steps: " if i == 0 else ""
        what += r.get("path", "?")
        if r.get("error"):
            rows.append((what, _failed(r)))
            continue
        ratio = r.get("speedup_vs_a")
        figure = f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, **{r['actions_per_s']:.1f}** actions/s"
        if ratio and not r["path"].startswith("(a)"):
            # the paths run one after another: under a load that moved meanwhile, their ratio says little
            figure += " (no ratio to a: load above the cores)" if s.get("busy") else f" ({ratio:.2f}× of a)"
        rows.append((what, figure))
    return rows


def _finetune(s: dict[str, Any], f: dict[str, Any]) -> list[tuple[str, str]]:
    what = f"`bench finetune`, tiny model, CPU, batch {f['batch_size']}, sequence {f['seq']}, "
    what += f"{f['steps']} steps"
    return [(what, f"**{f['samples_per_s']:.2f}** samples/s ({f['step_ms']:.0f} ms/step)")]


ROWS = {"actions": _actions, "loop": _loop, "record": _record, "policy": _policy, "finetune": _finetune}


def _busy(section: dict[str, Any], cores: float) -> bool:
    """The 1-minute load was above the core count before or after: other work had the cores too."""
    loads = [section.get(k, [0])[0] for k in ("load_before", "load_after")]
    return any(isinstance(x, int | float) and x > cores for x in loads)


def markdown(report: dict[str, Any], source: str) -> str:
    env = report.get("environment", {})
    cores = env.get("cores") or 1
    sections = report.get("sections", {})
    loads = [x for v in sections.values() for k in ("load_before", "load_after") for x in v.get(k, [])[:1]]
    span = f"{min(loads)}–{max(loads)}" if loads else "not recorded"
    lines = [
        f"Measured by `{report.get('command')}` on {env.get('cpu')} ({cores} cores, no GPU), "
        f"{report.get('started')}, commit {env.get('commit') or '–'}. The machine is shared with other "
        f"engineers' test runs: its 1-minute load average was {span} during this run ({cores} = every core "
        "busy; the last column gives it before → after each bench). Above the core count the figures are "
        "slower than the same code on an idle machine; compare runs only at a similar load.",
        "",
        "| benchmark | figure | goal | load |",
        "|---|---|---|---|",
    ]
    for name, section in sections.items():
        settings = {**section.get("settings", {}), "busy": _busy(section, cores)}
        if section.get("error") or name not in ROWS:
            rows = [(f"`{name}`", _failed(section) if section.get("error") else "no table row for it")]
        else:
            try:
                rows = ROWS[name](settings, section["figures"])
            except (KeyError, TypeError) as exc:
                rows = [(f"`{name}`", f"{DID_NOT_WORK}: its figures lack {exc}")]
        for i, (what, figure) in enumerate(rows):
            goal, load = (_goal(section), _load(section)) if i == 0 else ("", "")
            lines.append(f"| {what} | {figure} | {goal} | {load} |")
    lines += ["", f"Source: `{source}`."]
    return "\n".join(lines)
