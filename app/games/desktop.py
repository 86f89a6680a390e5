"""Play a game window on this desktop: capture it, drive it with synthetic input.

Everything display-server specific goes through ``recorder.desktop`` (X11 or XWayland today).
Capture reads the game window's own contents (XComposite) where it can, so nothing covering
the game reaches a frame; otherwise (a screen region, no Composite) it grabs the screen rectangle and
``covered`` says when that grab would show something else.

Held-state semantics exactly as MineRL executes env actions (spec §1.3): a bound key or button is
pressed on 0→1 and released on 1→0, never re-pressed while held. Camera degrees become mouse counts
through ``MouseLaw`` (remainders carried); while a GUI screen is open the same degrees move the
cursor instead, ``guiScale / 0.15`` window pixels per degree, clipped to the window.

"GUI open" is read from the game at every ``observe``: whether it shows its pointer over the window
(the desktop's ``cursor_watch``), so a screen the person or the game opens counts as much as the agent's. The
pointer's position comes with it (``cursor``, window pixels), and ``policy_frame`` draws the env's
white cursor sprite there while a screen is open (spec §1.4, §6.5): the model saw it in every GUI
frame it was trained and evaluated on. ``observe`` itself stays cursor-free, for the recording. Where
the X server cannot say (no XFixes), the agent's own inventory presses toggle the state instead.

Threads: ``observe``/``apply``/``has_focus`` run on the loop thread; ``release_all`` may come from
any thread (panic key, signal handler) and shares one lock with ``apply``, so a release can never be
overtaken by a press of the same tick.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.errors import PlayEnded
from app.games.connector import FRAME_SIZE, Rect
from app.games.mouse_law import MouseLaw, gui_pixels_per_degree
from model.actions.env import EnvAction
from model.cursor import draw_at_window_position
from recorder.desktop import (
    Desktop,
    DesktopError,
    GameWindow,
    Injector,
    KeyCodes,
    WindowGone,
    for_display,
    open_desktop,
)
from recorder.input import InjectionLedger, keymap

LOG = logging.getLogger(__name__)

KEY_CODES = KeyCodes(keymap.X11_KEYSYMS, keymap.MOUSE_BUTTONS)  # binding names -> the desktop's codes


class GameWindowGone(PlayEnded, RuntimeError):
    """The game window closed or cannot be read any more."""

    hint = "The game was closed: start it again, then start the agent again."


class CaptureMode(str, enum.Enum):
    """Where frames come from (a str, so it compares and prints as its value)."""

    AUTO = "auto"  # the window's own contents if the desktop allows (Composite), else the screen
    WINDOW = "window"  # the window's own contents, or refuse
    SCREEN = "screen"  # the screen under the window: whatever is on top of it

    def __str__(self) -> str:
        return self.value


@dataclass
class DesktopConfig:
    title: str | None = None  # substring of the window title (case-insensitive)
    pid: int | None = None  # or the game's process id
    region: Rect | None = None  # or a fixed screen rectangle (left, top, width, height)
    bindings: dict[str, str] = field(default_factory=lambda: dict(keymap.DEFAULT_BINDINGS))
    degrees_per_count: float = 0.15  # 0.15 · k(mouseSensitivity); 0.15 at Minecraft's default 0.5
    gui_scale: float = 2.0  # Minecraft guiScale: window pixels per GUI pixel
    invert_y: bool = False
    require_focus: bool = True  # inject only while the target window has keyboard focus
    geometry_every_s: float = 0.5  # how often the window rectangle is re-read (moves, resizes)
    injector: str = "auto"  # auto (XTEST on X11), xtest or pynput
    capture: CaptureMode = CaptureMode.AUTO


class DesktopConnector:
    realtime = True

    def __init__(
        self,
        config: DesktopConfig,
        injector: Injector | None = None,
        ledger: InjectionLedger | None = None,
        display: str | None = None,
        desktop: Desktop | None = None,
        own_desktop: bool | None = None,
    ) -> None:
        self.config = config
        self.ledger = ledger or InjectionLedger()
        self.display = display
        self.desktop = desktop  # the display server behind the game; opened by open() when None
        self._owns_desktop = desktop is None if own_desktop is None else own_desktop  # close it with us
        self._injector = injector
        self._lock = threading.RLock()
        self._held: list[str] = []  # binding names the agent holds, in press order
        self._law = MouseLaw.for_degrees_per_count(config.degrees_per_count)
        self._gui_law = MouseLaw(gui_pixels_per_degree(config.gui_scale))
        self.gui_open = False
        self.cursor: tuple[float, float] | None = None  # pointer in window pixels at the last observe
        self.gui_source = "inventory key"  # or "game cursor" once the game's own state can be read
        self._gui_watch: Any = None  # the desktop's CursorWatch, made by open()
        self._capture: Any = None
        self.capture_kind = ""  # "window" (its own contents) or "screen" (whatever is on top), after open
        self._cover: Any = None  # CoverWatch, made on the loop thread by the first covered()
        self.window_id = 0
        self.window_title = ""
        self.window_pid: int | None = None
        self._rect: Rect = config.region or (0, 0, *FRAME_SIZE)
        self._rect_time = -1e9
        self._closed = False

    def reconfigure(self) -> None:
        """Apply a changed ``config`` (sensitivity, GUI scale, bindings) between ticks."""
        with self._lock:
            self.release_all()
            self._law = MouseLaw.for_degrees_per_count(self.config.degrees_per_count)
            self._gui_law = MouseLaw(gui_pixels_per_degree(self.config.gui_scale))

    # ----- setup ------------------------------------------------------------------------------
    def open(self) -> DesktopConnector:
        """Find the window and open capture and injection. Separate from __init__: it touches the
        display server."""
        cfg = self.config
        if cfg.region is None and cfg.title is None and cfg.pid is None:
            raise ValueError("give the game window's title, its pid, or a screen region")
        if self.desktop is None:
            self.desktop = open_desktop() if self.display is None else for_display(self.display)
        desktop = self.desktop
        self.display = desktop.display
        if cfg.region is not None:
            left, top, width, height = cfg.region
            try:
                win = desktop.window_at(left + width // 2, top + height // 2)
            except LookupError:
                if cfg.require_focus:
                    raise LookupError(f"no window under the region {cfg.region} to check focus on") from None
                win = None
        else:
            win = desktop.find_window(cfg.title, cfg.pid)
        if win is not None and win.pid is not None and win.pid == os.getpid():
            raise ValueError("refusing to play into one of jarvis-play's own windows")
        self.window_id = win.id if win is not None else 0
        self.window_title = win.title if win is not None else ""
        self.window_pid = win.pid if win is not None else None  # whose settings give the camera law
        if win is None:
            win = GameWindow(0, "(screen region)", None, self._rect)
        self._refresh_rect(force=True)
        self._capture = self._open_capture()
        self._open_gui_watch()
        if self._injector is None:
            self._injector = desktop.injector(self.ledger, KEY_CODES, cfg.injector)
        refused = desktop.check_injection()
        if refused:
            raise DesktopError(refused)
        LOG.info("playing window %#x %r at %s (%s capture)", win.id, win.title, self._rect, self.capture_kind)
        return self

    def _open_capture(self) -> Any:
        """The window's own contents where the desktop allows, else a screen grab ``covered`` must vet."""
        desktop = self.desktop
        assert desktop is not None
        mode = CaptureMode(self.config.capture)
        if mode != CaptureMode.SCREEN and self.config.region is None and self.window_id:
            why = desktop.probe_capture(self.window_id)
            if why is None:
                self.capture_kind = "window"
                return desktop.window_capture(self.window_id, FRAME_SIZE)
            if mode == CaptureMode.WINDOW:
                raise ValueError(f"cannot capture the game window itself: {why}")
            LOG.warning("capturing the screen under the game window (%s): windows over it pause play", why)
        elif mode == CaptureMode.WINDOW:
            raise ValueError("window capture needs the game window (title or pid), not a screen region")
        capture = desktop.screen_capture(lambda: self._rect, FRAME_SIZE)
        self.capture_kind = "screen"
        return capture

    def _open_gui_watch(self) -> None:
        assert self.desktop is not None
        try:
            self._gui_watch = self.desktop.cursor_watch()
            self.gui_source = "game cursor"
        except DesktopError as exc:
            LOG.warning("GUI screens are known only from the agent's inventory presses: %s", exc)

    def _read_gui(self) -> None:
        """The game's GUI state and pointer, read right after the frame they belong to."""
        if self._gui_watch is None:
            return
        state = self._gui_watch.read(self._rect)
        self.cursor = (state.x, state.y)
        if state.open != self.gui_open:
            with self._lock:
                self.gui_open = state.open
                self._law.reset()  # a remainder of view turning must not move the cursor, or back
                self._gui_law.reset()

    def policy_frame(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` as the model must see it: with the env's cursor sprite while a screen is open."""
        if not self.gui_open or self.cursor is None:
            return frame
        return draw_at_window_position(frame, self.cursor[0], self.cursor[1], (self._rect[2], self._rect[3]))

    def _refresh_rect(self, force: bool = False) -> None:
        if self.config.region is not None:
            return
        now = time.monotonic()
        if force or now - self._rect_time >= self.config.geometry_every_s:
            assert self.desktop is not None
            try:
                self._rect = self.desktop.window_rect(self.window_id)
            except WindowGone as exc:
                raise GameWindowGone(f"the game window {self.window_id:#x} is gone") from exc
            self._rect_time = now

    @property
    def rect(self) -> Rect:
        return self._rect

    @property
    def finished(self) -> bool:
        """A desktop game has no episode end of its own; the person or a time limit stops play."""
        return False

    @property
    def capture(self) -> Any:
        """The capture behind ``observe`` (window or screen grab; None before ``open``), for the loop
        benchmark's stage timings."""
        return self._capture

    # ----- Connector protocol -----------------------------------------------------------------
    def observe(self) -> np.ndarray:
        self._refresh_rect()
        try:
            frame = self._capture.grab()
        except WindowGone as exc:
            raise GameWindowGone(f"the game window {self.window_id:#x} is gone") from exc
        self._read_gui()
        return frame

    def covered(self) -> str | None:
        """Why the next frame would not be the game's own picture, or None when it will be.

        Window capture is only wrong while the window is not shown, or has not drawn since it was
        captured, shown or resized; a screen grab whenever another window overlaps the game from
        above. Call on the loop thread, right before and right after ``observe``: a grab is used only
        when both answers are None (the one after accounts for every window change up to the grab).
        """
        if self._capture is None:
            return None
        if self.capture_kind == "window":
            return self._capture.hidden()
        if not self.window_id:  # a bare screen region: no window to check the stacking of
            return None
        if self._cover is None:
            assert self.desktop is not None
            self._cover = self.desktop.cover_watch()
        return self._cover.reason(self.window_id, self._rect)

    def has_focus(self) -> bool:
        if not self.config.require_focus:
            return True
        try:
            return self.desktop is not None and self.desktop.has_focus(self.window_id)
        except Exception:
            return False

    def apply(self, action: EnvAction) -> None:
        with self._lock:
            if self._closed:
                return
            inj = self._injector
            assert inj is not None, "open() first"
            for env_key, name in self.config.bindings.items():
                want = bool(action.get(env_key, 0))
                held = name in self._held
                if want and not held:
                    self._held.append(name)
                    inj.press(name)
                    if env_key == "inventory" and self._gui_watch is None:  # no reading from the game
                        self.gui_open = not self.gui_open
                        self._law.reset()
                        self._gui_law.reset()
                elif held and not want and not self._wanted_elsewhere(name, env_key, action):
                    self._held.remove(name)
                    inj.release(name)
            pitch, yaw = action.get("camera", (0.0, 0.0))
            if self.config.invert_y:
                pitch = -pitch
            if self.gui_open:
                dx, dy = self._gui_law.counts(pitch, yaw)
                if dx or dy:
                    x, y = inj.pointer()
                    left, top, width, height = self._rect
                    inj.move_to(
                        min(max(x + dx, left), left + width - 1), min(max(y + dy, top), top + height - 1)
                    )
            else:
                dx, dy = self._law.counts(pitch, yaw)
                inj.move_by(dx, dy)
            inj.flush()

    def _wanted_elsewhere(self, name: str, env_key: str, action: Mapping[str, Any]) -> bool:
        """Two env keys bound to one physical key: keep it down while either wants it."""
        return any(k != env_key and b == name and action.get(k, 0) for k, b in self.config.bindings.items())

    def release_all(self) -> None:
        with self._lock:
            inj = self._injector
            held, self._held = self._held, []
            for name in reversed(held):
                try:
                    if inj is not None:
                        inj.release(name)
                except Exception:  # keep releasing the rest whatever happens
                    LOG.exception("could not release %s", name)
            if inj is not None and held:
                try:
                    inj.flush()
                except Exception:
                    LOG.exception("could not send the releases")
            self._law.reset()
            self._gui_law.reset()

    @property
    def held(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._held)

    def close(self) -> None:
        self.release_all()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._capture is not None:
                self._capture.close()
            if self._cover is not None:
                self._cover.close()
                self._cover = None
            if self._gui_watch is not None:
                self._gui_watch.close()
                self._gui_watch = None
            if self._injector is not None:
                self._injector.close()
            if self.desktop is not None and self._owns_desktop:
                self.desktop.close()
