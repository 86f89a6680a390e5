"""The action tokens on the device: their logits, the grammar as masks, and the choice of a token.

Constrained decoding only ever picks one of the 75 action ids, so the head is computed for those
columns alone (a 75-row slice of the output matrix instead of 152,064 rows: 1 GB less to read per
token in bf16). The grammar is a table of additive masks indexed by the last token's group, and the
choice (argmax, or a Gumbel-max draw at a temperature) writes the next token into a device tensor.
Everything here is device work with no host synchronisation, so it runs inside the CUDA graphs; the
host reads one id per token, which it needs anyway to stop after the yaw token.

``force(k)`` makes every action have exactly k button groups (the first k groups, in grammar
order): the benchmark's rows per decode length, which random weights would otherwise choose.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from model.actions.grammar import ALLOWED, PITCH_IDS, YAW_IDS
from model.actions.tokens import (
    FIRST_ACTION_ID,
    GROUP_BASE_IDS,
    GROUP_BASES,
    ID_TO_GROUP_VALUE,
    LAST_ACTION_ID,
)

COLUMNS = LAST_ACTION_ID - FIRST_ACTION_ID + 1
MAX_ACTION_TOKENS = 10  # ≤ 8 button groups + pitch + yaw, as the plain path's max_new_tokens
BUTTON_GROUPS = 8


def _row(state: int) -> int:
    return state + 1  # START (-1) -> 0, group g -> g + 1


class DeviceGrammar:
    def __init__(self, device: Any) -> None:
        rows = _row(max(ALLOWED)) + 1
        masks = torch.full((rows, COLUMNS), float("-inf"))
        for state, allowed in ALLOWED.items():
            masks[_row(state), [i - FIRST_ACTION_ID for i in allowed]] = 0.0
        row_of = torch.zeros(COLUMNS, dtype=torch.long)
        for token, (group, _value) in ID_TO_GROUP_VALUE.items():
            if group in ALLOWED:
                row_of[token - FIRST_ACTION_ID] = _row(group)
        self.masks = masks.to(device)
        self.row_of = row_of.to(device)
        self.forced = torch.zeros((MAX_ACTION_TOKENS + 1, COLUMNS), device=device)
        self.forced_groups: int | None = None

    def force(self, groups: int | None) -> None:
        """Exactly ``groups`` button groups per action from now on (None: as the model chooses).
        The table is rewritten in place, so captured graphs see the change."""
        if groups is not None and not 0 <= groups <= BUTTON_GROUPS:
            raise ValueError(f"an action has 0 to {BUTTON_GROUPS} button groups, not {groups}")
        forced = torch.zeros_like(self.forced, device="cpu")
        if groups is not None:
            forced[: groups + 2] = float("-inf")
            for step in range(groups):
                base = GROUP_BASE_IDS[step] - FIRST_ACTION_ID
                forced[step, base + 1 : base + GROUP_BASES[step]] = 0.0  # value 0 is never emitted
            forced[groups, [i - FIRST_ACTION_ID for i in PITCH_IDS]] = 0.0
            forced[groups + 1, [i - FIRST_ACTION_ID for i in YAW_IDS]] = 0.0
        self.forced.copy_(forced)
        self.forced_groups = groups

    def first(self) -> torch.Tensor:
        """The additive mask of the first answer token (after the forced BEGIN)."""
        return self.masks[0] + self.forced[0]

    def after(self, token: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """The mask of the token after ``token`` (a (1, 1) id tensor), at decode step ``step``."""
        row = self.row_of[(token.view(-1) - FIRST_ACTION_ID).clamp(0, COLUMNS - 1)]
        return self.masks[row] + self.forced[step.view(-1)]


def action_logits(model: Any, hidden: torch.Tensor) -> torch.Tensor:
    """Logits of the action ids alone, (batch, 75), from the last hidden state (batch, hidden)."""
    head = model.get_output_embeddings()
    if type(head) is nn.Linear:  # a plain head: its action rows are a contiguous view
        weight = head.weight[FIRST_ACTION_ID : LAST_ACTION_ID + 1]
        bias = head.bias[FIRST_ACTION_ID : LAST_ACTION_ID + 1] if head.bias is not None else None
        return nn.functional.linear(hidden, weight, bias)
    return head(hidden)[..., FIRST_ACTION_ID : LAST_ACTION_ID + 1]  # wrapped or quantised: all, then slice


def choose(scores: torch.Tensor, inverse_temperature: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The chosen action id, (1, 1): argmax of ``scores / T`` plus Gumbel noise scaled by ``noise``
    (0: greedy, exactly the argmax of ``scores``; 1: a draw from softmax(scores / T)). The noise is
    drawn either way, so greedy and sampling are the same kernels."""
    exponential = torch.empty_like(scores).exponential_().clamp_min_(1e-30)
    z = scores * inverse_temperature - noise * exponential.log_()
    return z.argmax(dim=-1, keepdim=True) + FIRST_ACTION_ID
