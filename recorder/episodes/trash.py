"""Move a file or folder to the desktop trash, per the freedesktop.org Trash specification 1.0.

Written out here (about 80 lines) rather than adding a dependency. The home trash is
``$XDG_DATA_HOME/Trash`` (default ``~/.local/share/Trash``) with ``files/`` holding the item and
``info/<name>.trashinfo`` recording where it came from and when, so the desktop's trash can restore
it. The .trashinfo is created first with O_EXCL: that reserves the name atomically, as the spec
asks. An item on another file system than the home trash goes to ``$topdir/.Trash-$uid`` on its
own mount (renames cannot cross file systems, and copying a large episode is not "move to trash").
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from urllib.parse import quote

from recorder.errors import RecorderError
from recorder.files import mount_point


class TrashError(RecorderError, OSError):
    """The item could not be trashed; the message says why and what to do instead."""


def home_trash() -> Path:
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "Trash"


def _reserve(trash: Path, name: str, original: str) -> tuple[Path, Path]:
    """Create ``info/<free name>.trashinfo`` exclusively; returns (info file, files/ target)."""
    (trash / "files").mkdir(parents=True, exist_ok=True, mode=0o700)
    (trash / "info").mkdir(parents=True, exist_ok=True, mode=0o700)
    body = (
        f"[Trash Info]\nPath={quote(original)}\nDeletionDate={time.strftime('%Y-%m-%dT%H:%M:%S')}\n"
    ).encode()
    for n in range(1, 10_000):
        candidate = name if n == 1 else f"{name}.{n}"
        info = trash / "info" / f"{candidate}.trashinfo"
        target = trash / "files" / candidate
        if target.exists():
            continue
        try:
            fd = os.open(info, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        return info, target
    raise TrashError(f"no free name for {name} in {trash}")


def _move(item: Path, trash: Path, original: str) -> Path:
    info, target = _reserve(trash, item.name, original)
    try:
        os.rename(item, target)
    except OSError:
        info.unlink(missing_ok=True)
        raise
    return target


def move_to_trash(item: Path) -> Path:
    """Trash ``item``; returns its new path. Raises ``TrashError`` with what to do."""
    item = Path(item).absolute()
    if not item.exists():
        raise TrashError(f"{item} is already gone.")
    try:
        return _move(item, home_trash(), str(item))
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise TrashError(_advice(item, exc)) from exc
    # Another file system: its own top-directory trash, with a path relative to that mount.
    top = mount_point(item)
    try:
        return _move(item, top / f".Trash-{os.getuid()}", str(item.relative_to(top)))
    except OSError as exc:
        raise TrashError(_advice(item, exc)) from exc


def _advice(item: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return (
        f"Could not move {item.name} to the trash ({reason}). Nothing was deleted; delete the "
        f"folder {item} with your file manager if you no longer want it."
    )
