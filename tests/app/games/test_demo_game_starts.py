"""Two demo games started in the same second both run (minetest 5.6 seeds its singleplayer port with
the clock's second: without taking turns the second one failed to bind, two runs out of two)."""

from __future__ import annotations

import threading

import pytest

from app.games.demo_game import DemoGame, DemoGameConfig, find_binary

pytestmark = [pytest.mark.xvfb, pytest.mark.game]


def test_two_games_started_together_both_join(xvfb: str) -> None:
    if find_binary() is None:
        pytest.skip("minetest is not installed (apt-get install minetest)")
    # not die_with_parent: the death signal follows the thread that started the game, and these end
    games = [DemoGame(DemoGameConfig(), display=xvfb) for _ in range(2)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def start(game: DemoGame) -> None:
        barrier.wait()
        try:
            game.start(timeout=60, focus=False)
        except BaseException as exc:  # reported below, with minetest's own log
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(g,)) for g in games]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert all(g.proc is not None and g.proc.poll() is None for g in games)
    finally:
        for g in games:
            g.close()
