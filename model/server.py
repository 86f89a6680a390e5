"""An OpenAI-compatible chat endpoint over the in-process model, so it can run on another machine.

Only what the JARVIS client (ours or the official one) uses is implemented: ``GET /v1/models`` and
``POST /v1/chat/completions`` with text and base64 ``image_url`` parts. Requests are served one at a
time on the model (a lock), concurrent connections queue. Like vLLM, ``skip_special_tokens`` defaults
to true — clients that want the action tokens send false, as the official one does.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from model.image import image_from_data_url, prepare_frame
from model.vla import VLA, Sampling

LOG = logging.getLogger(__name__)


class BadRequest(ValueError):
    pass


def parse_messages(raw: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    """OpenAI chat messages -> (HF multimodal messages, images in order)."""
    if not isinstance(raw, list) or not raw:
        raise BadRequest("'messages' must be a non-empty list")
    messages, images = [], []
    for message in raw:
        if not isinstance(message, dict) or "role" not in message:
            raise BadRequest("each message needs a 'role' and 'content'")
        content = message.get("content", "")
        if isinstance(content, str):
            parts = [{"type": "text", "text": content}]
        elif isinstance(content, list):
            parts = []
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text":
                    parts.append({"type": "text", "text": str(part.get("text", ""))})
                elif kind == "image_url":
                    url = part.get("image_url", {})
                    url = url.get("url", "") if isinstance(url, dict) else str(url)
                    try:
                        images.append(prepare_frame(image_from_data_url(url)))
                    except Exception as exc:
                        raise BadRequest(f"unreadable image: {exc}") from exc
                    parts.append({"type": "image"})
                else:
                    raise BadRequest(f"unsupported content part type {kind!r}")
        else:
            raise BadRequest("'content' must be a string or a list of parts")
        messages.append({"role": str(message["role"]), "content": parts})
    return messages, images


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], vla: VLA, served_name: str, constrained: bool = True
    ) -> None:
        super().__init__(address, _Handler)
        self.vla = vla
        self.served_name = served_name
        self.constrained = constrained

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        messages, images = parse_messages(body.get("messages"))
        try:
            temperature = float(body.get("temperature", 1.0))
            max_tokens = int(body.get("max_tokens") or 1024)
        except (TypeError, ValueError) as exc:
            raise BadRequest("temperature and max_tokens must be numbers") from exc
        skip_special = bool(body.get("skip_special_tokens", True))
        sampling = Sampling(temperature=temperature, max_new_tokens=max_tokens, seed=body.get("seed"))
        with self.vla.lock:
            generation = self.vla.generate(messages, images, sampling, constrained=self.constrained)
        text = (
            self.vla.tokenizer.decode(generation.ids, skip_special_tokens=True)
            if skip_special
            else generation.text
        )
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.served_name,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"completion_tokens": len(generation.ids)},
        }


class _Handler(BaseHTTPRequestHandler):
    server: ChatServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(
                200,
                {
                    "object": "list",
                    "data": [{"id": self.server.served_name, "object": "model", "owned_by": "jarvis-play"}],
                },
            )
        elif self.path.rstrip("/") in ("/health", "/v1/health"):
            self._send(200, {"status": "ok"})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no route {self.path}")
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object")
            self._send(200, self.server.complete(body))
        except (BadRequest, json.JSONDecodeError) as exc:
            self._error(400, str(exc))
        except Exception as exc:  # the model failed; the server stays up
            LOG.exception("generation failed")
            self._error(500, f"generation failed: {exc}")
