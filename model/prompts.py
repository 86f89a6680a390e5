"""The chat messages the official JARVIS-VLA agent sends (spec §4.1), as pure data.

Messages use the HF multimodal chat format: ``{"role", "content": [{"type": "text", "text"},
{"type": "image"}]}``, with images passed alongside in order. The remote policy turns each
``{"type": "image"}`` into a base64 JPEG ``image_url`` part; the local policy hands the list to the
processor. No system message is added here: the checkpoint's own chat template supplies it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

OBSERVATION = "\nobservation: "

Message = dict[str, Any]
Image = TypeVar("Image")


def user_turn(prompt: str) -> Message:
    """A user turn: the prompt text with the official trailing "\\n", then the image."""
    return {"role": "user", "content": [{"type": "text", "text": prompt + "\n"}, {"type": "image"}]}


def assistant_turn(text: str) -> Message:
    """A past assistant turn in the history: the raw model output with the official trailing "\\n"."""
    return {"role": "assistant", "content": [{"type": "text", "text": text + "\n"}]}


def first_prompt(instruction: str) -> str:
    return instruction + OBSERVATION


def sft_conversation(instruction: str, action_text: str) -> list[Message]:
    """One training conversation (spec §4.3): the H=0 user turn, then the action tokens as the answer.

    The answer carries no trailing newline: at inference the model writes the action tokens and then
    ``<|im_end|>``, which the chat template appends here too, so training and inference agree.
    """
    return [
        user_turn(first_prompt(instruction)),
        {"role": "assistant", "content": [{"type": "text", "text": action_text}]},
    ]


@dataclass
class _Past(Generic[Image]):
    image: Image
    text: str


class PromptHistory(Generic[Image]):
    """The sliding window of (frame, raw answer) pairs the agent re-sends with ``history_num`` > 0.

    On the first step of an episode the window is ``history_num`` copies of (current frame, null
    action text), exactly as upstream pre-fills it; the instruction rides on the oldest user turn.
    """

    def __init__(self, history_num: int, null_text: str) -> None:
        if history_num < 0:
            raise ValueError("history_num must be >= 0")
        self.history_num = history_num
        self.null_text = null_text
        self._past: deque[_Past[Image]] = deque(maxlen=history_num or None)

    def reset(self) -> None:
        self._past.clear()

    def build(self, image: Image, instruction: str) -> tuple[list[Message], list[Image]]:
        """Messages and images for this step, current frame last."""
        if self.history_num == 0:
            return [user_turn(first_prompt(instruction))], [image]
        if not self._past:
            self._past.extend(_Past(image, self.null_text) for _ in range(self.history_num))
        messages: list[Message] = []
        images: list[Image] = []
        for k, past in enumerate(self._past):
            prompt = first_prompt(instruction) if k == 0 else OBSERVATION
            messages += [user_turn(prompt), assistant_turn(past.text)]
            images.append(past.image)
        messages.append(user_turn(OBSERVATION))
        images.append(image)
        return messages, images

    def record(self, image: Image, text: str) -> None:
        """Append this step's frame and the model's raw answer; the oldest pair falls out."""
        if self.history_num:
            self._past.append(_Past(image, text))
