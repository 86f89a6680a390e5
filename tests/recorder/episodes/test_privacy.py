"""Privacy: nothing typed outside the game is stored, and no credential of a --model URL is written.

The typing test records through the real `record` door against minetest under Xvfb while xdotool
types a password into another X window (real XTEST input, as a keyboard would send it), then types
into the game; only the latter may reach actions.jsonl.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from model.finetune.config import FinetuneConfig
from model.finetune.run_folder import run_settings
from recorder.episodes.format import list_episodes


@pytest.fixture(autouse=True)
def _no_display(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    if "xvfb" not in request.fixturenames:
        monkeypatch.delenv("DISPLAY", raising=False)  # the fake game needs no listener


def test_a_model_url_with_credentials_is_not_stored(tmp_path: Path, tiny_vla: Any) -> None:
    from app.cli import main
    from model.server import ChatServer

    server = ChatServer(("127.0.0.1", 0), tiny_vla, "jarvisvla", api_key="TOPSECRET")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host, port = server.server_address[:2]
        model = f"http://alice:PASSWORD1@{host}:{port}/v1?api_key=TOPSECRET"
        out = tmp_path / "eps"
        argv = ["record", "--fake", "--out", str(out), "--seconds", "1", "--mode", "agent",
                "--model", model, "--no-listen", "--instruction", "walk"]  # fmt: skip
        assert main(argv) == 0
    finally:
        server.shutdown()
        server.server_close()
    (folder,) = list_episodes(out)
    stored = "".join(
        p.read_text(errors="replace") for p in folder.iterdir() if p.suffix in (".json", ".jsonl")
    )
    assert "TOPSECRET" not in stored and "PASSWORD1" not in stored and "alice" not in stored
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["model_id"] == f"http://{host}:{port}/v1"
    lines = [json.loads(s) for s in (folder / "actions.jsonl").read_text().splitlines()]
    assert lines and all(line["control"] == "agent" for line in lines)  # the key did authenticate


def test_the_fine_tune_records_store_no_credentials() -> None:
    from model.finetune.run_folder import redacted

    url = "https://bob:PW@gpu-box:8000/v1?api_key=K123"
    assert redacted(url) == "https://gpu-box:8000/v1"
    assert (
        run_settings(FinetuneConfig(model=url, episodes=["e"], out="o"))["model"] == "https://gpu-box:8000/v1"
    )
    assert redacted("tiny") == "tiny"


@pytest.mark.xvfb
@pytest.mark.game
def test_nothing_typed_outside_the_game_is_recorded(game: Any, xvfb: str, tmp_path: Path) -> None:
    from Xlib import X
    from Xlib import display as xdisplay

    from tests.game_fixtures import xdotool
    from tests.recorder.episodes.test_record_minetest import episode, finish, start_record, wait_lines

    out = tmp_path / "episodes"
    process = start_record(xvfb, out, "--mode", "teleop", "--seconds", "7", "--instruction", "walk")
    folder = wait_lines(out, 10, process)
    game_id = int(_xdotool_out(xvfb, "search", "--name", "Minetest").split()[0])

    d = xdisplay.Display(xvfb)  # another application's window: a password prompt
    screen = d.screen()
    prompt = screen.root.create_window(20, 20, 300, 120, 0, screen.root_depth, X.InputOutput,
                                       X.CopyFromParent, background_pixel=screen.white_pixel,
                                       event_mask=X.KeyPressMask)  # fmt: skip
    prompt.set_wm_name("password prompt")
    prompt.map()
    d.sync()
    try:
        time.sleep(0.3)
        prompt.set_input_focus(X.RevertToParent, X.CurrentTime)
        d.sync()
        xdotool(xvfb, "mousemove", "60", "60")
        time.sleep(0.3)
        xdotool(xvfb, "type", "--delay", "120", "hunter2")  # ~1 s of typing
        xdotool(xvfb, "keydown", "w")  # a game key held while another window has focus
        time.sleep(1.0)
        xdotool(xvfb, "keyup", "w")
        time.sleep(0.3)
        elsewhere_until = time.time() * 1000

        xdotool(xvfb, "windowfocus", str(game_id))  # back to the game: this counts
        xdotool(xvfb, "mousemove", "--window", str(game_id), "200", "200")
        time.sleep(0.5)
        xdotool(xvfb, "keydown", "w")
        time.sleep(1.0)
        xdotool(xvfb, "keyup", "w")
        finish(process)
    finally:
        prompt.destroy()
        d.close()

    lines, _frames = episode(folder)
    typed = set("hunter2")
    for line in lines:
        keyboard = line["keyboard"]
        keys = {k.rsplit(".", 1)[-1] for k in [*keyboard["keys"], *keyboard["newKeys"]]}
        assert not keys & typed, line
        assert not set(keyboard.get("chars", "")) & typed, line
    w_ticks = [i for i, line in enumerate(lines) if "key.keyboard.w" in line["keyboard"]["keys"]]
    assert w_ticks, "typing into the game must be recorded (else this test proves nothing)"
    assert all(lines[i]["milli"] > elsewhere_until for i in w_ticks)  # only the press in the game
    assert 14 <= len(w_ticks) <= 26 and w_ticks == list(range(w_ticks[0], w_ticks[-1] + 1))


def _xdotool_out(display: str, *args: str) -> str:
    import os
    import subprocess

    return subprocess.run(["xdotool", *args], capture_output=True, text=True, check=True,
                          env={**os.environ, "DISPLAY": display}).stdout  # fmt: skip


REGION = "700,400,320,180"  # an empty part of the test display: no window to scope input to


@pytest.mark.xvfb
def test_without_a_game_window_typing_anywhere_is_not_the_persons_unless_asked(
    xvfb: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A screen region has no window whose focus says what is typed to the game: no key or mouse event
    counts as the person's (the hotkeys still work), and recording the person is refused, unless
    --input-anywhere says every event anywhere is theirs."""
    from app.cli import main
    from app.session import Session
    from app.settings import Settings
    from tests.game_fixtures import xdotool

    monkeypatch.setenv("DISPLAY", xvfb)
    monkeypatch.setenv("JARVIS_PLAY_CONFIG_DIR", str(tmp_path / "config"))
    out = tmp_path / "episodes"
    argv = ["record", "--region", REGION, "--no-focus-check", "--mode", "teleop", "--out", str(out)]
    assert main([*argv, "--seconds", "1"]) == 2
    said = capsys.readouterr().err
    assert "no game window" in said and "--input-anywhere" in said, said
    assert not list(out.glob("*/actions.jsonl"))  # nothing recorded

    # Another application's window takes the typing. Typed into minetest instead (it has the focus when
    # this runs after the game tests), "hunter2" opened its chat at the 't', and every later test on the
    # session's game found a game that no longer turned with the mouse.
    from Xlib import X
    from Xlib import display as xdisplay

    d = xdisplay.Display(xvfb)
    screen = d.screen()
    notes = screen.root.create_window(700, 400, 300, 120, 0, screen.root_depth, X.InputOutput,
                                      X.CopyFromParent, background_pixel=screen.white_pixel)  # fmt: skip
    notes.map()
    d.sync()
    counted: dict[bool, int] = {}
    try:
        time.sleep(0.2)
        notes.set_input_focus(X.RevertToPointerRoot, X.CurrentTime)
        d.sync()
        for anywhere in (False, True):
            heard: list[str] = []
            settings = Settings(game=f"region:{REGION}", require_focus=False, input_anywhere=anywhere)
            session = Session(settings, listen=True)
            try:
                session.open_game()
                listener = session._listener
                assert listener is not None, "no listener: the hotkeys would not work either"
                listener.on_event = _also(heard, listener.on_event)
                xdotool(xvfb, "mousemove", "100", "100", "type", "--delay", "20", "hunter2")
                xdotool(xvfb, "key", "F12")
                time.sleep(0.5)
                counted[anywhere] = listener.human_count
            finally:
                session.close()
            assert "key.keyboard.f12" in heard  # the panic key works from anywhere, either way
    finally:
        notes.destroy()
        d.close()
    assert counted[False] == 0, "typing into another window counted as the person's input"
    assert counted[True] >= 14  # asked for: every key anywhere is theirs (7 letters, down and up)


def _also(keys: list[str], handler: Any) -> Any:
    """``handler``, noting each event's key first."""

    def both(event: Any) -> None:
        keys.append(event.key)
        handler(event)

    return both
