"""The fast decoder must pick exactly the plain path's tokens under greedy decoding.

Random weights choose the same action on every frame (the last token's own embedding dominates), which
would compare little; scaling up the layers' output projections lets the image decide, so different
actions, button groups, the grammar walk and the cache positions all get compared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import shared_path

pytestmark = pytest.mark.slow  # each decodes fast and plain on the tiny model: 8-23 s on a busy 2-core box

INSTRUCTION = "Kill a zombie."


def _frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 255, (360, 640, 3), dtype=np.uint8) for _ in range(n)]


def _sharpen_actions(vla: Any, scale: float) -> None:
    """Make the context (the image) dominate the residual stream, so the action depends on the frame."""
    import torch

    with torch.no_grad():
        for name, param in vla.model.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight", "attn.proj.weight", "mlp.fc2.weight")):
                param.mul_(scale)


def _compare(vla: Any, frames: list[np.ndarray], history_num: int = 0, fast_vla: Any = None) -> list[Any]:
    from model.fast import FastVLA
    from model.policies.local import LocalPolicy, LocalPolicyConfig
    from model.vla import Sampling

    config = LocalPolicyConfig(history_num=history_num, sampling=Sampling(temperature=0))
    plain, fast = LocalPolicy(vla, config), LocalPolicy(fast_vla or FastVLA(vla), config)
    pairs = []
    for frame in frames:
        pairs.append((plain.act(frame, INSTRUCTION).ids, fast.act(frame, INSTRUCTION).ids))
    for expected, got in pairs:
        assert got == expected
    return pairs


@pytest.fixture(scope="module")
def sharp_vla(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    import torch

    from model.vla import VLA

    torch.manual_seed(0)
    vla = VLA.load(str(tiny_model_dir), device="cpu")
    _sharpen_actions(vla, 10.0)
    return vla


def test_fast_greedy_equals_plain_on_the_tiny_model(sharp_vla: Any) -> None:
    from model.fast import FastVLA

    fast = FastVLA(sharp_vla, device_pixels=True)  # what a GPU does: pixel values made from the bytes
    pairs = _compare(sharp_vla, _frames(6), fast_vla=fast)
    answers = {tuple(ids) for ids, _ in pairs}
    assert len(answers) > 1, "every frame gave the same action: the comparison would prove little"
    assert max(len(ids) for ids in answers) > 4, "no button group was ever chosen"
    # one instruction: the prompt head was computed once and reused; the decomposed vision tower ran
    assert fast.stats["prefix_computed"] == 1 and fast.stats["prefix_reused"] == 5, fast.stats
    assert fast.vision.own is True, fast.notes
    assert all(layout.pixels_on_device for layout in fast._layouts.values()) and not fast.notes, fast.notes


def test_cached_layout_gives_the_processors_pixels(sharp_vla: Any) -> None:
    from model.fast import FastVLA
    from model.image import prepare_frame
    from model.prompts import PromptHistory

    fast = FastVLA(sharp_vla, device_pixels=False)
    for frame in _frames(2):  # the second frame takes the cached-layout path (image processor only)
        messages, images = PromptHistory(0, "").build(prepare_frame(frame), INSTRUCTION)
        layout, pixels = fast._prepare(messages, images)
        batch = sharp_vla.inputs(messages, images, force_begin=True, on_device=False)
        assert pixels.equal(batch["pixel_values"]) and layout.ids.equal(batch["input_ids"])
    assert layout.seen == 2


def _device_pixels(fast: Any, frames: list[Any]) -> Any:
    import torch

    spec = fast._pixel_spec
    return spec.patches([torch.from_numpy(f.copy()) for f in frames], spec.constants("cpu"))


@pytest.mark.parametrize("history_num", [0, 2])
def test_device_pixels_are_the_stock_processors_bit_for_bit(sharp_vla: Any, history_num: int) -> None:
    """The real 7B processor settings (mean, std, 14-pixel patches, 2×2 merge); three images with history."""
    from model.fast import FastVLA
    from model.image import prepare_frame
    from model.processor import image_processor_from
    from model.prompts import PromptHistory

    fixture = shared_path("fixtures", "qwen2-vl-7b-instruct", "preprocessor_config.json").parent
    fast = FastVLA(sharp_vla, device_pixels=True)
    fast.processor.image_processor = image_processor_from(fixture)
    fast._pixel_spec = type(fast._pixel_spec).of(fast.processor.image_processor)
    history = PromptHistory(history_num, "")
    for frame in _frames(4):  # the first frame makes the layout, the rest take the bytes path
        messages, images = history.build(prepare_frame(frame), INSTRUCTION)
        layout, pixels = fast._prepare(messages, images)
        stock = fast.processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
        if isinstance(pixels, list):
            pixels = _device_pixels(fast, pixels)
        assert pixels.dtype == stock.dtype and pixels.equal(stock)
    assert layout.pixels_on_device and layout.seen >= 2 and not fast.notes, fast.notes


def test_device_pixels_that_differ_keep_the_host_processor(sharp_vla: Any) -> None:
    """Control: a wrong constant is caught by the per-layout check, and the processor stays in use."""
    import dataclasses

    from model.fast import FastVLA
    from model.image import prepare_frame
    from model.prompts import PromptHistory

    fast = FastVLA(sharp_vla, device_pixels=True)
    fast._pixel_spec = dataclasses.replace(fast._pixel_spec, scale=fast._pixel_spec.scale * (1 + 1e-7))
    for frame in _frames(2):
        messages, images = PromptHistory(0, "").build(prepare_frame(frame), INSTRUCTION)
        layout, pixels = fast._prepare(messages, images)
        batch = sharp_vla.inputs(messages, images, force_begin=True, on_device=False)
        assert not isinstance(pixels, list) and pixels.equal(batch["pixel_values"])
    assert not layout.pixels_on_device
    assert "image processor on the host (device pixel values: they differ)" in fast.mode


def _scores(vla: Any, fast: Any, instruction: str, frame: np.ndarray) -> tuple[Any, Any]:
    """(fast first-token scores, plain logits) on the grammar's allowed first tokens."""
    import torch

    from model.actions.tokens import FIRST_ACTION_ID, LAST_ACTION_ID
    from model.image import prepare_frame
    from model.prompts import PromptHistory

    messages, images = PromptHistory(0, "").build(prepare_frame(frame), instruction)
    with torch.inference_mode():
        plain = vla.model(**vla.inputs(messages, images, force_begin=True)).logits[0, -1]
        layout, pixels = fast._prepare(messages, images)
        if fast.kv.ensure(layout.length + 11):
            fast._drop_bound_state()
        got = fast._prefill(layout, pixels)[0]
    allowed = fast.grammar.first() == 0
    return got[allowed], plain[FIRST_ACTION_ID : LAST_ACTION_ID + 1][allowed].float()


