"""``jarvis-play bench gpu-check``: every GPU figure the README states, from one unattended run.

    make gpu-check                                        # an NVIDIA machine: all of it, one call
    PYTHONPATH=. python3 -m app.commands.bench_gpu --config CONFIG --out DIR   # the same, by hand

A lent GPU machine is bare (torch, transformers, peft, accelerate; no platformdirs, Qt, mss, datasets),
has no internet and is lent for minutes, once. So the check builds the 7B architecture with random
weights from a config.json (compute and memory depend on shapes, not values), runs each section of
``app.gpu_check.sections`` in its own child process under its own time limit, and records a failure
as an error string instead of stopping: one call returns every figure it could get, in
``gpu-check.json``, ``gpu-check.md`` and ``fit-table.json`` under ``--out``, and the result file
``<gpu>-<date>.json`` there and under ``--results-dir`` (``assets/benchmarks/`` from make). Committed,
that file is what the README's GPU section and ``model/fit.py``'s table are generated from
(``jarvis-play bench tables``).

Without a CUDA GPU it refuses in one sentence and exits 2, unless ``--device cpu`` asks for the CPU
run the test suite makes of it.
"""

from __future__ import annotations

import argparse
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

from app.gpu_check.report import goals, markdown, result_name
from model.fit import table_from_gpu_check
from recorder.files import write_atomically

ROOT = Path(__file__).resolve().parents[2]  # the children import this checkout, from any cwd
# section -> default time limit (s), in the order they run; the total budget caps them all
SECTIONS: dict[str, int] = {"policy": 190, "int4": 110, "loop": 90, "fp8": 90, "finetune": 80}
OPTIONAL_SECTIONS: dict[str, int] = {"quant4": 110, "quant8": 110}  # bitsandbytes, for comparison
RESULT_JSON = "gpu-check.json"
RESULT_MD = "gpu-check.md"
LOG_FILE = "gpu-check.log"
FIT_TABLE = "fit-table.json"
NO_GPU_EXIT = 2


def register(sub: Any) -> None:
    p = sub.add_parser("gpu-check", help="all GPU figures in one time-limited run (JSON + markdown)")
    _arguments(p)
    p.set_defaults(func=main)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="Qwen2-VL config.json (the 7B shapes)")
    p.add_argument("--out", type=Path, default=Path("artifacts/gpu-check"), help="folder for the results")
    p.add_argument("--results-dir", type=Path, help="also write the result file <gpu>-<date>.json here")
    p.add_argument("--device", help="cuda (default) or cpu (the test suite's run of the check)")
    p.add_argument("--preflight", action="store_true", help="only say whether a CUDA GPU is here")
    p.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma list of {', '.join(SECTIONS)} (and the bitsandbytes {', '.join(OPTIONAL_SECTIONS)})",
    )
    p.add_argument("--budget-s", type=float, default=540.0, help="total wall-clock limit for all sections")
    p.add_argument("--actions", type=int, default=200, help="timed actions per fast-engine row")
    p.add_argument("--steps", type=int, default=10, help="measured steps of paths (a), (b), (c)")
    p.add_argument("--loop-seconds", type=float, default=60.0, help="how long bench loop plays")
    p.add_argument("--finetune-steps", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8, help="LoRA batch size")
    p.add_argument("--agreement-frames", type=int, default=10, help="frames for the low-bit vs bf16 check")
    p.add_argument(
        "--quant-path",
        help="folder with bitsandbytes (an unpacked wheel), on the quant4/quant8 sections' import path only",
    )
    p.add_argument("--section", help=argparse.SUPPRESS)  # child mode: run one section
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)


def no_gpu_reason(device: str | None) -> str | None:
    """One sentence saying why no GPU figure can be measured here, or None when one can."""
    if device == "cpu":
        return None
    try:
        import torch  # heavy: torch
    except ImportError:
        return (
            f"gpu-check needs an NVIDIA GPU and PyTorch's CUDA build, and {sys.executable} cannot import "
            "torch here, so no GPU figure was measured."
        )
    if not torch.cuda.is_available():
        return (
            f"gpu-check needs a CUDA GPU, and torch {torch.__version__} sees none on this machine, "
            "so no GPU figure was measured."
        )
    return None


