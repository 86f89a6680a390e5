"""Native episode folders -> the VPT contractor layout that VPT's and MineStudio's own tools read.

    OUT/<id>.mp4  OUT/<id>.jsonl  OUT/<id>-options.json   VPT ``data_loader.DataLoader(OUT)`` pairs these
    OUT/mp4/<id>.mp4  OUT/jsonl/<id>.jsonl                 MineStudio ``process_*_openai.py --input-dir OUT``

(the MineStudio pair are hard links where the file system allows, else copies). ``<id>`` is the
episode folder's name, which holds no dot: both tools cut the name at a dot.

The native lines already use VPT's field names; the export makes them mean what the loaders assume
(spec §5.3), so that the loader's env action on each line is the action the app stored:

* camera: the loaders compute ``0.15°·[dy, dx]``. The native dx/dy are the game's own pointer counts
  (minetest, another sensitivity), so they are rewritten as the line's unquantised camera label
  (``camera_raw``) divided by 0.15; that is the count a Minecraft player at sensitivity 0.5 makes.
* keys and buttons: the loaders' table assumes Minecraft's default bindings; keys are translated
  through the episode's own bindings, and a key the game had unbound that the table would misread
  is left out.
* cursor: the loader draws it at ``x·H/720``, so positions are given in a 1280×720 window.
* wheel: the loaders decide a line is null (and skip it) before their hotbar rule runs, so a tick
  whose only act was a wheel notch would be lost; such a line also lists the slot's number key,
  which the loaders read as the same ``hotbar.N`` action.
* ``hotbar``, ``isGuiOpen``, ``isGuiInventory`` and the cursor, missing from episodes recorded before
  they were tracked, are filled in by replaying ``TickState`` over the lines.

The loaders' stuck-attack rule (spec §5.3 a) drops attack from an episode whose first line is a
fresh left click, until the next click; that is the loaders' behaviour and is left as it is.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorder.episodes.check import check_episode
from recorder.episodes.format import VIDEO, is_episode, list_episodes, read_meta
from recorder.episodes.reader import EpisodeReader
from recorder.input.human_actions import VPT_BUTTON_NAMES, VPT_BUTTONS
from recorder.input.keymap import DEFAULT_BINDINGS
from recorder.input.tick_state import DEFAULT_WINDOW, TickState

VPT_DEGREES_PER_COUNT = 360.0 / 2400.0  # CAMERA_SCALER of both loaders
USABLE_STATUSES = ("complete", "stopped", "repaired")
_DEFAULT_NAMES = frozenset(DEFAULT_BINDINGS.values())


@dataclass
class VptExport:
    out: Path
    lines: dict[str, int] = field(default_factory=dict)  # id -> lines written
    skipped: list[str] = field(default_factory=list)


def to_default_bindings(
    keys: Iterable[str], buttons: Iterable[int], bindings: Mapping[str, str]
) -> tuple[list[str], list[int]]:
    """The keys and mouse buttons a player with Minecraft's default bindings would have held."""
    env_of = {binding: env for env, binding in bindings.items()}
    names = [*keys, *(VPT_BUTTON_NAMES[b] for b in buttons if b in VPT_BUTTON_NAMES)]
    out: dict[str, None] = {}
    for name in names:
        env = env_of.get(name)
        if env in DEFAULT_BINDINGS:
            out[DEFAULT_BINDINGS[env]] = None
        elif name not in _DEFAULT_NAMES:  # unbound and unknown to the loaders' table: harmless
            out[name] = None
    return [n for n in out if n not in VPT_BUTTONS], sorted(VPT_BUTTONS[n] for n in out if n in VPT_BUTTONS)


def _window(meta_window: Mapping[str, Any]) -> tuple[int, int]:
    width, height = meta_window.get("width"), meta_window.get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    return DEFAULT_WINDOW


