"""A fine-tune (or an A/B comparison) run as a child process, watched through its JSON progress lines.

Why a child and not a thread: training holds the GIL for long stretches and a GPU's memory until
the process that allocated it exits, so a child keeps the window responsive and hands all memory
back when it ends. The child is ``python -m app.cli finetune ... --json-progress``; it prints one
JSON object per line, which a reader thread parses into ``FinetuneState`` (``apply`` is a pure
function of the events, so it is tested on its own). Cancel sends SIGTERM: the trainer writes a
checkpoint and exits with code 3; Resume starts the same command with ``--resume``.

Threads: ``start``/``cancel`` from any thread; listeners are called on the reader thread with a
snapshot of the state, so a GUI must hop to its own thread (the panel does it with a signal).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from model.finetune.config import FinetuneConfig, to_flags

LOG = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
CANCELLED_EXIT = 3  # app.commands.finetune: "cancelled at step N; continue with --resume"
STDERR_KEEP = 20  # last stderr lines kept to explain a crash


class FinetuneRequest(FinetuneConfig):
    """What the panel asks for: the trainer's own settings (defaults and all), plus the child's argv."""

    def args(self, resume: bool = False, overwrite: bool = False) -> list[str]:
        """``finetune`` flags that rebuild exactly this request in the child, every setting spelled out.

        ``overwrite`` only when the person agreed to replace what ``out`` holds: the trainer refuses
        otherwise, and resumes only a run with these same settings.
        """
        flags = to_flags(replace(self, resume=resume, overwrite=overwrite and not resume))
        return ["finetune", *flags, "--json-progress"]


def can_resume(out: str | Path) -> bool:
    """A cancelled or crashed run left a checkpoint in ``out`` to continue from."""
    return any((Path(out) / "checkpoints").glob("step-*/state.pt"))


@dataclass
class FinetuneState:
    """What the panel shows; built only from the child's events and its exit code."""

    status: str = "idle"  # idle, running, cancelling, done, cancelled, failed
    step: int = 0
    steps: int = 0
    eta_s: float | None = None
    samples_per_s: float | None = None
    loss: list[tuple[int, float]] = field(default_factory=list)  # (step, training loss)
    # (step, held-out right kind of action, balanced over kinds: 1/K for an adapter with one answer)
    accuracy: list[tuple[int, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what the latest held-out figures say did not work
    valid_loss: float | None = None
    train_samples: int = 0
    valid_samples: int = 0
    train_episodes: int | None = None  # None until the child said how it split the episodes
    valid_episodes: int | None = None
    resumed_from: int | None = None
    message: str = ""  # the error or cancellation, in words
    out: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.steps) if self.steps else 0.0

    @property
    def finished(self) -> bool:
        return self.status in ("done", "cancelled", "failed")

    def eta_text(self) -> str:
        if self.status == "running" and self.eta_s is not None:
            minutes, seconds = divmod(round(self.eta_s), 60)
            return f"step {self.step}/{self.steps}, about {minutes} min {seconds:02d} s left"
        if self.status == "running":
            return f"step {self.step}/{self.steps}" if self.steps else "preparing data and model…"
        return {
            "done": f"done: adapter in {self.out}",
            "cancelling": "cancelling: saving a checkpoint…",
            "cancelled": f"cancelled at step {self.step}: Resume continues from the checkpoint",
            "failed": self.message,
            "idle": "",
        }.get(self.status, self.status)

    def apply(self, event: dict[str, Any]) -> None:
        """Fold one progress event into the state (unknown events are ignored: newer trainers)."""
        kind = event.get("event")
        if kind == "data":
            self.train_samples = int(event.get("train_samples", 0))
            self.valid_samples = int(event.get("valid_samples", 0))
            self.train_episodes = len(event.get("train") or [])
            self.valid_episodes = len(event.get("valid") or [])
        elif kind == "step":
            self.step, self.steps = int(event["step"]), int(event["steps"])
            self.eta_s = event.get("eta_s")
            self.samples_per_s = event.get("samples_per_s")
            self.loss.append((self.step, float(event["loss"])))
        elif kind == "eval" and "kind_accuracy" in event:
            self.valid_loss = float(event["valid_loss"])
            self.accuracy.append((int(event["step"]), float(event["kind_accuracy"])))
            self.warnings = [str(w) for w in event.get("warnings", [])]
        elif kind == "resumed":
            self.step = self.resumed_from = int(event["step"])
        elif kind == "cancelled":
            self.status, self.step = "cancelled", int(event.get("step", self.step))
        elif kind == "done":
            self.status, self.step = "done", int(event.get("step", self.step))
            self.out = str(event.get("out", self.out))
        elif kind == "error":
            self.status, self.message = "failed", str(event.get("message", "the fine-tune failed"))

    def exited(self, code: int, stderr_tail: str) -> None:
        """The child ended: make the status final even if its last event never came."""
        if code == 0 and self.status != "failed":
            self.status = "done"
        elif code == CANCELLED_EXIT or (code == -signal.SIGTERM and self.status == "cancelling"):
            self.status = "cancelled"
        elif self.status != "failed":
            self.status = "failed"
            lines = stderr_tail.strip().splitlines()
            detail = lines[-1].removeprefix("jarvis-play: ") if lines else f"exit code {code}"
            self.message = f"The fine-tune stopped unexpectedly ({detail}). See the log, fix it, then Resume."
        elif not self.message.endswith("."):
            self.message += "."


Listener = Callable[[FinetuneState], None]


class ChildRun:
    """One ``python -m app.cli ...`` child: stdout lines to ``on_line``, exit code to ``on_exit``."""

    def __init__(
        self,
        args: list[str],
        on_line: Callable[[str], None],
        on_exit: Callable[[int, str], None],
        python: str = sys.executable,
    ) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        self._stderr: deque[str] = deque(maxlen=STDERR_KEEP)
        self.proc = subprocess.Popen(
            [python, "-m", "app.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(REPO),
        )
        self._on_line, self._on_exit = on_line, on_exit
        self._err = threading.Thread(target=self._drain_stderr, name="child stderr", daemon=True)
        self._out = threading.Thread(target=self._read, name="child stdout", daemon=True)
        self._err.start()
        self._out.start()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:  # drained so a chatty child never blocks on a full pipe
            self._stderr.append(line.rstrip())

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self._on_line(line.strip())
        code = self.proc.wait()
        self._err.join(timeout=5)
        self._on_exit(code, "\n".join(self._stderr))

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float | None = None) -> bool:
        self._out.join(timeout)
        return not self._out.is_alive()


class FinetuneJob:
    """Start, cancel and resume one fine-tune; listeners get a state snapshot after every change."""

    def __init__(self, request: FinetuneRequest, python: str = sys.executable) -> None:
        self.request = request
        self.python = python
        self.state = FinetuneState(out=request.out)
        self.listeners: list[Listener] = []
        self._child: ChildRun | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.proc.poll() is None

    def start(self, resume: bool = False, overwrite: bool = False) -> None:
        """Start the child (``resume``: continue from the checkpoint in ``out``; ``overwrite``: the
        person agreed to replace the adapter or run that ``out`` holds)."""
        if self.running:
            raise RuntimeError("a fine-tune is already running")
        with self._lock:
            keep = self.state if resume else FinetuneState(out=self.request.out)
            keep.status, keep.message = "running", ""
            self.state = keep
        self._notify()
        self._child = ChildRun(self.request.args(resume, overwrite), self._line, self._exit, self.python)

    def resume(self) -> None:
        self.start(resume=True)

    def cancel(self) -> None:
        """SIGTERM: the trainer saves a checkpoint at the end of its current step, then exits 3."""
        if self.running and self._child is not None:
            with self._lock:
                self.state.status = "cancelling"
            self._child.signal(signal.SIGTERM)
            self._notify()

    def wait(self, timeout: float | None = None) -> bool:
        return self._child is None or self._child.wait(timeout)

    def snapshot(self) -> FinetuneState:
        with self._lock:
            return copy.deepcopy(self.state)

    def _line(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            LOG.info("finetune: %s", line)  # plain text from a library: not an event
            return
        if isinstance(event, dict):
            with self._lock:
                cancelling = self.state.status == "cancelling"
                self.state.apply(event)
                if cancelling and self.state.status == "running":
                    self.state.status = "cancelling"
            self._notify()

    def _exit(self, code: int, stderr_tail: str) -> None:
        with self._lock:
            self.state.exited(code, stderr_tail)
        self._notify()

    def _notify(self) -> None:
        state = self.snapshot()
        for fn in list(self.listeners):
            try:
                fn(state)
            except Exception:
                LOG.exception("finetune listener failed")


# ----- A/B comparison ---------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupRow:
    group: str
    base: float
    base_ci: tuple[float, float]
    adapter: float
    adapter_ci: tuple[float, float]
    ticks: int = 0  # the held-out ticks this row was counted on (a group: where the person used it)
    meaning: str = ""  # what the row counts, in words

    @property
    def delta(self) -> float:
        return self.adapter - self.base


def comparison_rows(result: dict[str, Any]) -> list[GroupRow]:
    """The ``--compare`` JSON as table rows, one per action group, in the trainer's order."""
    base, adapter = result["base"], result["adapter"]
    meanings = result.get("meanings", {})
    return [
        GroupRow(
            g,
            base[g]["accuracy"],
            (base[g]["ci_low"], base[g]["ci_high"]),
            adapter[g]["accuracy"],
            (adapter[g]["ci_low"], adapter[g]["ci_high"]),
            int(adapter[g].get("n", 0)),
            str(meanings.get(g, "")),
        )
        for g in base
        if g in adapter
    ]


def run_compare(
    model: str,
    adapter: str,
    episodes: list[str],
    on_done: Callable[[dict[str, Any]], None],
    on_error: Callable[[str], None],
    samples: int = 64,
    device: str | None = None,
    python: str = sys.executable,
) -> ChildRun:
    """Evaluate base and adapter on held-out ``episodes`` in a child; one callback when it ends."""
    args = [
        "finetune",
        "--model",
        model,
        "--episodes",
        *episodes,
        "--compare",
        adapter,
        "--eval-samples",
        str(samples),
        "--json-progress",
    ]
    if device:
        args += ["--device", device]
    results: list[dict[str, Any]] = []

    def line(text: str) -> None:
        try:
            obj = json.loads(text)
        except ValueError:
            return
        if isinstance(obj, dict) and "base" in obj and "adapter" in obj:
            results.append(obj)

    def exited(code: int, stderr_tail: str) -> None:
        if code == 0 and results:
            on_done(results[-1])
            return
        tail = stderr_tail.strip().splitlines()
        reason = tail[-1].removeprefix("jarvis-play: ") if tail else f"exit code {code}"
        on_error(
            f"Could not compare the adapter with its base: {reason}. "
            "Check the adapter folder and the held-out episodes, then try again."
        )

    return ChildRun(args, line, exited, python)
