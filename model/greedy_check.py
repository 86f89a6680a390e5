"""Does the fast path choose what the model would choose? Greedy constrained vs greedy free decoding.

Constrained decoding forces BEGIN, masks everything outside the action grammar and implies END after
the yaw token. For a model that writes actions on its own, greedy decoding must then give exactly the
tokens that plain greedy ``generate`` gives — any difference means the constraint changed a decision.
A model that does not write actions by itself (random weights) cannot be compared, and is reported so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from model.actions.tokens import BEGIN_ID
from model.vla import Sampling


@dataclass
class GreedyAgreement:
    same: int = 0
    different: int = 0
    not_actions: int = 0  # free decoding wrote no action: nothing to compare
    examples: list[tuple[list[int], list[int]]] = field(default_factory=list)  # (free, constrained)

    @property
    def compared(self) -> int:
        return self.same + self.different


def greedy_agreement(vla: Any, prompts: Iterable[tuple[list[Any], list[Any]]]) -> GreedyAgreement:
    """``prompts``: (messages, images) pairs, each ending in the user turn to answer."""
    free = Sampling(temperature=0, max_new_tokens=24)
    result = GreedyAgreement()
    for messages, images in prompts:
        constrained_ids = vla.generate(messages, images, free, constrained=True).ids
        free_ids = vla.generate(messages, images, free, constrained=False).ids
        if not free_ids or free_ids[0] != BEGIN_ID:
            result.not_actions += 1
        elif free_ids == constrained_ids:
            result.same += 1
        else:
            result.different += 1
            result.examples.append((free_ids, constrained_ids))
    return result
