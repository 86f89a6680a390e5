"""The live figures in words: each value, why one is missing, and what a model slower than the game means.

A dash alone reads as "broken"; every missing figure carries its reason (no run, no model answer in
the last seconds, the person playing alone). A model slower than the game acts on only some of the
ticks and the game gets the fallback on the others, so a recording of such a run is mostly
fallback ticks: the window says so in a sentence, measured from the same figures it shows. Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.runtime.live_stats import Figures

MISSING = "–"
KEYS = ("model_ms", "actions_per_s", "ticks_per_s", "missed_ticks", "null_actions", "view_fps")

# Settings.fallback -> what the game gets on a tick without a fresh model answer (ControlLoop._fallback)
FALLBACKS = {
    "hold": "the rest of the model's last plan, then its last keys still held (the view does not turn)",
    "chunk": "the rest of the model's last plan, then nothing",
    "repeat": "the model's last keys still held (the view does not turn)",
    "null": "nothing (no key held)",
}


@dataclass(frozen=True)
class Shown:
    text: str
    why: str = ""  # the tooltip: what the figure means, or why it is missing


def figures(fig: Figures | None, view_fps: float, *, teleop: bool = False) -> dict[str, Shown]:
    """What each figure says; ``fig`` None: no run."""
    if fig is None:
        return {key: Shown(MISSING, "no run: press Start") for key in KEYS}
    if teleop:
        model = Shown(MISSING, "no model in this run: only you play")
    elif fig.model_ms is None:
        model = Shown(MISSING, "no model answer arrived in the last 2 s (loading, paused, or you play)")
    else:
        model = Shown(f"{fig.model_ms:.0f} ms", "mean time the model took per answer, last 2 s")
    return {
        "model_ms": model,
        "actions_per_s": Shown(f"{fig.actions_per_s:.1f}", "model answers applied per second, last 2 s"),
        "ticks_per_s": Shown(f"{fig.ticks_per_s:.1f}", "loop ticks per second (the target is the tick rate)"),
        "missed_ticks": Shown(
            str(fig.missed_ticks), "ticks where the model was late and the fallback was applied, since Start"
        ),
        "null_actions": Shown(
            str(fig.null_actions), "applied actions that pressed nothing and did not look, since Start"
        ),
        "view_fps": Shown(f"{view_fps:.0f}", "frames this window painted in the last second"),
    }


@dataclass(frozen=True)
class SlowModel:
    """The model answers slower than the game ticks."""

    model_ms: float
    tick_ms: float

    @property
    def ticks_per_answer(self) -> int:
        """About how many ticks pass for each model answer."""
        return max(2, round(self.model_ms / self.tick_ms))

    @property
    def short(self) -> str:
        return (
            f"model slower than the game: {self.model_ms:.0f} ms an answer, a tick is {self.tick_ms:.0f} ms"
        )

    def sentence(self, fallback: str) -> str:
        between = FALLBACKS.get(fallback, f"the fallback {fallback!r}")
        return (
            f"The model takes {self.model_ms:.0f} ms an answer and the game ticks every "
            f"{self.tick_ms:.0f} ms, so the agent decides about 1 tick in {self.ticks_per_answer}; on the "
            f"others the game gets {between}. A recording of this run is mostly those in-between ticks, "
            "which teach the model little: take over to record your corrections, record yourself "
            "(Only me), or use a faster model (a GPU, a server)."
        )


def slow_model(fig: Figures | None, tick_hz: float) -> SlowModel | None:
    """A ``SlowModel`` when the model's answers take longer than a tick (None: it keeps up, or no
    model answer was measured)."""
    if fig is None or fig.model_ms is None or tick_hz <= 0:
        return None
    tick_ms = 1000.0 / tick_hz
    if fig.model_ms <= tick_ms:
        return None
    return SlowModel(fig.model_ms, tick_ms)
