"""The tiny model end to end through the real loading path: make-tiny, load, prompt, decode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model.actions.codec import ActionCodec
from model.actions.env import BUTTONS
from model.actions.grammar import ALLOWED, START, state_after
from model.actions.tokens import ACTION_IDS, BEGIN_ID, END_ID, IMAGE_PAD_ID, token_text
from model.checkpoint import CheckpointError, load_processor
from model.fetch import resolve
from model.policies.local import LocalPolicy, LocalPolicyConfig
from model.vla import Sampling

EXPECTED_PROMPT = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nKill a zombie.\nobservation: \n"
    "<|vision_start|>" + "<|image_pad|>" * 299 + "<|vision_end|><|im_end|>\n<|im_start|>assistant\n"
)


@pytest.mark.slow  # a CLI process that imports transformers and builds a model: ~10 s
def test_make_tiny_command_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "tiny"
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "model", "make-tiny", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "plays randomly" in result.stdout
    names = {p.name for p in out.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "preprocessor_config.json",
        "chat_template.json",
    } <= names
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "qwen2_vl"


def test_tiny_tokenizer_has_the_real_layout(tiny_model_dir: Path) -> None:
    tokenizer = load_processor(tiny_model_dir).tokenizer
    assert len(tokenizer) == 151908
    assert tokenizer.convert_ids_to_tokens(151643) == "<|endoftext|>"
    assert tokenizer.convert_ids_to_tokens(151655) == "<|image_pad|>"
    for token_id in ACTION_IDS:
        assert tokenizer.convert_ids_to_tokens(token_id) == token_text(token_id)
        assert tokenizer.convert_tokens_to_ids(token_text(token_id)) == token_id
    codec = ActionCodec()
    ids = codec.encode({"forward": 1, "camera": [3, -1]})
    assert tokenizer(codec.text(ids), add_special_tokens=False)["input_ids"] == ids


def test_rendered_prompt_and_image_tokens(tiny_vla, frame: np.ndarray) -> None:
    from model.image import prepare_frame
    from model.prompts import PromptHistory

    image = prepare_frame(frame)
    messages, images = PromptHistory(0, "").build(image, "Kill a zombie.")
    batch = tiny_vla.inputs(messages, images, force_begin=True)
    ids = batch["input_ids"][0].tolist()
    assert ids[-1] == BEGIN_ID
    assert sum(1 for i in ids if i == IMAGE_PAD_ID) == 299
    assert batch["image_grid_thw"].tolist() == [[1, 26, 46]]
    assert tiny_vla.tokenizer.decode(ids[:-1], skip_special_tokens=False) == EXPECTED_PROMPT


def test_constrained_policy_returns_grammatical_actions(tiny_vla, frame: np.ndarray) -> None:
    policy = LocalPolicy(tiny_vla, LocalPolicyConfig(sampling=Sampling(temperature=1.0, seed=3)))
    seen = set()
    for _ in range(4):
        step = policy.act(frame, "Kill a zombie.")
        assert not step.malformed
        assert step.ids[0] == BEGIN_ID and step.ids[-1] == END_ID
        body = step.ids[1:-1]
        for i, token in enumerate(body):
            assert token in ALLOWED[state_after(body[:i]) if i else START]
        assert len(step.actions) == 1 and set(step.actions[0]) == {*BUTTONS, "camera"}
        assert step.timings_ms["total_ms"] > 0
        seen.add(tuple(step.ids))
    assert len(seen) > 1  # it samples: a random model at temperature 1 does not repeat itself


def test_greedy_constrained_is_deterministic(tiny_vla, frame: np.ndarray) -> None:
    policy = LocalPolicy(tiny_vla, LocalPolicyConfig(sampling=Sampling(temperature=0)))
    assert policy.act(frame, "Mine.").ids == policy.act(frame, "Mine.").ids


def test_unconstrained_mode_samples_freely_and_random_output_is_a_null_step(
    tiny_vla, frame: np.ndarray
) -> None:
    policy = LocalPolicy(
        tiny_vla, LocalPolicyConfig(constrained=False, sampling=Sampling(temperature=0, max_new_tokens=8))
    )
    step = policy.act(frame, "Kill a zombie.")
    assert len(step.ids) <= 8
    assert BEGIN_ID not in step.ids  # the random model never writes the tags on its own...
    assert step.malformed  # ...so the step is the null action, flagged, never an exception
    assert not any(step.actions[0][k] for k in BUTTONS) and step.actions[0]["camera"] == [0.0, 0.0]


def test_history_policy_grows_the_prompt(tiny_vla, frame: np.ndarray) -> None:
    policy = LocalPolicy(tiny_vla, LocalPolicyConfig(history_num=2, sampling=Sampling(temperature=0)))
    policy.act(frame, "Mine.")
    messages, images = policy.history.build(None, "Mine.")
    assert len(images) == 3 and len(messages) == 5
    policy.reset()
    assert policy.history.build(None, "Mine.")[1] == [None, None, None]


def test_bad_checkpoints_fail_with_a_fix(tmp_path: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint folder"):
        resolve(str(tmp_path / "nope"))
    with pytest.raises(CheckpointError, match="offline"):
        resolve("CraftJarvis/not-a-real-model-here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"config\.json"):
        resolve(str(tmp_path / "empty"))
    # a Qwen2.5-VL style tokenizer: <tool_call> where JARVIS expects its first special token
    import shutil

    bad = tmp_path / "qwen25"
    shutil.copytree(tiny_model_dir, bad)
    spec = json.loads((bad / "tokenizer.json").read_text())
    for token in spec["added_tokens"]:
        if token["id"] == 151657:
            token["content"] = "<tool_call>"
    (bad / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(CheckpointError, match=r"Qwen2\.5-VL"):
        load_processor(bad)


def _ensure_in_subprocess(path: Path) -> subprocess.Popen[str]:
    code = (
        "import sys, pathlib; from model.tiny import ensure_tiny_model; "
        "print(ensure_tiny_model(pathlib.Path(sys.argv[1])))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow  # several processes build the tiny model: ~14 s
def test_concurrent_starts_share_one_complete_tiny_model_and_later_uses_keep_it(tmp_path: Path) -> None:
    """Two processes ensuring the model at once both get a loadable folder (issue 16: "config.json is
    not valid JSON"), and a later use finds it current instead of rewriting it."""
    from model.tiny import MARKER, ensure_tiny_model, is_current

    path = tmp_path / "cache" / "tiny"
    procs = [_ensure_in_subprocess(path) for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert out.strip() == str(path)
    assert is_current(path)
    assert json.loads((path / "config.json").read_text())["model_type"] == "qwen2_vl"
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".tiny.build-")] == []
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    marker = (path / MARKER).stat().st_mtime_ns
    assert ensure_tiny_model(path) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp  # not rewritten
    assert (path / MARKER).stat().st_mtime_ns == marker


def test_a_broken_tiny_model_is_replaced_whole(tmp_path: Path) -> None:
    from model.tiny import ensure_tiny_model, is_current

    path = tmp_path / "tiny"
    path.mkdir()
    (path / "config.json").write_text("{ half a fi")
    assert not is_current(path)
    ensure_tiny_model(path)
    assert is_current(path)
    assert json.loads((path / "config.json").read_text())["model_type"] == "qwen2_vl"
