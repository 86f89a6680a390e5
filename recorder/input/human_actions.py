"""Human input -> VPT per-tick fields -> the env action and tokens the model would be trained on.

Three steps, each a small piece (the first two here):

1. ``InputAccumulator`` folds the InputEvents seen during one tick into the VPT contractor fields
   (spec §5.2): keys and buttons down *at any time* during the tick (so a tap shorter than a tick
   still shows), the new presses, and mouse dx/dy summed. Events arrive already cleaned by the
   listener (keycodes not shifted names; warps, input outside the game and the agent's own
   injections removed).
2. ``tick_to_env`` maps them through the key bindings and the camera law to a raw env action.
3. ``recorder.episodes.labels.Labeler`` (on the episode side) quantises it into the stored label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from model.actions.env import EnvAction, null_action
from recorder.input.camera_law import CameraLaw
from recorder.input.events import InputEvent
from recorder.input.keymap import DEFAULT_BINDINGS
from recorder.input.tick_state import TickFacts, TickState

# VPT jsonl mouse button numbers (0 left, 1 right, 2 middle), not X11's 1/2/3
VPT_BUTTONS: dict[str, int] = {"key.mouse.left": 0, "key.mouse.right": 1, "key.mouse.middle": 2}
VPT_BUTTON_NAMES: dict[int, str] = {v: k for k, v in VPT_BUTTONS.items()}


@dataclass
class TickInput:
    """The VPT contractor fields of one tick (what a desktop can know).

    ``x``/``y`` are the pointer in window pixels when the listener saw it; the game-state fields
    (``hotbar``, GUI, cursor) are settled per session by ``TickState`` and filled in by ``settle``.
    """

    keys: list[str] = field(default_factory=list)
    new_keys: list[str] = field(default_factory=list)
    buttons: list[int] = field(default_factory=list)
    new_buttons: list[int] = field(default_factory=list)
    dx: float = 0.0
    dy: float = 0.0
    dwheel: float = 0.0
    x: float | None = None
    y: float | None = None
    chars: str = ""
    facts: TickFacts | None = None

    @property
    def position(self) -> tuple[float, float] | None:
        return (self.x, self.y) if self.x is not None and self.y is not None else None

    def settle(
        self,
        state: TickState,
        is_gui_open: bool | None = None,
        is_gui_inventory: bool | None = None,
    ) -> TickFacts:
        """Let ``state`` fix this tick's hotbar, GUI and cursor fields (once per tick, in order)."""
        self.facts = state.advance(
            self.new_keys,
            self.dwheel,
            self.dx,
            self.dy,
            position=self.position,
            is_gui_open=is_gui_open,
            is_gui_inventory=is_gui_inventory,
        )
        return self.facts

    def vpt_fields(self) -> dict[str, Any]:
        """The jsonl ``mouse``/``keyboard``/``isGuiOpen``/``isGuiInventory``/``hotbar`` fields, VPT names
        and layout (spec §5.2). Unsettled ticks (no ``TickState``) read as a fresh game: slot 0, no GUI,
        the cursor where the listener saw it or at the centre of a 1280x720 window."""
        facts = self.facts or TickState().advance([], 0.0, 0.0, 0.0, position=self.position)
        mouse: dict[str, Any] = {
            "x": facts.x,
            "y": facts.y,
            "dx": self.dx,
            "dy": self.dy,
            "scaledX": facts.scaled_x,
            "scaledY": facts.scaled_y,
            "dwheel": self.dwheel,
            "buttons": list(self.buttons),
            "newButtons": list(self.new_buttons),
        }
        return {
            "mouse": mouse,
            "keyboard": {"keys": list(self.keys), "newKeys": list(self.new_keys), "chars": self.chars},
            "isGuiOpen": facts.is_gui_open,
            "isGuiInventory": facts.is_gui_inventory,
            "hotbar": facts.hotbar,
        }


