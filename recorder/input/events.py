"""Human input as the recorder and the override logic see it: one small event type, no pynput.

Keys are identified by X keysym-independent *names* that match Minecraft's binding names
(``key.keyboard.w``, ``key.keyboard.left.shift``, ``key.mouse.left``) so bindings, listener and
recorder share one vocabulary and shifted characters (``W`` vs ``w``) never split a key in two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EventKind = Literal["key_down", "key_up", "button_down", "button_up", "move", "scroll"]


@dataclass(frozen=True)
class InputEvent:
    kind: EventKind
    time: float  # time.monotonic() seconds when the event was seen
    key: str = ""  # binding name for key/button events, e.g. "key.keyboard.w", "key.mouse.left"
    dx: float = 0.0  # pointer motion in screen pixels (moves) or scroll steps (scroll)
    dy: float = 0.0
    x: float = 0.0  # absolute pointer position after the event, screen pixels
    y: float = 0.0