# ----- orchestrator ---------------------------------------------------------------------------------
def main(args: argparse.Namespace) -> int:
    if args.section:
        return _child(args)
    reason = no_gpu_reason(args.device)
    if reason:
        print(reason, file=sys.stderr)
        return NO_GPU_EXIT
    if args.preflight:
        return 0
    if args.config is None or not args.config.is_file():
        print(
            f"gpu-check: no config.json at {args.config}; pass --config (CONFIG= for make)", file=sys.stderr
        )
        return NO_GPU_EXIT
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    # The tiny model supplies the tokenizer and processor (same token layout); build it once, here.
    scratch = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    env.setdefault("JARVIS_PLAY_TINY_DIR", str(scratch / "tiny"))
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "environment": _environment()}
    report["config"] = str(args.config)
    report["command"] = " ".join(["bench_gpu", *sys.argv[1:]])
    print(f"GPU: {report['environment'].get('gpu') or 'none (CPU run)'}", flush=True)
    deadline = time.monotonic() + args.budget_s
    limits = {**SECTIONS, **OPTIONAL_SECTIONS}
    report["sections"] = {}
    with (out / LOG_FILE).open("w", encoding="utf-8") as log:
        for name in (s.strip() for s in args.sections.split(",") if s.strip()):
            left = deadline - time.monotonic()
            limit = min(limits.get(name, 120), left)
            if limit < 10:
                report["sections"][name] = {"error": f"skipped: total budget of {args.budget_s:.0f} s spent"}
                continue
            print(f"== {name} (limit {limit:.0f} s)", flush=True)
            report["sections"][name] = _run_child(args, name, limit, env, scratch, log)
            _write(out, report)  # after every section, so a killed run still leaves what it measured
            print(json.dumps(report["sections"][name], default=str)[:2000], flush=True)
    report["goals"] = goals(report["sections"])
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    _write(out, report)
    name = result_name(report)
    targets = [out / name] + ([args.results_dir / name] if args.results_dir else [])
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, json.dumps(report, indent=2, default=str) + "\n")
    print((out / RESULT_MD).read_text(encoding="utf-8"), flush=True)
    print("result file: " + ", ".join(str(t) for t in targets), flush=True)
    return 0


def _run_child(
    args: argparse.Namespace, name: str, limit: float, env: dict[str, str], scratch: Path, log: Any
) -> dict[str, Any]:
    result = scratch / f"{name}.json"
    command = [sys.executable, "-m", "app.commands.bench_gpu", "--section", name, "--result", str(result)]
    for flag in ("config", "device", "actions", "steps", "loop_seconds", "finetune_steps", "batch_size"):
        value = getattr(args, flag)
        if value is not None:
            command += ["--" + flag.replace("_", "-"), str(value)]
    command += ["--agreement-frames", str(args.agreement_frames)]
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
        return {**_read(result), "error": f"timed out after {limit:.0f} s", "section_s": limit}
    data = _read(result)
    if child.returncode != 0 and "error" not in data:
        data["error"] = f"child exited with code {child.returncode} (see {LOG_FILE})"
    if not data:
        data = {"error": "no result written (see log)"}
    data["section_s"] = round(time.monotonic() - start, 1)
    return data


def _read(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _environment() -> dict[str, Any]:
    env: dict[str, Any] = {"python": platform.python_version(), "host": platform.node()}
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        env["commit"] = done.stdout.strip()[:12] or None
    except (OSError, subprocess.SubprocessError):
        env["commit"] = None
    try:
        import torch  # heavy: torch

        env["torch"] = torch.__version__
        env["cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            env["gpu"] = torch.cuda.get_device_name(0)
            env["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
            env["capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
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
    # heavy: numpy, PIL, torch (only in the children: the preflight runs on a bare python3 first)
    from app.commands import bench_gpu_sections as sections  # heavy: numpy, PIL, torch

    result: dict[str, Any] = {}

    def save() -> None:
        args.result.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")

    try:
        import torch  # heavy: torch

        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        result["device"] = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
        sections.run(args.section, args, device, result, save)
    except BaseException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[:500]
        result["traceback"] = traceback.format_exc()[-3000:]
        save()
        traceback.print_exc()
        return 1
    save()
    return 0


def _write(out: Path, report: dict[str, Any]) -> None:
    (out / RESULT_JSON).write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    (out / RESULT_MD).write_text(markdown(report), encoding="utf-8")
    try:  # the table ``model.fit`` reads (doctor --fit-table, JARVIS_PLAY_FIT_TABLE)
        table = table_from_gpu_check(report, source="bench gpu-check")
        (out / FIT_TABLE).write_text(json.dumps(table.to_dict(), indent=2), encoding="utf-8")
    except ValueError:
        pass  # nothing measured yet


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m app.commands.bench_gpu", description=__doc__)
    _arguments(parser)
    sys.exit(main(parser.parse_args()))
