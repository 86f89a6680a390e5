"""The root of the errors ``model/`` raises on purpose.

Every such error derives from ``ModelError`` and carries a message a person can act on (what is
wrong and what to do), so ``app/`` shows it as a sentence without a traceback and catches the whole
layer by this one type. Where callers also expect a standard category (a bad spec is a
``ValueError``), the class keeps that base too.
"""

from __future__ import annotations


class ModelError(Exception):
    """A problem in the model layer whose message says what to do."""
