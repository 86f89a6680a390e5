"""Global keyboard and mouse listening, minus the agent's own input.

On X11 every synthetic event the agent injects (XTEST) reaches the XRecord listener exactly like a
human's, and pynput's ``injected`` flag is always False there. So the injector writes down each
event before it sends it (``InjectionLedger.expect_*``) and the listener crosses off what it sees;
whatever is left unclaimed is the person. Pointer moves back to where the pointer was before an agent
move are the game re-centring its captured mouse ("warp-back") and are claimed too.

``InputListener`` turns pynput callbacks into ``InputEvent``s (keys named by physical key, so Shift+W
is still ``key.keyboard.w``), puts human ones on a queue, and calls ``on_event`` on the listener
thread so a panic key can act without waiting for the next tick.

Only input to the game is the person playing. With a ``scope`` (recorder.input.scope: the game has
focus and the pointer is over it) everything else is dropped: keys typed into jarvis-play's dialogs,
the pointer crossing other windows, the pointer's jump into the game when it takes focus (the first
position after entering is a jump, not a move). Leaving the game releases what the person held there,
as the game itself forgets held keys on focus loss. ``hotkeys`` (panic, pause, save) still reach
``on_event`` from anywhere, without becoming game input.

Pointer deltas are measured from the last position seen, whoever moved it. A game that holds the mouse
warps the pointer back to its grab centre after every move; a motion that lands exactly on that centre
is such a warp and not a move, whenever it comes (a time window cannot tell a quick real move from
a warp). Without a scope the centre is that of the window with focus and nothing is filtered out.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from recorder.desktop.protocol import Desktop
from recorder.desktop.scopes import FocusedWindowScope, WindowScope
from recorder.input import keymap
from recorder.input.events import EventKind, InputEvent
from recorder.input.scope import GameScope, PredicateScope

LOG = logging.getLogger(__name__)


@dataclass
class _Expected:
    kind: str  # InputEvent kind, or "warp" for an optional game re-centring move
    key: str
    x: int
    y: int
    t: float


class InjectionLedger:
    """Events the agent sent and the listener has not yet seen. Thread-safe."""

    def __init__(self, ttl: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl  # an expectation older than this is dropped (its event was lost or merged)
        self._clock = clock
        self._lock = threading.Lock()
        self._items: deque[_Expected] = deque()
        self.claimed = 0
        self.expired = 0  # expectations dropped unseen (not counting warps)

    def expect(self, kind: EventKind, key: str) -> None:
        with self._lock:
            self._items.append(_Expected(kind, key, 0, 0, self._clock()))

    def expect_move(self, x: int, y: int, origin: tuple[int, int] | None = None) -> None:
        """A pointer move to (x, y); ``origin``: where a pointer-capturing game will warp it back to."""
        now = self._clock()
        with self._lock:
            self._items.append(_Expected("move", "", int(x), int(y), now))
            if origin is not None:
                self._items.append(_Expected("warp", "", int(origin[0]), int(origin[1]), now))

    def claim(self, event: InputEvent) -> bool:
        """True (and crossed off) when ``event`` is one the agent injected."""
        with self._lock:
            now = self._clock()
            while self._items and now - self._items[0].t > self.ttl:
                gone = self._items.popleft()
                # a warp is optional; a lost event of ours may yet arrive and count as the person's
                if gone.kind != "warp":
                    self.expired += 1
                    LOG.info("an injected %s %s was not seen within %.1f s", gone.kind, gone.key, self.ttl)
            for i, item in enumerate(self._items):
                if event.kind == "move":
                    hit = item.kind in ("move", "warp") and (item.x, item.y) == (int(event.x), int(event.y))
                else:
                    hit = item.kind == event.kind and item.key == event.key
                if hit:
                    del self._items[i]
                    self.claimed += 1
                    return True
            return False

    def pending(self) -> int:
        with self._lock:
            return sum(1 for item in self._items if item.kind != "warp")


class InputListener:
    """Global pynput listeners -> human ``InputEvent``s. ``start()``/``stop()``; a context manager."""

    def __init__(
        self,
        ledger: InjectionLedger | None = None,
        on_event: Callable[[InputEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        scope: GameScope | None = None,
        hotkeys: Collection[str] = (),
        desktop: Desktop | None = None,
    ) -> None:
        self.ledger = ledger or InjectionLedger()
        self.desktop = desktop  # key names, the pointer, the scope's questions; None: names only
        self.on_event = on_event
        self.events: queue.SimpleQueue[InputEvent] = queue.SimpleQueue()
        self.scope = scope  # closed by stop()
        self.filtering = scope is not None  # False: every event counts (no game named)
        self.hotkeys = frozenset(hotkeys)
        self._clock = clock
        self._lock = threading.Lock()
        self._state = threading.RLock()  # scope state, shared by the keyboard and mouse threads
        self._listeners: list[Any] = []
        self._last_pos: tuple[float, float] | None = None
        self._names: dict[int, str | None] = {}
        self._down: set[str] = set()  # keys down now (anyone's), to drop auto-repeat
        self._held: dict[str, EventKind] = {}  # the person's keys/buttons down in the game -> release kind
        self._inside = True
        self._jump_pending = False
        self.human_count = 0
        self.warps = 0  # motions dropped as the game re-centring the pointer
        self.jumps = 0  # first positions after entering the game
        self.outside = 0  # events dropped as not input to the game

    @classmethod
    def for_game(
        cls,
        desktop: Desktop,
        window_id: int,
        ledger: InjectionLedger | None = None,
        on_event: Callable[[InputEvent], None] | None = None,
        hotkeys: Collection[str] = (),
    ) -> InputListener:
        """A listener that counts only input to the game window ``window_id`` (not started)."""
        scope = WindowScope(desktop, window_id)
        return cls(ledger, on_event, scope=scope, hotkeys=hotkeys, desktop=desktop)

    @classmethod
    def hotkeys_only(
        cls,
        desktop: Desktop,
        ledger: InjectionLedger | None = None,
        on_event: Callable[[InputEvent], None] | None = None,
        hotkeys: Collection[str] = (),
    ) -> InputListener:
        """A listener for the global hotkeys alone (not started): where there is no game window, no
        focus tells input to the game from typing elsewhere, so no event counts as the person's."""
        nowhere = PredicateScope(lambda _x, _y: False, lambda: None)
        return cls(ledger, on_event, scope=nowhere, hotkeys=hotkeys, desktop=desktop)

    def start(self) -> InputListener:
        """Start listening on the desktop's display (pynput reads ``$DISPLAY``: it must be the same).
        Raises ImportError (as pynput itself does) when there is no display."""
        try:
            from pynput import keyboard, mouse  # optional: importing pynput needs a display
        except ImportError as exc:
            raise ImportError(f"no global input listening: {exc}") from exc

        # Motion events carry absolute positions; without the starting position the person's first
        # move would read as no move and the game's warp back to the centre as a move the other way.
        self._last_pos = _pointer_position(self.desktop, mouse)
        if self.scope is None and self.desktop is not None:
            self.scope = FocusedWindowScope(self.desktop)
        with self._state:
            self._inside = not self.filtering or (
                self._last_pos is not None and self._in_game(*self._last_pos)
            )
        kb = _physical_keys(keyboard.Listener)(on_press=self._on_press, on_release=self._on_release)
        ms = mouse.Listener(on_move=self._on_move, on_click=self._on_click, on_scroll=self._on_scroll)
        for listener in (kb, ms):
            listener.daemon = True
            listener.start()
        self._listeners = [kb, ms]
        deadline = time.monotonic() + 5.0
        # pynput's wait() blocks forever if its thread dies (display gone): poll with a deadline instead
        while not all(getattr(listener, "_ready", True) for listener in (kb, ms)):
            if time.monotonic() > deadline or not all(listener.is_alive() for listener in (kb, ms)):
                self.stop()
                raise RuntimeError("the input listener could not connect to the display")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        for listener in self._listeners:
            listener.stop()
            _wake(listener)
        for listener in self._listeners:  # stop() is asynchronous: wait, so no thread outlives the display
            listener.join(timeout=2.0)
        self._listeners = []
        if self.scope is not None:
            self.scope.close()
            self.scope = None

    def __enter__(self) -> InputListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drain(self) -> list[InputEvent]:
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    # ----- pynput callbacks (listener threads) -----------------------------------------------
    def _key_name(self, key: Any) -> str | None:
        vk = getattr(getattr(key, "value", key), "vk", None)
        if vk is None:
            return None
        if vk not in self._names:
            self._names[vk] = self._canonical(vk)
        return self._names[vk]

    def _canonical(self, keysym: int) -> str | None:
        """Name of the physical key: keysym -> keycode -> the keycode's unshifted keysym."""
        if self.desktop is not None:
            with self._lock:
                keysym = self.desktop.key_name(keysym)
        if 0x41 <= keysym <= 0x5A:  # an uppercase letter the keymap did not resolve
            keysym += 0x20
        return keymap.from_keysym(keysym) or f"key.keysym.{keysym:#x}"

    # ----- scope ------------------------------------------------------------------------------
    def _in_game(self, x: float, y: float) -> bool:
        if not self.filtering or self.scope is None:
            return True
        try:
            return self.scope.in_game(x, y)
        except Exception:  # a failing scope must not kill the listener thread: nothing counts
            LOG.exception("input scope failed")
            return False

    def _enter_or_leave(self, inside: bool) -> list[InputEvent]:
        """Track the game's scope (call with ``_state`` held); the releases leaving it implies."""
        if inside == self._inside:
            return []
        self._inside = inside
        if inside:
            self._jump_pending = True
            return []
        now = self._clock()
        releases = [InputEvent(kind, now, key=key) for key, kind in self._held.items()]
        self._held.clear()
        return releases

    def check_scope(self) -> None:
        """Notice a focus change no event revealed (the loop may call this each tick)."""
        if not self.filtering:
            return
        with self._state:
            pos = self._last_pos
            releases = self._enter_or_leave(pos is not None and self._in_game(*pos))
        self._deliver(releases)

    def _deliver(self, events: list[InputEvent]) -> None:
        for event in events:
            self.events.put(event)
            self._call(event)

    def _call(self, event: InputEvent) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a failing handler must not kill the listener thread
                LOG.exception("input handler failed")

    def _emit(self, event: InputEvent) -> None:
        if self.ledger.claim(event):
            with self._state:
                ends_a_hold = (
                    event.kind in ("key_up", "button_up") and self._held.get(event.key) == event.kind
                )
            if not ends_a_hold:
                return
            # The agent released a key taken for the person's (their press, or ours seen after its
            # expectation expired). It is up now, whoever sent the release, so the person's hold ends
            # too: else a hold nobody has would keep the agent from ever getting control back.
        with self._state:
            if event.kind in ("key_down", "button_down"):
                self._held[event.key] = "key_up" if event.kind == "key_down" else "button_up"
            elif event.kind in ("key_up", "button_up"):
                self._held.pop(event.key, None)
        self.human_count += 1
        self.events.put(event)
        self._call(event)

    def _key_or_button(self, event: InputEvent) -> None:
        """A key or button event at the pointer's last position: the game's, a hotkey, or dropped."""
        with self._state:
            pos = self._last_pos if event.kind in ("key_down", "key_up") else (event.x, event.y)
            inside = pos is not None and self._in_game(*pos)
            releases = self._enter_or_leave(inside)
        self._deliver(releases)
        if inside:
            self._emit(event)
        elif event.key in self.hotkeys:
            self._call(event)  # panic/pause work from anywhere, but are not the person's game input
        else:
            self.ledger.claim(event)  # ours or not, it is not game input; ours is crossed off the ledger
            self.outside += 1

    def _key(self, kind: EventKind, name: str) -> None:
        # X repeats a held key's KeyPress (auto-repeat) for the agent's keys and the person's alike:
        # only the first press of a key that is down is an event
        if kind == "key_down":
            if name in self._down:
                return
            self._down.add(name)
        else:
            self._down.discard(name)
        self._key_or_button(InputEvent(kind, self._clock(), key=name))

    def _on_press(self, key: Any, injected: bool = False) -> None:
        name = self._key_name(key)
        if name and not injected:  # injected=True: pynput's in-process echo of our own controller
            self._key("key_down", name)

    def _on_release(self, key: Any, injected: bool = False) -> None:
        name = self._key_name(key)
        if name and not injected:
            self._key("key_up", name)

    def _on_move(self, x: float, y: float, injected: bool = False) -> None:
        if injected:
            return
        with self._state:
            prev = self._last_pos
            self._last_pos = (x, y)  # every position, in the game or not: deltas start from here
            inside = self._in_game(x, y)
            releases = self._enter_or_leave(inside)
            event = None
            if not inside:
                self.ledger.claim(InputEvent("move", self._clock(), x=x, y=y))  # crossed off if ours
                self.outside += 1
            elif self._jump_pending:  # the first position in the game: how it got there is no move
                self._jump_pending = False
                self.jumps += 1
            elif self._is_warp(x, y):
                self.warps += 1
            elif prev is not None and (x, y) != prev:
                event = InputEvent("move", self._clock(), dx=x - prev[0], dy=y - prev[1], x=x, y=y)
        self._deliver(releases)
        if event is not None:
            self._emit(event)

    def _is_warp(self, x: float, y: float) -> bool:
        if self.scope is None:
            return False
        try:
            centre = self.scope.centre()
        except Exception:
            return False
        return centre is not None and (round(x), round(y)) == centre

    def _on_click(self, x: float, y: float, button: Any, pressed: bool, injected: bool = False) -> None:
        name = keymap.from_pynput_button(button) or f"key.mouse.{getattr(button, 'name', button)}"
        if not injected:
            kind: EventKind = "button_down" if pressed else "button_up"
            self._key_or_button(InputEvent(kind, self._clock(), key=name, x=x, y=y))

    def _on_scroll(self, x: float, y: float, dx: float, dy: float, injected: bool = False) -> None:
        if injected:
            return
        with self._state:
            inside = self._in_game(x, y)
            releases = self._enter_or_leave(inside)
        self._deliver(releases)
        if inside:
            self._emit(InputEvent("scroll", self._clock(), dx=dx, dy=dy, x=x, y=y))
        else:
            self.outside += 1


