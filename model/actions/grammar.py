"""The language of the official encoder's output, as a decoding constraint.

The encoder emits BEGIN, then one token for each non-zero button group in increasing group order
(groups 0..7), then exactly one pitch and one yaw token, then END (spec §3.3). Constraining decoding
to that language means a step costs k+2 forward passes (k = buttons held, BEGIN is forced in the
prompt and END is implied after yaw), and the model can never ramble. Under greedy decoding the
result equals unconstrained greedy whenever the model's own argmax is already in the language.
"""

from __future__ import annotations

from model.actions.tokens import (
    BEGIN_ID,
    END_ID,
    GROUP_BASE_IDS,
    GROUP_BASES,
    ID_TO_GROUP_VALUE,
    PITCH_GROUP,
    YAW_GROUP,
)

START = -1  # state before any token after BEGIN
_BUTTON_GROUPS = range(8)


def _button_ids(after_group: int) -> list[int]:
    return [
        GROUP_BASE_IDS[g] + v for g in _BUTTON_GROUPS if g > after_group for v in range(1, GROUP_BASES[g])
    ]


PITCH_IDS: tuple[int, ...] = tuple(GROUP_BASE_IDS[PITCH_GROUP] + v for v in range(GROUP_BASES[PITCH_GROUP]))
YAW_IDS: tuple[int, ...] = tuple(GROUP_BASE_IDS[YAW_GROUP] + v for v in range(GROUP_BASES[YAW_GROUP]))

# state (the group of the last token, or START) -> ids allowed next
ALLOWED: dict[int, tuple[int, ...]] = {
    **{state: (*_button_ids(state), *PITCH_IDS) for state in (START, *_BUTTON_GROUPS)},
    PITCH_GROUP: YAW_IDS,
    YAW_GROUP: (END_ID,),
}


def state_after(generated: list[int]) -> int:
    """The grammar state after the tokens generated since the forced BEGIN."""
    if not generated:
        return START
    group_value = ID_TO_GROUP_VALUE.get(generated[-1])
    if group_value is None:
        raise ValueError(f"token {generated[-1]} is outside the action grammar")
    return group_value[0]


def complete(generated: list[int]) -> list[int]:
    """The full action id list (BEGIN … END) once the yaw token has been generated."""
    return [BEGIN_ID, *generated, END_ID]
