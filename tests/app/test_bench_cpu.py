"""``jarvis-play bench cpu`` through the command line: a result file with the figures it measured, the
load it measured them under, and a failure where a bench gave none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.commands.bench_cpu import _child, parse_json_tail
from app.gpu_check.tables import regenerate

ROOT = Path(__file__).resolve().parents[2]


def test_bench_cpu_writes_a_result_file_that_becomes_the_readme_table(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "bench", "cpu", "--sections", "actions,nosuch", "--actions-lines",
         "300", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # a section without figures fails the run
    assert "no figures from: nosuch" in done.stderr
    (file,) = out.glob("*.json")
    assert file.name.endswith(
        f"-{os.cpu_count() and len(os.sched_getaffinity(0))}-cores-{file.name[-15:-5]}.json"
    )
    report = json.loads(file.read_text())
    actions = report["sections"]["actions"]
    assert actions["figures"]["lines"] == 300 and actions["figures"]["encode_lines_per_s"] > 0
    assert actions["figures"]["decode_lines_per_s"] > 0 and len(actions["load_before"]) == 3
    assert actions["goal"]["met"] in (True, False)
    assert "error" in report["sections"]["nosuch"] and "figures" not in report["sections"]["nosuch"]
    assert report["kind"] == "cpu" and report["environment"]["cores"] >= 1

    (tmp_path / "model").mkdir()
    for path in ("README.md", "model/fit.py"):
        (tmp_path / path).write_text((ROOT / path).read_text())
    (tmp_path / "assets/benchmarks").mkdir(parents=True)
    (tmp_path / "assets/benchmarks" / file.name).write_text(file.read_text())
    assert regenerate(tmp_path) == [Path("README.md")]  # the GPU block and fit.py ignore a CPU file
    readme = (tmp_path / "README.md").read_text()
    speeds = actions["figures"]
    assert "| `actions encode` / `actions decode`, 300 JSON lines" in readme
    assert f"**{speeds['encode_lines_per_s']:,}** / **{speeds['decode_lines_per_s']:,}** lines/s" in readme
    assert "| `nosuch` | **did not work**: no section 'nosuch'" in readme
    assert f"Source: `assets/benchmarks/{file.name}`." in readme


def report_date(file: Path) -> str:
    return str(json.loads(file.read_text())["started"])[:10]


def test_a_bench_that_prints_no_figures_or_hangs_is_an_error_with_its_reason() -> None:
    env = dict(os.environ)
    crash = "import sys; print('boom: no model', file=sys.stderr); sys.exit(3)"
    crashed = _child([sys.executable, "-c", crash], 30, env)
    assert "figures" not in crashed
    assert crashed["error"].startswith("no figures (exit code 3): boom: no model")
    hung = _child([sys.executable, "-c", "import time; time.sleep(30)"], 0.5, env)
    assert hung == {"error": "timed out after 0 s", "section_s": 0.5}


def test_the_figures_are_the_json_a_bench_prints_last() -> None:
    assert parse_json_tail('bench loop: 400 ticks\n{"total": {"p50": 1.0}}\n') == {"total": {"p50": 1.0}}
    assert parse_json_tail('progress\n{\n  "results": [\n    1\n  ]\n}\n') == {"results": [1]}
    assert parse_json_tail("Traceback ...\nValueError: {x}\n") is None
