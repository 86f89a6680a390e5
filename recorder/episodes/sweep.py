"""The sweep at every recording start: finish what a crashed writer left, touch nothing else.

``recover_crashed`` finishes only episodes whose meta says ``recording`` and whose writer is dead,
and only when the repair is a crash's: a torn tail of at most a second. Anything else is left alone
for a person to look at with ``episodes check``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from recorder.episodes.check import CheckReport
from recorder.episodes.find import is_being_written
from recorder.episodes.format import list_episodes, read_meta
from recorder.episodes.repair import repair_episode

LOG = logging.getLogger(__name__)


def recover_crashed(root: Path) -> list[CheckReport]:
    """The start-up sweep: finish episodes a dead writer left ``recording``; touch nothing else."""
    reports = []
    for folder in list_episodes(root):
        try:
            status = read_meta(folder).status
        except (OSError, ValueError, TypeError):
            continue  # not ours to guess at: `episodes check` shows it
        if status != "recording" or is_being_written(folder):
            continue
        report = repair_episode(folder, crash_only=True)
        LOG.warning("interrupted episode: %s", report.summary())
        reports.append(report)
    return reports
