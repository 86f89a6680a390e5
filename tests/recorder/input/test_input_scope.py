"""The listener counts only input to the game, and tells the game's warps from moves by the grab centre.

These drive the listener's own callbacks (the ones pynput calls) with the positions X reports, in the
order X reports them; the real-display checks are in test_input_minetest.py.
"""

from __future__ import annotations

from typing import Any

from recorder.input.events import InputEvent
from recorder.input.listener import InputListener
from recorder.input.scope import PredicateScope, grab_centre

GAME = (100, 50, 640, 360)  # left, top, width, height of the game window on the screen
CENTRE = grab_centre(GAME)  # (420, 230)


class Game:
    """Focus and the window the scope asks about."""

    def __init__(self, focused: bool = True) -> None:
        self.focused = focused

    def in_game(self, x: float, y: float) -> bool:
        left, top, w, h = GAME
        return self.focused and left <= x < left + w and top <= y < top + h


def listener(game: Game, start: tuple[float, float] | None = CENTRE, **kw: Any) -> InputListener:
    got: list[InputEvent] = []
    lst = InputListener(scope=PredicateScope(game.in_game, lambda: CENTRE), on_event=got.append, **kw)
    lst._last_pos = start
    lst._inside = start is not None and game.in_game(*start)
    lst.handled = got  # type: ignore[attr-defined]
    return lst


def moves(lst: InputListener) -> list[tuple[float, float]]:
    return [(e.dx, e.dy) for e in lst.drain() if e.kind == "move"]


def test_a_quick_turn_is_counted_whole_and_the_warp_back_not_at_all() -> None:
    lst = listener(Game())
    cx, cy = CENTRE
    # +120 px arriving as two motions before the game re-centres, then its warp, then another turn
    for x, y in ((cx + 105, cy), (cx + 120, cy), (cx, cy), (cx - 30, cy + 4), (cx, cy)):
        lst._on_move(x, y)
    assert moves(lst) == [(105, 0), (15, 0), (-30, 4)]
    assert lst.warps == 2


def test_a_move_is_measured_from_where_the_pointer_was_even_without_a_warp_between() -> None:
    lst = listener(Game())
    cx, cy = CENTRE
    # a slow game misses its warp: the next motion still counts from the last position, not the centre
    for x, y in ((cx + 10, cy), (cx + 25, cy), (cx + 12, cy)):
        lst._on_move(x, y)
    assert moves(lst) == [(10, 0), (15, 0), (-13, 0)]  # sum 12: where the game reads the pointer


def test_nothing_outside_the_game_counts_and_entering_is_a_jump() -> None:
    game = Game()
    lst = listener(game, start=(900, 600))  # the pointer starts outside the game window
    lst._on_move(950, 620)
    lst._on_press(_Key(0x77))  # typing into another window
    lst._on_release(_Key(0x77))
    lst._on_click(950, 620, _Button("left"), True)
    lst._on_scroll(950, 620, 0, 1)
    assert lst.drain() == [] and lst.human_count == 0
    lst._on_move(300, 200)  # into the game: the first position is a jump
    lst._on_move(310, 203)  # then a move
    assert moves(lst) == [(10, 3)]
    assert lst.jumps == 1


def test_focus_elsewhere_drops_input_over_the_game_window() -> None:
    game = Game(focused=False)  # a jarvis-play dialog has focus, the pointer is over the game
    lst = listener(game)
    lst._on_press(_Key(0x61))
    lst._on_move(CENTRE[0] + 40, CENTRE[1])
    assert lst.drain() == [] and lst.human_count == 0
    game.focused = True  # the game takes focus; its first pointer position is a jump, even off-centre
    lst._on_move(CENTRE[0] + 44, CENTRE[1])
    lst._on_move(CENTRE[0], CENTRE[1])  # the game's warp on activation
    lst._on_move(CENTRE[0] + 8, CENTRE[1])
    assert moves(lst) == [(8, 0)]