def test_prompt_head_is_reused_until_the_instruction_changes(sharp_vla: Any) -> None:
    import torch

    from model.fast import FastVLA

    fast = FastVLA(sharp_vla)
    frames = _frames(3)
    steps = [
        ("Kill a zombie.", frames[0]),
        ("Kill a zombie.", frames[1]),
        ("Mine a block of dirt.", frames[1]),
    ]
    steps.append(("Kill a zombie.", frames[2]))
    for instruction, frame in steps:
        got, expected = _scores(sharp_vla, fast, instruction, frame)
        assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4), (
            instruction,
            (got - expected).abs().max(),
        )
    assert fast.stats == {"prefix_computed": 3, "prefix_reused": 1, "prefill_graph_replays": 0}, fast.stats

    # control: the same comparison catches a stale prompt head (the cache holds the zombie prompt's)
    dirt = next(layout for key, layout in fast._layouts.items() if "dirt" in key[0])
    fast._prefix_key = dirt.prefix
    got, expected = _scores(sharp_vla, fast, "Mine a block of dirt.", frames[0])
    assert not torch.allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_fast_greedy_equals_plain_with_history_and_a_growing_cache(sharp_vla: Any) -> None:
    from model.fast import FastVLA

    fast = FastVLA(sharp_vla)
    _compare(sharp_vla, _frames(2), fast_vla=fast)
    first = fast.kv.length
    # history 2: three images per prompt, too long for the cache the one-image prompts needed
    _compare(sharp_vla, _frames(3), history_num=2, fast_vla=fast)
    assert fast.kv.length > first
    assert fast.mode.startswith("static cache, eager prefill, eager decode, prompt head reused"), fast.mode


