"""What the agent is doing, as drawing primitives: held keys, a mouse arrow, camera degrees, a badge.

A pure function of the executed env action and the control mode, so what the overlay says can be
tested without painting; ``game_view`` only draws the result. Coordinates are fractions of the
frame (0..1), so the view can scale the frame to any window size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from model.actions.env import BUTTONS

# A camera move of this many degrees or more draws an arrow of ARROW_MAX (the codec's largest bin is ±10°).
ARROW_FULL_DEGREES = 10.0
ARROW_MAX = 0.3  # of the frame height

# env key -> label when no binding is known (Minecraft defaults)
DEFAULT_LABELS: dict[str, str] = {
    "forward": "W",
    "back": "S",
    "left": "A",
    "right": "D",
    "jump": "Space",
    "sneak": "Shift",
    "sprint": "Ctrl",
    "attack": "LMB",
    "use": "RMB",
    "drop": "Q",
    "inventory": "E",
    **{f"hotbar.{i}": str(i) for i in range(1, 10)},
}

# mode -> (badge text, background colour): red for the agent (it is moving your mouse), green for you.
# The person in control is always "YOU" (the window, the overlay and the README say it one way).
BADGES: dict[str, tuple[str, str]] = {
    "agent": ("AGENT", "#d32f2f"),
    "human": ("YOU", "#2e7d32"),  # touching the game: the agent takes over again after the quiet time
    "held": ("YOU · until Hand back", "#2e7d32"),  # an explicit take over: no quiet-time resume
    "waiting": ("AGENT · waiting for focus", "#ef6c00"),  # click into the game to let it play
    "teleop": ("YOU · only you play", "#2e7d32"),
    "paused": ("PAUSED", "#f9a825"),
    "stopped": ("STOPPED", "#616161"),
    "idle": ("IDLE", "#616161"),
    "loading": ("LOADING", "#1565c0"),
}


@dataclass(frozen=True)
class Arrow:
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class Overlay:
    badge: str
    badge_color: str
    keys: tuple[str, ...] = ()  # labels of the keys and buttons the agent holds
    arrow: Arrow | None = None  # from the frame centre, in the direction the view turns
    camera_text: str = ""  # e.g. "5.2° down, 1.8° left"
    instruction: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)  # e.g. "null action", "game not focused"


def key_label(binding: str) -> str:
    """``key.keyboard.left.shift`` -> ``Left Shift``; ``key.mouse.left`` -> ``LMB``."""
    mouse = {"key.mouse.left": "LMB", "key.mouse.right": "RMB", "key.mouse.middle": "MMB"}
    if binding in mouse:
        return mouse[binding]
    name = binding.removeprefix("key.keyboard.")
    if len(name) == 1:
        return name.upper()
    return " ".join(part.capitalize() for part in name.split("."))


def camera_text(pitch: float, yaw: float) -> str:
    parts = []
    if pitch:
        parts.append(f"{abs(pitch):.1f}° {'down' if pitch > 0 else 'up'}")
    if yaw:
        parts.append(f"{abs(yaw):.1f}° {'right' if yaw > 0 else 'left'}")
    return ", ".join(parts)


def overlay_for(
    action: Mapping[str, Any] | None,
    mode: str,
    *,
    bindings: Mapping[str, str] | None = None,
    instruction: str = "",
    aspect: float = 16 / 9,
    notes: tuple[str, ...] = (),
) -> Overlay:
    """The overlay for one tick. ``action`` is the env action applied (None: nothing yet)."""
    badge, color = BADGES.get(mode, (mode.upper(), "#616161"))
    if action is None:
        return Overlay(badge, color, instruction=instruction, notes=notes)
    labels = [
        key_label(bindings[k]) if bindings and k in bindings else DEFAULT_LABELS[k]
        for k in BUTTONS
        if action.get(k, 0)
    ]
    pitch, yaw = (float(v) for v in action.get("camera", (0.0, 0.0)))
    arrow = None
    if pitch or yaw:
        # length grows with the square root of the turn, so a 1° nudge is still visible
        size = math.hypot(pitch, yaw)
        length = ARROW_MAX * math.sqrt(min(size, ARROW_FULL_DEGREES) / ARROW_FULL_DEGREES)
        dx, dy = yaw / size * length / aspect, pitch / size * length
        arrow = Arrow(0.5, 0.5, 0.5 + dx, 0.5 + dy)
    return Overlay(badge, color, tuple(labels), arrow, camera_text(pitch, yaw), instruction, notes)


def summary(overlay: Overlay) -> str:
    """The overlay as one line of text, for the strip under the controls (the badge is beside it)."""
    parts = []
    if overlay.keys:
        parts.append("holds " + " + ".join(overlay.keys))
    if overlay.camera_text:
        parts.append("look " + overlay.camera_text)
    parts.extend(overlay.notes)
    return " · ".join(parts)
