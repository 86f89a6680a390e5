"""An OpenAI-compatible chat endpoint over the in-process model, so it can run on another machine.

Only what the JARVIS client (ours or the official one) uses is implemented: ``GET /v1/models`` and
``POST /v1/chat/completions`` with text and base64 ``image_url`` parts. Like vLLM,
``skip_special_tokens`` defaults to true — clients that want the action tokens send false, as the
official one does.

It must hold under abuse, and no idle or slow client may keep a valid one out (``Limits``):
* connections are asyncio transports on uvicorn, not threads: an idle connection costs a socket and
  counts against nothing. Its request headers must arrive within ``header_seconds`` of connecting
  (or of the previous answer), else it is closed; each part of the body within ``socket_seconds``,
  else 408. So a half-sent request costs a socket for seconds, never a place in the queue;
* the body is refused (413) from its Content-Length, before it is read; text length, image count
  and ``max_tokens`` are checked before any work; an image's pixel count is read from its header
  (PIL opens lazily) and refused before it is decoded;
* the model answers one request at a time, in arrival order; at most ``max_waiting`` valid requests
  wait for it. The next gets 429 with ``Retry-After`` (and ``retry-after-ms``, which OpenAI clients
  read first) saying when a place will be free: the model's cautious pace (its slowest recent
  answer) times the places ahead, counting the clients already told to come back. OpenAI clients
  honour it; one that comes back before its place frees is told again, behind the others. A
  request that waits or decodes past ``request_seconds`` ends with 503;
* decoding stops as soon as the client hangs up.
Client mistakes are 4xx, never 500. With ``api_key`` set, every route but /health needs
``Authorization: Bearer <key>``, which is what OpenAI clients send.

Why uvicorn: a thread per connection (``http.server``) let 64 idle sockets fill every place, and
bounding that by hand meant growing a server of our own. The protocol is uvicorn's HTTP/1.1 (h11),
with one addition: the header deadline above, which uvicorn does not have.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import concurrent.futures
import hmac
import io
import json
import logging
import math
import socket
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from typing import Any

import uvicorn
from PIL import Image
from uvicorn.protocols.http.h11_impl import H11Protocol

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
    header_seconds: float = 5.0  # from connecting (or the last answer) to a request's complete headers
    socket_seconds: float = 10.0  # the longest pause allowed while a client sends its body
    max_waiting: int = 16  # valid requests queued for the model; beyond: 429 with Retry-After
    backlog: int = 2048  # the kernel's queue of connections not yet accepted


class ClientError(ModelError, ValueError):
    """The request is wrong; the status says how (400, 401, 404, 408, 411, 413, 429...)."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
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


FIRST_GUESS_S = 0.5  # time per answer assumed until the model has answered once
MAX_RETRY_AFTER_S = 60.0  # OpenAI clients honour a Retry-After up to a minute
PACE_ANSWERS = 8  # the pace promised to a crowd: the slowest of this many recent answers


class ModelQueue:
    """The model's turns: one request at a time, in arrival order, at most ``bound`` waiting.

    Event-loop only. A request past the bound is told when to come back: the model's pace (``pace``)
    times its place among those already told to come back, so a crowd turned away returns spread out,
    each after a place frees, instead of all at once. The pace is cautious (the slowest recent answer,
    or the one in progress if it already took longer): a client that comes back late costs the model
    nothing while others still wait, one that comes back early costs itself a retry, and under load
    an average pace sent about every second client back too early.
    """

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.seconds_per_answer: float | None = None  # the recent average, for the log and for 503s
        self.refused = 0  # requests turned away with 429, and the most that ever waited: for the log
        self.peak_waiting = 0
        self._busy = False
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._promised: collections.deque[float] = collections.deque()  # when the turned-away return
        self._recent: collections.deque[float] = collections.deque(maxlen=PACE_ANSWERS)  # answer times
        self._turn_started = 0.0

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def refuse_if_full(self) -> None:
        """429 with the time to come back, when no place is left in the queue."""
        if self._busy and len(self._waiters) >= self.bound:
            self.refused += 1
            raise ClientError(
                429,
                f"the model is busy and {self.bound} requests already wait for it; "
                "try again after Retry-After seconds",
                retry_after=self._come_back_in(),
            )

    def pace(self, now: float) -> float:
        """Seconds per answer to promise: the slowest of the last answers, and at least as long as the
        answer in progress has taken so far (the model slowed down: a crowd, a busy machine)."""
        slowest = max(self._recent, default=FIRST_GUESS_S)
        return max(slowest, now - self._turn_started) if self._busy else slowest

    def _come_back_in(self) -> float:
        now = time.monotonic()
        while self._promised and self._promised[0] <= now:
            self._promised.popleft()
        wait = min(MAX_RETRY_AFTER_S, self.pace(now) * (len(self._promised) + 1))
        if len(self._promised) < 100_000:
            self._promised.append(now + wait)
        return wait

    async def acquire(self, timeout: float) -> None:
        """Wait for the model's turn (429 when the queue is full; TimeoutError after ``timeout``)."""
        if not self._busy and not self._waiters:
            self._busy = True
            self._turn_started = time.monotonic()
            return
        self.refuse_if_full()
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        self.peak_waiting = max(self.peak_waiting, len(self._waiters))
        try:
            await asyncio.wait_for(turn, timeout)
        except BaseException:
            if turn.done() and not turn.cancelled():  # handed the turn just as it gave up: pass it on
                self.release()
            elif turn in self._waiters:
                self._waiters.remove(turn)
            raise

    def release(self, answered_in: float | None = None) -> None:
        """End a turn (``answered_in``: how long the model took) and hand it to the next in line."""
        if answered_in is not None:
            prev = self.seconds_per_answer
            self.seconds_per_answer = answered_in if prev is None else 0.7 * prev + 0.3 * answered_in
            self._recent.append(answered_in)
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                self._turn_started = time.monotonic()
                turn.set_result(None)  # still busy: the turn goes straight to it
                return
        self._busy = False


