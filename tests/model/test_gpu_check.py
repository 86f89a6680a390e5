"""``make gpu-check`` must give every figure on a bare machine in one call, so it is run here on CPU
with a reduced config, in a fresh process where the packages a bare GPU machine lacks cannot be
imported (a ``sitecustomize`` marks them absent, which is also what ``find_spec`` then reports)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ABSENT = ("platformdirs", "mss", "pynput", "PyQt6", "Xlib", "datasets", "bitsandbytes")

# The 7B config's layout (old-style rope_scaling, flat text fields) with small shapes.
REDUCED_CONFIG = {
    "architectures": ["Qwen2VLForConditionalGeneration"],
    "model_type": "qwen2_vl",
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
    "vision_token_id": 151654,
    "image_token_id": 151655,
    "video_token_id": 151656,
    "hidden_act": "silu",
    "hidden_size": 64,
    "intermediate_size": 128,
    "max_position_embeddings": 32768,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "vision_config": {
        "depth": 2,
        "embed_dim": 32,
        "mlp_ratio": 2,
        "num_heads": 2,
        "in_chans": 3,
        "hidden_size": 64,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    },
    "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
    "vocab_size": 152064,
}


def _bare_machine(folder: Path) -> Path:
    """A folder for PYTHONPATH whose sitecustomize makes the absent packages unimportable."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        f"import sys\nfor name in {ABSENT!r}:\n    sys.modules[name] = None\n", encoding="utf-8"
    )
    return folder


