"""Tell the person when an episode lands on disk: "Saved episode … (N s)".

Episodes are written by the session's recorder (Stop ends a recorded run) and by the save-last key,
which may be pressed in the game, where the window never sees it. So instead of asking the session,
this watches the recordings folder itself: a new folder is an episode being written; once its
meta.json leaves the "recording" status it is announced once, with its length from the meta. An
evaluation's trials are not announced: the Evaluate panel says where the evaluation was saved, and
twenty "Saved episode" lines would bury that (the last trial's came after it).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PyQt6.QtCore import QFileSystemWatcher, QObject, QTimer, pyqtSignal

from recorder.episodes import is_episode, read_meta

LOG = logging.getLogger(__name__)

POLL_MS = 500  # how often episodes being written are checked


class EpisodeWatch(QObject):
    saved = pyqtSignal(str, str)  # (sentence, folder)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.root: Path | None = None
        self._known: set[str] = set()
        self._pending: set[Path] = set()
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(lambda _p: self._scan())
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._check)

    def watch(self, root: Path) -> None:
        """Watch ``root`` (created if missing: the first recording would create it anyway)."""
        root = Path(root).expanduser()
        if root == self.root:
            self._scan()
            return
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            LOG.warning("cannot watch %s for saved episodes: %s", root, exc)
            return
        if self.root is not None:
            self._watcher.removePath(str(self.root))
        self.root = root
        self._known = {p.name for p in root.iterdir()}
        self._pending.clear()
        self._watcher.addPath(str(root))

    def _scan(self) -> None:
        root = self.root
        if root is None or not root.is_dir():
            return
        for path in root.iterdir():
            if path.name not in self._known and path.is_dir() and not path.name.startswith("."):
                self._known.add(path.name)
                self._pending.add(path)
        if self._pending and not self._timer.isActive():
            self._timer.start(POLL_MS)
        self._check()

    def _check(self) -> None:
        for folder in list(self._pending):
            if not folder.exists():
                self._pending.discard(folder)
                continue
            if not is_episode(folder):
                continue  # meta.json not written yet
            try:
                meta = read_meta(folder)
            except (OSError, ValueError):
                continue  # being rewritten: next poll
            if meta.status == "recording":
                continue
            self._pending.discard(folder)
            if meta.evaluation_trial:
                continue  # the evaluation says what it saved; a line per trial would bury its result
            seconds = meta.frame_count / meta.fps if meta.fps else 0.0
            where = "" if meta.status == "complete" else f", status {meta.status}"
            self.saved.emit(f"Saved episode {folder.name} ({seconds:.0f} s{where}).", str(folder))
        if not self._pending:
            self._timer.stop()
