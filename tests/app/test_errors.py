"""Errors become sentences: recognised by type (also across layers), with the right pip package."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

from app.errors import UserError, describe_error, pip_package
from app.games.desktop import GameWindowGone
from app.games.spec import GameError
from model.checkpoint import CheckpointError
from model.errors import ModelError
from recorder.episodes.library import LibraryError
from recorder.errors import RecorderError

REPO = Path(__file__).resolve().parents[2]


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


def _exception_classes() -> dict[str, tuple[str, set[str]]]:
    """Every exception class in app/, model/ and recorder/: name -> (file, names of all its ancestors).

    Read from the source (importing every module would load torch and Qt for one check); a base is
    matched by its last name, which is unique across the tree for exception classes.
    """
    bases: dict[str, set[str]] = {}
    where: dict[str, str] = {}
    for layer in ("app", "model", "recorder"):
        for path in sorted((REPO / layer).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    names = {
                        b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases
                    }
                    bases.setdefault(node.name, set()).update(names)
                    where[node.name] = str(path.relative_to(REPO))

    def ancestors(name: str, seen: set[str]) -> set[str]:
        for base in bases.get(name, set()) - seen:
            seen.add(base)
            ancestors(base, seen)
        return seen

    builtin = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}
    found = {}
    for name in bases:
        up = ancestors(name, set())
        if up & builtin:
            found[name] = (where[name], up)
    return found


def test_every_exception_class_is_under_its_layers_root() -> None:
    roots = {"app": "AppError", "model": "ModelError", "recorder": "RecorderError"}
    classes = _exception_classes()
    assert {"GameWindowGone", "CheckpointError", "VideoError", "WindowGone"} <= set(classes)
    stray = [
        f"{file}: {name}"
        for name, (file, up) in classes.items()
        if name not in roots.values() and roots[file.split("/")[0]] not in up
    ]
    assert not stray, f"exception classes outside their layer's root: {stray}"


def test_lower_layer_errors_are_described_by_their_root_type() -> None:
    class Anything(ModelError):
        pass

    class Elsewhere(RecorderError):
        pass

    assert (
        describe_error(Anything("pick a smaller model."), "load") == "Could not load: pick a smaller model."
    )
    assert describe_error(Elsewhere("free some disk."), "save") == "Could not save: free some disk."


def test_play_that_ended_for_an_ordinary_reason_gets_its_hint() -> None:
    text = describe_error(GameWindowGone("the game window 0x1 is gone"), "keep playing")
    assert text == (
        "Could not keep playing: the game window 0x1 is gone. "
        "The game was closed: start it again, then start the agent again."
    )
