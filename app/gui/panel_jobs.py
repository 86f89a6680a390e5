"""Background work for the side panels, with their own expected errors shown as plain sentences.

``Job`` already turns unexpected exceptions into "Could not …" with a generic hint; the panels'
own errors (``LibraryError``, ``TrashError``, ``AdapterError``) carry their fix in the message, so
they are re-raised as ``UserError`` so ``failed`` carries their sentence without the generic hint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QObject

from app.errors import UserError
from app.gui.workers import Job
from model.adapters import AdapterError
from recorder.episodes import LibraryError, TrashError

EXPECTED = (AdapterError, LibraryError, TrashError)


def run_job(
    parent: QObject,
    work: Callable[[], Any],
    doing: str,
    done: Callable[[Any], None],
    failed: Callable[[str], None],
    jobs: list[Job],
) -> Job:
    """Run ``work`` off the GUI thread; ``done(result)`` or ``failed(sentence)`` on the GUI thread.

    The job is listed in ``jobs`` until it finishes. It is registered, and its removal connected,
    before the thread starts: a job fast enough to finish first would otherwise stay listed forever.
    """

    def guarded(_progress: Callable[[str], None]) -> Any:
        try:
            return work()
        except EXPECTED as exc:
            raise UserError(str(exc)) from exc  # app.errors adds no generic hint to a UserError

    job = Job(guarded, doing, parent)
    job.done.connect(done)
    job.failed.connect(failed)
    jobs.append(job)
    job.finished.connect(lambda: jobs.remove(job))
    return job.start()
