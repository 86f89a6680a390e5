"""A policy served elsewhere: any OpenAI-compatible chat endpoint (vLLM, ``jarvis-play serve``).

It sends the request the official evaluation sends (spec §4.1): the same messages, each image as a
base64 JPEG data URL with PIL's default quality, ``max_tokens`` 1024, only ``temperature`` set, and
``skip_special_tokens: false`` so the action tokens survive. Every call has a timeout, so a slow or
dead server raises ``PolicyError`` instead of hanging the loop.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import numpy as np

from model.actions.codec import ActionCodec, has_segment
from model.actions.tokens import ids_from_text
from model.image import jpeg_data_url, prepare_frame
from model.policies.base import PolicyError, PolicyStep
from model.prompts import Message, PromptHistory


@dataclass
class RemotePolicyConfig:
    temperature: float = 0.7
    max_tokens: int = 1024
    history_num: int = 0
    chunk_len: int = 1
    timeout_s: float = 10.0  # per request; a late answer is useless to a live game anyway
    api_key: str = "EMPTY"


class RemotePolicy:
    def __init__(
        self, base_url: str, config: RemotePolicyConfig | None = None, model: str | None = None
    ) -> None:
        self.config = config or RemotePolicyConfig()
        base_url, key = _split_credentials(base_url)
        if key:  # http://host:8000?api_key=K (or http://:K@host:8000): sent as the Bearer token
            self.config = replace(self.config, api_key=key)
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"
        self.model = model  # looked up lazily: constructors never touch the network
        self.codec = ActionCodec()
        self.history: PromptHistory[Any] = PromptHistory(
            self.config.history_num, self.codec.text(self.codec.null_ids())
        )

    # ----- HTTP ---------------------------------------------------------------------------------
    def _request(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method="POST" if data else "GET",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.config.api_key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise PolicyError(f"{self.base_url}{path} answered {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PolicyError(
                f"no answer from {self.base_url} within {self.config.timeout_s:g} s ({reason}). "
                "Is the server running (e.g. `jarvis-play serve --model M` or `vllm serve ...`), "
                "and is the URL right?"
            ) from exc
        except json.JSONDecodeError as exc:
            raise PolicyError(
                f"{self.base_url}{path} did not answer JSON; is it an OpenAI-compatible server?"
            ) from exc

    def check(self) -> str:
        """Fail fast before play: the server answers and names its model (as upstream reads it)."""
        if self.model is None:
            listing = self._request("/models")
            try:
                self.model = str(listing["data"][0]["id"])
            except (KeyError, IndexError, TypeError) as exc:
                raise PolicyError(f"{self.base_url}/models lists no model") from exc
        return self.model

    # ----- policy -------------------------------------------------------------------------------
    def reset(self) -> None:
        self.history.reset()

    def request_body(self, messages: list[Message], images: list[Any]) -> dict[str, Any]:
        """The chat completion request of the official client, images inlined as data URLs."""
        urls = iter(jpeg_data_url(image) for image in images)
        wire = []
        for message in messages:
            content = [
                {"type": "image_url", "image_url": {"url": next(urls)}} if part["type"] == "image" else part
                for part in message["content"]
            ]
            wire.append({"role": message["role"], "content": content})
        return {
            "model": self.model,
            "messages": wire,
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            "skip_special_tokens": False,
        }

    def act(self, frame: np.ndarray, instruction: str) -> PolicyStep:
        t0 = time.perf_counter()
        self.check()
        image = prepare_frame(frame)
        messages, images = self.history.build(image, instruction)
        body = self.request_body(messages, images)
        t1 = time.perf_counter()
        answer = self._request("/chat/completions", body)
        t2 = time.perf_counter()
        try:
            text = answer["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            text = ""
        ids = ids_from_text(text)
        joints = self.codec.ids_to_joints(ids)
        actions = [self.codec.joint_to_env(j) for j in joints][: max(1, self.config.chunk_len)]
        self.history.record(image, text)
        t3 = time.perf_counter()
        return PolicyStep(
            actions=actions,
            ids=ids,
            text=text,
            malformed=not has_segment(ids),
            timings_ms={
                "prepare_ms": (t1 - t0) * 1e3,
                "model_ms": (t2 - t1) * 1e3,
                "decode_ms": (t3 - t2) * 1e3,
                "total_ms": (t3 - t0) * 1e3,
            },
        )

    def close(self) -> None:
        return None


def _split_credentials(url: str) -> tuple[str, str | None]:
    """(the URL without user:password@ and query, the API key they carried, if any)."""
    parts = urlsplit(url)
    key = next(iter(parse_qs(parts.query).get("api_key", [])), None) or parts.password or None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", "")), key