def test_failed_cuda_graph_falls_back_to_eager_and_says_why(sharp_vla: Any) -> None:
    from model.fast import FastVLA
    from model.policies.local import LocalPolicy, LocalPolicyConfig
    from model.vla import Sampling

    fast = FastVLA(sharp_vla, cuda_graph=True)  # no CUDA here: capture must fail, decoding must not
    config = LocalPolicyConfig(sampling=Sampling(temperature=0))
    frame = _frames(1)[0]
    assert (
        LocalPolicy(fast, config).act(frame, INSTRUCTION).ids
        == LocalPolicy(sharp_vla, config).act(frame, INSTRUCTION).ids
    )
    assert "CUDA graph off" in fast.mode
    # the prefill graph is tried when a layout comes back: its capture fails here too, the answer must not
    fast.use_graph = True
    for frame in _frames(2):
        assert (
            LocalPolicy(fast, config).act(frame, INSTRUCTION).ids
            == LocalPolicy(sharp_vla, config).act(frame, INSTRUCTION).ids
        )
    assert any(layout.graph_error for layout in fast._layouts.values())
    assert "eager prefill (" in fast.mode and "CUDA graph prefill" not in fast.mode


def test_fast_sampling_stays_in_the_grammar(sharp_vla: Any) -> None:
    from model.actions.codec import has_segment
    from model.fast import FastVLA
    from model.policies.local import LocalPolicy, LocalPolicyConfig
    from model.vla import Sampling

    policy = LocalPolicy(FastVLA(sharp_vla), LocalPolicyConfig(sampling=Sampling(temperature=1.5, seed=1)))
    for frame in _frames(4):
        step = policy.act(frame, INSTRUCTION)
        assert has_segment(step.ids) and not step.malformed


@pytest.mark.slow
def test_fast_greedy_equals_plain_on_the_7b_shape_with_one_layer(tmp_path: Path) -> None:
    """The real 7B widths (3584 hidden, 28 heads, 4 KV heads, mrope 16/24/24), one decoder layer."""
    import torch

    from model.random_weights import random_vla

    config = json.loads(shared_path("fixtures", "qwen2-vl-7b-instruct", "config.json").read_text())
    config.update(num_hidden_layers=1, max_window_layers=1)
    config["vision_config"].update(depth=1)
    folder = tmp_path / "qwen2-vl-7b-1-layer"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    vla = random_vla(folder / "config.json", "cpu")
    _sharpen_actions(vla, 10.0)
    from model.fast import FastVLA

    fast = FastVLA(vla, device_pixels=True)
    pairs = _compare(vla, _frames(3), fast_vla=fast)
    assert len({tuple(ids) for ids, _ in pairs}) > 1
    assert all(layout.pixels_on_device for layout in fast._layouts.values()), fast.notes