def test_leaving_the_game_releases_what_the_person_held_there() -> None:
    game = Game()
    lst = listener(game)
    lst._on_press(_Key(0x77))
    lst._on_click(*CENTRE, _Button("left"), True)
    game.focused = False
    lst.check_scope()  # focus moved with no event: the loop notices at its next tick
    kinds = [(e.kind, e.key) for e in lst.drain()]
    assert kinds == [
        ("key_down", "key.keyboard.w"),
        ("button_down", "key.mouse.left"),
        ("key_up", "key.keyboard.w"),
        ("button_up", "key.mouse.left"),
    ]
    lst._on_release(_Key(0x77))  # the real release, outside: already accounted for
    assert lst.drain() == []


def test_hotkeys_reach_the_handler_from_anywhere_but_are_not_game_input() -> None:
    game = Game(focused=False)
    lst = listener(game, hotkeys={"key.keyboard.f12"})
    lst._on_press(_Key(0xFFC9))  # F12
    lst._on_press(_Key(0x77))
    assert [e.key for e in lst.handled] == ["key.keyboard.f12"]  # type: ignore[attr-defined]
    assert lst.drain() == [] and lst.human_count == 0


def test_without_a_scope_every_event_counts_and_warps_still_drop() -> None:
    lst = InputListener(scope=PredicateScope(lambda x, y: False, lambda: CENTRE))
    lst.filtering = False  # how a listener without a named game behaves
    lst._last_pos = CENTRE
    for x, y in ((CENTRE[0] + 9, CENTRE[1]), CENTRE, (2000, 2000)):
        lst._on_move(x, y)
    lst._on_press(_Key(0x61))
    events = lst.drain()
    assert [(e.kind, e.dx) for e in events] == [("move", 9), ("move", 2000 - CENTRE[0]), ("key_down", 0.0)]


class _Key:
    """What pynput hands the callbacks for a key: an object with the keysym as ``vk``."""

    def __init__(self, vk: int) -> None:
        self.vk = vk


class _Button:
    def __init__(self, name: str) -> None:
        self.name = name


def test_the_agents_release_of_a_key_taken_for_the_persons_ends_that_hold() -> None:
    """Seen in a replay under load: its W press counted as the person's, then its own release claimed as
    the agent's, so the person "held" W for ever and the agent never got control back (the run hung)."""
    lst = listener(Game())
    lst._on_press(_Key(0x77))  # taken for the person's (its expectation had expired, or it was theirs)
    lst.ledger.expect("key_up", "key.keyboard.w")  # the agent, told to stop, releases what it held
    lst._on_release(_Key(0x77))
    assert [(e.kind, e.key) for e in lst.drain()] == [
        ("key_down", "key.keyboard.w"),
        ("key_up", "key.keyboard.w"),
    ]
    assert lst._held == {}
    lst.ledger.expect("key_down", "key.keyboard.w")  # the agent's own press and release stay its own
    lst.ledger.expect("key_up", "key.keyboard.w")
    lst._on_press(_Key(0x77))
    lst._on_release(_Key(0x77))
    assert lst.drain() == [] and lst.human_count == 2


def test_the_agents_input_outside_the_game_is_crossed_off_so_the_persons_next_input_counts() -> None:
    """The agent's last press and move land while focus is elsewhere (the person clicked into the
    window): not game input, but the agent's. Left on the ledger, they would take the person's own press
    of that key and a move to that spot, back in the game within the second, for the agent's."""
    game = Game(focused=False)
    lst = listener(game)
    spot = (CENTRE[0] + 5, CENTRE[1])
    lst.ledger.expect("key_down", "key.keyboard.w")
    lst._on_press(_Key(0x77))  # the agent's press, outside the game
    lst.ledger.expect("key_up", "key.keyboard.w")
    lst._on_release(_Key(0x77))
    lst.ledger.expect_move(*spot)
    lst._on_move(*spot)  # the agent's move, outside too
    assert lst.ledger.pending() == 0 and lst.drain() == []
    game.focused = True  # the person clicks back into the game, moves onto that spot and presses W
    lst._on_move(CENTRE[0] + 1, CENTRE[1])  # the jump in
    lst._on_move(*spot)
    lst._on_press(_Key(0x77))
    assert [(e.kind, e.key, e.dx) for e in lst.drain()] == [
        ("move", "", 4.0),
        ("key_down", "key.keyboard.w", 0.0),
    ]
