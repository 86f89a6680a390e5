"""An OpenAI-compatible chat endpoint over the in-process model, so it can run on another machine.

Only what the JARVIS client (ours or the official one) uses is implemented: ``GET /v1/models`` and
``POST /v1/chat/completions`` with text and base64 ``image_url`` parts. Like vLLM,
``skip_special_tokens`` defaults to true — clients that want the action tokens send false, as the
official one does.

It must hold under abuse, so every resource a client can claim is bounded (``Limits``):
* a connection is a thread, and at most ``max_connections`` live at once; the next gets 503 at once;
* every socket read has a timeout, so a half-sent request costs a thread for seconds, not forever;
* the body is refused (413) from its Content-Length, before it is read; text length, image count
  and ``max_tokens`` are checked before any work; an image's pixel count is read from its header
  (PIL opens lazily) and refused before it is decoded;
* requests run one at a time on the model; at most ``max_waiting`` wait for it, the next gets 429
  with Retry-After; a request that waits or decodes past ``request_seconds`` ends with 503;
* decoding stops as soon as the client hangs up (its socket reads end of file).
Client mistakes are 4xx, never 500. With ``api_key`` set, every route but /health needs
``Authorization: Bearer <key>``, which is what OpenAI clients send.

Why ``http.server`` and not an ASGI server: the model runs one request at a time anyway, a thread
per connection with socket timeouts bounds exactly what matters here, and it adds no dependency.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import io
import json
import logging
import select
import socket
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from model.errors import ModelError
from model.image import prepare_frame
from model.vla import VLA, Sampling

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 16 * 2**20  # a 640×360 JPEG is ~100 kB in base64; room for many
    max_image_pixels: int = 4096 * 4096  # decoded RGB: 48 MiB at most per image
    max_images: int = 16
    max_text_chars: int = 32_000
    max_tokens: int = 1024  # the official request's value
    request_seconds: float = 60.0  # waiting for the model plus decoding
    socket_seconds: float = 10.0  # the longest pause allowed while a client sends its request
    max_waiting: int = 8  # requests queued for the model; beyond: 429
    max_connections: int = 64  # live connections (threads); beyond: 503
    backlog: int = 128  # the kernel's queue of connections not yet accepted


class ClientError(ModelError, ValueError):
    """The request is wrong; the status says how (400, 401, 404, 411, 413, 429...)."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class BadRequest(ClientError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class Unavailable(ModelError):
    """The server cannot answer in time (busy, or the request ran out of time): 503."""


def decode_image(url: str, limits: Limits) -> Any:
    """A base64 data URL to an RGB image, refusing one too large before decoding its pixels."""
    from PIL import Image

    if not url.startswith("data:") or ";base64," not in url:
        raise BadRequest("only base64 data: URLs are accepted for images")
    try:
        raw = base64.b64decode(url.split(";base64,", 1)[1], validate=False)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"unreadable image: bad base64 ({exc})") from exc
    try:
        with warnings.catch_warnings():  # our own limit below is the one that counts
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))  # reads the header only
    except Image.DecompressionBombError as exc:
        raise ClientError(413, f"image too large: {exc}") from exc
    except Exception as exc:
        raise BadRequest(f"unreadable image: {exc}") from exc
    width, height = image.size
    if width * height > limits.max_image_pixels:
        raise ClientError(
            413,
            f"image of {width}x{height} pixels is larger than the limit of {limits.max_image_pixels} pixels",
        )
    try:
        return image.convert("RGB")
    except Exception as exc:
        raise BadRequest(f"unreadable image: {exc}") from exc


