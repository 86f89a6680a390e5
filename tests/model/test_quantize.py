"""``--quantize`` and ``--engine`` at load time, on a CPU machine: the choices, and the refusals that
must come before minutes of loading (no CUDA, no bitsandbytes)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


def test_parse_bits_reads_the_flag_values() -> None:
    from model.quantize import QuantizeError, parse_bits

    assert [parse_bits(v) for v in ("4bit", "8bit", "none", "", None, 4)] == [4, 8, None, None, None, 4]
    with pytest.raises(QuantizeError, match="4bit, 8bit or none"):
        parse_bits("2bit")


def test_quantize_needs_cuda_and_says_so_before_loading(tiny_model_dir: Path) -> None:
    from model.policies.factory import PolicyOptions, make_policy
    from model.quantize import QuantizeError

    with pytest.raises(QuantizeError, match="needs an NVIDIA GPU"):
        make_policy(str(tiny_model_dir), PolicyOptions(device="cpu", quantize="4bit"))


def test_quantize_without_bitsandbytes_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from model.quantize import QuantizeError, check_quantize

    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # as on a machine without it
    with pytest.raises(QuantizeError, match="pip install bitsandbytes"):
        check_quantize(8, "cuda")


def test_vla_load_refuses_quantize_on_cpu_without_touching_the_checkpoint(tmp_path: Path) -> None:
    from model.quantize import QuantizeError
    from model.vla import VLA

    with pytest.raises(QuantizeError, match="needs an NVIDIA GPU"):
        VLA.load(str(tmp_path / "not-even-there"), device="cpu", quantize=4)


def test_engine_choice(tiny_model_dir: Path) -> None:
    from model.checkpoint import CheckpointError
    from model.fast import FastVLA
    from model.policies.factory import PolicyOptions, make_policy, use_fast_engine
    from model.vla import VLA

    assert use_fast_engine("auto", "cuda:0") and not use_fast_engine("auto", "cpu")
    assert use_fast_engine("fast", "cpu") and not use_fast_engine("plain", "cuda")
    with pytest.raises(CheckpointError, match="--engine takes"):
        use_fast_engine("turbo", "cpu")
    auto = make_policy(str(tiny_model_dir), PolicyOptions(device="cpu"))
    assert type(auto.vla) is VLA  # CPU: plain by default
    fast = make_policy(str(tiny_model_dir), PolicyOptions(device="cpu", engine="fast", temperature=0))
    assert isinstance(fast.vla, FastVLA)
    import numpy as np

    step = fast.act(np.zeros((360, 640, 3), dtype=np.uint8), "Kill a zombie.")
    assert not step.malformed and "prefill_ms" in step.timings_ms


def test_settings_and_flags_reach_the_policy_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import argparse

    from app.commands.connect_args import add_loop_args, settings_from
    from app.session import make_policy
    from model.spec import ModelSpec

    monkeypatch.setenv("JARVIS_PLAY_CONFIG_DIR", str(tmp_path))
    parser = argparse.ArgumentParser()
    add_loop_args(parser)
    settings = settings_from(parser.parse_args(["--engine", "plain", "--quantize", "8bit"]))
    assert (settings.engine, settings.quantize) == ("plain", "8bit")
    seen = {}

    def factory(spec, options):  # type: ignore[no-untyped-def]
        seen.update(engine=options.engine, quantize=options.quantize)

    monkeypatch.setattr("model.policies.factory.make_policy", factory)
    make_policy(ModelSpec.parse("tiny"), settings)
    assert seen == {"engine": "plain", "quantize": "8bit"}


def test_qlora_flag_from_the_one_settings_list_and_its_refusal_on_cpu(tiny_model_dir: Path) -> None:
    import argparse

    from model.finetune.config import FinetuneConfig, add_flags, from_flags, to_flags
    from model.finetune.errors import FinetuneError
    from model.finetune.trainable import build_model

    parser = argparse.ArgumentParser()
    add_flags(parser)
    config = from_flags(
        parser.parse_args(["--episodes", "e", "--quantize", "4bit", "--model", str(tiny_model_dir)])
    )
    assert config.quantize == "4bit"
    assert to_flags(config)[to_flags(config).index("--quantize") + 1] == "4bit"  # the panel's child argv
    with pytest.raises(FinetuneError, match="4bit, 8bit or none"):
        build_model(from_flags(parser.parse_args(["--episodes", "e", "--quantize", "3bit"])), "cpu")
    with pytest.raises(FinetuneError, match=r"needs an NVIDIA GPU.*Train without --quantize"):
        build_model(config, "cpu")
    model, _processor, _path = build_model(
        FinetuneConfig(model=str(tiny_model_dir)), "cpu"
    )  # bf16 path unchanged
    assert any(p.requires_grad for p in model.parameters())
