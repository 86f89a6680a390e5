"""The ledger tells the agent's own injected events from a person's (pynput's flag cannot on X11)."""

from __future__ import annotations

from recorder.input.events import InputEvent
from recorder.input.listener import InjectionLedger


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_own_keys_are_claimed_once_and_human_ones_are_not() -> None:
    ledger = InjectionLedger()
    ledger.expect("key_down", "key.keyboard.w")
    assert ledger.claim(InputEvent("key_down", 0.0, key="key.keyboard.w"))
    assert not ledger.claim(InputEvent("key_down", 0.0, key="key.keyboard.w"))  # a second W is the person's
    assert not ledger.claim(InputEvent("key_down", 0.0, key="key.keyboard.j"))
    assert not ledger.claim(InputEvent("key_up", 0.0, key="key.keyboard.w"))  # wrong direction


def test_moves_and_the_games_warp_back_are_claimed() -> None:
    ledger = InjectionLedger()
    ledger.expect_move(330, 180, origin=(320, 180))
    assert ledger.claim(InputEvent("move", 0.0, x=330, y=180))
    assert ledger.claim(InputEvent("move", 0.0, x=320, y=180))  # the game re-centred the pointer
    assert not ledger.claim(InputEvent("move", 0.0, x=400, y=200))  # the person moved the mouse
    assert ledger.claimed == 2


def test_expectations_expire_and_lost_events_are_counted_but_not_unused_warps() -> None:
    clock = Clock()
    ledger = InjectionLedger(ttl=1.0, clock=clock)
    ledger.expect("button_down", "key.mouse.left")
    ledger.expect_move(330, 180, origin=(320, 180))
    assert ledger.claim(InputEvent("move", 0.0, x=330, y=180))  # the game did not re-centre: no warp
    assert ledger.pending() == 1
    clock.t = 2.0
    assert not ledger.claim(InputEvent("button_down", 2.0, key="key.mouse.left"))
    assert ledger.pending() == 0
    assert ledger.expired == 1  # the click the listener never saw in time; the warp was optional
