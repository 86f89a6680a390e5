"""Wiring for a headless agent run: connector + policy + loop + human override + safety net.

``run_agent`` is what ``jarvis-play run``, ``replay`` and the no-verb demo call, and what a GUI
session can call on a thread of its own. It owns the order that makes input safe: the listener and
signal handlers go up before the first injection and come down after the final release.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from app.games.connector import Connector
from app.runtime.loop import ControlLoop, LoopConfig
from app.runtime.safety import SafetyNet
from app.runtime.takeover import Control, ControlConfig
from app.runtime.telemetry import Telemetry, TickRecord
from model.actions.env import EnvAction
from model.policies.base import Policy

LOG = logging.getLogger(__name__)


@dataclass
class RunResult:
    telemetry: Telemetry
    control: Control
    loop: ControlLoop
    human_events: int = 0
    agent_events_seen: int = 0  # the agent's own events the listener saw and recognised


@dataclass
class RunSettings:
    loop: LoopConfig = field(default_factory=LoopConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    listen: bool = True  # human override and hotkeys (needs a display; desktop connectors only)


def run_agent(
    connector: Connector,
    policy: Policy | None,
    instruction: str = "",
    settings: RunSettings | None = None,
    actions: Iterable[EnvAction] | None = None,
    on_tick: Callable[[TickRecord], None] | None = None,
    on_start: Callable[[ControlLoop], None] | None = None,
) -> RunResult:
    """Run the loop to its end (time, actions, panic, error, signal); input is released on every path."""
    settings = settings or RunSettings()
    control = Control(settings.control, connector.release_all)
    loop = ControlLoop(connector, policy, instruction, settings.loop, control, actions=actions)
    if on_tick is not None:
        loop.subscribers.append(on_tick)
    listener = None
    ledger = getattr(connector, "ledger", None)
    with SafetyNet(connector.release_all, on_signal=lambda _sig: loop.stop()):
        try:
            if settings.listen and connector.realtime:
                from recorder.input_listener import InputListener

                listener = InputListener(ledger, on_event=control.on_input).start()
            if on_start is not None:
                on_start(loop)
            loop.run()
        finally:
            connector.release_all()
            if listener is not None:
                listener.stop()
    return RunResult(
        loop.telemetry,
        control,
        loop,
        human_events=listener.human_count if listener else 0,
        agent_events_seen=ledger.claimed if ledger is not None else 0,
    )
