"""The remote policy against real HTTP servers: ours in-process, `jarvis-play serve` as a subprocess,
and servers that are dead or never answer."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from model.actions.env import BUTTONS
from model.actions.tokens import BEGIN_ID, END_ID
from model.policies.base import PolicyError
from model.policies.remote import RemotePolicy, RemotePolicyConfig
from model.server import ChatServer


@pytest.fixture
def server(tiny_vla):  # type: ignore[no-untyped-def]
    chat = ChatServer(("127.0.0.1", 0), tiny_vla, "jarvisvla")
    thread = threading.Thread(target=chat.serve_forever, daemon=True)
    thread.start()
    yield chat
    chat.shutdown()
    chat.server_close()


def url_of(server: ChatServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def test_remote_policy_plays_through_the_official_request(server: ChatServer, frame: np.ndarray) -> None:
    policy = RemotePolicy(url_of(server), RemotePolicyConfig(temperature=0.8, history_num=1))
    assert policy.check() == "jarvisvla"
    step = policy.act(frame, "Kill a zombie.")
    assert step.ids[0] == BEGIN_ID and step.ids[-1] == END_ID and not step.malformed
    assert set(step.actions[0]) == {*BUTTONS, "camera"}
    body = policy.request_body(*policy.history.build(policy.history._past[-1].image, "Kill a zombie."))
    assert body["skip_special_tokens"] is False and body["max_tokens"] == 1024 and body["temperature"] == 0.8
    first = body["messages"][0]["content"]
    assert first[0] == {"type": "text", "text": "Kill a zombie.\nobservation: \n"}
    assert first[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert body["messages"][1]["content"][0]["text"] == step.text + "\n"  # the raw answer, as history


def test_server_honours_skip_special_tokens_like_vllm(server: ChatServer, frame: np.ndarray) -> None:
    from model.image import jpeg_data_url, prepare_frame

    message = {
        "role": "user",
        "content": [
            {"type": "text", "text": "Mine.\nobservation: \n"},
            {"type": "image_url", "image_url": {"url": jpeg_data_url(prepare_frame(frame))}},
        ],
    }
    request = urllib.request.Request(
        url_of(server) + "/v1/chat/completions",
        data=json.dumps({"messages": [message], "temperature": 0}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert answer["choices"][0]["message"]["content"] == ""  # action tokens are special: stripped by default


def test_server_rejects_bad_requests(server: ChatServer) -> None:
    request = urllib.request.Request(
        url_of(server) + "/v1/chat/completions",
        data=b'{"messages": 3}',
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 400 and "messages" in json.loads(info.value.read())["error"]["message"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dead_server_fails_fast_with_advice(frame: np.ndarray) -> None:
    policy = RemotePolicy(f"http://127.0.0.1:{free_port()}", RemotePolicyConfig(timeout_s=2))
    start = time.monotonic()
    with pytest.raises(PolicyError, match="Is the server running"):
        policy.act(frame, "Mine.")
    assert time.monotonic() - start < 2


def test_silent_server_times_out_instead_of_hanging(frame: np.ndarray) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)  # accepts connections, never answers
    try:
        port = listener.getsockname()[1]
        policy = RemotePolicy(f"http://127.0.0.1:{port}", RemotePolicyConfig(timeout_s=0.5), model="m")
        start = time.monotonic()
        with pytest.raises(PolicyError, match=r"within 0\.5 s"):
            policy.act(frame, "Mine.")
        assert time.monotonic() - start < 3
    finally:
        listener.close()


@pytest.mark.slow  # starts a server process that loads the model: ~10 s
def test_jarvis_play_serve_subprocess(tiny_model_dir: Path, frame: np.ndarray) -> None:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--model", str(tiny_model_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        policy = RemotePolicy(f"http://127.0.0.1:{port}", RemotePolicyConfig(timeout_s=30))
        deadline = time.monotonic() + 120
        while True:
            try:
                policy.check()
                break
            except PolicyError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.3)
        step = policy.act(frame, "Chop a tree.")
        assert not step.malformed and set(step.actions[0]) == {*BUTTONS, "camera"}
    finally:
        process.terminate()
        process.wait(timeout=20)