class InputAccumulator:
    """Feed events during a tick, then ``end_tick()``. Owned by one thread (the loop).

    The listener already drops the game's warps (a motion landing on its grab centre) and measures
    every move from the pointer's last position, so the moves fed here are the person's as they are.
    ``drop_warps`` keeps the old guess for events from elsewhere that still carry warps: a move that
    lands where the previous one started within ``warp_window`` seconds. It is off by default: a guess
    by time drops a person's quick exact reversal and keeps a late warp.

    ``origin`` gives the game window's top-left corner on the screen, so the pointer position (the
    listener reports screen pixels) is stored in window pixels as VPT's ``mouse.x/y`` are; without it
    the screen is taken for the window.
    """

    def __init__(
        self,
        drop_warps: bool = False,
        warp_window: float = 0.05,
        origin: Callable[[], tuple[float, float]] | None = None,
    ) -> None:
        self.origin = origin
        self.drop_warps = drop_warps
        self.warp_window = warp_window
        self._origin_time = 0.0
        self.warps = 0  # moves dropped as warp-backs
        self._origin: tuple[float, float] | None = None  # where the last counted move started
        self._held_keys: dict[str, None] = {}  # insertion-ordered sets
        self._held_buttons: dict[int, None] = {}
        self._tick_keys: dict[str, None] = {}
        self._tick_buttons: dict[int, None] = {}
        self._new_keys: dict[str, None] = {}
        self._new_buttons: dict[int, None] = {}
        self._dx = self._dy = self._wheel = 0.0
        self._pos: tuple[float, float] | None = None

    def feed(self, event: InputEvent) -> None:
        kind = event.kind
        if kind == "key_down":
            if event.key not in self._held_keys:  # X autorepeat re-sends downs for a held key
                self._new_keys[event.key] = None
            self._held_keys[event.key] = None
            self._tick_keys[event.key] = None
        elif kind == "key_up":
            self._held_keys.pop(event.key, None)
        elif kind in ("button_down", "button_up"):
            number = VPT_BUTTONS.get(event.key)
            if number is None:
                return
            if kind == "button_down":
                if number not in self._held_buttons:
                    self._new_buttons[number] = None
                self._held_buttons[number] = None
                self._tick_buttons[number] = None
            else:
                self._held_buttons.pop(number, None)
        elif kind == "move":
            self._pos = (event.x, event.y)
            if (
                self.drop_warps
                and (event.dx or event.dy)
                and self._origin == (event.x, event.y)
                and event.time - self._origin_time <= self.warp_window
            ):
                self.warps += 1
                self._origin = None
                return
            self._origin = (event.x - event.dx, event.y - event.dy)
            self._origin_time = event.time
            self._dx += event.dx
            self._dy += event.dy
        elif kind == "scroll":
            self._wheel += event.dy

    def feed_all(self, events: Iterable[InputEvent]) -> None:
        for event in events:
            self.feed(event)

    def end_tick(self) -> TickInput:
        """The tick's fields; the next tick starts with the keys and buttons still held."""
        pos = self._pos
        if pos is not None and self.origin is not None:
            left, top = self.origin()[:2]
            pos = (pos[0] - left, pos[1] - top)
        tick = TickInput(
            keys=list(self._tick_keys),
            new_keys=list(self._new_keys),
            buttons=sorted(self._tick_buttons),
            new_buttons=sorted(self._new_buttons),
            dx=self._dx,
            dy=self._dy,
            dwheel=self._wheel,
            x=pos[0] if pos else None,
            y=pos[1] if pos else None,
        )
        self._tick_keys = dict(self._held_keys)  # VPT: accumKeysPressed.retainAll(keysPressed)
        self._tick_buttons = dict(self._held_buttons)
        self._new_keys, self._new_buttons = {}, {}
        self._dx = self._dy = self._wheel = 0.0
        return tick

    def release_all(self) -> None:
        """Forget held state (focus lost: the game no longer sees those keys as held)."""
        self._held_keys.clear()
        self._held_buttons.clear()


def tick_to_env(tick: TickInput, law: CameraLaw, bindings: Mapping[str, str] = DEFAULT_BINDINGS) -> EnvAction:
    """The raw (unquantised) env action of a tick, as VPT's ``json_action_to_env_action`` makes it."""
    action = null_action()
    held = set(tick.keys) | {VPT_BUTTON_NAMES[b] for b in tick.buttons if b in VPT_BUTTON_NAMES}
    for env_key, binding in bindings.items():
        if env_key in action and binding in held:
            action[env_key] = 1
    if tick.facts is not None and tick.facts.hotbar_changed:  # the wheel selects a slot too (VPT loader rule)
        action[f"hotbar.{tick.facts.hotbar + 1}"] = 1
    pitch, yaw = law.to_degrees(tick.dx, tick.dy)
    action["camera"] = [pitch, yaw]
    return action


def action_to_tick(
    action: Mapping[str, Any],
    law: CameraLaw,
    previous: TickInput | None = None,
    bindings: Mapping[str, str] = DEFAULT_BINDINGS,
) -> TickInput:
    """The VPT fields the agent's executed action amounts to (what its injected input did), so agent
    ticks read like human ones to a VPT loader."""
    keys = [b for k, b in bindings.items() if action.get(k, 0) and b not in VPT_BUTTONS]
    buttons = sorted(VPT_BUTTONS[b] for k, b in bindings.items() if action.get(k, 0) and b in VPT_BUTTONS)
    before_keys = set(previous.keys) if previous else set()
    before_buttons = set(previous.buttons) if previous else set()
    pitch, yaw = (float(v) for v in action.get("camera", (0.0, 0.0)))
    dx, dy = law.to_counts(pitch, yaw)
    return TickInput(
        keys=keys,
        new_keys=[k for k in keys if k not in before_keys],
        buttons=buttons,
        new_buttons=[b for b in buttons if b not in before_buttons],
        dx=dx,
        dy=dy,
    )
