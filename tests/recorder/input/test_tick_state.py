"""TickState: the hotbar, GUI and cursor fields a desktop tracks from the game's input."""

from __future__ import annotations

from recorder.input.tick_state import TickState


def test_wheel_wraps_and_number_keys_select() -> None:
    state = TickState()
    up = state.advance([], 1.0, 0, 0)  # wheel up from slot 0: the last slot
    assert (up.hotbar, up.hotbar_changed) == (8, True)
    down = state.advance([], -2.0, 0, 0)
    assert down.hotbar == 1
    key = state.advance(["key.keyboard.7"], 0.0, 0, 0)
    assert (key.hotbar, key.hotbar_changed) == (6, True)
    same = state.advance(["key.keyboard.7"], 0.0, 0, 0)
    assert (same.hotbar, same.hotbar_changed) == (6, False)
    assert TickState(slots=8).advance([], 1.0, 0, 0).hotbar == 7  # minetest's 8-slot hotbar


def test_gui_follows_inventory_and_escape_keys_and_the_caller_overrides() -> None:
    state = TickState((1000, 500), gui_scale=2.0)
    opening = state.advance(["key.keyboard.e"], 0.0, 0, 0)
    assert not opening.is_gui_open  # the frame of the key press still shows the game
    inside = state.advance([], 0.0, 10, -5)
    assert inside.is_gui_open and inside.is_gui_inventory
    assert (inside.x, inside.y) == (520.0, 240.0)  # the cursor moves by dx·guiScale from the centre
    assert (inside.scaled_x, inside.scaled_y) == (10.0, -5.0)
    assert not state.advance(["key.keyboard.3"], 0.0, 0, 0).hotbar_changed  # number keys act on slots
    state.advance(["key.keyboard.escape"], 0.0, 0, 0)
    closed = state.advance([], 0.0, 30, 0)
    assert not closed.is_gui_open and (closed.x, closed.y) == (500.0, 250.0)  # grabbed: centred
    told = state.advance([], 0.0, 0, 0, is_gui_open=True)  # e.g. a chest the keys cannot show
    assert told.is_gui_open and not told.is_gui_inventory
    assert not state.advance([], 0.0, 0, 0, is_gui_open=False).is_gui_open
    pause = state.advance(["key.keyboard.escape"], 0.0, 0, 0)
    assert not pause.is_gui_open and state.gui_open and not state.gui_inventory  # ESC: the pause screen
