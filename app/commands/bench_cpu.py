"""``jarvis-play bench cpu``: every CPU figure the README's *Benchmarks* table states, from one run.

    flock /tmp/jarvis-display.lock jarvis-play bench cpu --results-dir assets/benchmarks   # all of it
    jarvis-play bench cpu --sections actions,policy --out /tmp/cpu-bench                   # a part

A figure in the README has to be a line of a committed file, and on a shared machine the same bench
gives other figures under other loads; so this runs each CPU bench (``actions`` encode/decode, ``bench
loop``, ``bench policy``, ``bench record``, ``bench finetune``) as a child process under a time limit,
keeps its ``--json`` figures with the load average before and after it, and records a failure as an
error instead of a figure. The result file ``<machine>-<date>.json`` goes to ``--out`` and
``--results-dir``; committed, ``jarvis-play bench tables`` turns it into the README's CPU table.
``loop`` starts Xvfb and the demo game: on a machine shared with game tests, run it under their lock.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.commands.bench_loop import GOAL_P50_MS, GOAL_P99_MS
from app.gpu_check.cpu_report import KIND
from app.gpu_check.report import slug
from model.actions.env import BUTTONS
from recorder.files import write_atomically

ROOT = Path(__file__).resolve().parents[2]  # the children run this checkout, from any cwd
SECTIONS = ("actions", "loop", "policy", "record", "finetune")
TAIL_CHARS = 1500  # of a failed child's output, kept in the result file as its reason
ACTIONS_GOAL = 1000  # lines/s each way: a file of a million lines in minutes, not hours


def register(sub: Any) -> None:
    p = sub.add_parser("cpu", help="the CPU benches in one run, with the machine's load (JSON result file)")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    p.add_argument("--out", type=Path, default=Path("artifacts/cpu-bench"), help="folder for the result file")
    p.add_argument("--results-dir", type=Path, help="also write the result file <machine>-<date>.json here")
    p.add_argument("--actions-lines", type=int, default=100_000, help="JSON lines encoded, then decoded")
    p.add_argument("--loop-ticks", type=int, default=400, help="bench loop ticks at 20 Hz (default 20 s)")
    p.add_argument("--policy-steps", type=int, default=20, help="bench policy steps per path, tiny model")
    p.add_argument("--record-seconds", type=float, default=60.0, help="bench record length (1 busy core)")
    p.add_argument("--finetune-steps", type=int, default=5, help="bench finetune steps, tiny model")
    p.set_defaults(func=main)


def machine() -> dict[str, Any]:
    """What the figures were measured on: the CPU, the cores this process may use, the software."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    env: dict[str, Any] = {"cpu": cpu, "cores": cores, "gpu": None, "host": platform.node()}
    env["python"] = platform.python_version()
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        env["commit"] = done.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        env["commit"] = None
    return env


def result_name(report: dict[str, Any]) -> str:
    """``<machine>-<date>.json``: the CPU and its cores name the machine (host names are containers')."""
    env = report["environment"]
    return f"{slug(str(env['cpu']))}-{env['cores']}-cores-{str(report['started'])[:10]}.json"


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def parse_json_tail(text: str) -> dict[str, Any] | None:
    """The JSON object a bench prints last (``--json``), after any progress lines; None if there is none."""
    lines = text.splitlines()
    for start in range(len(lines) - 1, -1, -1):
        if lines[start].startswith("{"):
            try:
                value = json.loads("\n".join(lines[start:]))
            except ValueError:
                continue
            return value if isinstance(value, dict) else None
    return None


def _child(command: list[str], limit: float, env: dict[str, str], stdin: Any = None) -> dict[str, Any]:
    """Run one bench; its figures, or an error that says why there are none."""
    start = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, stdin=stdin, capture_output=True, text=True, timeout=limit
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {limit:.0f} s", "section_s": round(limit, 1)}
    out: dict[str, Any] = {"exit_code": done.returncode, "section_s": round(time.monotonic() - start, 1)}
    figures = parse_json_tail(done.stdout)
    if figures is None:
        reason = (done.stderr or done.stdout).strip()[-TAIL_CHARS:]
        out["error"] = f"no figures (exit code {done.returncode}): {reason}"
    else:
        out["figures"] = figures
    return out


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", *argv]


def action_lines(n: int) -> list[str]:
    """``n`` env actions as JSON lines: random buttons (a few held at once) and camera moves."""
    rng = np.random.default_rng(0)
    held = rng.random((n, len(BUTTONS))) < 0.1
    camera = np.round(rng.normal(0.0, 4.0, (n, 2)), 3)
    return [
        json.dumps({**{b: int(h) for b, h in zip(BUTTONS, row, strict=True)}, "camera": cam.tolist()})
        for row, cam in zip(held, camera, strict=True)
    ]


