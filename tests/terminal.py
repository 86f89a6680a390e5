"""How a child process starts: as from a person's terminal, or as ``nohup`` / a background job starts it.

A suite started in the background (``make test &``, or a CI runner without job control) hands its
children SIGINT ignored. A test that stops a door with the Ctrl+C a person would press starts it
``as_from_a_terminal``; a test of what a door does where its signals were ignored on purpose starts it
``as_with_nohup`` or ``as_a_background_job``.
"""

from __future__ import annotations

import signal


def as_from_a_terminal() -> None:
    """``preexec_fn``: the signals' default actions, as a shell gives a command it runs in the foreground."""
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


def as_with_nohup() -> None:
    """``preexec_fn``: SIGHUP ignored, as ``nohup`` starts a command (it must outlive its terminal)."""
    as_from_a_terminal()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def as_a_background_job() -> None:
    """``preexec_fn``: SIGINT ignored, as a shell script starts ``command &`` (a Ctrl+C is for the
    foreground job, not for it)."""
    as_from_a_terminal()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
