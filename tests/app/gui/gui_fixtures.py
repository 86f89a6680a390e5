"""Fixtures for the window tests: a real window, controller and session, on the fake game.

Policies are chosen by spec: ``scripted-<name>`` gives a ScriptedPolicy walking forward and turning
right (fast, deterministic); ``fail`` raises as a broken checkpoint would; anything else goes to the
real factory (the tiny model folder, for instance). Every policy made is kept for the test to inspect.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from app.session import Session, make_policy
from app.settings import Settings
from model.checkpoint import CheckpointError
from model.policies.scripted import ScriptedPolicy

WALK_RIGHT = [{"forward": 1, "camera": [0.0, 3.0]}, {"forward": 1, "attack": 1, "camera": [1.0, 0.0]}]


@dataclass
class Factory:
    made: dict[str, list[Any]] = field(default_factory=dict)

    def __call__(self, model: Any, settings: Settings) -> Any:
        spec = str(model)  # the session hands a parsed ModelSpec
        if spec == "fail":
            raise CheckpointError("no checkpoint folder at fail (and it is not an HF id like owner/name)")
        if spec.startswith("scripted"):  # "scripted-slow": 0.2 s an answer, four ticks at 20 Hz
            policy: Any = ScriptedPolicy(WALK_RIGHT, loop=True, latency_s=0.2 if "slow" in spec else 0.0)
        else:
            policy = make_policy(spec, settings)
        self.made.setdefault(spec, []).append(policy)
        return policy


@dataclass
class Gui:
    window: Any
    controller: Any
    session: Session
    factory: Factory
    saved: list[Settings]

    @property
    def connector(self) -> Any:
        assert self.session.game is not None
        return self.session.game.connector


@pytest.fixture
def gui(qtbot: Any) -> Iterator[Gui]:
    from app.gui.controller import WindowController
    from app.gui.main_window import MainWindow

    factory = Factory()
    saved: list[Settings] = []
    settings = Settings(model="scripted-a", game="fake", instruction="mine_block:oak_log")
    session = Session(settings, policy_factory=factory, listen=False)
    window = MainWindow()
    window.resize(1000, 700)
    qtbot.addWidget(window)
    controller = WindowController(window, session, saved.append)
    controller.confirm = lambda _parent, _question: True  # nobody answers "Really quit?" in a test
    window.show()
    yield Gui(window, controller, session, factory, saved)
    session.close()


def ready(qtbot: Any, gui: Gui, autostart: bool = True) -> None:
    """Open the fake game and the scripted model through the real background flow."""
    gui.controller.prepare("scripted-a", "fake", autostart=autostart)
    qtbot.waitUntil(lambda: gui.session.ready and not gui.controller.jobs, timeout=10_000)
    if autostart:
        qtbot.waitUntil(lambda: gui.session.mode == "agent", timeout=5_000)