class _Gone(ModelError):
    """The client hung up: nobody is left to answer."""


@dataclass
class _Reply:
    status: int
    payload: dict[str, Any]
    retry_after: float | None = None


class ChatApp:
    """The ASGI application: routes, auth, bounded reading, the model queue."""

    def __init__(
        self, vla: VLA, served_name: str, constrained: bool, limits: Limits, api_key: str | None
    ) -> None:
        self.vla = vla
        self.served_name = served_name
        self.constrained = constrained
        self.limits = limits
        self.api_key = api_key or None
        self.queue = ModelQueue(limits.max_waiting)
        self._model = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="model")

    def close(self) -> None:
        self._model.shutdown(wait=False, cancel_futures=True)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            reply = await self._route(scope["method"], scope["path"].rstrip("/"), headers, receive)
        except _Gone:
            return
        except ClientError as exc:
            reply = _Reply(exc.status, _error_payload(exc.status, str(exc)), exc.retry_after)
        except Unavailable as exc:
            reply = _Reply(503, _error_payload(503, str(exc)), self.queue.seconds_per_answer or 1.0)
        except Exception as exc:  # the model failed; the server stays up
            LOG.exception("generation failed")
            reply = _Reply(500, _error_payload(500, f"generation failed: {exc}"))
        await _send(send, reply)

    async def _route(self, method: str, route: str, headers: dict[str, str], receive: Any) -> _Reply:
        if method == "GET" and route in ("/health", "/v1/health"):
            return _Reply(200, {"status": "ok"})
        routes = {"GET": ("/v1/models", "/models"), "POST": ("/v1/chat/completions", "/chat/completions")}
        if route not in routes.get(method, ()):
            raise ClientError(404, f"no route {method} {route or '/'}")
        self._authorise(headers)
        if method == "GET":
            return _Reply(
                200,
                {
                    "object": "list",
                    "data": [{"id": self.served_name, "object": "model", "owned_by": "jarvis-play"}],
                },
            )
        body = await self._read_json(headers, receive)
        return _Reply(200, await self._complete(body, receive))

    def _authorise(self, headers: dict[str, str]) -> None:
        if self.api_key is None:
            return
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.api_key.encode()
        ):
            raise ClientError(401, "missing or wrong API key: send 'Authorization: Bearer <key>'")

    async def _read_json(self, headers: dict[str, str], receive: Any) -> dict[str, Any]:
        limits = self.limits
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise ClientError(411, "send the body with a Content-Length (chunked bodies are not accepted)")
        raw_length = headers.get("content-length")
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
        data = bytearray()
        more = True
        while more:
            try:
                message = await asyncio.wait_for(receive(), limits.socket_seconds)
            except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11
                raise ClientError(
                    408, f"the request body stalled for {limits.socket_seconds:g} s; send it at once"
                ) from None
            if message["type"] == "http.disconnect":
                raise _Gone
            data += message.get("body", b"")
            more = bool(message.get("more_body"))
        if len(data) < length:
            raise BadRequest(f"the body ended after {len(data)} of {length} bytes")
        try:
            body = json.loads(bytes(data) or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"the body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return body

    async def _complete(self, body: dict[str, Any], receive: Any) -> dict[str, Any]:
        """The chat completion for ``body``, once the model's turn comes."""
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
        self.queue.refuse_if_full()  # before the images are decoded: that is the costly part
        loop = asyncio.get_running_loop()
        messages, images = await loop.run_in_executor(None, parse_messages, body.get("messages"), limits)
        skip_special = bool(body.get("skip_special_tokens", True))
        sampling = Sampling(temperature=temperature, max_new_tokens=max_tokens, seed=seed)

        gone = threading.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.ensure_future(watch())
        try:
            turn = asyncio.ensure_future(self.queue.acquire(max(0.0, deadline - time.monotonic())))
            await asyncio.wait({turn, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if not turn.done():
                turn.cancel()
                await asyncio.gather(turn, return_exceptions=True)
                raise _Gone
            try:
                turn.result()
            except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11
                raise Unavailable(
                    f"the model stayed busy for {limits.request_seconds:g} s; try again later"
                ) from None
            started = time.monotonic()
            answered = False
            try:
                generation, why = await loop.run_in_executor(
                    self._model, self._generate, messages, images, sampling, gone, deadline
                )
                answered = why == ""
            finally:
                self.queue.release(time.monotonic() - started if answered else None)
        finally:
            watcher.cancel()
        if why == "time":
            raise Unavailable(
                f"generation took longer than {limits.request_seconds:g} s; ask for fewer max_tokens"
            )
        if why:
            raise _Gone
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

    def _generate(
        self, messages: Any, images: Any, sampling: Sampling, gone: threading.Event, deadline: float
    ) -> tuple[Any, str]:
        """On the model's thread: (generation, why it stopped early: "time", "gone" or "")."""
        if not self.vla.lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return None, "time"  # someone else (a hot-swap, a benchmark) held the model all along
        stopped = {"why": ""}

        def should_stop() -> bool:
            if time.monotonic() > deadline:
                stopped["why"] = "time"
            elif gone.is_set():
                stopped["why"] = "gone"
            return bool(stopped["why"])

        try:
            if gone.is_set():
                return None, "gone"
            generation = self.vla.generate(
                messages, images, sampling, constrained=self.constrained, should_stop=should_stop
            )
        finally:
            self.vla.lock.release()
        return generation, stopped["why"]


def _error_payload(status: int, message: str) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 401:
        kind = "authentication_error"
    elif status == 429:
        kind = "rate_limit_error"
    return {"error": {"message": message, "type": kind, "code": status}}


async def _send(send: Any, reply: _Reply) -> None:
    data = json.dumps(reply.payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if reply.retry_after is not None:
        headers.append((b"retry-after", str(max(1, math.ceil(reply.retry_after))).encode()))
        headers.append((b"retry-after-ms", str(max(1, round(reply.retry_after * 1000))).encode()))
    if reply.status >= 400 and reply.status != 404:  # a body may be left unread: start afresh
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _protocol(header_seconds: float) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol with a deadline for a request's headers, which it lacks: a
    connection that opens (or stays after an answer) and does not finish its headers in time is
    closed, so idle and trickling clients hold a socket for seconds, never longer."""

    class TimelyH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def handle_events(self) -> None:
            super().handle_events()
            if self.cycle is not None and not self.cycle.response_complete:
                self._disarm()  # a request's headers are in: the body has its own timeout

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(header_seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
                self.transport.close()

    return TimelyH11Protocol


def _listen(address: tuple[str, int], backlog: int) -> socket.socket:
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


class ChatServer:
    """The endpoint on ``address``: bound at once (an address in use raises OSError here), served by
    ``serve_forever`` (blocks; any thread), stopped by ``shutdown`` from another thread."""

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
        self.limits = limits
        self.app = ChatApp(vla, served_name, constrained, limits, api_key)
        self.socket = _listen(address, limits.backlog)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        config = uvicorn.Config(
            self.app,
            http=_protocol(limits.header_seconds),
            lifespan="off",
            loop="asyncio",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_keep_alive=max(1, math.ceil(limits.header_seconds)),
            timeout_graceful_shutdown=2,
            backlog=limits.backlog,
        )
        self._uvicorn = uvicorn.Server(config)
        self._serving = threading.Event()
        self._stopped = threading.Event()

    @property
    def vla(self) -> VLA:
        return self.app.vla

    @vla.setter
    def vla(self, vla: VLA) -> None:
        self.app.vla = vla

    def serve_forever(self) -> None:
        self._serving.set()
        try:
            self._uvicorn.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        self._uvicorn.should_exit = True
        if self._serving.is_set():
            self._stopped.wait(10)

    def server_close(self) -> None:
        self.socket.close()
        self.app.close()
