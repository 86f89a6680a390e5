"""A second process that lets go of the game's keys when the app cannot: after SIGKILL, or a freeze.

The X server does not release keys a client pressed through XTEST when that client dies, so an app
killed with SIGKILL (or by the OOM killer) leaves W, Ctrl and the left button held in the game until
the person notices. Signal handlers cannot help there; another process can. The session starts this
one (``python -m app.runtime.watchdog``) when it opens a desktop game. It opens its own display
connection and reads its stdin, a pipe whose only write end the app holds:

* end of file without a goodbye: the app died (the kernel closed its end). Release every bound key
  and mouse button 1–3 that the X server shows as held, stop the demo game the app started and
  remove that game's temporary world, then exit. All within a few milliseconds of the death.
* a heartbeat (one byte every ``BEAT_S``) that stops for ``stale_s`` while the pipe stays open: the
  app is frozen. Release once, and keep watching (a resumed app presses again on its next tick).
* ``bye``: the app closed the game itself and released already; exit without touching anything.

It ignores SIGINT and SIGHUP (a Ctrl+C or a closed terminal reach the whole process group, and this
process must outlive its parent to do its job) and runs in its own session for the same reason.
Only the desktop's releaser (``recorder.desktop.backends.releaser_for``: python-xlib on X11 and
XWayland) and the standard library are imported here, so it starts in a fraction of a second.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from recorder.desktop import releaser_for
from recorder.input import keymap

LOG = logging.getLogger(__name__)

BEAT_S = 0.25  # the app's heartbeat period
STALE_S = 3.0  # heartbeats missing this long: the app is frozen, let go of its keys
BYE = b"bye\n"
DEMO_MARKER = ".jarvis-demo-world"  # app.games.demo_game.MARKER: only such a folder is ever removed


@dataclass
class Guard:
    """What the watchdog looks after: the display, the key names it may release, a game to stop."""

    display: str
    backend: str = "x11"  # the desktop backend that plays there (recorder.desktop.backends)
    keys: list[str] = field(default_factory=list)  # binding names (key.keyboard.w, key.mouse.left)
    kill_pid: int | None = None  # the demo game the app started (its own process group)
    remove_dir: str | None = None  # that game's temporary world, removed once the game is gone
    stale_s: float = STALE_S

    def to_json(self) -> str:
        return json.dumps(self.__dict__)


def stop_game(pid: int | None, folder: str | None) -> None:
    """Stop the demo game the app started (SIGTERM, then SIGKILL) and remove its temporary world."""
    if pid:
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
            try:
                os.killpg(pid, sig)  # started with start_new_session: its group is its pid
            except ProcessLookupError:
                break
            except PermissionError:
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)
            if _gone(pid, wait):
                break
    if folder and (Path(folder) / DEMO_MARKER).is_file():
        shutil.rmtree(folder, ignore_errors=True)


def _gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":  # a zombie nobody reaps any more: gone
                return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        except (OSError, IndexError):
            pass
        time.sleep(0.05)
    return False


def watch(guard: Guard, pipe: int, ready: IO[str] | None = None) -> str:
    """Block until the app says goodbye or dies; returns what happened. Writes ``ready`` to
    ``ready`` once its display connection is open (it can release from then on)."""
    keysyms = [keymap.X11_KEYSYMS[k] for k in guard.keys if k in keymap.X11_KEYSYMS]
    releaser = releaser_for(guard.backend, guard.display, keysyms)
    if ready is not None:
        with contextlib.suppress(OSError):
            ready.write("ready\n")
            ready.flush()
    buffered = b""
    last_beat = time.monotonic()
    frozen = False
    try:
        while True:
            readable, _, _ = select.select([pipe], [], [], min(BEAT_S, guard.stale_s))
            now = time.monotonic()
            if not readable:
                if not frozen and now - last_beat > guard.stale_s:
                    frozen = True
                    LOG.warning("the app stopped answering: released %s", releaser.release())
                continue
            chunk = os.read(pipe, 4096)
            if not chunk:  # the app is gone
                if buffered.endswith(BYE):
                    return "bye"
                released = releaser.release()
                LOG.warning("the app died: released %s", released or "nothing (none held)")
                stop_game(guard.kill_pid, guard.remove_dir)
                return "died"
            buffered = (buffered + chunk)[-len(BYE) :]
            last_beat, frozen = now, False
    finally:
        releaser.close()


class Watchdog:
    """The app's side: start the process, beat the heart, say goodbye on a clean close."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.proc: subprocess.Popen[bytes] | None = None
        self._pipe: IO[bytes] | None = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> Watchdog:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.runtime.watchdog", self.guard.to_json()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=root,
            start_new_session=True,
            close_fds=True,
        )
        self._pipe = self.proc.stdin
        threading.Thread(target=self._beat, name="watchdog-heartbeat", daemon=True).start()
        return self

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Block until the watchdog can release (its display connection is open). Optional: an app
        killed before that is still covered, a moment later."""
        proc = self.proc
        if proc is None or proc.stdout is None:
            return False
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        return bool(ready) and proc.stdout.readline() == b"ready\n"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _beat(self) -> None:
        while not self._stopped.wait(BEAT_S):
            if not self._write(b"."):
                return

    def _write(self, data: bytes) -> bool:
        with self._lock:
            pipe = self._pipe
            if pipe is None:
                return False
            try:
                pipe.write(data)
                pipe.flush()
                return True
            except (BrokenPipeError, OSError, ValueError):
                return False

    def stop(self, timeout: float = 2.0) -> None:
        """A clean close: the app released its input itself and closes (or keeps) the game."""
        self._stopped.set()
        self._write(BYE)
        with self._lock:
            pipe, self._pipe = self._pipe, None
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
        proc = self.proc
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def guard_for(game: Any, display: str | None = None) -> Guard | None:
    """The guard for an open game (``app.games.spec.OpenGame``): only a desktop game injecting into
    an X display needs one."""
    connector = getattr(game, "connector", None)
    config = getattr(connector, "config", None)
    shown = getattr(connector, "display", None) or display or os.environ.get("DISPLAY")
    if connector is None or not getattr(connector, "realtime", False) or config is None or not shown:
        return None

    keys = sorted(set(getattr(config, "bindings", {}).values()) | set(keymap.DEFAULT_BINDINGS.values()))
    desktop = getattr(connector, "desktop", None)
    guard = Guard(display=shown, backend=getattr(desktop, "name", "x11"), keys=keys)
    process = getattr(game, "process", None)  # app.games.demo_game.DemoGame when we started the game
    proc = getattr(process, "proc", None)
    if proc is not None:
        guard.kill_pid = proc.pid
        root = getattr(process, "root", None)
        if getattr(process, "_owns_root", False) and root is not None:
            guard.remove_dir = str(root)
    return guard


def start_for(game: Any, display: str | None = None) -> Watchdog | None:
    """Start a watchdog for ``game`` when it needs one; never fails the caller (it logs instead)."""
    try:
        guard = guard_for(game, display)
        return Watchdog(guard).start() if guard is not None else None
    except Exception as exc:
        LOG.warning("no watchdog for held keys (%s): a SIGKILL could leave keys held", exc)
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.runtime.watchdog", description=__doc__)
    parser.add_argument("guard", help="the Guard as JSON")
    args = parser.parse_args(argv)
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="jarvis-play watchdog: %(message)s")
    guard = Guard(**json.loads(args.guard))
    outcome = watch(guard, sys.stdin.fileno(), sys.stdout)
    LOG.debug("watchdog done: %s", outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
