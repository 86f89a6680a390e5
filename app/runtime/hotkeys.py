"""Where each human input event goes: a door's own key, the save-last key, or the takeover.

The listener reports every key and button a person presses (the agent's own injections are already
filtered out). Global keys work from anywhere: the panic and pause keys go to the takeover, the
save-last key saves the ring buffer (never a takeover, neither its press nor its release), and a
door's own keys (eval's success and failure keys) call the door. Any other event is the person
playing, unless the door ignores it (a click in our own window). The keys are read from the settings
at each event, so a change in the window's Settings applies at once.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from recorder.input import InputEvent, keymap


def binding(text: str) -> str:
    """A key name as settings hold it ("f12") -> the binding name the listener reports."""
    try:
        return keymap.binding_name(text)
    except ValueError:
        return text


class HotkeySettings(Protocol):
    """The keys ``app.settings.Settings`` holds, as a person names them ("f12")."""

    panic_key: str
    pause_key: str
    save_last_key: str


class Route(enum.Enum):
    DOOR = "door"  # a door's own key: its action was called (on key down)
    SAVE = "save"  # the save-last key went down: save the last seconds
    PLAY = "play"  # to the takeover (and the recording): the person playing, or the panic/pause key
    DROP = "drop"  # nothing to do (a door ignores it, or the release of a door's or the save key)


@dataclass
class HotkeyRouter:
    settings: HotkeySettings
    door_keys: Mapping[str, Callable[[], None]] = field(default_factory=dict)
    ignore: Callable[[InputEvent], bool] = lambda _e: False  # e.g. clicks in our own window

    @property
    def global_keys(self) -> set[str]:
        """Every key the listener must report even outside the game."""
        s = self.settings
        return {binding(s.panic_key), binding(s.pause_key), binding(s.save_last_key), *self.door_keys}

    def route(self, event: InputEvent) -> Route:
        s = self.settings
        save_key = binding(s.save_last_key)
        door_key = self.door_keys.get(event.key) if event.key else None
        if door_key is not None:
            if event.kind == "key_down":
                door_key()
                return Route.DOOR
            return Route.DROP
        if event.key not in (binding(s.panic_key), binding(s.pause_key), save_key) and self.ignore(event):
            return Route.DROP
        if event.key == save_key:
            return Route.SAVE if event.kind == "key_down" else Route.DROP
        return Route.PLAY
