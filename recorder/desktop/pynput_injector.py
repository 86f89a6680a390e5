"""The portable injector: pynput's keyboard and mouse controllers (X11, Windows, macOS).

pynput waits for the server after every event; the X11 backend's own XTEST injector batches a tick
instead and is its default. This one is what ``--injector pynput`` asks for, and what a future
Windows or macOS backend can start from.
"""

from __future__ import annotations

from typing import Any

from recorder.desktop.ledgered_pointer import LedgeredPointer
from recorder.desktop.protocol import KeyCodes, Ledger, Point


class PynputInjector(LedgeredPointer):
    def __init__(self, ledger: Ledger, keys: KeyCodes, screen: tuple[int, int]) -> None:
        from pynput import keyboard, mouse  # optional: importing pynput needs a display

        self.ledger = ledger
        self._keys = keys
        self._kb = keyboard.Controller()
        self._mouse = mouse.Controller()
        self._objects: dict[str, Any] = {}
        self.screen = screen

    def _obj(self, name: str) -> Any:
        """The pynput object for ``name``: a mouse Button, or ``KeyCode.from_vk(keysym)``, which
        pynput routes through XTEST like a physical key on X11."""
        obj = self._objects.get(name)
        if obj is None:
            from pynput.keyboard import KeyCode  # needs a display when imported
            from pynput.mouse import Button  # needs a display when imported

            button = self._keys.buttons.get(name)
            if button is not None:
                obj = {1: Button.left, 2: Button.middle, 3: Button.right}[button]
            else:
                obj = KeyCode.from_vk(self._keys.keysyms[name])
            self._objects[name] = obj
        return obj

    def press(self, name: str) -> None:
        if name in self._keys.buttons:
            self.ledger.expect("button_down", name)
            self._mouse.press(self._obj(name))
        else:
            self.ledger.expect("key_down", name)
            self._kb.press(self._obj(name))

    def release(self, name: str) -> None:
        if name in self._keys.buttons:
            self.ledger.expect("button_up", name)
            self._mouse.release(self._obj(name))
        else:
            self.ledger.expect("key_up", name)
            self._kb.release(self._obj(name))

    def pointer(self) -> Point:
        x, y = self._mouse.position
        return int(x), int(y)

    def _warp(self, x: int, y: int) -> None:
        self._mouse.position = (x, y)

    def flush(self) -> None:
        """pynput sends (and waits for) every event as it goes."""

    def close(self) -> None:
        # drop the controllers now, while the display is surely still up: their __del__ closes
        # their connections, which fails noisily at interpreter exit if the display is gone by then
        self._objects.clear()
        self._kb = self._mouse = None
