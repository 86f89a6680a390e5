"""Human input: what a person does to the game, cleaned and turned into the env action of a tick.

The listener (``listener``) hears keys and the mouse, scoped to the game (``scope``) and with the
agent's own injections removed (``InjectionLedger``); ``human_actions`` folds a tick's events into
VPT's fields and maps them through the key bindings (``keymap``) and the game's camera law
(``camera_law``) to an env action; ``tick_state`` carries what persists between ticks (hotbar,
open screens). ``app/`` and ``model/`` import from here; ``keymap`` is public as a module.
"""

from recorder.input import keymap
from recorder.input.camera_law import (
    MINECRAFT_DEGREES_PER_COUNT,
    MINETEST_DEFAULT_FOV,
    MINETEST_DEFAULT_SENSITIVITY,
    CameraLaw,
    minecraft_k,
)
from recorder.input.events import InputEvent
from recorder.input.human_actions import InputAccumulator, TickInput, action_to_tick, tick_to_env
from recorder.input.keymap import binding_name
from recorder.input.listener import InjectionLedger, InputListener

__all__ = [
    "MINECRAFT_DEGREES_PER_COUNT",
    "MINETEST_DEFAULT_FOV",
    "MINETEST_DEFAULT_SENSITIVITY",
    "CameraLaw",
    "InjectionLedger",
    "InputAccumulator",
    "InputEvent",
    "InputListener",
    "TickInput",
    "action_to_tick",
    "binding_name",
    "keymap",
    "minecraft_k",
    "tick_to_env",
]
