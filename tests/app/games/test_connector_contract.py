"""Every connector keeps the written-down contract of app.games.connector.Connector.

In the spirit of Gymnasium's ``check_env``: one checker, run against each connector (the test pattern,
the MineRL adapter over a small gym-style env, the desktop connector on a real minetest under Xvfb).
The members checked are read from the Protocol itself, and each must have a check here, so a member
added to the Protocol without one, or a connector that lacks one, fails.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from app.games.connector import FRAME_SIZE, Connector
from app.games.desktop import DesktopConfig
from model.actions.env import null_action
from recorder.input.listener import InjectionLedger


def _is_rect(v: Any) -> bool:
    return (
        isinstance(v, tuple)
        and len(v) == 4
        and all(isinstance(n, int) and not isinstance(n, bool) for n in v)
        and v[2] > 0
        and v[3] > 0
    )


# member -> what its value must be; methods are checked by calling them below
VALUE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "realtime": lambda v: isinstance(v, bool),
    "ledger": lambda v: v is None or isinstance(v, InjectionLedger),
    "config": lambda v: v is None or isinstance(v, DesktopConfig),
    "display": lambda v: v is None or isinstance(v, str),
    "window_id": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    "window_title": lambda v: isinstance(v, str),
    "rect": _is_rect,
    "gui_open": lambda v: isinstance(v, bool),
    "cursor": lambda v: (
        v is None or (isinstance(v, tuple) and len(v) == 2 and all(isinstance(n, float) for n in v))
    ),
    "finished": lambda v: isinstance(v, bool),
}
METHODS = ("observe", "policy_frame", "apply", "release_all", "has_focus", "covered", "close")


def protocol_members() -> tuple[set[str], set[str]]:
    """(data members, methods) the Protocol declares: annotations and properties, plain functions."""
    own = {k: v for k, v in vars(Connector).items() if not k.startswith("_")}
    data = set(Connector.__annotations__) | {k for k, v in own.items() if isinstance(v, property)}
    methods = {k for k, v in own.items() if inspect.isfunction(v)}
    return data, methods


def test_the_protocol_declares_what_callers_use_and_says_why() -> None:
    data, methods = protocol_members()
    assert data == set(VALUE_CHECKS), "a Protocol member without a check here (or a check for a gone one)"
    assert methods == set(METHODS)
    for name in (data - {"realtime"}) | methods:
        doc = inspect.getdoc(getattr(Connector, name))
        assert doc and len(doc) > 20, f"Connector.{name} needs a docstring saying why it exists"


# ----- the connectors -------------------------------------------------------------------------------
def _fake() -> Any:
    from app.games.fake import FakeConnector

    return FakeConnector()


def _minerl() -> Any:
    from app.games.minerl_env import MineRLConnector
    from tests.app.games.test_minerl_connector import GymEnv

    return MineRLConnector(GymEnv()).open()


def _desktop(request: pytest.FixtureRequest) -> Any:
    from app.games.desktop import DesktopConnector

    game = request.getfixturevalue("game")  # a real minetest under the session's Xvfb, focused
    xvfb = request.getfixturevalue("xvfb")
    return DesktopConnector(DesktopConfig(pid=game.proc.pid), display=xvfb).open()


@pytest.fixture(
    params=[
        pytest.param("fake"),
        pytest.param("minerl"),
        pytest.param("desktop", id="desktop-minetest", marks=[pytest.mark.xvfb, pytest.mark.game]),
    ]
)
def connector(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "desktop":
        conn = _desktop(request)
    else:
        conn = {"fake": _fake, "minerl": _minerl}[request.param]()
    try:
        yield conn
    finally:
        conn.close()


# ----- the checker ------------------------------------------------------------------------------------
def test_declared_members_exist_with_the_right_types(connector: Any) -> None:
    assert isinstance(connector, Connector)
    data, methods = protocol_members()
    for name in sorted(data):
        value = getattr(connector, name)  # AttributeError here: a member the connector lacks
        assert VALUE_CHECKS[name](value), f"{type(connector).__name__}.{name} = {value!r}"
    for name in sorted(methods):
        assert callable(getattr(connector, name)), name
    # input goes to the desktop exactly when there is a config saying how: both or neither
    assert (connector.ledger is None) == (connector.config is None)
    assert connector.finished is False  # freshly opened


def test_observe_gives_model_frames(connector: Any) -> None:
    for _ in range(2):
        frame = connector.observe()
        assert isinstance(frame, np.ndarray)
        assert frame.shape == (FRAME_SIZE[1], FRAME_SIZE[0], 3) == (360, 640, 3)
        assert frame.dtype == np.uint8
        before = frame.copy()
        seen = connector.policy_frame(frame)
        assert seen.shape == frame.shape and seen.dtype == np.uint8
        assert np.array_equal(frame, before)  # the observed frame (the recording's) is never drawn on


# what each connector has done to its game so far: the witness that a repeated release or an apply
# after close did nothing (the desktop's ledger holds every event it injected, none are claimed here)
EFFECTS: dict[str, Callable[[Any], int]] = {
    "FakeConnector": lambda c: len(c.applied) + len(c.presses) + len(c.releases),
    "MineRLConnector": lambda c: c.steps,
    "DesktopConnector": lambda c: c.ledger.pending(),
}


def test_apply_release_and_close_are_safe_to_repeat_and_after_close(connector: Any) -> None:
    effects = EFFECTS[type(connector).__name__]
    press = dict(null_action(), forward=1, camera=[0.0, 2.0])
    connector.apply(null_action())
    connector.apply(null_action())
    connector.apply(press)
    connector.release_all()
    released = effects(connector)
    assert released > 0  # the witness sees what a connector does
    connector.release_all()
    assert effects(connector) == released  # nothing left to release the second time
    connector.close()
    connector.close()
    closed = effects(connector)
    connector.release_all()  # the safety path may fire after the game closed (a signal, the panic key)
    connector.apply(press)
    connector.apply(null_action())
    connector.release_all()
    assert effects(connector) == closed  # a closed connector touches nothing


def test_has_focus_is_a_bool(connector: Any) -> None:
    assert type(connector.has_focus()) is bool
    connector.release_all()
    assert type(connector.has_focus()) is bool


def test_a_focused_unobstructed_game_is_not_covered(connector: Any) -> None:
    """Nothing is over the game: ``covered`` must say None (a game window just captured may first wait
    for the game to draw once, a few frames), and keep saying it while frames come."""
    deadline = time.monotonic() + 5.0
    while (reason := connector.covered()) is not None and time.monotonic() < deadline:
        connector.observe()
        time.sleep(0.05)
    assert reason is None, f"{type(connector).__name__} says the game is covered: {reason!r}"
    for _ in range(3):
        connector.observe()
        assert connector.covered() is None
