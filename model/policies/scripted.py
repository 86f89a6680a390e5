"""A policy that replays fixed env actions: for tests, ``jarvis-play replay`` and demos without a model.

It honours the Policy protocol exactly (frame + instruction in, ``PolicyStep`` out), so the loop
cannot tell it from a model. ``latency_s`` makes it sleep like a slow model would, ``chunk`` makes it
return several actions per call like a chunking policy, and ``hang_after``/``fail_after`` turn it into
a hung or crashing policy for the safety tests.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from model.actions.env import EnvAction, normalize, null_action
from model.policies.base import PolicyStep


class ScriptedPolicy:
    def __init__(
        self,
        actions: Iterable[Mapping[str, Any]],
        *,
        loop: bool = False,  # start over at the end instead of returning null actions
        latency_s: float = 0.0,
        chunk: int = 1,
        hang_after: int | None = None,  # block (until close) on this call number, 0-based
        fail_after: int | None = None,  # raise RuntimeError on this call number
    ) -> None:
        self.actions: list[EnvAction] = [normalize(a) for a in actions]
        self.loop = loop
        self.latency_s = latency_s
        self.chunk = max(1, chunk)
        self.hang_after = hang_after
        self.fail_after = fail_after
        self.calls = 0
        self.instructions: list[str] = []
        self._pos = 0
        self._closed = threading.Event()

    @classmethod
    def from_jsonl(cls, path: str | Path, **options: Any) -> ScriptedPolicy:
        """One JSON env-action dict per line; blank lines and ``#`` comments are skipped."""
        actions = []
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                try:
                    raw = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from exc
                if not isinstance(raw, dict):
                    raise ValueError(f"{path}:{number}: expected a JSON object (an env action dict)")
                try:
                    actions.append(normalize(raw))
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: {exc}") from exc
        return cls(actions, **options)

    @property
    def exhausted(self) -> bool:
        return not self.loop and self._pos >= len(self.actions)

    def reset(self) -> None:
        self._pos = 0

    def act(self, frame: np.ndarray, instruction: str) -> PolicyStep:
        t0 = time.perf_counter()
        call = self.calls
        self.calls += 1
        self.instructions.append(instruction)
        if self.fail_after is not None and call >= self.fail_after:
            raise RuntimeError(f"scripted failure on call {call}")
        if self.hang_after is not None and call >= self.hang_after:
            self._closed.wait()
        if self.latency_s:
            time.sleep(self.latency_s)
        out: list[EnvAction] = []
        for _ in range(self.chunk):
            if self._pos >= len(self.actions):
                if not (self.loop and self.actions):
                    break
                self._pos = 0
            out.append(dict(self.actions[self._pos], camera=list(self.actions[self._pos]["camera"])))
            self._pos += 1
        total = (time.perf_counter() - t0) * 1000
        return PolicyStep(actions=out or [null_action()], timings_ms={"model": total, "total": total})

    def close(self) -> None:
        self._closed.set()
