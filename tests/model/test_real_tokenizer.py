"""The real Qwen2-VL tokenizer from ../shared with JARVIS's tokens: ids and the rendered prompt."""

from __future__ import annotations

import json

import numpy as np

from model.actions.codec import ActionCodec
from model.actions.tokens import ACTION_IDS, JARVIS_SPECIAL_TOKENS, token_text
from tests.conftest import shared_path


def test_special_token_list_matches_the_official_file() -> None:
    official = json.loads(shared_path("fixtures", "jarvis-vla", "special_token.json").read_text())
    assert list(JARVIS_SPECIAL_TOKENS) == official


def test_real_tokenizer_gets_the_expected_ids() -> None:
    from transformers import AutoTokenizer

    from model.checkpoint import add_action_tokens_if_stock, check_action_tokens

    folder = shared_path("fixtures", "qwen2-vl-7b-instruct")
    expected = json.loads(
        shared_path("fixtures", "jarvis-vla", "special_token_ids_on_qwen2_vl.json").read_text()
    )
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    assert len(tokenizer) == 151657
    assert add_action_tokens_if_stock(tokenizer)
    check_action_tokens(tokenizer)
    assert {t: tokenizer.convert_tokens_to_ids(t) for t in expected} == expected
    codec = ActionCodec()
    for env in (
        {},
        {"forward": 1, "attack": 1, "camera": [5, -2]},
        {"hotbar.9": 1, "sneak": 1, "camera": [-9, 9]},
    ):
        ids = codec.encode(env)
        assert tokenizer(codec.text(ids), add_special_tokens=False)["input_ids"] == ids
    assert all(tokenizer.convert_ids_to_tokens(i) == token_text(i) for i in ACTION_IDS)


def test_real_processor_renders_the_official_prompt() -> None:
    from model.checkpoint import load_processor
    from model.image import prepare_frame
    from model.prompts import PromptHistory

    processor = load_processor(shared_path("fixtures", "qwen2-vl-7b-instruct"))
    frame = np.asarray(prepare_frame(np.zeros((360, 640, 3), np.uint8)))
    messages, images = PromptHistory(0, "").build(prepare_frame(frame), "Kill a zombie.")
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nKill a zombie.\n"
        "observation: \n<|vision_start|><|image_pad|><|vision_end|><|im_end|>\n<|im_start|>assistant\n"
    )
    batch = processor(text=[text], images=images, return_tensors="pt")
    ids = batch["input_ids"][0].tolist()
    assert ids[:3] == [151644, 8948, 198]  # <|im_start|>system\n
    assert ids.count(151655) == 299 and batch["image_grid_thw"].tolist() == [[1, 26, 46]]
    assert ids[-3:] == [151644, 77091, 198]  # <|im_start|>assistant\n, as the official label masking expects
    user = ids.index(872)
    assert ids[user - 1] == 151644