def vpt_line(
    line: Mapping[str, Any], tick: int, state: TickState, bindings: Mapping[str, str], previous_hotbar: int
) -> dict[str, Any]:
    """One native line as a VPT contractor line (see the module docstring for what changes)."""
    mouse = line.get("mouse") or {}
    keyboard = line.get("keyboard") or {}
    native_new = list(keyboard.get("newKeys", []))
    dx, dy = float(mouse.get("dx", 0.0)), float(mouse.get("dy", 0.0))
    position = (float(mouse["x"]), float(mouse["y"])) if "x" in mouse and "y" in mouse else None
    gui = line.get("isGuiOpen")
    facts = state.advance(
        native_new,
        float(mouse.get("dwheel", 0.0)),
        dx,
        dy,
        position=position,
        is_gui_open=gui if isinstance(gui, bool) else None,
        is_gui_inventory=line.get("isGuiInventory") if isinstance(line.get("isGuiInventory"), bool) else None,
    )
    hotbar = line.get("hotbar")
    hotbar = int(hotbar) if isinstance(hotbar, int) else facts.hotbar
    camera = line.get("camera_raw") or (line.get("action") or {}).get("camera") or (0.0, 0.0)
    keys, buttons = to_default_bindings(keyboard.get("keys", []), mouse.get("buttons", []), bindings)
    new_keys, new_buttons = to_default_bindings(native_new, mouse.get("newButtons", []), bindings)
    slot_key = DEFAULT_BINDINGS[f"hotbar.{hotbar + 1}"]
    if hotbar != previous_hotbar and slot_key not in keys:  # a wheel selection: keep the line non-null
        keys.append(slot_key)
        new_keys.append(slot_key)
    sx, sy = DEFAULT_WINDOW[0] / state.width, DEFAULT_WINDOW[1] / state.height
    x = float(mouse["x"]) if position else facts.x
    y = float(mouse["y"]) if position else facts.y
    scaled_x = float(mouse.get("scaledX", facts.scaled_x))
    scaled_y = float(mouse.get("scaledY", facts.scaled_y))
    return {
        "mouse": {
            "x": x * sx,
            "y": y * sy,
            "dx": float(camera[1]) / VPT_DEGREES_PER_COUNT,
            "dy": float(camera[0]) / VPT_DEGREES_PER_COUNT,
            "scaledX": scaled_x * sx,
            "scaledY": scaled_y * sy,
            "dwheel": float(mouse.get("dwheel", 0.0)),
            "buttons": buttons,
            "newButtons": new_buttons,
        },
        "keyboard": {"keys": keys, "newKeys": new_keys, "chars": str(keyboard.get("chars", ""))},
        "isGuiOpen": gui if isinstance(gui, bool) else facts.is_gui_open,
        "isGuiInventory": bool(line.get("isGuiInventory", facts.is_gui_inventory)),
        "hotbar": hotbar,
        "tick": tick,
        "milli": int(line.get("milli", 0)),
    }


def episode_id(folder: Path) -> str:
    return folder.name.replace(".", "-")


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def export_episode(folder: Path, out: Path) -> int:
    """Write one episode into ``out`` (both layouts); returns the number of lines."""
    reader = EpisodeReader(folder)
    meta = reader.meta
    bindings = meta.key_bindings or DEFAULT_BINDINGS
    state = TickState(_window(meta.window), bindings=bindings)
    count = min(len(reader.lines), meta.frame_count) if meta.frame_count else len(reader.lines)
    name = episode_id(folder)
    with open(out / f"{name}.jsonl", "x", encoding="utf-8") as f:
        hotbar = 0  # the loaders' starting assumption
        for tick, line in enumerate(reader.lines[:count]):
            out_line = vpt_line(line, tick, state, bindings, hotbar)
            hotbar = out_line["hotbar"]
            f.write(json.dumps(out_line, separators=(",", ":")) + "\n")
    shutil.copyfile(folder / VIDEO, out / f"{name}.mp4")
    options = {
        "mouseSensitivity": 0.5,  # what dx/dy now mean: 0.15 degrees per count
        "windowWidth": DEFAULT_WINDOW[0],
        "windowHeight": DEFAULT_WINDOW[1],
        "guiScale": state.gui_scale,
        "source": f"jarvis-play episode {folder.name} ({meta.game}, {meta.connector})",
    }
    (out / f"{name}-options.json").write_text(json.dumps(options, indent=2) + "\n", encoding="utf-8")
    _link_or_copy(out / f"{name}.mp4", out / "mp4" / f"{name}.mp4")
    _link_or_copy(out / f"{name}.jsonl", out / "jsonl" / f"{name}.jsonl")
    return count


def export_vpt(roots: Iterable[Path], out: Path, statuses: tuple[str, ...] = USABLE_STATUSES) -> VptExport:
    """Export every usable episode under ``roots`` into ``out`` (new or empty; nothing is overwritten)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; choose a new folder (nothing is overwritten)")
    report = VptExport(out)
    folders = []
    for root in roots:
        root = Path(root)
        if not is_episode(root) and not root.is_dir():
            report.skipped.append(f"{root}: not an episode folder or a folder of episodes")
        for folder in list_episodes(root):
            try:
                status = read_meta(folder).status
            except (OSError, ValueError, TypeError) as exc:
                report.skipped.append(f"{folder.name}: meta unreadable ({exc})")
                continue
            if status not in statuses:
                report.skipped.append(
                    f"{folder.name}: status {status!r} (run `jarvis-play episodes check` first)"
                )
            elif not (check := check_episode(folder)).ok:  # one damaged episode must not stop the rest
                problem = check.problems[0] if check.problems else check.status
                fix = "`jarvis-play episodes repair` fixes it"
                report.skipped.append(f"{folder.name}: damaged ({problem}); {fix}")
            else:
                folders.append(folder)
    if not folders:
        raise ValueError("no usable episodes found" + "".join(f"\n  {s}" for s in report.skipped))
    for sub in ("mp4", "jsonl"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for folder in folders:
        report.lines[episode_id(folder)] = export_episode(folder, out)
    return report
