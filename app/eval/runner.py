"""Play the arms' trials on a session, blinded and interleaved, and collect a ``RunResult``.

Order: permuted blocks. Each block plays every arm once in a fresh random order, so arms alternate
over the run (a game that drifts, a person who tires, affect all arms alike) and nobody watching can
tell which arm plays from its place in the sequence. Between trials the adapter is hot-swapped
(``Session.set_adapter``); each trial is one recorded episode whose outcome is set before it closes:
"failure" from the start (a timeout is a failure), "success" the moment the judge says so.

``Evaluation`` is the Qt-free object the window's Evaluate panel shows; ``on_progress`` gets one line
per step (never the arm while ``blind``), ``on_trial`` each finished ``Trial`` (the arm blanked while
blind), from the thread that calls ``run``. Trials are recorded with the meta "purpose" evaluation,
so the Episodes tab and fine-tuning keep them apart from the person's play.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from app.eval.judges import Judge, StartState, Verdict
from app.eval.results import Arm, RunResult, Trial
from model.actions.env import null_action
from recorder.episodes import PURPOSE_EVALUATION

LOG = logging.getLogger(__name__)
POLL_S = 0.05
STOPS = ("panic key", "interrupted", "closing", *(f"signal {n}" for n in (1, 2, 15)))


def describe(trial: Trial) -> str:
    if trial.success:
        return f"success in {trial.seconds:.1f} s" if trial.seconds is not None else "success"
    return f"failure ({trial.why})"


def schedule(arms: list[Arm], trials: int, rng: random.Random) -> list[Arm]:
    """``trials`` permuted blocks of all arms."""
    order: list[Arm] = []
    for _ in range(trials):
        block = list(arms)
        rng.shuffle(block)
        order.extend(block)
    return order


@dataclass
class Evaluation:
    session: Any  # app.session.Session with the game open and the base model loaded
    judge: Judge
    arms: list[Arm]
    trials: int = 10
    seconds: float = 30.0
    task: str | None = None
    instruction: str = ""
    blind: bool = True
    seed: int | None = None
    on_progress: list[Callable[[str], None]] = field(default_factory=list)
    on_trial: list[Callable[[Trial], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.seed = self.seed if self.seed is not None else random.SystemRandom().randrange(2**31)
        self._cancel = threading.Event()
        self.result: RunResult | None = None

    def cancel(self, why: str = "cancelled") -> None:
        self._cancel.set()
        self.judge.cancel()
        self.session.stop(why)

    def _say(self, text: str) -> None:
        LOG.info("%s", text)
        for fn in list(self.on_progress):
            fn(text)

    def run(self) -> RunResult:
        """Play every trial (minutes: call off the GUI thread); the result holds what was played even
        when cancelled or stopped by an error."""
        s = self.session
        if not self.arms:
            raise ValueError("no arms to evaluate")
        order = schedule(self.arms, self.trials, random.Random(self.seed))
        result = RunResult(
            task=self.task,
            instruction=self.instruction,
            model=str(s.model_spec),
            judge=self.judge.who,
            seconds_per_trial=self.seconds,
            trials_per_arm=self.trials,
            blind=self.blind,
            seed=int(self.seed or 0),
            started=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            arms=list(self.arms),
            start=_start_of(self.judge),
        )
        self.result = result
        s.set_instruction(self.task or self.instruction)
        recording, purpose = s.recording, s.purpose
        s.set_recording(True)  # every trial is an episode, whatever the window's record button says
        s.purpose = PURPOSE_EVALUATION  # marked as a trial: apart from the person's play, out of training
        active: str | None = "unset"
        try:
            for index, arm in enumerate(order):
                if self._cancel.is_set():
                    result.stopped_early = "cancelled"
                    break
                if arm.adapter != active:
                    s.set_adapter(arm.adapter)
                    active = arm.adapter
                self._first_slot()  # before the judge's reset gives the trial's items into the hand
                self.judge.prepare(index)
                trial = self._play(index, arm)
                if trial is None:  # the panic key or a signal: the person wants out, not a failure
                    result.stopped_early = "stopped by the person"
                    break
                result.trials.append(trial)
                shown = (
                    Trial(trial.index, "", trial.success, trial.seconds, trial.why) if self.blind else trial
                )
                arm_text = "" if self.blind else f" [{arm.name}]"
                self._say(f"trial {index + 1}/{len(order)}{arm_text}: {describe(trial)}")
                for fn in list(self.on_trial):
                    fn(shown)
        except Exception as exc:
            result.stopped_early = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            s.set_recording(recording)
            s.purpose = purpose
            if active not in ("unset", None):
                try:
                    s.set_adapter(None)
                except Exception as exc:  # the result is what matters; the next run swaps again
                    LOG.warning("could not go back to the base model: %s", exc)
        return result

    def _first_slot(self) -> None:
        """Every trial starts with the first hotbar slot selected. A model that pressed 2-9 in the trial
        before leaves another slot selected, which the next arm sees (its highlight, an empty hand): an
        adapter trained on the person's play, always on slot 1, then attacked the sky or never dug, and
        which arm came after the base's key presses decided its score. (minetest 5.6's mods cannot set
        the slot, so it is pressed, as a person would.)"""
        game = self.session.game
        if game is None:
            return
        press = null_action()
        press["hotbar.1"] = 1
        try:
            game.focus()
            game.connector.apply(press)
            time.sleep(0.05)
            game.connector.release_all()
        except Exception as exc:  # the trial still runs; its episode shows the hotbar as it was
            LOG.warning("could not select the first hotbar slot: %s", exc)

    def _play(self, index: int, arm: Arm) -> Trial | None:
        s = self.session
        s.set_outcome("failure")  # a timeout is a failure; success overrides it below
        self.judge.begin()
        s.start(seconds=self.seconds)
        polled: Verdict | None = None
        outcome = None
        while outcome is None:
            outcome = s.wait(POLL_S)
            if polled is None and outcome is None:
                polled = self.judge.poll()
                if polled is not None:
                    s.set_outcome("success" if polled.success else "failure")
                    s.stop("judged")
                    outcome = s.wait(15.0)
        end = self.judge.finish()
        if polled is None and (self._cancel.is_set() or (outcome is not None and outcome.reason in STOPS)):
            return None
        verdict = polled or end
        if polled is None and outcome is not None and outcome.error is not None:
            verdict = Verdict(False, None, f"error: {outcome.error}")
        episode = getattr(getattr(outcome, "episode", None), "started_at", None) if outcome else None
        return Trial(index, arm.name, verdict.success, verdict.seconds, verdict.why, episode)


def _start_of(judge: Any) -> dict[str, Any] | None:
    """The judge's start state as the result file keeps it (a game judge's; a person has none)."""
    start = getattr(judge, "start", None)
    return asdict(start) if isinstance(start, StartState) else None