@pytest.mark.slow
def test_gpu_check_on_cpu_reports_every_section(tmp_path: Path) -> None:
    config = tmp_path / "qwen2-vl-reduced" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps(REDUCED_CONFIG), encoding="utf-8")
    out = tmp_path / "out"
    env = dict(os.environ, HF_HUB_OFFLINE="1", JARVIS_PLAY_TINY_DIR=str(tmp_path / "tiny"))
    env["PYTHONPATH"] = os.pathsep.join([str(_bare_machine(tmp_path / "bare")), str(ROOT)])
    command = [sys.executable, "-m", "app.commands.bench_gpu", "--config", str(config), "--out", str(out)]
    command += ["--device", "cpu", "--steps", "2", "--finetune-steps", "1", "--batch-size", "1"]
    command += ["--agreement-frames", "1", "--sections", "policy,finetune,quant4"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = (out / "gpu-check.log").read_text(encoding="utf-8")
    for name in ABSENT[:-1]:  # all but bitsandbytes, whose absence the 4-bit section reports
        assert f"No module named '{name}'" not in log and f"import of {name} halted" not in log, log[-3000:]

    report = json.loads((out / "gpu-check.json").read_text(encoding="utf-8"))
    sections = report["sections"]
    assert set(sections) == {"policy", "finetune", "quant4"}
    paths = sections["policy"]["paths"]
    assert [p["path"][:4] for p in paths] == ["(a) ", "(b) ", "(c) ", "(fas"]
    for path in paths:  # a number, or the reason there is none
        assert isinstance(path.get("p50_ms"), float) or isinstance(path.get("error"), str), path
    assert all(isinstance(p["p50_ms"], float) and p["p50_ms"] > 0 for p in paths[:3]), paths
    fast = paths[3]
    assert {"prepare_ms", "prefill_ms", "new_tokens"} <= set(fast["breakdown_ms"]), fast
    assert fast["fast_stats"]["prefix_reused"] >= 2, fast  # one instruction: the prompt head was reused
    greedy = sections["policy"]["fast_greedy"]
    assert greedy["same"] == greedy["frames"] == 2 and greedy["stats"]["prefix_computed"] >= 2, greedy
    assert sections["policy"]["attention"]["language"] == "sdpa", sections["policy"]["attention"]
    assert sections["policy"]["engine_auto"] == "plain"  # CPU
    assert sections["finetune"]["samples_per_s"] > 0, sections["finetune"]
    assert sections["finetune"]["seq"] == 512
    # bitsandbytes is absent on this "bare machine": the 4-bit figure is an error that says what to do
    assert "bitsandbytes" in sections["quant4"]["error"], sections["quant4"]
    assert set(report["goals"]) >= {"fast_p50_ms", "lora_samples_per_s", "quant4_agreement"}
    table = (out / "gpu-check.md").read_text(encoding="utf-8")
    assert "(a) transformers generate" in table and "LoRA fine-tune" in table
    assert "GPU: none (CPU run)" in done.stdout


def test_markdown_marks_unmeasured_goals() -> None:
    from app.commands.bench_gpu import _goals, markdown

    sections = {
        "policy": {
            "paths": [
                {"path": "(a) transformers generate", "p50_ms": 120.0, "p99_ms": 130.0, "actions_per_s": 8.0},
                {
                    "path": "(fast) static cache + graph",
                    "p50_ms": 30.0,
                    "p99_ms": 70.0,
                    "actions_per_s": 30.0,
                    "speedup_vs_a": 3.75,
                },
            ]
        },
        "finetune": {"error": "timed out after 120 s"},
    }
    goals = _goals(sections)
    assert goals["fast_p50_ms"]["met"] is True
    assert goals["fast_p99_ms"]["met"] is False
    assert goals["fast_speedup_vs_a"]["met"] is True
    assert goals["lora_samples_per_s"]["met"] is None
    text = markdown({"environment": {"gpu": "NVIDIA H200"}, "sections": sections, "goals": goals})
    assert text.startswith("# GPU check — NVIDIA H200")
    assert "| fast_p99_ms | 70.00 | 60.0 | NO |" in text
    assert "timed out after 120 s" in text


def test_report_writes_the_fit_table_model_fit_reads(tmp_path: Path) -> None:
    from app.commands.bench_gpu import FIT_TABLE, _write
    from model.fit import assess, load_table

    report = {
        "started": "2026-12-01 10:00:00",
        "environment": {"gpu": "NVIDIA H200"},
        "sections": {
            "policy": {
                "weights_gib": 15.5,
                "params_b": 8.29,
                "paths": [{"path": "(fast) static cache", "peak_gib": 15.6, "actions_per_s": 30.0}],
            },
            "quant4": {"weights_gib": 6.5, "peak_gib": 6.7, "actions_per_s": 9.0, "bf16_weights_gib": 15.5},
        },
    }
    _write(tmp_path, report)
    table = load_table(tmp_path / FIT_TABLE)
    assert [(r.precision, r.peak_gib) for r in table.rows] == [("bf16", 15.6), ("4bit", 6.7)]
    assert [f.precision for f in assess(10.0, table=table) if f.fits] == ["4bit"]


def test_margins_count_only_frames_bf16_is_sure_of() -> None:
    import torch

    from app.commands.bench_gpu import _margins

    reference = [torch.tensor([5.0, 1.0, 0.0]), torch.tensor([1.0, 1.05, 0.0]), torch.tensor([0.0, 3.0, 0.0])]
    quantised = [torch.tensor([5.1, 1.0, 0.0]), torch.tensor([1.1, 1.0, 0.0]), torch.tensor([0.0, 3.1, 0.1])]
    got = _margins(reference, quantised)
    assert got["first_token_agreement"] == 2 / 3
    assert got["confident_frames"] == 2 and got["confident_agreement"] == 1.0  # the coin toss is left out


def test_quantize_refuses_what_it_cannot_do(tiny_vla, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from model.quantize import QuantizeError, quantize_language_model

    with pytest.raises(QuantizeError, match="4bit or 8bit"):
        quantize_language_model(tiny_vla.model, 3)
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # as on a machine without it
    with pytest.raises(QuantizeError, match="pip install bitsandbytes"):
        quantize_language_model(tiny_vla.model, 4)
