"""The fine-tune's own error: a run that cannot start or continue, with what to do in the message."""

from __future__ import annotations

from model.errors import ModelError


class FinetuneError(ModelError):
    """A run that cannot start or continue, with what to do in the message."""
