"""`serve` holds under abuse: a real server on 127.0.0.1, real sockets, the tiny model.

Each limit is hit for real and must answer with the right 4xx/5xx quickly, never a 500, never a hang.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from model.image import jpeg_data_url, prepare_frame
from model.policies.remote import RemotePolicy, RemotePolicyConfig
from model.server import ChatServer, Limits


@pytest.fixture
def make_server(tiny_vla: Any) -> Iterator[Any]:
    servers: list[ChatServer] = []

    def make(**kw: Any) -> ChatServer:
        api_key = kw.pop("api_key", None)
        constrained = kw.pop("constrained", True)
        limits = Limits(**{"socket_seconds": 1.0, **kw})
        server = ChatServer(
            ("127.0.0.1", 0), tiny_vla, "jarvisvla", constrained, limits=limits, api_key=api_key
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


def url(server: ChatServer, path: str = "/v1/chat/completions") -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}{path}"


def body(text: str = "chop a tree", image: str | None = None, **extra: Any) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if image is not None:
        content.append({"type": "image_url", "image_url": {"url": image}})
    return {"model": "jarvisvla", "messages": [{"role": "user", "content": content}], **extra}


def post(
    server: ChatServer, payload: Any, headers: dict[str, str] | None = None, timeout: float = 30
) -> tuple[int, dict]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(
        url(server), data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def small_image() -> str:
    return jpeg_data_url(prepare_frame(np.full((360, 640, 3), 90, np.uint8)))


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width``×``height`` pixels in a few bytes (its pixels never come)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def data_url(raw: bytes, kind: str = "png") -> str:
    import base64

    return f"data:image/{kind};base64," + base64.b64encode(raw).decode()


def test_a_normal_request_still_works(make_server: Any) -> None:
    server = make_server()
    status, answer = post(server, body(image=small_image(), skip_special_tokens=False))
    assert status == 200 and answer["choices"][0]["message"]["content"]


def test_client_errors_are_4xx_never_500(make_server: Any) -> None:
    server = make_server(max_text_chars=1000, max_tokens=64)
    cases = {
        b"{not json": 400,
        b"[1, 2]": 400,
        json.dumps({"messages": 3}).encode(): 400,
        json.dumps(body(max_tokens=10**9)).encode(): 400,
        json.dumps(body(max_tokens="many")).encode(): 400,
        json.dumps(body(temperature=-1)).encode(): 400,
        json.dumps(body(seed="x")).encode(): 400,
        json.dumps(body("x" * 5000)).encode(): 413,
        json.dumps(body(image="http://example.com/a.png")).encode(): 400,
        json.dumps(body(image=data_url(b"not an image"))).encode(): 400,
        json.dumps(body(image="data:image/png;base64,@@@")).encode(): 400,
    }
    for payload, want in cases.items():
        status, answer = post(server, payload)
        assert status == want, (payload[:60], status, answer)
        assert answer["error"]["code"] == want and answer["error"]["message"]
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url(server, "/v2/nothing"), timeout=5)
    assert info.value.code == 404


def test_a_huge_image_is_refused_from_its_header(make_server: Any) -> None:
    server = make_server()
    start = time.monotonic()
    for _ in range(3):  # the three 13000×13000 PNGs: each would take 500 MB decoded
        status, answer = post(server, body(image=data_url(png_header(13000, 13000))))
        assert status == 413 and "13000x13000" in answer["error"]["message"], answer
    assert post(server, body(image=data_url(png_header(40000, 40000))))[0] == 413  # past PIL's own guard
    assert time.monotonic() - start < 10


def test_a_huge_body_is_refused_before_it_is_read(make_server: Any) -> None:
    server = make_server(max_body_bytes=1 << 20)
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 200000000\r\n\r\n")  # fmt: skip
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:80]


def _read_all(s: socket.socket) -> bytes:
    chunks = []
    while chunk := s.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


def test_half_sent_requests_time_out(make_server: Any) -> None:
    server = make_server(socket_seconds=1.0)
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as s:  # headers never finished
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Le")
        start = time.monotonic()
        assert _read_all(s) == b""  # the server closed it
        assert time.monotonic() - start < 5
    with socket.create_connection((host, port), timeout=10) as s:  # body never finished
        s.sendall(b'POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{"messages"')
        reply = _read_all(s)
    assert reply.startswith(b"HTTP/1.1 408"), reply[:80]


def test_connections_beyond_the_limit_get_503_at_once(make_server: Any) -> None:
    server = make_server(max_connections=2, socket_seconds=3.0)
    host, port = server.server_address[:2]
    idle = [socket.create_connection((host, port), timeout=10) for _ in range(2)]
    try:
        time.sleep(0.2)
        with socket.create_connection((host, port), timeout=10) as s:
            reply = _read_all(s)
        assert reply.startswith(b"HTTP/1.1 503") and b"Retry-After" in reply, reply[:120]
    finally:
        for s in idle:
            s.close()
    time.sleep(0.3)
    assert post(server, body())[0] == 200  # the slots came back


def test_a_full_queue_answers_429_and_a_long_wait_503(make_server: Any, tiny_vla: Any) -> None:
    server = make_server(max_waiting=1, request_seconds=3.0)
    results: list[int] = []
    with tiny_vla.lock:  # the model is busy
        waiting = threading.Thread(target=lambda: results.append(post(server, body())[0]))
        waiting.start()
        time.sleep(0.5)
        status, answer = post(server, body())
        assert status == 429 and answer["error"]["type"] == "rate_limit_error"
        waiting.join(10)
    assert results == [503]  # it waited its 3 s for the model, then gave up cleanly
    assert post(server, body())[0] == 200


def test_generation_stops_when_the_client_goes_or_time_runs_out(make_server: Any, tiny_vla: Any) -> None:
    server = make_server(constrained=False, request_seconds=2.0)
    real = tiny_vla.generate
    seen: list[tuple[int, float]] = []

    def slow(*args: Any, should_stop: Any = None, **kw: Any) -> Any:
        def stop() -> bool:
            time.sleep(0.05)  # a slow model: ~20 tokens a second
            return should_stop()

        start = time.monotonic()
        result = real(*args, should_stop=stop, **kw)
        seen.append((len(result.ids), time.monotonic() - start))
        return result

    server.vla = _Proxy(tiny_vla, generate=slow)
    payload = json.dumps(body(max_tokens=1024, temperature=1.0, seed=1)).encode()
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(payload)) + payload  # fmt: skip
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(request)
        time.sleep(0.5)  # decoding has begun; the client gives up
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen and seen[0][1] < 1.5, seen  # stopped within a few tokens of the hang-up

    seen.clear()
    start = time.monotonic()
    status, answer = post(server, json.loads(payload), timeout=30)
    if status == 200:  # the random model may end by itself before the time runs out
        assert seen[0][1] < 2.0
    else:
        assert status == 503 and "longer than 2 s" in answer["error"]["message"], answer
        assert time.monotonic() - start < 4


class _Proxy:
    def __init__(self, inner: Any, **overrides: Any) -> None:
        self._inner, self._overrides = inner, overrides

    def __getattr__(self, name: str) -> Any:
        return self._overrides[name] if name in self._overrides else getattr(self._inner, name)


def test_api_key_is_required_when_set(make_server: Any) -> None:
    server = make_server(api_key="s3cret")
    assert post(server, body())[0] == 401
    assert post(server, body(), {"Authorization": "Bearer wrong"})[0] == 401
    assert post(server, body(), {"Authorization": "Bearer s3cret"})[0] == 200
    with urllib.request.urlopen(url(server, "/health"), timeout=5) as response:
        assert response.status == 200  # health checks need no key
    host, port = server.server_address[:2]
    frame = np.full((360, 640, 3), 90, np.uint8)
    policy = RemotePolicy(f"http://{host}:{port}?api_key=s3cret", RemotePolicyConfig(history_num=1))
    assert "s3cret" not in policy.base_url
    assert policy.act(frame, "chop a tree") is not None


def test_serve_refuses_the_network_without_a_key() -> None:
    from app.cli import main

    assert main(["serve", "--model", "tiny", "--host", "0.0.0.0"]) == 2


@pytest.mark.slow
def test_fifty_concurrent_clients_all_get_an_answer(make_server: Any) -> None:
    server = make_server(socket_seconds=10.0, request_seconds=30.0)
    payload = body(image=small_image())

    def one(_: int) -> int:
        return post(server, payload, timeout=60)[0]

    start = time.monotonic()
    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(one, range(50)))
    elapsed = time.monotonic() - start
    print(f"50 clients: {statuses.count(200)} answered, {len(statuses) - statuses.count(200)} told to retry, "
          f"{elapsed:.1f} s")  # fmt: skip
    assert set(statuses) <= {200, 429, 503}, statuses
    assert statuses.count(200) >= 1
    assert elapsed < 60
