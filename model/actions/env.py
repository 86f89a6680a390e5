"""The MineRL 1.0 env action dict: the lingua franca between policy, connector and recorder.

An env action is a plain dict holding the 20 VPT buttons (0/1) and ``camera`` = [pitch, yaw] in
degrees, +pitch looking down and +yaw turning right (spec §1.2). Plain dicts rather than a class so
they serialise to JSON lines and match what MineRL environments take, unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# VPT ``Buttons.ALL`` order. The decoder outputs keys in this order; ESC, swapHands and pickItem are
# not part of the JARVIS action space and can never be produced (spec §1.1).
BUTTONS: tuple[str, ...] = (
    "attack",
    "back",
    "forward",
    "jump",
    "left",
    "right",
    "sneak",
    "sprint",
    "use",
    "drop",
    "inventory",
    *(f"hotbar.{i}" for i in range(1, 10)),
)

EnvAction = dict[str, Any]


def null_action() -> EnvAction:
    """All buttons released, camera still."""
    action: EnvAction = dict.fromkeys(BUTTONS, 0)
    action["camera"] = [0.0, 0.0]
    return action


def normalize(raw: Mapping[str, Any]) -> EnvAction:
    """A complete env action from a partial one: missing keys mean 0, unknown keys are dropped.

    Raises ValueError with the offending key when a value is not a number, so a typo in a
    hand-written JSON line is reported instead of silently becoming a no-op.
    """
    action = null_action()
    for key in BUTTONS:
        if key in raw:
            value = raw[key]
            if isinstance(value, (list, tuple)):
                if len(value) != 1:
                    raise ValueError(f"button {key!r} must be 0 or 1, got {value!r}")
                value = value[0]
            try:
                action[key] = int(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"button {key!r} must be 0 or 1, got {value!r}") from exc
    if "camera" in raw and raw["camera"] is not None:
        camera = raw["camera"]
        try:
            pitch, yaw = (float(v) for v in camera)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"camera must be [pitch, yaw] in degrees, got {camera!r}") from exc
        action["camera"] = [pitch, yaw]
    return action


def is_null(action: Mapping[str, Any]) -> bool:
    """True when no button is held and the camera does not move."""
    pitch, yaw = action.get("camera", (0.0, 0.0))
    return not any(action.get(k, 0) for k in BUTTONS) and pitch == 0 and yaw == 0


def describe(action: Mapping[str, Any]) -> str:
    """A readable one-liner, e.g. ``forward + attack, look 5.2° down, 1.8° left``."""
    held = [k for k in BUTTONS if action.get(k, 0)]
    parts = [" + ".join(held)] if held else []
    pitch, yaw = (float(v) for v in action.get("camera", (0.0, 0.0)))
    looks = []
    if pitch:
        looks.append(f"{abs(pitch):.1f}° {'down' if pitch > 0 else 'up'}")
    if yaw:
        looks.append(f"{abs(yaw):.1f}° {'right' if yaw > 0 else 'left'}")
    if looks:
        parts.append("look " + ", ".join(looks))
    return ", ".join(parts) if parts else "no-op"
