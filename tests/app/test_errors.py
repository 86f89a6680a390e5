"""Errors become sentences: recognised by type (also across layers), with the right pip package."""

from __future__ import annotations

from app.errors import UserError, describe_error, pip_package
from app.games.spec import GameError
from model.checkpoint import CheckpointError
from recorder.episodes.library import LibraryError


def test_own_errors_keep_their_message_and_get_no_generic_hint() -> None:
    for exc in (
        UserError("pick a game first."),
        GameError("start the game first."),
        CheckpointError("no checkpoint at x; pass a folder."),
        LibraryError("it is gone."),
    ):
        text = describe_error(exc, "open it")
        assert text == f"Could not open it: {exc}", text


def test_a_subclass_named_like_nothing_we_know_is_still_recognised_by_type() -> None:
    class Renamed(CheckpointError):
        pass

    assert describe_error(Renamed("use tiny."), "load") == "Could not load: use tiny."


def test_foreign_errors_get_a_hint_by_type() -> None:
    assert describe_error(TimeoutError("slow"), "load").endswith(
        "check that the game or server is running, then try again."
    )
    assert "See the log" in describe_error(RuntimeError("boom"), "play")


def test_missing_packages_name_what_pip_installs() -> None:
    assert pip_package("cv2") == "opencv-python-headless"
    assert pip_package("PIL.Image") == "pillow"
    assert pip_package("Xlib.display") == "python-xlib"
    assert pip_package("peft") == "peft"
    text = describe_error(ModuleNotFoundError("No module named 'cv2'", name="cv2"), "capture")
    assert "pip install opencv-python-headless" in text
