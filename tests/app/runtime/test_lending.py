"""What a loop borrows: the policy one call at a time, the connector without closing it."""

from __future__ import annotations

import threading
import time

import numpy as np

from app.games.connector import Connector
from app.games.fake import FakeConnector
from app.runtime.lending import LentConnector, LentPolicy
from app.session import Session
from app.settings import Settings
from model.actions.env import null_action
from model.policies.base import PolicyStep


class SlowPolicy:
    def __init__(self) -> None:
        self.inside = 0
        self.most_inside = 0
        self.closed = False

    def reset(self) -> None:
        pass

    def act(self, frame: np.ndarray, instruction: str) -> PolicyStep:
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        time.sleep(0.05)
        self.inside -= 1
        return PolicyStep([null_action()])

    def close(self) -> None:
        self.closed = True


def test_two_loops_never_call_the_lent_policy_at_once_and_never_close_it() -> None:
    policy = SlowPolicy()
    lent = LentPolicy(policy)  # type: ignore[arg-type]
    frame = np.zeros((360, 640, 3), np.uint8)
    # a stopped loop's worker still in its call, and the next loop's worker starting one
    threads = [threading.Thread(target=lent.act, args=(frame, "x")) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert policy.most_inside == 1 and lent.wait_idle(timeout=1.0)
    lent.close()
    assert not policy.closed


def test_a_session_lends_one_policy_to_every_loop_and_waits_for_it_before_closing_it() -> None:
    policy = SlowPolicy()
    session = Session(Settings(tick_hz=50), listen=False, policy_factory=lambda spec, settings: policy)  # type: ignore[arg-type,return-value]
    session.open_game("fake")
    session.load_model("http://127.0.0.1:9")  # a name only: the factory above makes the policy
    lent = session._lent
    session.start(seconds=0.2)
    session.wait(timeout=10)
    session.start(seconds=0.2)
    assert session.loop is not None and session.loop.policy is lent  # the same lending, the same lock
    session.wait(timeout=10)
    session.close()
    assert policy.closed and policy.most_inside == 1


def test_the_lent_connector_is_a_connector_that_remembers_its_action_and_is_not_closed_by_the_loop() -> None:
    inner = FakeConnector()
    lent = LentConnector(inner)
    assert isinstance(lent, Connector)
    action = {**null_action(), "forward": 1}
    lent.apply(action)
    assert lent.action == action
    lent.close()
    assert lent.observe().shape == (360, 640, 3)  # still open: the session closes the game
    assert (lent.rect, lent.realtime, lent.window_id) == (inner.rect, inner.realtime, inner.window_id)
    inner.close()