def parse_messages(raw: Any, limits: Limits = Limits()) -> tuple[list[dict[str, Any]], list[Any]]:
    """OpenAI chat messages -> (HF multimodal messages, images in order)."""
    if not isinstance(raw, list) or not raw:
        raise BadRequest("'messages' must be a non-empty list")
    messages, images, chars, urls = [], [], 0, []
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
                    urls.append(url.get("url", "") if isinstance(url, dict) else str(url))
                    parts.append({"type": "image"})
                else:
                    raise BadRequest(f"unsupported content part type {kind!r}")
        else:
            raise BadRequest("'content' must be a string or a list of parts")
        chars += sum(len(p["text"]) for p in parts if p["type"] == "text")
        messages.append({"role": str(message["role"]), "content": parts})
    if chars > limits.max_text_chars:
        raise ClientError(
            413, f"the messages hold {chars} characters of text; the limit is {limits.max_text_chars}"
        )
    if len(urls) > limits.max_images:
        raise ClientError(413, f"{len(urls)} images in one request; the limit is {limits.max_images}")
    for url in urls:  # only after the cheap checks: decoding is the expensive part
        images.append(prepare_frame(decode_image(url, limits)))
    return messages, images


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        vla: VLA,
        served_name: str,
        constrained: bool = True,
        *,
        limits: Limits = Limits(),
        api_key: str | None = None,
    ) -> None:
        self.request_queue_size = limits.backlog  # listen() backlog: read by server_activate
        super().__init__(address, _Handler)
        self.vla = vla
        self.served_name = served_name
        self.constrained = constrained
        self.limits = limits
        self.api_key = api_key or None
        self._count_lock = threading.Lock()
        self._connections = 0
        self._waiting = 0

    # ----- connections ------------------------------------------------------------------------
    def process_request(self, request: Any, client_address: Any) -> None:
        with self._count_lock:
            full = self._connections >= self.limits.max_connections
            if not full:
                self._connections += 1
        if full:  # answered on the accepting thread, without reading: costs no new thread
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(_raw_response(503, "too many connections; try again shortly", retry_after=1))
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._count_lock:
                self._connections -= 1

    # ----- completions ------------------------------------------------------------------------
    def complete(self, body: dict[str, Any], gone: Any = lambda: False) -> dict[str, Any]:
        """The chat completion for ``body``; ``gone()`` says the client hung up."""
        limits = self.limits
        deadline = time.monotonic() + limits.request_seconds
        try:
            temperature = float(body.get("temperature", 1.0))
            max_tokens = int(body.get("max_tokens") or limits.max_tokens)
        except (TypeError, ValueError) as exc:
            raise BadRequest("temperature and max_tokens must be numbers") from exc
        if not 0 < max_tokens <= limits.max_tokens:
            raise BadRequest(f"max_tokens must be between 1 and {limits.max_tokens}, not {max_tokens}")
        if not 0 <= temperature <= 10:
            raise BadRequest(f"temperature must be between 0 and 10, not {temperature}")
        seed = body.get("seed")
        if seed is not None and not isinstance(seed, int):
            raise BadRequest("seed must be an integer")
        messages, images = parse_messages(body.get("messages"), limits)
        skip_special = bool(body.get("skip_special_tokens", True))
        sampling = Sampling(temperature=temperature, max_new_tokens=max_tokens, seed=seed)
        with self._count_lock:
            if self._waiting >= limits.max_waiting:
                raise ClientError(
                    429, "the model is busy with other requests; try again shortly", retry_after=1
                )
            self._waiting += 1
        try:
            if not self.vla.lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise Unavailable(f"the model stayed busy for {limits.request_seconds:g} s; try again later")
        finally:
            with self._count_lock:
                self._waiting -= 1
        stopped = {"why": ""}

        def should_stop() -> bool:
            if time.monotonic() > deadline:
                stopped["why"] = "time"
            elif gone():
                stopped["why"] = "gone"
            return bool(stopped["why"])

        try:
            if gone():
                raise Unavailable("the client went away")
            generation = self.vla.generate(
                messages, images, sampling, constrained=self.constrained, should_stop=should_stop
            )
        finally:
            self.vla.lock.release()
        if stopped["why"] == "time":
            raise Unavailable(
                f"generation took longer than {limits.request_seconds:g} s; ask for fewer max_tokens"
            )
        if stopped["why"] == "gone":
            raise Unavailable("the client went away")
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


def _error_payload(status: int, message: str) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 401:
        kind = "authentication_error"
    elif status == 429:
        kind = "rate_limit_error"
    return {"error": {"message": message, "type": kind, "code": status}}


def _raw_response(status: int, message: str, retry_after: int | None = None) -> bytes:
    from http import HTTPStatus

    data = json.dumps(_error_payload(status, message)).encode()
    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Content-Type: application/json",
            f"Content-Length: {len(data)}", "Connection: close"]  # fmt: skip
    if retry_after is not None:
        head.append(f"Retry-After: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


class _Handler(BaseHTTPRequestHandler):
    server: ChatServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.timeout = self.server.limits.socket_seconds  # applied to the socket by StreamRequestHandler
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, payload: dict[str, Any], retry_after: int | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        if status >= 400 and status != 404:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(data)

    def _error(self, status: int, message: str, retry_after: int | None = None) -> None:
        self._send(status, _error_payload(status, message), retry_after)

    def _authorised(self) -> bool:
        key = self.server.api_key
        if key is None:
            return True
        given = self.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode()):
            return True
        self._error(401, "missing or wrong API key: send 'Authorization: Bearer <key>'")
        return False

    def _client_gone(self) -> bool:
        """The client closed its side: its socket reads end of file (not merely pipelined data)."""
        sock = self.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def do_GET(self) -> None:
        route = self.path.split("?", 1)[0].rstrip("/")
        if route in ("/health", "/v1/health"):
            self._send(200, {"status": "ok"})
        elif not self._authorised():
            return
        elif route in ("/v1/models", "/models"):
            self._send(
                200,
                {
                    "object": "list",
                    "data": [{"id": self.server.served_name, "object": "model", "owned_by": "jarvis-play"}],
                },
            )
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0].rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no route {self.path}")
            return
        if not self._authorised():
            return
        try:
            body = self._read_json()
            self._send(200, self.server.complete(body, gone=self._client_gone))
        except ClientError as exc:
            self._error(exc.status, str(exc), exc.retry_after)
        except Unavailable as exc:
            self._error(503, str(exc), retry_after=1)
        except TimeoutError:
            self._error(408, f"the request was not sent within {self.server.limits.socket_seconds:g} s")
        except Exception as exc:  # the model failed; the server stays up
            LOG.exception("generation failed")
            self._error(500, f"generation failed: {exc}")

    def _read_json(self) -> dict[str, Any]:
        limits = self.server.limits
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise ClientError(411, "send the body with a Content-Length (chunked bodies are not accepted)")
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            raise ClientError(411, "a Content-Length header is required")
        try:
            length = int(raw_length)
        except ValueError as exc:
            raise BadRequest(f"bad Content-Length {raw_length!r}") from exc
        if length < 0:
            raise BadRequest(f"bad Content-Length {raw_length!r}")
        if length > limits.max_body_bytes:
            raise ClientError(413, f"the body is {length} bytes; the limit is {limits.max_body_bytes}")
        data = self.rfile.read(length)  # each recv waits at most socket_seconds (TimeoutError)
        if len(data) < length:
            raise BadRequest(f"the body ended after {len(data)} of {length} bytes")
        try:
            body = json.loads(data or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"the body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return body
