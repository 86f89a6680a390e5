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
    out, results = tmp_path / "out", tmp_path / "results"
    env = dict(os.environ, HF_HUB_OFFLINE="1", JARVIS_PLAY_TINY_DIR=str(tmp_path / "tiny"))
    env["PYTHONPATH"] = os.pathsep.join([str(_bare_machine(tmp_path / "bare")), str(ROOT)])
    command = [sys.executable, "-m", "app.commands.bench_gpu", "--config", str(config), "--out", str(out)]
    command += ["--device", "cpu", "--steps", "2", "--actions", "3", "--finetune-steps", "1"]
    command += ["--batch-size", "1"]
    command += ["--agreement-frames", "1", "--loop-seconds", "2", "--results-dir", str(results)]
    command += ["--sections", "policy,int4,loop,finetune,quant4"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = (out / "gpu-check.log").read_text(encoding="utf-8")
    for name in ABSENT[:-1]:  # all but bitsandbytes, whose absence the 4-bit section reports
        assert f"No module named '{name}'" not in log and f"import of {name} halted" not in log, log[-3000:]

    report = json.loads((out / "gpu-check.json").read_text(encoding="utf-8"))
    (written,) = results.iterdir()  # the result file, named by machine and date, identical in both places
    assert written.name == f"cpu-{report['started'][:10]}.json"
    assert json.loads(written.read_text()) == json.loads((out / written.name).read_text()) == report
    sections = report["sections"]
    assert set(sections) == {"policy", "int4", "loop", "finetune", "quant4"}
    paths = sections["policy"]["paths"]
    assert [p["path"][:4] for p in paths] == ["(a) ", "(b) ", "(c) "]
    assert all(isinstance(p["p50_ms"], float) and p["p50_ms"] > 0 for p in paths), paths
    for rows, precision in ((sections["policy"]["fast"], "bf16"), (sections["int4"]["rows"], "int4")):
        # one row per decode length, the length forced, every timed action counted
        got = [(r["precision"], r["groups"], r["steps"]) for r in rows]
        assert got == [(precision, k, 3) for k in (1, 2, 3)], rows
        for row in rows:
            assert row["breakdown_ms"]["new_tokens"] == row["groups"] + 2, row
            assert f"{row['groups']} button groups forced" in row["mode"], row
    assert sections["int4"]["replaced_layers"] == 14 and 0 <= sections["int4"]["agreement"] <= 1
    greedy = sections["policy"]["fast_greedy"]
    assert greedy["same"] == greedy["frames"] == 2 and greedy["stats"]["prefix_computed"] >= 2, greedy
    assert sections["policy"]["attention"]["language"] == "sdpa", sections["policy"]["attention"]
    assert sections["policy"]["engine_auto"] == "plain"  # CPU
    loop = sections["loop"]
    assert loop["hz"] == 20.0 and 30 <= loop["ticks"] <= 42 and loop["injected"] == loop["ticks"], loop
    fresh = loop["actions_per_s"] * loop["seconds"]  # each tick applied a fresh action or missed
    assert loop["missed_ticks"] + fresh == pytest.approx(loop["ticks"], abs=2), loop
    assert sections["finetune"]["samples_per_s"] > 0 and sections["finetune"]["seq"] == 512
    # bitsandbytes is absent on this "bare machine": the 4-bit figure is an error that says what to do
    assert "bitsandbytes" in sections["quant4"]["error"], sections["quant4"]
    slowest = max(r["p50_ms"] for r in sections["policy"]["fast"])
    assert report["goals"]["fast_bf16_p50_ms"]["value"] == slowest
    table = (out / "gpu-check.md").read_text(encoding="utf-8")
    assert "(a) transformers generate" in table and "(fast) int4, 3 button groups" in table
    assert "GPU: none (CPU run)" in done.stdout


def test_gpu_check_without_cuda_refuses_in_one_sentence(tmp_path: Path) -> None:
    """``make gpu-check`` on a machine without a CUDA GPU: one sentence, a failing exit, nothing run
    (the system python3 without torch, and a python whose torch sees no GPU)."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OUT=str(tmp_path / "out"))
    make = ["make", "-s", "gpu-check"]
    done = subprocess.run(make, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    ours = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("gpu-check")]
    assert len(ours) == 1 and "no GPU figure was measured" in ours[0], done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "No module named" not in done.stdout + done.stderr
    assert not (tmp_path / "out").exists()
    config = tmp_path / "config.json"
    config.write_text(json.dumps(REDUCED_CONFIG))
    command = [sys.executable, "-m", "app.commands.bench_gpu", "--config", str(config)]
    command += ["--out", str(tmp_path / "o")]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == "", done.stdout
    assert done.stderr.strip().count("\n") == 0 and "sees none on this machine" in done.stderr, done.stderr
    assert not (tmp_path / "o").exists()


def test_markdown_marks_unmeasured_goals() -> None:
    from app.gpu_check.report import goals, markdown

    def row(k: int, p50: float, p99: float) -> dict[str, float | int | str]:
        return {"path": f"(fast) bf16, {k}", "groups": k, "p50_ms": p50, "p99_ms": p99, "actions_per_s": 30.0}

    sections = {
        "policy": {"fast": [row(1, 25.0, 31.0), row(2, 28.0, 36.0), row(3, 29.5, 41.0)]},
        "int4": {"rows": [{**row(k, 60.0, 70.0), "actions_per_s": 16.0, "peak_gib": 7.5} for k in (1, 2, 3)]},
        "finetune": {"error": "timed out after 80 s"},
    }
    result = goals(sections)
    assert result["fast_bf16_p50_ms"] == {**result["fast_bf16_p50_ms"], "value": 29.5, "met": True}
    assert result["fast_bf16_p99_ms"]["met"] is False  # the slowest decode length decides
    assert result["small_card_actions_per_s"]["met"] is True and result["small_card_peak_gib"]["value"] == 7.5
    assert result["lora_samples_per_s"]["met"] is None and result["loop_actions_per_s"]["met"] is None
    text = markdown({"environment": {"gpu": "NVIDIA H200"}, "sections": sections, "goals": result})
    assert text.startswith("# GPU check — NVIDIA H200")
    assert "| bf16 fast engine p99 (≥ 200 actions), slowest decode length | 41.00 | 40 | **no** |" in text
    assert "timed out after 80 s" in text
    # two rows of three: the bf16 goal is not measured, never met
    sections["policy"]["fast"].pop()
    assert goals(sections)["fast_bf16_p50_ms"]["met"] is None


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
                "fast": [{"path": "(fast) bf16, 1", "p50_ms": 30.0, "peak_gib": 15.6, "actions_per_s": 30.0}],
            },
            "int4": {"weights_gib": 6.5, "rows": [{"p50_ms": 50.0, "peak_gib": 7.1, "actions_per_s": 19.0}]},
        },
    }
    _write(tmp_path, report)
    table = load_table(tmp_path / FIT_TABLE)
    assert [(r.precision, r.peak_gib) for r in table.rows] == [("bf16", 15.6), ("int4", 7.1)]
    assert [f.precision for f in assess(10.0, table=table, capability=(9, 0)) if f.fits] == ["int4", "4bit"]


def test_margins_count_only_frames_bf16_is_sure_of() -> None:
    import torch

    from app.commands.bench_gpu_sections import margins

    reference = [torch.tensor([5.0, 1.0, 0.0]), torch.tensor([1.0, 1.05, 0.0]), torch.tensor([0.0, 3.0, 0.0])]
    quantised = [torch.tensor([5.1, 1.0, 0.0]), torch.tensor([1.1, 1.0, 0.0]), torch.tensor([0.0, 3.1, 0.1])]
    got = margins(reference, quantised)
    assert got["first_token_agreement"] == 2 / 3
    assert got["confident_frames"] == 2 and got["confident_agreement"] == 1.0  # the coin toss is left out


def test_quantize_refuses_what_it_cannot_do(tiny_vla, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from model.quantize import QuantizeError, quantize_language_model

    with pytest.raises(QuantizeError, match="4bit or 8bit"):
        quantize_language_model(tiny_vla.model, 3)
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # as on a machine without it
    with pytest.raises(QuantizeError, match="pip install bitsandbytes"):
        quantize_language_model(tiny_vla.model, 4)
