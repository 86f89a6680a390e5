"""The game state a tick knows without asking the game: hotbar slot, GUI open or not, cursor position.

VPT's loader and MineStudio's converter read ``hotbar``, ``isGuiOpen`` and ``mouse.x/y`` from every
line (spec §5.2, §5.3); a desktop recorder cannot read them from the game, so they are tracked from
the input the game received, the way the game itself reacts to it:

* hotbar: a number key selects its slot; the wheel steps one slot per notch (up = previous), with
  wrap-around, as Minecraft's ``Inventory.swapPaint`` and minetest do.
* GUI: the inventory key toggles the inventory; ESC closes an open screen, or opens the pause
  screen. A bool from the caller (the real game state, where a connector can read it) overrides.
* cursor: with the game holding the pointer (no GUI) the cursor sits at the window centre; in a GUI
  it moves by the tick's dx/dy times the GUI scale. A real position from the listener wins.

One ``TickState`` serves a whole session, agent and human ticks alike, so a takeover does not lose
the slot the agent selected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from recorder.input.keymap import DEFAULT_BINDINGS

DEFAULT_WINDOW = (1280, 720)  # the contractors' window (spec §5.1)


@dataclass
class TickFacts:
    """What ``TickState.advance`` settles for one line."""

    hotbar: int  # slot after this tick's input (0-based), so a change lands on the line that caused it
    hotbar_changed: bool
    is_gui_open: bool  # as the tick's frame shows it (before the tick's input acts)
    is_gui_inventory: bool
    x: float  # cursor, window pixels
    y: float
    scaled_x: float  # (x - width/2) / scale factor, VPT's MouseHelper
    scaled_y: float


class TickState:
    def __init__(
        self,
        window: tuple[int, int] = DEFAULT_WINDOW,
        *,
        slot: int = 0,
        slots: int = 9,
        gui_scale: float = 2.0,
        bindings: Mapping[str, str] = DEFAULT_BINDINGS,
    ) -> None:
        self.width, self.height = window
        self.slots = slots
        self.slot = slot % slots
        self.gui_scale = gui_scale  # Minecraft's guiScale 2 at 1280x720 (spec §5.4)
        self.gui_open = False
        self.gui_inventory = False
        self.x, self.y = self.width / 2, self.height / 2
        self._slot_keys = {bindings[f"hotbar.{i}"]: i - 1 for i in range(1, 10) if f"hotbar.{i}" in bindings}
        self._inventory_key = bindings.get("inventory")
        self._escape_key = bindings.get("ESC", "key.keyboard.escape")

    def advance(
        self,
        new_keys: list[str],
        dwheel: float,
        dx: float,
        dy: float,
        *,
        position: tuple[float, float] | None = None,
        is_gui_open: bool | None = None,
        is_gui_inventory: bool | None = None,
    ) -> TickFacts:
        """Settle this tick's line fields, then let the tick's input act on the state."""
        if is_gui_open is not None:  # the caller knows the real state
            if not is_gui_open or not self.gui_open:
                self.gui_inventory = False
            self.gui_open = is_gui_open
        if is_gui_inventory is not None:
            self.gui_inventory = is_gui_inventory and self.gui_open
        open_now, inventory_now = self.gui_open, self.gui_inventory
        if position is not None:
            self.x, self.y = position
        elif open_now:
            self.x = min(max(self.x + dx * self.gui_scale, 0.0), float(self.width))
            self.y = min(max(self.y + dy * self.gui_scale, 0.0), float(self.height))
        else:
            self.x, self.y = self.width / 2, self.height / 2
        before = self.slot
        if not open_now:  # in a screen the number keys and wheel do not change the selection
            steps = round(dwheel)
            if steps:
                self.slot = (self.slot - steps) % self.slots
            for key in new_keys:
                if key in self._slot_keys and self._slot_keys[key] < self.slots:
                    self.slot = self._slot_keys[key]
        self._toggle_gui(new_keys)
        scale = self.gui_scale if open_now else 1.0
        return TickFacts(
            hotbar=self.slot,
            hotbar_changed=self.slot != before,
            is_gui_open=open_now,
            is_gui_inventory=inventory_now,
            x=self.x,
            y=self.y,
            scaled_x=(self.x - self.width / 2) / scale,
            scaled_y=(self.y - self.height / 2) / scale,
        )

    def _toggle_gui(self, new_keys: list[str]) -> None:
        for key in new_keys:
            if key == self._escape_key:
                self.gui_open = not self.gui_open  # closes a screen, or opens the pause screen
                self.gui_inventory = False
            elif key == self._inventory_key:
                if self.gui_open:
                    self.gui_open = self.gui_inventory = False  # E closes any container screen too
                else:
                    self.gui_open = self.gui_inventory = True
            else:
                continue
            if not self.gui_open:
                self.x, self.y = self.width / 2, self.height / 2  # the game grabs and re-centres
