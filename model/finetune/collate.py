"""SFT records -> model batches with JARVIS-VLA's label masking (spec §4.3).

Only the assistant turns are trained: everything before the first ``<|im_start|>user`` (the system
turn) and every span from ``<|im_start|>user`` to the next ``<|im_start|>assistant`` is masked, and so
is padding. The official collator hard-codes the role ids of the real tokenizer (user 872, assistant
77091); here the role patterns are read from the tokenizer itself, which yields exactly those ids on
the real one and still works on the tiny test tokenizer.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from model.actions.tokens import IM_START_ID
from model.finetune.config import DEFAULTS
from model.image import prepare_frame

IGNORE = -100


def role_pattern(tokenizer: Any, role: str) -> list[int]:
    return [IM_START_ID, *tokenizer.encode(role, add_special_tokens=False)]


def _starts(ids: Sequence[int], pattern: Sequence[int]) -> list[int]:
    n = len(pattern)
    return [i for i in range(len(ids) - n + 1) if list(ids[i : i + n]) == list(pattern)]


def mask_labels(
    ids: Sequence[int], user: Sequence[int], assistant: Sequence[int], pad_id: int, max_length: int
) -> list[int]:
    """Labels for one sequence, masked as ``data_collator.py`` masks them."""
    labels = list(ids)
    users, assistants = _starts(ids, user), _starts(ids, assistant)
    if not users:
        return [IGNORE] * len(ids)
    labels[: users[0]] = [IGNORE] * users[0]
    if len(users) == len(assistants) + 1:  # truncation removed the last assistant header
        assistants.append(max_length)
    for u, a in zip(users, assistants, strict=False):
        labels[u:a] = [IGNORE] * (min(a, len(ids)) - u)
    return [IGNORE if token == pad_id else label for token, label in zip(ids, labels, strict=True)]


@dataclass
class SftCollator:
    processor: Any
    max_length: int = DEFAULTS.max_length
    pad_to_max: bool = False  # pad every batch to max_length, as the official collator does

    def __post_init__(self) -> None:
        tokenizer = self.processor.tokenizer
        self.user = role_pattern(tokenizer, "user")
        self.assistant = role_pattern(tokenizer, "assistant")
        self.pad_id = tokenizer.pad_token_id

    def __call__(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch  # heavy: torch

        texts, images = [], []
        for record in records:
            texts.append(
                self.processor.apply_chat_template(
                    record["conversations"], tokenize=False, add_generation_prompt=False
                )
            )
            images.extend(prepare_frame(Image.open(io.BytesIO(b))) for b in record["image_bytes"])
        tokenizer = self.processor.tokenizer
        side = tokenizer.padding_side
        tokenizer.padding_side = "right"  # as the official collator pads
        try:
            padding: dict[str, Any] = (
                {"padding": "max_length", "max_length": self.max_length}
                if self.pad_to_max
                else {"padding": True}
            )
            batch = self.processor(text=texts, images=images, return_tensors="pt", **padding)
        finally:
            tokenizer.padding_side = side
        if batch["input_ids"].shape[1] > self.max_length:
            raise ValueError(
                f"a sample has {batch['input_ids'].shape[1]} tokens, over max_length {self.max_length}; "
                "use fewer history frames or raise --max-length"
            )
        labels = [
            mask_labels(row, self.user, self.assistant, self.pad_id, self.max_length)
            for row in batch["input_ids"].tolist()
        ]
        batch["labels"] = torch.tensor(labels, dtype=torch.long)
        return dict(batch)


def answer_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean cross-entropy over the trained (unmasked) tokens, the loss HF computes from ``labels``.

    Only the answer tokens carry labels, and they sit at the end of every sequence, so the logits are
    computed from the first labelled position on (``logits_to_keep``) instead of over the whole
    prompt: the vocabulary projection is the largest cost of a step on this workload, and for a
    152k vocabulary its fp32 logits over 512 positions are gigabytes per batch.
    """
    import torch  # heavy: torch

    inputs = {k: v for k, v in batch.items() if k != "labels"}
    labels = batch["labels"]
    labelled = (labels != IGNORE).any(dim=0).nonzero()
    if len(labelled) == 0:
        raise ValueError("a batch without any trained token")
    first = int(labelled[0])
    keep = labels.shape[1] - first + 1  # one more: position t-1 predicts token t
    logits = model(**inputs, logits_to_keep=keep).logits[:, :-1]
    target = labels[:, first:]
    return torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE
    )
