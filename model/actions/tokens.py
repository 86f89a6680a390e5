"""JARVIS-VLA's action token ids on the Qwen2-VL tokenizer (spec §3.4).

JARVIS adds 251 special tokens after the stock Qwen2-VL vocabulary (151657 entries), so entry i of
its list gets id 151657 + i and ``<|reserved_special_token_N|>`` has id 151657 + N. The action
vocabulary is the 75 ids 151833..151907.
"""

from __future__ import annotations

import re

QWEN2_VL_BASE_VOCAB = 151657
RESERVED_OFFSET = QWEN2_VL_BASE_VOCAB  # id of <|reserved_special_token_N|> = offset + N

# The special tokens JARVIS-VLA adds, in order (JV:assets/special_token.json).
JARVIS_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|point_start|>",
    "<|point_end|>",
    *(f"<|visual_{i}|>" for i in range(10)),
    "<think>",
    "</think>",
    "<grounding>",
    "</grounding>",
    "<motion>",
    "</motion>",
    *(f"<|reserved_special_token_{n}|>" for n in range(18, 251)),
)

# Qwen2-VL's own control tokens (ids 151643..151656), needed to build a tokenizer with the real layout.
QWEN2_VL_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
QWEN2_VL_FIRST_SPECIAL = 151643

ENDOFTEXT_ID = 151643
IM_START_ID = 151644
IM_END_ID = 151645
VISION_START_ID = 151652
VISION_END_ID = 151653
IMAGE_PAD_ID = 151655
VIDEO_PAD_ID = 151656

BEGIN_ID = 151835  # <|reserved_special_token_178|>
END_ID = 151836  # <|reserved_special_token_179|>
INVENTORY_BASE_ID = 151833  # group 9: 151833 (0), 151834 (1)
FIRST_ACTION_ID = 151833
LAST_ACTION_ID = 151907
ACTION_IDS: tuple[int, ...] = tuple(range(FIRST_ACTION_ID, LAST_ACTION_ID + 1))

# Group g's value v has id GROUP_BASE_IDS[g] + v (groups 0..8 and 10..11; group 9 is INVENTORY_BASE_ID).
GROUP_BASES: tuple[int, ...] = (10, 3, 3, 3, 2, 2, 2, 2, 2, 2, 21, 21)
GROUP_BASE_IDS: tuple[int, ...] = (
    151837,
    151847,
    151850,
    151853,
    151856,
    151858,
    151860,
    151862,
    151864,
    INVENTORY_BASE_ID,
    151866,
    151887,
)
PITCH_GROUP = 10
YAW_GROUP = 11

# id -> (group, value) for every id the official decoder understands (all 73 non-tag action ids).
ID_TO_GROUP_VALUE: dict[int, tuple[int, int]] = {
    base + value: (group, value)
    for group, (base, radix) in enumerate(zip(GROUP_BASE_IDS, GROUP_BASES, strict=True))
    for value in range(radix)
}


def token_text(token_id: int) -> str:
    """The token string of a JARVIS special id (any of 151657..151907)."""
    index = token_id - QWEN2_VL_BASE_VOCAB
    if not 0 <= index < len(JARVIS_SPECIAL_TOKENS):
        raise ValueError(f"{token_id} is not a JARVIS-VLA special token id")
    return JARVIS_SPECIAL_TOKENS[index]


_RESERVED = re.compile(r"<\|reserved_special_token_(\d+)\|>")


def ids_from_text(text: str) -> list[int]:
    """The action-relevant ids in model output text, in order.

    Only ``<|reserved_special_token_N|>`` strings map to action ids, and the decoder ignores every
    other id, so scanning for them gives the same actions as tokenising the whole text with the
    checkpoint's tokenizer — without needing the tokenizer on the client.
    """
    return [RESERVED_OFFSET + int(n) for n in _RESERVED.findall(text) if 18 <= int(n) <= 250]