def test_fast_generate_takes_the_servers_stop_poll(sharp_vla: Any) -> None:
    """``serve`` passes ``should_stop`` (client gone, time out) to whatever engine it runs."""
    from model.fast import FastVLA
    from model.image import prepare_frame
    from model.prompts import PromptHistory
    from model.vla import Sampling

    fast = FastVLA(sharp_vla)
    messages, images = PromptHistory(0, "").build(prepare_frame(_frames(1)[0]), INSTRUCTION)
    greedy = Sampling(temperature=0)
    whole = fast.generate(messages, images, greedy, should_stop=lambda: False)
    polls: list[int] = []
    stopped = fast.generate(messages, images, greedy, should_stop=lambda: polls.append(1) or True)
    assert whole.timings_ms["new_tokens"] >= 2 and stopped.timings_ms["new_tokens"] == 1 and polls == [1]
    unconstrained = fast.generate(
        messages, images, Sampling(temperature=0, max_new_tokens=3), constrained=False
    )
    assert unconstrained.timings_ms["new_tokens"] <= 3


def _real_frames(n: int) -> list[np.ndarray]:
    from PIL import Image

    folder = shared_path("fixtures", "frames")
    files = sorted(folder.glob("*_f*.png"))[:n]
    return [np.asarray(Image.open(p).convert("RGB")) for p in files]


def test_frames_resized_on_the_device_give_the_plain_paths_tokens(sharp_vla: Any) -> None:
    """The whole GPU path, eagerly on CPU: real captured frames go in unresized, are resized, made
    pixel values and decoded on the device; greedy tokens equal the plain path's (PIL on the host)."""
    from model.fast import FastVLA
    from model.image import SourceFrame

    fast = FastVLA(sharp_vla, device_pixels=True, device_resize=True)
    assert isinstance(fast.prepare(_real_frames(1)[0]), SourceFrame)
    _compare(sharp_vla, _real_frames(3), fast_vla=fast)
    assert all(layout.resize_on_device for layout in fast._layouts.values()), fast.notes
    assert "frames resized on the device" in fast.mode and not fast.notes, fast.mode


def test_a_device_resize_that_differs_keeps_pils(sharp_vla: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: a resize one level off is caught by the per-layout check, and PIL stays in use."""
    import torch

    from model.fast import FastVLA
    from model.fast.resize import BicubicResize

    class OneLevelOff(BicubicResize):
        def __call__(self, frame: Any) -> Any:
            return (super().__call__(frame).int() + 1).clamp(0, 255).to(torch.uint8)

    monkeypatch.setattr("model.fast.engine.BicubicResize", OneLevelOff)
    fast = FastVLA(sharp_vla, device_pixels=True, device_resize=True)
    _compare(sharp_vla, _real_frames(2), fast_vla=fast)
    assert not any(layout.resize_on_device for layout in fast._layouts.values())
    assert "device resize: ValueError: it differs from PIL's by up to 1" in fast.mode, fast.mode


def test_forced_groups_fix_the_decode_length(sharp_vla: Any) -> None:
    """The benchmark's rows per decode length: k button groups, then pitch and yaw, whatever the
    weights prefer, greedy or sampled."""
    from model.actions.codec import ActionCodec
    from model.fast import FastVLA
    from model.policies.local import LocalPolicy, LocalPolicyConfig
    from model.vla import Sampling

    fast = FastVLA(sharp_vla)
    codec = ActionCodec()
    frame = _frames(1)[0]
    for temperature in (0.0, 1.0):
        policy = LocalPolicy(fast, LocalPolicyConfig(sampling=Sampling(temperature=temperature, seed=2)))
        for groups in (0, 1, 3):
            fast.force_groups(groups)
            step = policy.act(frame, INSTRUCTION)
            assert step.timings_ms["new_tokens"] == groups + 2 and not step.malformed, step
            assert len(step.ids) == groups + 4  # BEGIN, k buttons, pitch, yaw, END
            assert codec.decode(step.ids)  # the official decoder reads it
    fast.force_groups(None)
    assert "button groups forced" not in fast.mode
    with pytest.raises(ValueError, match="0 to 8 button groups"):
        fast.force_groups(9)
