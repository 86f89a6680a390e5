"""A model download on the command line: the plan on its own lines, then one line that updates in place.

On a terminal the byte count, rate and time left are rewritten on one line (``\\r``), a few times a
second. Into a file or a pipe (a log, CI) a carriage return makes a mess, so the same line is printed
afresh every ``LOG_EVERY_S`` seconds instead. A stop or a refusal is not printed here: it ends the
command as its error message, which says what is kept and what to do.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO

from model.download_watch import Progress

LOG_EVERY_S = 5.0


class ProgressLine:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._open = False  # a line is being rewritten and has no newline yet
        self._last = float("-inf")
        self._said = ""

    def __call__(self, progress: Progress) -> None:
        if progress.stage in ("downloading", "verifying"):
            self._update(progress.line())
        elif progress.stage in ("checking", "waiting", "done"):
            self._say(progress.line())
        elif self._open:  # stopped or refused: the error that follows goes on a line of its own
            self._end()

    def _update(self, text: str) -> None:
        if not self.tty:
            now = time.monotonic()
            if now - self._last >= LOG_EVERY_S:
                self._last = now
                self._write(text + "\n")
            return
        width = shutil.get_terminal_size((120, 24)).columns
        self._write("\r" + text[: max(20, width - 1)] + "\x1b[K")
        self._open = True

    def _say(self, text: str) -> None:
        if text == self._said:
            return
        self._said = text
        if self._open:
            self._end()
        self._write(text + "\n")

    def _end(self) -> None:
        self._write("\n")
        self._open = False

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
