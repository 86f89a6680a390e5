"""The README's GPU section and ``model/fit.py``'s built-in table are what the committed result files
say, and nothing else: regenerated here and compared with the committed text."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from app.gpu_check.tables import FIT_BEGIN, FIT_END, RESULTS, regenerate

ROOT = Path(__file__).resolve().parents[2]


def test_readme_and_fit_table_agree_with_the_committed_result_files() -> None:
    assert regenerate(ROOT, check=True) == [], "run `jarvis-play bench tables` and commit the result"


def _report() -> dict[str, Any]:
    def row(groups: int, p50: float, peak: float, speed: float) -> dict[str, Any]:
        label = f"(fast) PREC, {groups} button groups"
        return {"path": label, "groups": groups, "p50_ms": p50, "p99_ms": p50 + 7, "steps": 200,
                "actions_per_s": speed, "peak_gib": peak}  # fmt: skip

    return {
        "started": "2027-01-02 03:04:05",
        "environment": {"gpu": "NVIDIA H100 80GB HBM3", "torch": "2.13.0", "commit": "abc123"},
        "config": ".gpu/qwen2-vl-7b-instruct/config.json",
        "sections": {
            "policy": {
                "weights_gib": 15.44,
                "params_b": 8.29,
                "fast": [row(1, 27.5, 15.6, 33.1), row(2, 31.25, 15.6, 29.0), row(3, 35.0, 15.7, 27.3)],
            },
            "int4": {"weights_gib": 6.9, "rows": [row(1, 48.0, 7.4, 19.9), row(2, 52.0, 7.4, 18.4)]},
            "fp8": {"error": "timed out after 90 s"},
            "loop": {"hz": 20.0, "seconds": 60.0, "ticks": 1200, "missed_ticks": 600, "actions_per_s": 19.5},
        },
        "goals": {},
    }


def _checkout(tmp_path: Path) -> Path:
    """A copy of the two generated files, so the test never writes into the checkout."""
    for path in ("README.md", "model/fit.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    (tmp_path / RESULTS).mkdir(parents=True)
    return tmp_path


def test_a_result_file_becomes_the_readme_section_and_the_fit_table(tmp_path: Path) -> None:
    from app.gpu_check.report import goals

    root = _checkout(tmp_path)
    report = _report()
    report["goals"] = goals(report["sections"])
    (root / RESULTS / "nvidia-h100-80gb-hbm3-2027-01-02.json").write_text(json.dumps(report))
    assert regenerate(root, check=True) == [Path("README.md"), Path("model/fit.py")]  # stale until rewritten
    assert sorted(map(str, regenerate(root))) == ["README.md", "model/fit.py"]
    assert regenerate(root, check=True) == []

    readme = (root / "README.md").read_text()
    assert "GPU check — NVIDIA H100 80GB HBM3, 2027-01-02 03:04:05" in readme
    assert "| (fast) PREC, 3 button groups | 35.0 | 42.0 | 200 | 27.30 | 15.7 |" in readme
    assert "| bf16 fast engine p50, slowest decode length | 35.00 | 30 | **no** |" in readme
    # int4 measured two decode lengths of three: its goal is not measured, never met
    assert "best int4/fp8 path fitting 10 GiB: actions/s, slowest length | – | 15 | not measured" in readme
    assert "Source: `assets/benchmarks/nvidia-h100-80gb-hbm3-2027-01-02.json`" in readme
    assert "No GPU result file is committed yet" not in readme

    fit = (root / "model/fit.py").read_text()
    block = fit.split(FIT_BEGIN + "\n", 1)[1].split(FIT_END, 1)[0]
    from model.fit import FitTable, Footprint

    scope: dict[str, Any] = {"FitTable": FitTable, "Footprint": Footprint}
    exec(block, scope)
    table = scope["BUILTIN"]
    assert [(r.precision, r.peak_gib, r.actions_per_s) for r in table.rows] == [
        ("bf16", 15.7, 27.3),
        ("int4", 7.4, 18.4),
    ]
    assert "nvidia-h100-80gb-hbm3-2027-01-02.json" in table.source
    # the generated module stays as ruff formats it (make lint checks model/fit.py)
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", str(root / "model/fit.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_readme_edited_by_hand_is_caught(tmp_path: Path) -> None:
    """Control: a figure typed into the generated block is a difference the check reports."""
    root = _checkout(tmp_path)
    readme = root / "README.md"
    readme.write_text(
        readme.read_text().replace("No GPU result file is committed yet", "p50 44.9 ms on an H200")
    )
    assert regenerate(root, check=True) == [Path("README.md")]


def _cpu_report(started: str, loop_p99: float, policy_load: float = 1.2) -> dict[str, Any]:
    stages = {s: {"p50": 0.25, "p99": 0.5} for s in ("capture", "preprocess", "decode", "inject")}
    load = {"load_before": [2.5, 2.0, 1.5], "load_after": [3.1, 2.2, 1.6]}
    return {
        "kind": "cpu",
        "started": started,
        "command": "jarvis-play bench cpu --results-dir assets/benchmarks",
        "environment": {"cpu": "AMD EPYC", "cores": 2, "commit": "abc123"},
        "sections": {
            "loop": {**load, "settings": {"ticks": 400, "hz": 20},
                     "figures": {**stages, "total": {"p50": 1.5, "p99": loop_p99}},
                     "goal": {"text": "p50 ≤ 3 ms, p99 ≤ 5 ms", "met": loop_p99 <= 5}},
            "record": {**load, "error": "timed out after 180 s",
                       "goal": {"text": "no frame dropped", "met": None}},
            "policy": {"load_before": [policy_load], "load_after": [1.6], "settings": {"steps": 20},
                       "figures": {"results": [
                {"path": "(a) transformers generate", "p50_ms": 60.0, "p99_ms": 80.0, "actions_per_s": 15.0,
                 "speedup_vs_a": 1.0},
                {"path": "(b) HTTP + JPEG/base64", "error": "OSError: port in use"},
                {"path": "(c) jarvis-play local", "p50_ms": 30.0, "p99_ms": 40.0, "actions_per_s": 30.0,
                 "speedup_vs_a": 2.0}]}},
            "finetune": {**load, "figures": {"batch_size": 8, "seq": 512, "steps": 5, "samples_per_s": 3.5,
                                             "step_ms": 2285.7}},
        },
    }  # fmt: skip


def test_the_newest_cpu_result_file_becomes_the_readme_table(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    for day, p99 in (("01", 4.0), ("03", 6.5)):
        report = _cpu_report(f"2027-01-{day}", p99)
        (root / RESULTS / f"amd-epyc-2-cores-2027-01-{day}.json").write_text(json.dumps(report))
    assert regenerate(root) == [Path("README.md")]  # a CPU file changes no GPU figure and no fit table
    readme = (root / "README.md").read_text()
    assert "Source: `assets/benchmarks/amd-epyc-2-cores-2027-01-03.json`." in readme
    assert "amd-epyc-2-cores-2027-01-01.json" not in readme  # only the newest run is stated
    assert "on AMD EPYC (2 cores, no GPU), 2027-01-03, commit abc123" in readme
    assert (
        "demo game under Xvfb, 400 ticks at 20 Hz | p50 **1.50 ms**, p99 **6.50 ms** (p50 of each step: "
        "capture 0.25 ms, preprocess 0.25 ms, decode 0.25 ms, inject 0.25 ms) "
        "| p50 ≤ 3 ms, p99 ≤ 5 ms: **not met** | 2.5 → 3.1 |"
    ) in readme
    assert "| `record` | **did not work**: timed out after 180 s | no frame dropped: not measured |" in readme
    assert "| (b) HTTP + JPEG/base64 | **did not work**: OSError: port in use |  |  |" in readme
    assert "| (c) jarvis-play local | p50 30.0 ms, p99 40.0 ms, **30.0** actions/s (2.00× of a) |" in readme
    assert "batch 8, sequence 512, 5 steps | **3.50** samples/s (2286 ms/step) | — | 2.5 → 3.1 |" in readme
    assert "No CPU result file is committed yet" not in readme
    assert "No GPU result file is committed yet" in readme
    assert "its 1-minute load average was 1.2–3.1 during this run (2 = every core busy;" in readme

    # the paths ran one after another: under a load above the cores, their ratio is not stated
    newest = root / RESULTS / "amd-epyc-2-cores-2027-01-03.json"
    newest.write_text(json.dumps(_cpu_report("2027-01-03", 6.5, policy_load=2.4)))
    assert regenerate(root) == [Path("README.md")]
    readme = (root / "README.md").read_text()
    assert "**30.0** actions/s (no ratio to a: load above the cores) |" in readme
    assert "× of a" not in readme
