"""``model.fit``: which precisions fit beside the game, from a fake free-memory figure (no GPU here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def test_builtin_table_says_what_fits_on_common_cards() -> None:
    from model.fit import MARGIN_GIB, assess

    on_12 = {f.precision: f.fits for f in assess(12.0)}
    assert on_12 == {"bf16": False, "8bit": True, "4bit": True}
    assert {f.precision: f.fits for f in assess(9.0)} == {"bf16": False, "8bit": False, "4bit": True}
    assert not any(f.fits for f in assess(6.0))
    bf16 = assess(40.0)[0]
    assert bf16.fits and bf16.need_gib == pytest.approx(15.7 + MARGIN_GIB) and bf16.actions_per_s == 15.7


def test_run_refuses_what_will_not_fit_and_names_the_setting_that_would(tmp_path: Path) -> None:
    from model.fit import FitError, check_fits

    with pytest.raises(FitError, match=r"in bf16 needs about 17\.2 GiB.*Use --quantize 8bit"):
        check_fits(tmp_path, "none", free_gib=12.0)
    with pytest.raises(FitError, match="Use --quantize 4bit"):
        check_fits(tmp_path, "8bit", free_gib=9.0)
    with pytest.raises(FitError, match=r"no precision fits.*jarvis-play serve"):
        check_fits(tmp_path, "4bit", free_gib=4.0)
    assert [f.precision for f in check_fits(tmp_path, "4bit", free_gib=9.0)] == ["bf16", "8bit", "4bit"]
    assert check_fits(tmp_path, "none", device="cpu") == []  # no CUDA here: nothing to check


def test_fit_error_is_a_checkpoint_error_the_app_describes_without_a_traceback() -> None:
    from app.errors import OWN_ERRORS
    from model.fit import FitError
    from model.quantize import QuantizeError

    assert issubclass(FitError, OWN_ERRORS) and issubclass(QuantizeError, OWN_ERRORS)


def test_a_smaller_checkpoint_scales_memory_and_claims_no_speed(tmp_path: Path) -> None:
    from model.fit import assess, checkpoint_params_b

    (tmp_path / "config.json").write_text(json.dumps({"torch_dtype": "bfloat16"}))
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 2_000_000)  # 1 M parameters in bf16
    params = checkpoint_params_b(tmp_path)
    assert params == pytest.approx(0.001)
    small = assess(2.0, params)
    assert all(f.fits and f.actions_per_s is None for f in small)
    assert checkpoint_params_b(tmp_path / "missing") is None


def _gpu_check_report() -> dict[str, Any]:
    return {
        "started": "2026-12-01 10:00:00",
        "environment": {"gpu": "NVIDIA RTX 4070"},
        "sections": {
            "policy": {
                "weights_gib": 15.5,
                "paths": [
                    {"path": "(c) jarvis-play local", "peak_gib": 15.9, "actions_per_s": 9.0},
                    {"path": "(fast) static cache + graph", "peak_gib": 15.8, "actions_per_s": 25.0},
                ],
            },
            "quant4": {"weights_gib": 6.4, "peak_gib": 6.6, "actions_per_s": 12.0},
            "quant8": {"error": "timed out after 110 s"},
        },
    }


def test_a_gpu_check_report_becomes_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from model.fit import TABLE_ENV, FitTable, load_table, table_from_gpu_check

    table = table_from_gpu_check(_gpu_check_report())
    assert [(r.precision, r.peak_gib, r.actions_per_s, r.engine) for r in table.rows] == [
        ("bf16", 15.8, 25.0, "fast"),
        ("4bit", 6.6, 12.0, "plain"),
    ]
    assert "RTX 4070" in table.source
    written = tmp_path / "fit-table.json"
    written.write_text(json.dumps(table.to_dict()))
    assert load_table(written) == FitTable(rows=table.rows, params_b=table.params_b, source=table.source)
    report = tmp_path / "gpu-check.json"
    report.write_text(json.dumps(_gpu_check_report()))
    monkeypatch.setenv(TABLE_ENV, str(report))
    assert load_table().rows == table.rows


def test_an_unreadable_table_says_how_to_get_one(tmp_path: Path) -> None:
    from model.checkpoint import CheckpointError
    from model.fit import load_table

    bad = tmp_path / "fit-table.json"
    bad.write_text("{not json")
    with pytest.raises(CheckpointError, match="bench gpu-check"):
        load_table(bad)


def test_picker_summary_and_doctor_lines(capsys: pytest.CaptureFixture[str]) -> None:
    from app.commands.doctor import Report, _fit
    from model.fit import summary

    assert summary(free_gib=12.0) == "GPU 12.0 GiB free: 8bit, 4bit fit (best --quantize 8bit, ~4 actions/s)"
    assert "no precision fits" in summary(free_gib=3.0)
    report = Report()
    _fit(report, "CraftJarvis/JarvisVLA-Qwen2-VL-7B", None, free_gib=10.0)
    out = capsys.readouterr().out
    assert "10.0 GiB GPU memory free" in out
    assert "bf16  needs 17.2 GiB, ~16 actions/s: does not fit (--quantize none)" in out
    assert "4bit  needs 8.2 GiB, ~9 actions/s: fits (--quantize 4bit)" in out
    assert report.problems == 0
