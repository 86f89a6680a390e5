"""Prompt layout (spec §4.1) and frame preprocessing (spec §4.2)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from model.image import image_from_data_url, image_tokens, jpeg_data_url, prepare_frame, smart_resize
from model.prompts import OBSERVATION, PromptHistory, sft_conversation


def test_smart_resize_matches_upstream() -> None:
    assert smart_resize(360, 640) == (364, 644)
    assert smart_resize(720, 1280) == (672, 1176)  # over max_pixels: scaled down, floored to 28
    assert smart_resize(10, 10) == (56, 56)  # min_pixels pushes tiny images up
    h, w = smart_resize(4000, 4000)
    assert h * w <= 1024 * 28 * 28 and h % 28 == 0 and w % 28 == 0
    with pytest.raises(ValueError):
        smart_resize(1, 300)


def test_prepare_frame_is_pil_bicubic_to_644x364(frame: np.ndarray) -> None:
    image = prepare_frame(frame)
    assert image.size == (644, 364)
    expected = Image.fromarray(frame).resize((644, 364), Image.BICUBIC)
    assert np.array_equal(np.asarray(image), np.asarray(expected))
    assert image_tokens(image) == 299


def test_jpeg_data_url_round_trip(frame: np.ndarray) -> None:
    image = prepare_frame(frame)
    url = jpeg_data_url(image)
    assert url.startswith("data:image/jpeg;base64,")
    back = np.asarray(image_from_data_url(url), dtype=np.int16)
    assert back.shape == (364, 644, 3)
    assert np.abs(back - np.asarray(image, dtype=np.int16)).mean() < 8  # lossy, but the same picture


def text_of(message) -> str:
    return "".join(p.get("text", "<IMG>") for p in message["content"])


def test_history_zero_is_one_user_turn() -> None:
    history: PromptHistory[str] = PromptHistory(0, "NULL")
    messages, images = history.build("F0", "Kill a zombie.")
    assert [m["role"] for m in messages] == ["user"]
    assert text_of(messages[0]) == "Kill a zombie.\nobservation: \n<IMG>"
    assert images == ["F0"]


def test_history_window_prefill_and_shift() -> None:
    history: PromptHistory[str] = PromptHistory(2, "NULL")
    messages, images = history.build("F0", "Mine.")
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert [text_of(m) for m in messages] == [
        "Mine." + OBSERVATION + "\n<IMG>",
        "NULL\n",
        OBSERVATION + "\n<IMG>",
        "NULL\n",
        OBSERVATION + "\n<IMG>",
    ]
    assert images == ["F0", "F0", "F0"]  # first step: copies of the current frame
    history.record("F0", "A0")
    messages, images = history.build("F1", "Mine.")
    assert images == ["F0", "F0", "F1"]
    assert text_of(messages[3]) == "A0\n"
    history.record("F1", "A1")
    history.record("F2", "A2")
    messages, images = history.build("F3", "Mine.")
    assert images == ["F1", "F2", "F3"] and text_of(messages[1]) == "A1\n"
    assert text_of(messages[0]).startswith("Mine.")  # the instruction rides on the oldest turn


def test_sft_conversation_shape() -> None:
    conversation = sft_conversation("Chop a tree.", "<a><b>")
    assert text_of(conversation[0]) == "Chop a tree.\nobservation: \n<IMG>"
    assert conversation[1] == {"role": "assistant", "content": [{"type": "text", "text": "<a><b>"}]}
