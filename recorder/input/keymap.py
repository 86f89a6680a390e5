"""Key bindings as data, shared by the injector (agent output) and the listener (human input).

Three layers, each a plain table:
* env action key -> Minecraft binding name (``forward`` -> ``key.keyboard.w``), Minecraft's defaults
  (spec §6.1), overridable from options.txt or the command line;
* binding name <-> X11 keysym (the *unshifted* symbol of the physical key, so ``W`` and ``w`` are one
  key, as Minecraft sees it);
* binding name <-> pynput key or button object, built lazily because importing pynput needs a display.
Windows and macOS backends only need their own version of the last two tables.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

# env key -> binding name (MineStudio options.txt, spec §6.1)
DEFAULT_BINDINGS: dict[str, str] = {
    "forward": "key.keyboard.w",
    "back": "key.keyboard.s",
    "left": "key.keyboard.a",
    "right": "key.keyboard.d",
    "jump": "key.keyboard.space",
    "sneak": "key.keyboard.left.shift",
    "sprint": "key.keyboard.left.control",
    "attack": "key.mouse.left",
    "use": "key.mouse.right",
    "pickItem": "key.mouse.middle",
    "drop": "key.keyboard.q",
    "inventory": "key.keyboard.e",
    "swapHands": "key.keyboard.f",
    "ESC": "key.keyboard.escape",
    **{f"hotbar.{i}": f"key.keyboard.{i}" for i in range(1, 10)},
}

# Minecraft options.txt ``key_<id>`` names for the env keys (rebinding support)
OPTIONS_KEY_IDS: dict[str, str] = {
    "forward": "key.forward",
    "back": "key.back",
    "left": "key.left",
    "right": "key.right",
    "jump": "key.jump",
    "sneak": "key.sneak",
    "sprint": "key.sprint",
    "attack": "key.attack",
    "use": "key.use",
    "pickItem": "key.pickItem",
    "drop": "key.drop",
    "inventory": "key.inventory",
    "swapHands": "key.swapOffhand",
    **{f"hotbar.{i}": f"key.hotbar.{i}" for i in range(1, 10)},
}

MOUSE_BUTTONS: dict[str, int] = {"key.mouse.left": 1, "key.mouse.middle": 2, "key.mouse.right": 3}

_SPECIAL_KEYSYMS: dict[str, int] = {
    "space": 0x20,
    "escape": 0xFF1B,
    "tab": 0xFF09,
    "enter": 0xFF0D,
    "backspace": 0xFF08,
    "left.shift": 0xFFE1,
    "right.shift": 0xFFE2,
    "left.control": 0xFFE3,
    "right.control": 0xFFE4,
    "left.alt": 0xFFE9,
    "right.alt": 0xFFEA,
    "caps.lock": 0xFFE5,
    "left": 0xFF51,
    "up": 0xFF52,
    "right": 0xFF53,
    "down": 0xFF54,
    "insert": 0xFF63,
    "delete": 0xFFFF,
    "home": 0xFF50,
    "end": 0xFF57,
    "page.up": 0xFF55,
    "page.down": 0xFF56,
    "minus": 0x2D,
    "equal": 0x3D,
    "comma": 0x2C,
    "period": 0x2E,
    "slash": 0x2F,
    "semicolon": 0x3B,
    "apostrophe": 0x27,
    "left.bracket": 0x5B,
    "right.bracket": 0x5D,
    "backslash": 0x5C,
    "grave.accent": 0x60,
    **{f"f{n}": 0xFFBE + n - 1 for n in range(1, 13)},
}

X11_KEYSYMS: dict[str, int] = {
    **{f"key.keyboard.{c}": ord(c) for c in string.ascii_lowercase + string.digits},
    **{f"key.keyboard.{name}": sym for name, sym in _SPECIAL_KEYSYMS.items()},
}
X11_NAMES: dict[int, str] = {sym: name for name, sym in X11_KEYSYMS.items()}

# short names a user types on the command line -> binding names
_ALIASES = {
    "esc": "escape",
    "ctrl": "left.control",
    "shift": "left.shift",
    "lshift": "left.shift",
    "lctrl": "left.control",
    "alt": "left.alt",
    "return": "enter",
}


def binding_name(text: str) -> str:
    """``F12``, ``w``, ``key.keyboard.f12``, ``mouse.left`` -> the canonical binding name."""
    t = text.strip()
    if t.startswith("key."):
        name = t
    elif t.lower().startswith("mouse."):
        name = "key." + t.lower()
    else:
        low = t.lower()
        name = "key.keyboard." + _ALIASES.get(low, low)
    if name not in X11_KEYSYMS and name not in MOUSE_BUTTONS:
        raise ValueError(f"unknown key {text!r} (examples: w, space, left.shift, f12, mouse.left)")
    return name


def resolve_bindings(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The default env-key bindings with ``overrides`` (env key -> key text) applied and validated."""
    out = dict(DEFAULT_BINDINGS)
    for env_key, key_text in (overrides or {}).items():
        if env_key not in DEFAULT_BINDINGS:
            raise ValueError(f"{env_key!r} is not an env action key ({', '.join(DEFAULT_BINDINGS)})")
        out[env_key] = binding_name(key_text)
    return out


def is_mouse(name: str) -> bool:
    return name in MOUSE_BUTTONS


def to_pynput(name: str) -> Any:
    """The pynput object that presses ``name``: a mouse Button or a keyboard KeyCode.

    On X11 keys are sent as ``KeyCode.from_vk(keysym)``: pynput routes those through XTEST like a
    real keyboard (plain characters would go by XSendEvent, which games and listeners ignore).
    """
    if name in MOUSE_BUTTONS:
        from pynput.mouse import Button  # needs a display when imported

        return {1: Button.left, 2: Button.middle, 3: Button.right}[MOUSE_BUTTONS[name]]
    from pynput.keyboard import KeyCode  # needs a display when imported

    return KeyCode.from_vk(X11_KEYSYMS[name])


def from_pynput_button(button: Any) -> str | None:
    """pynput mouse Button -> binding name (None for buttons Minecraft has no name for here)."""
    names = {"left": "key.mouse.left", "middle": "key.mouse.middle", "right": "key.mouse.right"}
    return names.get(getattr(button, "name", ""))


def from_keysym(keysym: int) -> str | None:
    return X11_NAMES.get(keysym)