SHIFT_AND_LOCK = 0x3  # X's ShiftMask | LockMask


class _Unshifted:
    """An X key event as it would be without Shift or Caps Lock (every other field as it is)."""

    def __init__(self, event: Any) -> None:
        self._event = event
        self.state = event.state & ~SHIFT_AND_LOCK

    def __getattr__(self, name: str) -> Any:
        return getattr(self._event, name)


def _physical_keys(listener: type) -> type:
    """pynput's keyboard listener, naming each event by the key pressed rather than by what Shift made
    of it. pynput hands on only the shifted keysym ("(" for Shift+9), and going back from a keysym to a
    key is ambiguous: Xvfb's and evdev's keymaps also put "(" alone on the keypad's "(" key, so the
    agent's own Shift+9 (sneak and hotbar 9) was named key.keysym.0x28, went unclaimed by the ledger
    and read as the person taking over. On X11 pynput converts each event in ``_event_to_key``, which
    this wraps; elsewhere it is never called and keys are named as before."""

    class PhysicalKeys(listener):  # type: ignore[misc]
        def _event_to_key(self, display: Any, event: Any) -> Any:
            return super()._event_to_key(display, _Unshifted(event))

    return PhysicalKeys


def _pointer_position(desktop: Desktop | None, mouse: Any) -> tuple[float, float] | None:
    """Where the pointer is now (the desktop's, else pynput's controller), or None if unknown."""
    try:
        if desktop is not None:
            x, y = desktop.pointer()
            return float(x), float(y)
        x, y = mouse.Controller().position
        return float(x), float(y)
    except Exception:  # unknown: the first move then counts from its own position, as before
        return None


def _wake(listener: Any) -> None:
    """Make pynput's X11 listener thread notice ``stop()`` now rather than at the next input event.

    pynput queues the XRecord "disable" request on the connection its thread is blocked on without
    flushing it, so the thread only ends when some key or pointer event arrives (seconds, or never on
    an idle Xvfb). Sending the same request on its second connection, as its own cleanup does, ends it.
    """
    display = getattr(listener, "_display_stop", None)
    context = getattr(listener, "_context", None)
    if display is None or context is None:
        return
    try:
        display.record_disable_context(context)
        display.flush()
    except Exception:  # already closed: the thread is ending anyway
        pass
