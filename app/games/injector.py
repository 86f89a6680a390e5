"""The OS input seam: press and release bindings, move the pointer. One backend per platform.

``PynputInjector`` is the portable backend. ``XTestInjector`` is the X11 default: it sends exactly the
XTEST requests pynput sends on X11 (pynput's xorg controller is a thin layer over python-xlib), but
pynput waits for a server round trip after every single event, and on a loaded 2-core machine each
round trip is a chance to be descheduled; this one queues a tick's events and flushes them once
(``flush()``), which takes the tick's injection from several round trips to at most one.
Every event is entered in the ``InjectionLedger`` *before* it is sent, so the human-input listener can
tell it from the person's. Not thread-safe by itself: the desktop connector serialises all calls.
"""

from __future__ import annotations

from typing import Any, Protocol

from recorder.input import InjectionLedger, keymap


class Injector(Protocol):
    def press(self, name: str) -> None: ...
    def release(self, name: str) -> None: ...
    def move_by(self, dx: int, dy: int) -> None:
        """Relative motion for a game that holds the pointer and re-centres it (in-world look)."""

    def move_to(self, x: int, y: int) -> None:
        """Absolute pointer position in screen pixels (a GUI cursor)."""

    def pointer(self) -> tuple[int, int]: ...
    def flush(self) -> None:
        """Send whatever is queued (the end of a tick, or a release on the safety path)."""

    def close(self) -> None: ...


class _LedgeredPointer:
    """Pointer moves both backends share: clamp to the screen, note the move in the ledger, then warp.

    The ledger must hold exactly the position the X server will report, or the listener would take
    the agent's own move for the person's; subclasses supply only ``_warp``.
    """

    ledger: InjectionLedger
    screen: tuple[int, int]

    def _warp(self, x: int, y: int) -> None:
        raise NotImplementedError

    def pointer(self) -> tuple[int, int]:
        raise NotImplementedError

    def _clamp(self, x: int, y: int) -> tuple[int, int]:
        # the X server clamps to the screen anyway; clamping here keeps the ledger's record exact
        return min(max(x, 0), self.screen[0] - 1), min(max(y, 0), self.screen[1] - 1)

    def move_by(self, dx: int, dy: int) -> None:
        if not (dx or dy):
            return
        x0, y0 = self.pointer()
        x, y = self._clamp(x0 + dx, y0 + dy)
        self.ledger.expect_move(x, y, origin=(x0, y0))
        self._warp(x, y)

    def move_to(self, x: int, y: int) -> None:
        x, y = self._clamp(x, y)
        self.ledger.expect_move(x, y)
        self._warp(x, y)


class PynputInjector(_LedgeredPointer):
    def __init__(self, ledger: InjectionLedger | None = None, screen: tuple[int, int] | None = None) -> None:
        from pynput import keyboard, mouse

        self.ledger = ledger or InjectionLedger()
        self._kb = keyboard.Controller()
        self._mouse = mouse.Controller()
        self._objects: dict[str, Any] = {}
        self.screen = screen or _screen_size()

    def _obj(self, name: str) -> Any:
        obj = self._objects.get(name)
        if obj is None:
            obj = self._objects[name] = keymap.to_pynput(name)
        return obj

    def press(self, name: str) -> None:
        if keymap.is_mouse(name):
            self.ledger.expect("button_down", name)
            self._mouse.press(self._obj(name))
        else:
            self.ledger.expect("key_down", name)
            self._kb.press(self._obj(name))

    def release(self, name: str) -> None:
        if keymap.is_mouse(name):
            self.ledger.expect("button_up", name)
            self._mouse.release(self._obj(name))
        else:
            self.ledger.expect("key_up", name)
            self._kb.release(self._obj(name))

    def pointer(self) -> tuple[int, int]:
        x, y = self._mouse.position
        return int(x), int(y)

    def _warp(self, x: int, y: int) -> None:
        self._mouse.position = (x, y)

    def flush(self) -> None:
        """pynput sends (and waits for) every event as it goes."""

    def close(self) -> None:
        # drop the controllers now, while the X server is surely still up: their __del__ closes
        # their connections, which fails noisily at interpreter exit if the display is gone by then
        self._objects.clear()
        self._kb = self._mouse = None  # type: ignore[assignment]


class XTestInjector(_LedgeredPointer):
    """X11 XTEST through python-xlib, one flush per tick; see the module docstring."""

    def __init__(self, ledger: InjectionLedger | None = None, display: str | None = None) -> None:
        from Xlib import X
        from Xlib import display as xdisplay
        from Xlib.ext import xtest

        self.ledger = ledger or InjectionLedger()
        self._X = X
        self._fake = xtest.fake_input
        self._d = xdisplay.Display(display)
        if not self._d.has_extension("XTEST"):
            raise RuntimeError("the X server has no XTEST extension: synthetic input is impossible")
        screen = self._d.screen()
        self.screen = int(screen.width_in_pixels), int(screen.height_in_pixels)
        self._root = screen.root
        self._codes: dict[str, int] = {}

    def _code(self, name: str) -> int:
        code = self._codes.get(name)
        if code is None:
            code = self._d.keysym_to_keycode(keymap.X11_KEYSYMS[name])
            if not code:
                raise ValueError(f"{name} has no key on this keyboard layout")
            self._codes[name] = code
        return code

    def press(self, name: str) -> None:
        X = self._X
        if keymap.is_mouse(name):
            self.ledger.expect("button_down", name)
            self._fake(self._d, X.ButtonPress, keymap.MOUSE_BUTTONS[name])
        else:
            self.ledger.expect("key_down", name)
            self._fake(self._d, X.KeyPress, self._code(name))

    def release(self, name: str) -> None:
        X = self._X
        if keymap.is_mouse(name):
            self.ledger.expect("button_up", name)
            self._fake(self._d, X.ButtonRelease, keymap.MOUSE_BUTTONS[name])
        else:
            self.ledger.expect("key_up", name)
            self._fake(self._d, X.KeyRelease, self._code(name))

    def pointer(self) -> tuple[int, int]:
        reply = self._root.query_pointer()
        return int(reply.root_x), int(reply.root_y)

    def _warp(self, x: int, y: int) -> None:
        self._fake(self._d, self._X.MotionNotify, x=x, y=y)

    def flush(self) -> None:
        self._d.flush()

    def close(self) -> None:
        try:
            self._d.flush()
            self._d.close()
        except Exception:  # the display may already be gone
            pass


def make_injector(ledger: InjectionLedger, display: str | None = None, backend: str = "auto") -> Injector:
    """``xtest`` on X11 (the default there), ``pynput`` elsewhere or when asked for."""
    if backend == "pynput":
        return PynputInjector(ledger)
    if backend in ("auto", "xtest"):
        try:
            return XTestInjector(ledger, display)
        except ImportError:
            if backend == "xtest":
                raise
    return PynputInjector(ledger)


def _screen_size() -> tuple[int, int]:
    try:
        from Xlib import display as xdisplay

        d = xdisplay.Display()
        try:
            screen = d.screen()
            return int(screen.width_in_pixels), int(screen.height_in_pixels)
        finally:
            d.close()
    except Exception:
        return (1 << 15) - 1, (1 << 15) - 1
