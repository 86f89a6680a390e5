"""Drive an already-open connector through the composition root (``app.session.Session``).

Tests that play a real game or a fake one go through the same wiring every door uses: control,
loop, listener, safety net and recording all come from ``Session``, not from a test's own copy.
The connector is lent: closing the session leaves it open for the test's fixture to close.
"""

from __future__ import annotations

from typing import Any

from app.games.spec import GameSpec, OpenGame
from app.session import RunOutcome, Session
from app.settings import Settings


class _LentGame(OpenGame):
    def close(self) -> None:
        """The test's fixture owns the connector."""

    def focus(self) -> None:
        """Tests give focus themselves where it matters."""


def session_for(connector: Any, *, policy: Any = None, listen: bool = False, **settings: Any) -> Session:
    """A session playing ``connector`` (and ``policy`` when given); ``settings`` override Settings."""
    game = _LentGame(GameSpec("fake"), connector, "test game", game_name="test")
    session = Session(
        Settings(**settings),
        game_factory=lambda *_a, **_k: game,
        policy_factory=lambda *_a: policy,
        listen=listen,
    )
    session.open_game("fake")
    if policy is not None:
        session.load_model("tiny")  # the factory hands back ``policy`` whatever the spec
    return session


def play(
    connector: Any,
    *,
    timeout: float = 120.0,
    seconds: float | None = None,
    actions: Any = None,
    **kwargs: Any,
) -> RunOutcome:
    """One run to its end: ``actions`` replayed, or ``policy`` playing for ``seconds``."""
    session = session_for(connector, **kwargs)
    try:
        session.start(seconds=seconds, actions=actions)
        outcome = session.wait(timeout)
        assert outcome is not None, f"the run did not end within {timeout} s"
        return outcome
    finally:
        session.close()