def _actions(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """``actions encode`` then ``actions decode`` over the same lines, start-up included; checked: as
    many output lines as input lines and none of them an error."""
    scratch = Path(tempfile.mkdtemp(prefix="cpu-bench-actions-"))
    try:
        return _encode_decode(args, env, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _encode_decode(args: argparse.Namespace, env: dict[str, str], scratch: Path) -> dict[str, Any]:
    source, encoded = scratch / "actions.jsonl", scratch / "ids.jsonl"
    source.write_text("\n".join(action_lines(args.actions_lines)) + "\n", encoding="utf-8")
    result: dict[str, Any] = {"lines": args.actions_lines}
    for verb, src, dst in (("encode", source, encoded), ("decode", encoded, scratch / "decoded.jsonl")):
        start = time.perf_counter()
        with src.open("rb") as stdin, dst.open("wb") as stdout:
            done = subprocess.run(
                _cli("actions", verb), cwd=ROOT, env=env, stdin=stdin, stdout=stdout, timeout=120
            )
        seconds = time.perf_counter() - start
        with dst.open("rb") as f:
            rows = [line for line in f if line.strip()]
        bad = sum(1 for line in rows if b'"error"' in line)
        if done.returncode != 0 or len(rows) != args.actions_lines or bad:
            result["error"] = (
                f"actions {verb}: exit code {done.returncode}, {len(rows)} lines out of "
                f"{args.actions_lines}, {bad} errors"
            )
            break
        result[f"{verb}_lines_per_s"] = round(args.actions_lines / seconds)
        result[f"{verb}_s"] = round(seconds, 2)
    return result


def run_section(name: str, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    if name == "actions":
        start = time.monotonic()
        try:
            figures = _actions(args, env)
        except subprocess.TimeoutExpired as exc:
            return {"error": f"timed out: {exc}"}
        took = {"section_s": round(time.monotonic() - start, 1)}
        return {"error": figures["error"], **took} if "error" in figures else {"figures": figures, **took}
    commands = {
        "loop": (_cli("bench", "loop", "--json", "--ticks", str(args.loop_ticks)), 180.0),
        "policy": (
            _cli("bench", "policy", "--json", "--device", "cpu", "--steps", str(args.policy_steps)),
            300.0,
        ),
        "record": (
            _cli("bench", "record", "--json", "--load", "1", "--seconds", str(args.record_seconds)),
            args.record_seconds + 120.0,
        ),
        "finetune": (
            _cli("bench", "finetune", "--json", "--device", "cpu", "--steps", str(args.finetune_steps)),
            300.0,
        ),
    }
    if name not in commands:
        return {"error": f"no section {name!r} (sections: {', '.join(SECTIONS)})"}
    command, limit = commands[name]
    return {"command": " ".join(["jarvis-play", *command[3:]]), **_child(command, limit, env)}


def settings(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """What the section was asked to do, for the table (the figures do not all repeat it)."""
    return {
        "actions": {"lines": args.actions_lines},
        "loop": {"ticks": args.loop_ticks, "hz": 20},
        "policy": {"steps": args.policy_steps, "model": "tiny"},
        "record": {"seconds": args.record_seconds, "load": 1},
        "finetune": {"steps": args.finetune_steps, "model": "tiny"},
    }.get(name, {})


def goal(name: str, section: dict[str, Any]) -> dict[str, Any] | None:
    """The section's goal and whether its figures meet it (None: not measured, never met)."""
    figures = section.get("figures", {})
    if name == "actions":
        speeds = [figures.get(f"{verb}_lines_per_s") for verb in ("encode", "decode")]
        met = None if section.get("error") else all(s >= ACTIONS_GOAL for s in speeds)
        return {"text": f"≥ {ACTIONS_GOAL:,} lines/s each way", "met": met}
    if name == "loop":
        total = figures.get("total") if not section.get("error") else None
        met = None if not total else total["p50"] <= GOAL_P50_MS and total["p99"] <= GOAL_P99_MS
        return {"text": f"p50 ≤ {GOAL_P50_MS:g} ms, p99 ≤ {GOAL_P99_MS:g} ms", "met": met}
    if name == "record":
        counts = [figures.get(k) for k in ("ticks", "frames_on_disk", "lines_on_disk")]
        met = None if section.get("error") else figures.get("dropped") == 0 and len(set(counts)) == 1
        return {"text": "no frame dropped; frames = lines = ticks on disk", "met": met}
    return None


def main(args: argparse.Namespace) -> int:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    report: dict[str, Any] = {
        "kind": KIND,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "environment": machine(),
        "command": " ".join(["jarvis-play bench cpu", *sys.argv[3:]]),
        "sections": {},
    }
    env_line = report["environment"]
    print(f"bench cpu: {env_line['cpu']}, {env_line['cores']} cores, load {_load()}", flush=True)
    for name in (s.strip() for s in args.sections.split(",") if s.strip()):
        before = _load()
        print(f"== {name} (load average {before[0]})", flush=True)
        section = run_section(name, args, env)
        section["load_before"], section["load_after"] = before, _load()
        section["settings"] = settings(name, args)
        target = goal(name, section)
        if target is not None:
            section["goal"] = target
        report["sections"][name] = section
        print(json.dumps(section, default=str)[:1500], flush=True)
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    name = result_name(report)
    targets = [args.out / name] + ([args.results_dir / name] if args.results_dir else [])
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, json.dumps(report, indent=2, default=str) + "\n")
    print("result file: " + ", ".join(str(t) for t in targets), flush=True)
    failed = [k for k, v in report["sections"].items() if v.get("error")]
    if failed:
        print(f"no figures from: {', '.join(failed)} (the reasons are in the result file)", file=sys.stderr)
    return 1 if failed else 0
