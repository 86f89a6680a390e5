"""``--quantize int4`` and ``fp8`` on CPU: the layers compute with the weights they hold (through the
CPU twins of PyTorch's kernels), a quantised model decodes the same tokens in the fast engine as in the
plain path, and every refusal comes before loading, with the reason and what to use instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn


@pytest.mark.parametrize("kind", ["int4", "fp8"])
def test_a_low_bit_layer_computes_with_its_own_weights(kind: str) -> None:
    from model.lowbit import Fp8Linear, Int4Linear, _check_layer

    torch.manual_seed(0)
    linear = nn.Linear(256, 64, bias=True)
    layer = Int4Linear(linear, "cpu") if kind == "int4" else Fp8Linear(linear, "cpu")
    _check_layer(layer, kind)  # the kernel agrees with the dequantised weights it holds
    x = torch.randn(5, 256)
    # and those weights are the original ones, to within the format's step
    weight = linear.weight.detach()
    step = (weight.max() - weight.min()) / 15 if kind == "int4" else weight.abs().max() / 8
    assert float((layer.dequantized() - weight).abs().max()) <= float(step)
    with torch.no_grad():
        error = (layer(x) - linear(x)).abs().max() / linear(x).abs().max()
    assert float(error) < (0.1 if kind == "int4" else 0.08), float(error)
    assert layer(x[None]).shape == (1, 5, 64)  # batch dimensions kept


def test_a_kernel_that_misreads_the_packing_is_caught() -> None:
    """Control: scales and zeros swapped is a different weight matrix, and the check says so."""
    from model.lowbit import Int4Linear, LowbitError, _check_layer

    torch.manual_seed(1)
    layer = Int4Linear(nn.Linear(128, 32), "cpu")
    layer.scales_and_zeros = layer.scales_and_zeros.flip(-1).contiguous()
    expected = layer.dequantized()  # what the layer now claims to hold...
    layer.scales_and_zeros = layer.scales_and_zeros.flip(-1).contiguous()  # ...and what the kernel reads
    layer.dequantized = lambda: expected  # type: ignore[method-assign]
    with pytest.raises(LowbitError, match="int4 kernel disagrees with its own weights"):
        _check_layer(layer, "int4")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["int4", "fp8"])
def test_a_quantised_model_decodes_alike_in_the_fast_engine_and_the_plain_path(
    tiny_model_dir: Path, kind: str
) -> None:
    from model.fast import FastVLA
    from model.lowbit import Fp8Linear, Int4Linear
    from model.policies.local import LocalPolicy, LocalPolicyConfig
    from model.quantize import quantize_model
    from model.vla import VLA, Sampling

    torch.manual_seed(0)
    vla = VLA.load(str(tiny_model_dir), device="cpu")
    assert quantize_model(vla.model, kind, "cpu") == 14  # 2 layers × (q, k, v, o, gate, up, down)
    kinds = {type(m) for m in vla.model.modules()}
    assert (Int4Linear if kind == "int4" else Fp8Linear) in kinds
    assert type(vla.model.get_output_embeddings()) is nn.Linear  # the head stays as it was
    assert all(
        type(m) is not Int4Linear for m in vla.model.model.visual.modules()
    )  # so does the vision tower
    greedy = LocalPolicyConfig(sampling=Sampling(temperature=0))
    plain, fast = LocalPolicy(vla, greedy), LocalPolicy(FastVLA(vla), greedy)
    rng = np.random.default_rng(5)
    for _ in range(2):
        frame = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
        expected, got = plain.act(frame, "Kill a zombie."), fast.act(frame, "Kill a zombie.")
        assert got.ids == expected.ids and not got.malformed


def test_quantize_choices_and_their_refusals_before_loading(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from model.policies.factory import PolicyOptions, make_policy
    from model.quantize import QuantizeError, check_quantize, parse_quantize

    assert [parse_quantize(v) for v in ("int4", "FP8", "4bit", 8, "none", None)] == [
        "int4",
        "fp8",
        "4bit",
        "8bit",
        None,
        None,
    ]
    with pytest.raises(QuantizeError, match="takes none, int4, fp8, 4bit, 8bit, not 'int3'"):
        parse_quantize("int3")
    with pytest.raises(QuantizeError, match="--quantize int4 needs an NVIDIA GPU"):
        make_policy(str(tmp_path / "not-even-there"), PolicyOptions(device="cpu", quantize="int4"))
    with pytest.raises(
        QuantizeError, match=r"fp8 needs an Ada or Hopper GPU .*8\.9.*this GPU is 8\.6\. Use --quantize int4"
    ):
        check_quantize("fp8", "cuda", capability=(8, 6))
    with pytest.raises(
        QuantizeError, match=r"int4 needs an Ampere or newer GPU .*this GPU is 7\.5\. Use --quantize 4bit"
    ):
        check_quantize("int4", "cuda", capability=(7, 5))
    check_quantize("fp8", "cuda", capability=(9, 0))  # a Hopper card: nothing to refuse
    monkeypatch.setattr("model.lowbit.INT4_KERNEL", "_weight_int4pack_mm_renamed")  # an older torch
    with pytest.raises(QuantizeError, match="needs PyTorch's _weight_int4pack_mm_renamed kernel"):
        check_quantize("int4", "cuda", capability=(9, 0))


def test_too_little_memory_for_int4_is_refused_before_loading(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The memory refusal at the door: a 7B-sized checkpoint folder on a card with 5 GiB free."""
    import json
    import shutil

    from model.fit import FitError
    from model.policies.factory import PolicyOptions, make_policy

    folder = tiny_model_dir.parent / "seven-b-sized"
    if not folder.exists():
        shutil.copytree(tiny_model_dir, folder)
    index = {"metadata": {"total_size": int(8.29e9 * 2)}, "weight_map": {}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    config = json.loads((folder / "config.json").read_text())
    config.update(
        hidden_size=3584,
        intermediate_size=18944,
        num_attention_heads=28,
        num_key_value_heads=4,
        num_hidden_layers=28,
    )
    config.pop("text_config", None)
    config.update(torch_dtype="bfloat16", dtype="bfloat16")  # 2 bytes a parameter in the index's total
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr("model.fit.free_gpu_gib", lambda device="cuda": 5.0)
    monkeypatch.setattr("model.fit.gpu_capability", lambda device="cuda": (8, 9))
    loads: list[Any] = []
    monkeypatch.setattr("model.vla.VLA.load", lambda *a, **k: loads.append(a))
    with pytest.raises(
        FitError, match=r"in int4 needs at least \(its weights alone\) about 8\.0 GiB.*5\.0 GiB is free"
    ):
        make_policy(str(folder), PolicyOptions(device="cuda", quantize="int4"))
    assert loads == []  # refused before a minute of loading
