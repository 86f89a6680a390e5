"""DesktopConnector semantics without a display: a recording injector stands in for pynput."""

from __future__ import annotations

import pytest

from app.games.desktop import DesktopConfig, DesktopConnector
from model.actions.env import null_action


class RecordingInjector:
    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.pos = (320, 180)
        self.flushes = 0

    def press(self, name: str) -> None:
        self.events.append(("press", name))

    def release(self, name: str) -> None:
        self.events.append(("release", name))

    def move_by(self, dx: int, dy: int) -> None:
        if dx or dy:
            self.events.append(("move_by", dx, dy))

    def move_to(self, x: int, y: int) -> None:
        self.pos = (x, y)
        self.events.append(("move_to", x, y))

    def pointer(self) -> tuple[int, int]:
        return self.pos

    def flush(self) -> None:
        self.flushes += 1

    def close(self) -> None:
        pass


def make(**cfg) -> tuple[DesktopConnector, RecordingInjector]:  # type: ignore[no-untyped-def]
    inj = RecordingInjector()
    conn = DesktopConnector(DesktopConfig(region=(0, 0, 640, 360), **cfg), injector=inj)
    return conn, inj


def act(**kw) -> dict:  # type: ignore[no-untyped-def]
    a = null_action()
    a.update(kw)
    return a


def test_held_state_press_on_rise_release_on_fall_never_repeat() -> None:
    conn, inj = make()
    for _ in range(3):
        conn.apply(act(forward=1, attack=1))
    assert inj.flushes == 3  # one send per tick
    conn.apply(act(forward=1))
    conn.apply(act())
    assert inj.events == [
        ("press", "key.keyboard.w"),
        ("press", "key.mouse.left"),
        ("release", "key.mouse.left"),
        ("release", "key.keyboard.w"),
    ]


def test_camera_becomes_relative_counts_with_remainder() -> None:
    conn, inj = make(degrees_per_count=0.15)
    conn.apply(act(camera=[3.0, 15.0]))
    assert inj.events == [("move_by", 100, 20)]
    inj.events.clear()
    for _ in range(3):
        conn.apply(act(camera=[0.0, 0.05]))
    assert inj.events == [("move_by", 1, 0)]  # three thirds of a count make one


def test_invert_y_and_rebinding() -> None:
    conn, inj = make(invert_y=True, bindings={"forward": "key.keyboard.up"})
    conn.apply(act(forward=1, back=1, camera=[1.5, 0.0]))
    assert inj.events == [("press", "key.keyboard.up"), ("move_by", 0, -10)]  # back is unbound here


def test_gui_open_moves_the_cursor_clipped_to_the_window() -> None:
    conn, inj = make(gui_scale=2.0)
    conn.apply(act(inventory=1))
    conn.apply(act(inventory=1, camera=[0.0, 3.0]))  # held E does not toggle again
    assert conn.gui_open
    assert inj.events[-1] == ("move_to", 360, 180)  # 3° / 0.15 * guiScale 2 = 40 px
    conn.apply(act(camera=[0.0, 100.0]))
    assert inj.events[-1] == ("move_to", 639, 180)
    conn.apply(act(inventory=1))  # second press closes it: relative look again
    assert not conn.gui_open
    conn.apply(act(camera=[0.0, 1.5]))
    assert inj.events[-1] == ("move_by", 10, 0)


def test_release_all_releases_everything_held_once() -> None:
    conn, inj = make()
    conn.apply(act(forward=1, jump=1, sneak=1, use=1))
    inj.events.clear()
    conn.release_all()
    conn.release_all()
    released = [e[1] for e in inj.events]
    assert sorted(released) == sorted(
        ["key.keyboard.w", "key.keyboard.space", "key.keyboard.left.shift", "key.mouse.right"]
    )
    assert conn.held == ()
    conn.apply(act(forward=1))  # and pressing again afterwards is a fresh press
    assert inj.events[-1] == ("press", "key.keyboard.w")


def test_close_releases_and_then_ignores_actions() -> None:
    conn, inj = make()
    conn.apply(act(drop=1))
    conn.close()
    assert inj.events[-1] == ("release", "key.keyboard.q")
    conn.apply(act(drop=1))
    assert inj.events[-1] == ("release", "key.keyboard.q")


def test_needs_a_target() -> None:
    conn = DesktopConnector(DesktopConfig())
    with pytest.raises(ValueError, match="title, its pid, or a screen region"):
        conn.open()
