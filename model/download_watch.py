"""How a download is watched and stopped: progress a person can read, a cancel flag, and a yes/no.

A first run of the 7B checkpoint moves about 16 GB. A spinner that says "Loading…" for twenty
minutes gives a person nothing to decide with, so every door (the window's bar, the command line's
one updating line) gets the same ``Progress`` snapshots: bytes done of the total, per file and for
the whole download, the rate over the last few seconds, and the time left at that rate.

The rate is measured over a sliding window of seconds rather than since the start, so a stall shows
within seconds and a resumed download is not credited with bytes it found on disk. Bytes already
on disk still count towards "done", so the bar starts where the last run stopped. Nothing here
touches the network or Qt; ``Tracker`` takes an injectable clock so its figures are tested exactly.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

STAGES = ("checking", "waiting", "downloading", "verifying", "done", "stopped", "refused")
RATE_WINDOW_S = 5.0  # the rate is measured over the last this many seconds
EMIT_EVERY_S = 0.25  # progress is reported at most this often (stage changes and new files at once)


@dataclass(frozen=True)
class Progress:
    repo: str
    stage: str  # one of STAGES
    done: int = 0  # bytes of this download on disk now (what earlier runs left included)
    total: int = 0  # bytes of every file the download brings
    file: str = ""  # the file being fetched
    file_done: int = 0
    file_total: int = 0
    file_number: int = 0  # 1-based, of ``files``
    files: int = 0
    rate: float | None = None  # bytes/s over the last RATE_WINDOW_S; None until measurable
    eta_s: float | None = None  # seconds left at that rate
    resumed: int = 0  # weight bytes an earlier, unfinished download left on disk
    note: str = ""  # the plan, a refusal, or why it stopped
    offer: str | None = None  # with "refused": a precision that would fit (e.g. "4bit")

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    def line(self) -> str:
        """One line that says where the download stands (the command line's, the window's label)."""
        if self.stage in ("checking", "waiting", "stopped", "refused", "done") and self.note:
            return self.note
        verb = {"verifying": "Verifying", "done": "Downloaded"}.get(
            self.stage, "Resuming" if self.resumed else "Downloading"
        )
        head = f"{verb} {self.repo}: {size(self.done)} of {size(self.total)} ({self.fraction:.0%})"
        if self.stage == "downloading":
            head += (
                f", {size(self.rate)}/s, {duration(self.eta_s)} left" if self.rate else ", measuring speed…"
            )
        if self.file and self.files:
            head += (
                f" · file {self.file_number} of {self.files}, {self.file}: "
                f"{size(self.file_done)} of {size(self.file_total)}"
            )
        return head


def size(n: float | None) -> str:
    """Bytes in the units a hub page and a browser use (decimal: 1 GB = 10⁹ bytes)."""
    if n is None:
        return "?"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.{2 if unit == 'GB' else 1}f} {unit}"
    return f"{int(n)} B"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _ignore(_progress: Progress) -> None:
    return None


def _yes(_plan: Progress) -> bool:
    return True


@dataclass
class Watch:
    """What a door lends a download: where progress goes, a flag that stops it, and who says yes.

    ``approve`` is shown the plan (a "waiting" ``Progress`` whose note says what will be fetched,
    where, and how much room is left) after every check has passed and before any weight file
    moves; False stops there. The command line approves by running the command; the window asks.
    Callbacks run on the download's own thread.
    """

    on_progress: Callable[[Progress], None] = _ignore
    cancel: threading.Event = field(default_factory=threading.Event)
    approve: Callable[[Progress], bool] = _yes


class Tracker:
    """Counts bytes for one download and reports ``Progress`` at a readable pace."""

    def __init__(
        self,
        repo: str,
        emit: Callable[[Progress], None],
        clock: Callable[[], float] = time.monotonic,
        every_s: float = EMIT_EVERY_S,
        window_s: float = RATE_WINDOW_S,
    ) -> None:
        self._emit = emit
        self._clock = clock
        self._every_s = every_s
        self._window_s = window_s
        self._moved = 0  # bytes moved over the network in this run
        self._samples: deque[tuple[float, int]] = deque()
        self._last_emit = float("-inf")
        self.state = Progress(repo=repo, stage="checking")

    def stage(self, stage: str, note: str = "", offer: str | None = None) -> Progress:
        self.state = replace(self.state, stage=stage, note=note, offer=offer)
        self._samples.clear()  # checks and waiting are not slow bytes: the rate starts afresh
        return self._report(force=True)

    def begin(self, total: int, on_disk: int, files: int, resumed: int = 0) -> None:
        """The whole download: ``total`` bytes in ``files`` files, ``on_disk`` of them already here, of
        which ``resumed`` are weights an earlier, unfinished run left (the download says it resumes)."""
        self.state = replace(self.state, total=total, done=on_disk, resumed=resumed, files=files)

    def start_file(self, name: str, size_bytes: int, have: int, number: int) -> None:
        self.state = replace(
            self.state,
            file=name,
            file_total=size_bytes,
            file_done=have,
            file_number=number,
            stage="downloading",
        )
        self._report(force=True)

    def add(self, n: int) -> None:
        """``n`` more bytes arrived (negative: bytes thrown away, e.g. when a server ignored a Range)."""
        now = self._clock()
        self._moved += max(n, 0)
        self._samples.append((now, self._moved))
        while len(self._samples) > 2 and now - self._samples[0][0] > self._window_s:
            self._samples.popleft()
        self.state = replace(self.state, done=self.state.done + n, file_done=self.state.file_done + n)
        self._report()

    def rate(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 - t0 >= 0.5 else None

    def _report(self, force: bool = False) -> Progress:
        now = self._clock()
        rate = self.rate()
        left = max(0, self.state.total - self.state.done)
        eta = left / rate if rate else None
        self.state = replace(self.state, rate=rate, eta_s=eta)
        if force or now - self._last_emit >= self._every_s:
            self._last_emit = now
            self._emit(self.state)
        return self.state
