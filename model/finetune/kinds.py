"""The kind of an action: which buttons are down and which way the camera turns, in words.

Two uses need the same coarse view of an action. Training balances its samples by kind and the
held-out figures are drawn and scored by kind, because a person's play is lopsided: they hold one
button for seconds, move the mouse in a hundred slightly different steps, and do nothing most of the
time. Scored tick by tick, "always the commonest action" looks like learning. Scored kind by kind, an
adapter that always waits, or always digs, gets 1/K and says plainly that it did not learn.

The camera's magnitude is left out of the kind on purpose: a person never moves the mouse by the same
amount twice, so "look down" is one kind, whichever of the mu-law bins the label falls in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from model.actions.env import BUTTONS

NULL = "nothing"


def camera_kind(pitch: float, yaw: float) -> str:
    """The camera's dominant direction ('' when it does not move); +pitch looks down, +yaw right."""
    if pitch == 0 and yaw == 0:
        return ""
    if abs(pitch) >= abs(yaw):
        return "look down" if pitch > 0 else "look up"
    return "turn right" if yaw > 0 else "turn left"


def action_kind(action: Mapping[str, Any]) -> str:
    """e.g. 'attack', 'look down', 'forward+jump', 'attack+turn left', or 'nothing'."""
    parts = [key for key in BUTTONS if action.get(key, 0)]
    pitch, yaw = (float(v) for v in action.get("camera", (0.0, 0.0)))
    camera = camera_kind(pitch, yaw)
    if camera:
        parts.append(camera)
    return "+".join(parts) or NULL
