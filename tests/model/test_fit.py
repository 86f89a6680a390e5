"""``model.fit``: which precisions fit beside the game, from a fake free-memory figure (no GPU here).

The tables come from sample ``make gpu-check`` reports written here; the built-in table is generated
from the committed result files (``tests/app/test_bench_tables.py`` checks that it agrees with them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def _gpu_check_report() -> dict[str, Any]:
    return {
        "started": "2026-12-01 10:00:00",
        "environment": {"gpu": "NVIDIA RTX 4070"},
        "sections": {
            "policy": {
                "weights_gib": 15.5,
                "params_b": 8.29,
                "fast": [
                    {
                        "path": "(fast) bf16, 1 button group",
                        "groups": 1,
                        "peak_gib": 15.8,
                        "actions_per_s": 27.0,
                    },
                    {
                        "path": "(fast) bf16, 3 button groups",
                        "groups": 3,
                        "peak_gib": 15.9,
                        "actions_per_s": 21.0,
                    },
                ],
            },
            "int4": {
                "weights_gib": 6.6,
                "rows": [
                    {"groups": 1, "peak_gib": 7.1, "actions_per_s": 18.0},
                    {"groups": 3, "error": "oom"},
                ],
            },
            "fp8": {"error": "timed out after 110 s"},
            "quant4": {"weights_gib": 6.4, "peak_gib": 6.6, "actions_per_s": 6.0},
        },
    }


def _table() -> Any:
    from model.fit import table_from_gpu_check

    return table_from_gpu_check(_gpu_check_report())


def test_a_gpu_check_report_becomes_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from model.fit import TABLE_ENV, FitTable, load_table

    table = _table()
    # per precision: the largest peak and the slowest decode length; failed rows and sections left out
    assert [(r.precision, r.peak_gib, r.actions_per_s, r.engine) for r in table.rows] == [
        ("bf16", 15.9, 21.0, "fast"),
        ("int4", 7.1, 18.0, "fast"),
        ("4bit", 6.6, 6.0, "plain"),
    ]
    assert "RTX 4070" in table.source
    written = tmp_path / "fit-table.json"
    written.write_text(json.dumps(table.to_dict()))
    assert load_table(written) == FitTable(rows=table.rows, params_b=table.params_b, source=table.source)
    report = tmp_path / "gpu-check.json"
    report.write_text(json.dumps(_gpu_check_report()))
    monkeypatch.setenv(TABLE_ENV, str(report))
    assert load_table().rows == table.rows


def test_measured_rows_and_computed_weights_say_what_fits() -> None:
    from model.fit import MARGIN_GIB, SEVEN_B, assess

    fits = {f.precision: f for f in assess(12.0, table=_table())}
    assert [p for p, f in fits.items() if f.fits] == ["fp8", "int4", "8bit", "4bit"]
    assert fits["bf16"].measured and fits["bf16"].need_gib == pytest.approx(15.9 + MARGIN_GIB)
    assert fits["int4"].measured and fits["int4"].actions_per_s == 18.0
    # fp8 was not measured: its weights alone, computed (1 byte per language-model weight, the rest bf16)
    assert not fits["fp8"].measured and fits["fp8"].actions_per_s is None
    other = SEVEN_B.params_b - SEVEN_B.quantised_b
    assert fits["fp8"].need_gib == pytest.approx((SEVEN_B.quantised_b + 2 * other) * 1e9 / 2**30 + MARGIN_GIB)
    # an Ampere card cannot run fp8 at all, whatever its memory
    ampere = {f.precision: f for f in assess(40.0, table=_table(), capability=(8, 6))}
    assert not ampere["fp8"].fits and "Ada or Hopper" in ampere["fp8"].unusable and ampere["int4"].fits


def test_run_refuses_what_will_not_fit_and_names_the_setting_that_would(tmp_path: Path) -> None:
    from model.fit import FitError, FitTable, check_fits

    table = _table()
    # a measured precision is offered before an unmeasured one (fp8's 10.9 GiB is a lower bound)
    with pytest.raises(FitError, match=r"in bf16 needs about 17\.4 GiB.*Use --quantize int4"):
        check_fits(tmp_path, "none", free_gib=12.0, table=table, capability=(9, 0))
    empty = FitTable(rows=(), params_b=8.29, source="nothing measured")
    with pytest.raises(
        FitError, match=r"needs at least \(its weights alone\) about 16\.9 GiB.*Use --quantize fp8"
    ):
        check_fits(tmp_path, "none", free_gib=12.0, table=empty, capability=(9, 0))
    with pytest.raises(FitError, match=r"Use --quantize int4 \(about 8\.6 GiB, ~18 actions/s\)"):
        check_fits(tmp_path, "none", free_gib=12.0, table=table, capability=(8, 6))
    with pytest.raises(FitError, match=r"no precision fits.*jarvis-play serve"):
        check_fits(tmp_path, "int4", free_gib=4.0, table=table, capability=(9, 0))
    assert [f.precision for f in check_fits(tmp_path, "int4", free_gib=9.0, table=table, capability=(9, 0))]
    assert check_fits(tmp_path, "none", device="cpu") == []  # no CUDA here: nothing to check


def test_unmeasured_int4_is_refused_on_its_weights_alone(tmp_path: Path) -> None:
    """With no measurement at all (the built-in table before a GPU run), a card too small for even
    the int4 weights is refused, and the message says the figure is a lower bound."""
    from model.fit import FitError, FitTable, check_fits

    empty = FitTable(rows=(), params_b=8.29, source="nothing measured")
    with pytest.raises(FitError, match=r"in int4 needs at least \(its weights alone\) about 8\.0 GiB"):
        check_fits(tmp_path, "int4", free_gib=6.0, table=empty, capability=(9, 0))
    assert check_fits(tmp_path, "int4", free_gib=9.0, table=empty, capability=(9, 0))


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
    small = assess(2.0, params, table=_table())
    assert all(f.fits and f.actions_per_s is None for f in small)
    assert checkpoint_params_b(tmp_path / "missing") is None


def test_an_unreadable_table_says_how_to_get_one(tmp_path: Path) -> None:
    from model.checkpoint import CheckpointError
    from model.fit import load_table

    bad = tmp_path / "fit-table.json"
    bad.write_text("{not json")
    with pytest.raises(CheckpointError, match="bench gpu-check"):
        load_table(bad)


def test_picker_summary_and_doctor_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.commands.doctor import Report, _fit
    from model.fit import summary

    table = _table()
    assert (
        summary(free_gib=10.0, table=table)
        == "GPU 10.0 GiB free: int4, 4bit fit (best --quantize int4, ~18 actions/s)"
    )
    assert "no precision fits" in summary(free_gib=3.0, table=table)
    written = tmp_path / "fit-table.json"
    written.write_text(json.dumps(table.to_dict()))
    report = Report()
    _fit(report, "CraftJarvis/JarvisVLA-Qwen2-VL-7B", str(written), free_gib=10.0)
    out = capsys.readouterr().out
    assert "10.0 GiB GPU memory free" in out
    assert "bf16  needs 17.4 GiB, ~21 actions/s: does not fit (--quantize none)" in out
    assert "int4  needs 8.6 GiB, ~18 actions/s: fits (--quantize int4)" in out
    assert "fp8   needs 10.9 GiB at least (weights alone; not measured on a GPU): does not fit" in out
    assert report.problems == 0
