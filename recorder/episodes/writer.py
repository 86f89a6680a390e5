"""EpisodeWriter: frames and jsonl lines go to disk as they arrive, off the caller's thread.

Threads: the caller (the play loop) calls ``submit`` once per tick; it copies the frame into a
bounded queue and returns at once, never touching the disk. A dedicated writer thread feeds the
frame to the video encoder, appends the line and flushes it, and fsyncs the jsonl once a second. If
the writer falls more than ``queue_seconds`` behind, the tick is dropped whole (frame and line, so
frame i still belongs to line i) and counted in ``meta.dropped_ticks``.

Failure policy: no method raises into the play loop. A disk error (ENOSPC, EACCES, a vanished
folder, a dead encoder) turns the writer into the ``error`` state with a one-line ``error`` message,
calls ``on_error(message)`` once, and stops the recording; what was written stays readable. Folders
are created exclusively with a random suffix and files with ``x`` mode, so nothing is overwritten.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from recorder.episodes.format import (
    ACTIONS,
    FPS,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    LOCK,
    META,
    VIDEO,
    EpisodeMeta,
    write_meta,
)
from recorder.episodes.video import VideoEncoder, VideoError
from recorder.files import mount_point

try:  # POSIX only; elsewhere a crash is recognised by status alone
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

LOG = logging.getLogger(__name__)

_STOP = object()
_ERRNO_HINTS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOTDIR: "a parent of the output folder is not a folder",
    errno.ENOENT: "the output folder disappeared",
}


def describe_os_error(exc: BaseException, what: str) -> str:
    """One line a person can act on, e.g. ``cannot write /x/ep: the disk is full (ENOSPC) at /x ...``.

    The encoder's own failure surfaces as a broken pipe; its stderr names the cause, which is what
    the person needs (the disk), so the pipe is not mentioned.
    """
    code = exc.errno if isinstance(exc, OSError) and exc.errno in _ERRNO_HINTS else None
    where = (exc.filename if isinstance(exc, OSError) else None) or what
    if code is None:
        text = str(exc)
        code = next((c for c in _ERRNO_HINTS if os.strerror(c) in text), None)  # ffmpeg's stderr
        where = what
    if code is None:
        return f"cannot write {what}: {exc or type(exc).__name__}"
    message = f"cannot write {where}: {_ERRNO_HINTS[code]} ({errno.errorcode[code]})"
    if code in (errno.ENOSPC, errno.EDQUOT):
        message += f" at {mount_point(Path(where))}; free space there or record to another --out"
    return message


def new_episode_folder(root: Path, mode: str, now: float | None = None) -> Path:
    """Create and return a fresh folder ``<yyyymmdd-HHMMSS>-<mode>-<hex6>``; never reuses a name."""
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    for _ in range(100):
        folder = root / f"{stamp}-{mode}-{secrets.token_hex(3)}"
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(errno.EEXIST, "could not find a free episode folder name", str(root))


class EpisodeWriter:
    """Writes one episode. ``start`` → ``submit``… → ``close``; all three are safe to call in any state."""

    def __init__(
        self,
        root: Path,
        meta: EpisodeMeta,
        *,
        queue_seconds: float = 2.0,
        on_error: Callable[[str], None] | None = None,
        encoder_factory: Callable[[Path], Any] = VideoEncoder,
        open_lines: Callable[[Path], IO[str]] | None = None,
        fsync_seconds: float = 1.0,
    ) -> None:
        self.root = Path(root)
        self.meta = meta
        self.on_error = on_error
        self.folder: Path | None = None
        self.error: str | None = None
        self.submitted = 0  # ticks accepted (each gets the next tick number)
        self.written = 0  # ticks fully on disk (frame and line)
        self._encoder_factory = encoder_factory
        self._open_lines = open_lines or (lambda p: open(p, "x", encoding="utf-8"))  # noqa: SIM115
        self._fsync_seconds = fsync_seconds
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, int(queue_seconds * FPS)))
        self._state = "idle"
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._encoder: Any = None
        self._lines: IO[str] | None = None
        self._lockfile: IO[str] | None = None
        self._finalized = False
        self._good_bytes = 0  # length of actions.jsonl up to its last whole line

    # ----- state ------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        """idle | recording | error | closed."""
        return self._state

    @property
    def recording(self) -> bool:
        return self._state == "recording"

    @property
    def dropped(self) -> int:
        return self.meta.dropped_ticks

    # ----- lifecycle --------------------------------------------------------------------------
    def start(self) -> bool:
        """Create the folder and files and start the writer thread. False (and ``error``) on failure."""
        if self._state != "idle":
            return self._state == "recording"
        try:
            self.folder = new_episode_folder(self.root, self.meta.mode)
            self._lockfile = open(self.folder / LOCK, "x", encoding="utf-8")  # noqa: SIM115
            if fcntl is not None:
                fcntl.flock(self._lockfile.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._lockfile.write(f"{os.getpid()}\n")
            self._lockfile.flush()
            if not self.meta.started_at:
                self.meta.started_at = dt.datetime.now().astimezone().isoformat(timespec="seconds")
            self.meta.status = "recording"
            write_meta(self.folder, self.meta)
            self._lines = self._open_lines(self.folder / ACTIONS)
            self._encoder = self._encoder_factory(self.folder / VIDEO)
        except (OSError, VideoError) as exc:
            self._fail(describe_os_error(exc, str(self.folder or self.root)))
            self._close_files()
            self._release_lock()
            self._remove_empty_folder()
            self._finalized = True
            return False
        self._state = "recording"
        self._thread = threading.Thread(target=self._run, name="episode-writer", daemon=True)
        self._thread.start()
        LOG.info("recording to %s", self.folder)
        return True

    def submit(self, frame: np.ndarray, line: dict[str, Any], *, block: bool = False) -> bool:
        """Queue one tick; returns False when it was not accepted (not recording, or queue full).

        The tick number and, if absent, ``milli`` are filled in here. ``block=True`` waits for room
        instead of dropping (for saving a ring buffer, never for the live loop).
        """
        if self._state != "recording":
            return False
        line = dict(line)
        line.setdefault("milli", int(time.time() * 1000))
        item = (np.array(frame, dtype=np.uint8, copy=True), line)
        with self._lock:  # tick numbers must follow queue order
            line["tick"] = self.submitted
            try:
                if block:
                    while self._state == "recording":
                        try:
                            self._queue.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    else:
                        return False
                else:
                    self._queue.put_nowait(item)
            except queue.Full:
                self.meta.dropped_ticks += 1
                return False
            self.submitted += 1
        return True

    def close(self, outcome: str | None = None, timeout: float = 60.0) -> EpisodeMeta:
        """Finish the files and write the final meta. Returns the meta (status complete or stopped)."""
        if outcome is not None:
            self.meta.outcome = outcome
        thread = self._thread
        if thread is not None and thread.is_alive():
            deadline = time.monotonic() + timeout
            while thread.is_alive() and time.monotonic() < deadline:
                try:
                    self._queue.put(_STOP, timeout=0.1)
                    break
                except queue.Full:
                    continue
            thread.join(max(0.0, deadline - time.monotonic()))
        self._finalize()
        return self.meta

    def _finalize(self) -> None:
        """Close the files and write the final meta, once, from whichever thread gets here first."""
        with self._lock:
            if self._finalized or self.folder is None:
                return
            self._finalized = True
        self._close_files()
        if self.written == 0 and self.submitted == 0 and self.error is None:
            self._release_lock()
            self._remove_empty_folder()  # closed before the first tick: nothing to keep
            self._state = "closed"
            LOG.info("nothing was recorded; no episode kept")
            return
        self.meta.frame_count = self.meta.line_count = self.written
        self.meta.ended_at = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        if self.error is None:
            self.meta.status = "complete"
            self._state = "closed"
        else:
            self.meta.status = "stopped"
            self.meta.error = self.error
        self._write_final_meta()
        self._release_lock()

    def _write_final_meta(self) -> None:
        """Atomic when there is room; on a full disk, in place over the old meta (same blocks)."""
        assert self.folder is not None
        try:
            write_meta(self.folder, self.meta)
            return
        except OSError as exc:
            first = exc
        try:
            data = json.dumps(self.meta.to_dict(), indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
            with open(self.folder / META, "r+b") as f:
                f.write(data)
                f.truncate()
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:  # the sweep at the next start finishes it (status is still recording)
            LOG.warning("could not finish %s: %s (then %s)", self.folder / META, first, exc)

    # ----- writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        last_sync = time.monotonic()
        assert self._lines is not None
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            frame, line = item
            text = json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n"
            try:
                # the line first: a line that fails is cut back below, a frame that fails cannot be
                self._lines.write(text)
                self._lines.flush()
                self._encoder.write(_fit(frame))
                self._good_bytes += len(text.encode("utf-8"))
                self.written += 1
                if time.monotonic() - last_sync >= self._fsync_seconds:
                    os.fsync(self._lines.fileno())
                    last_sync = time.monotonic()
            except (OSError, VideoError, ValueError) as exc:
                self._fail(describe_os_error(exc, str(self.folder)))
                self._drain()
                self._finalize()
                return

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def _fail(self, message: str) -> None:
        if self.error is not None:
            return
        self.error = f"recording stopped, play continues: {message}"
        self._state = "error"
        if self.on_error is None:  # otherwise the callback reports it: once is enough
            LOG.error("%s", self.error)
        if self.on_error is not None:
            try:
                self.on_error(self.error)
            except Exception:  # a faulty callback must not take the writer down with it
                LOG.exception("on_error callback failed")

    def _close_files(self) -> None:
        if self._lines is not None:
            try:
                self._lines.flush()
                os.fsync(self._lines.fileno())
            except (OSError, ValueError):
                pass
            with contextlib.suppress(OSError, ValueError):
                self._lines.close()
            self._lines = None
            if self.error is not None and self.folder is not None:
                # a failed write leaves part of a line, or a line whose frame failed: cut back to
                # the last whole tick (truncating frees space, so it works on a full disk)
                with contextlib.suppress(OSError):
                    path = self.folder / ACTIONS
                    if path.stat().st_size > self._good_bytes:
                        os.truncate(path, self._good_bytes)
        if self._encoder is not None:
            encoder, self._encoder = self._encoder, None
            try:
                encoder.close()
            except (OSError, VideoError) as exc:
                self._fail(describe_os_error(exc, str(self.folder)))

    def _remove_empty_folder(self) -> None:
        """Remove the folder this writer created, when no tick reached it (failed start, empty close)."""
        if self.folder is None or not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            if path.name in (LOCK, META, VIDEO, VIDEO + ".log", ACTIONS):
                path.unlink(missing_ok=True)
        try:
            self.folder.rmdir()
            self.folder = None
        except OSError:
            pass

    def _release_lock(self) -> None:
        if self._lockfile is not None:
            with contextlib.suppress(OSError):
                self._lockfile.close()  # closing drops the flock
            if self.folder is not None:
                with contextlib.suppress(OSError):
                    (self.folder / LOCK).unlink()
            self._lockfile = None


def _fit(frame: np.ndarray) -> np.ndarray:
    """Frames are 640×360 RGB; anything else (a 1280×720 window) is resized as MineStudio does."""
    if frame.shape == (FRAME_HEIGHT, FRAME_WIDTH, 3):
        return frame

    if frame.ndim == 3 and frame.shape[2] == 4:
        frame = frame[:, :, :3]
    interp = cv2.INTER_AREA if frame.shape[1] > FRAME_WIDTH else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(frame, (FRAME_WIDTH, FRAME_HEIGHT), interpolation=interp))
