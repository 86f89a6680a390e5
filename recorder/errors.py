"""The root of the errors ``recorder/`` raises on purpose.

Every such error derives from ``RecorderError`` and carries a message a person can act on, so
``app/`` shows it as a sentence without a traceback and catches the whole layer by this one type.
Where callers also expect a standard category (a failed trash is an ``OSError``), the class keeps
that base too.
"""

from __future__ import annotations


class RecorderError(Exception):
    """A problem in the recorder layer whose message says what to do."""
