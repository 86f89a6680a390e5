"""What the person typed after ``--model`` (or picked in the window), parsed once into a typed spec.

Every door (window, ``run``, ``record``, ``serve``, ``doctor``) used to test the text itself
(``startswith("http")`` in six places); they now ask the spec. Parsing never touches the disk or
the network beyond checking whether a path exists, so it is instant and safe on any thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from model.errors import ModelError

Kind = Literal["tiny", "folder", "hub", "server", "scripted"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelSpecError(ModelError, ValueError):
    """A model spec that cannot mean anything; the message lists what is accepted."""


@dataclass(frozen=True)
class ModelSpec:
    kind: Kind
    value: str  # the folder, hub id, URL or actions file; "tiny" for the embedded model

    @classmethod
    def parse(cls, text: str | ModelSpec) -> ModelSpec:
        if isinstance(text, ModelSpec):
            return text
        text = (text or "").strip()
        if not text:
            raise ModelSpecError(
                "no model given: use tiny, a checkpoint folder, an HF hub id, an http(s):// server URL "
                "or scripted:ACTIONS.jsonl"
            )
        if text == "tiny":
            return cls("tiny", "tiny")
        if text.startswith(("http://", "https://")):
            return cls("server", text)
        if text.startswith("scripted:"):
            path = text.split(":", 1)[1]
            if not path:
                raise ModelSpecError("scripted: needs a file of env actions, e.g. scripted:walk.jsonl")
            return cls("scripted", path)
        if Path(text).expanduser().exists() or not _HUB_ID.match(text):
            return cls("folder", str(Path(text).expanduser()))
        return cls("hub", text)

    def __str__(self) -> str:
        return f"scripted:{self.value}" if self.kind == "scripted" else self.value

    @property
    def remote(self) -> bool:
        """The weights live in another process (a server); nothing can be loaded or swapped here."""
        return self.kind == "server"

    @property
    def in_process(self) -> bool:
        """A transformers model loaded into this process (takes adapters, needs memory here)."""
        return self.kind in ("tiny", "folder", "hub")

    @property
    def folder(self) -> Path | None:
        """The local checkpoint folder, where an instructions.json may sit (None for servers, hub ids)."""
        if self.kind == "tiny":
            from model.tiny import default_tiny_dir  # heavy: transformers

            return default_tiny_dir()
        return Path(self.value) if self.kind == "folder" else None

    def redacted(self) -> str:
        """The spec as it may be written into files others read: a server URL loses its credentials
        (user:password@ and the query string, where ``?api_key=`` lives)."""
        if self.kind != "server":
            return str(self)
        parts = urlsplit(self.value)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
