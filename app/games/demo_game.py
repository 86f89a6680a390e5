"""Luanti/Minetest as a stand-in for Minecraft: same keys, same mouse-look, free to install.

``DemoGame`` makes a fresh world in a new directory (never an existing user world), installs the
``jarvis_pose`` Lua mod (assets/minetest/jarvis_pose) that logs the player's pose and dug nodes as
JSON lines, writes a config whose bindings match Minecraft's defaults (E inventory, Left Ctrl
sprint, Q drop) and whose mouse sensitivity gives Minecraft's 0.15° per count, and launches the game
straight into the world with HOME pointed at that directory so ~/.minetest is never touched.
The pose log is the ground truth the integration tests read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import AppError
from app.signals import uninterrupted
from recorder.desktop import for_display, parent_death_signal
from recorder.files import write_atomically

LOG = logging.getLogger(__name__)

MOD_NAME = "jarvis_pose"
GAME_EVENTS = ("dig", "place", "craft", "pickup", "drop")  # what the player did, as the mod logs it
MARKER = ".jarvis-demo-world"  # a world dir we made; the only kind we ever reuse
BINARIES = ("minetest", "luanti", "/usr/games/minetest", "/usr/games/luanti")


def find_binary() -> str | None:
    for name in BINARIES:
        path = shutil.which(name) or (name if os.path.isfile(name) and os.access(name, os.X_OK) else None)
        if path:
            return path
    return None


def mod_source() -> Path:
    """The Lua mod, next to the package in a source checkout or an editable install."""
    path = Path(__file__).resolve().parents[2] / "assets" / "minetest" / MOD_NAME  # repo/app/games/..
    if not (path / "init.lua").is_file():
        raise FileNotFoundError(f"the {MOD_NAME} mod is missing (looked in {path})")
    return path


@dataclass
class DemoGameConfig:
    width: int = 640  # the model's own resolution: nothing to resize, and half the render cost
    height: int = 360
    seed: int = 12345
    arena: bool = False  # tests: a flat stone platform in the sky instead of the generated landscape
    degrees_per_count: float = 0.15  # minetest turns mouse_sensitivity degrees per pixel: match Minecraft
    fps_max: int = 30
    world_dir: Path | None = None  # None: a new temporary directory, removed by close()
    binary: str | None = None
    extra_settings: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # extra environment variables for the game
    die_with_parent: bool = False  # Linux: the game gets SIGTERM if the thread that started it dies


@dataclass(frozen=True)
class Pose:
    t: float  # seconds since the mod loaded (game clock)
    pos: tuple[float, float, float]  # x, y (up), z
    yaw: float  # radians, counter-clockwise seen from above: turning right DEcreases it
    pitch: float  # radians, + looks down
    control: dict[str, bool]


def settings(cfg: DemoGameConfig) -> dict[str, str]:
    out = {
        "screen_w": str(cfg.width),
        "screen_h": str(cfg.height),
        "fullscreen": "false",
        "autosave_screensize": "false",
        "enable_sound": "false",
        "mute_sound": "true",
        "video_driver": "opengl",
        "creative_mode": "true",
        "enable_damage": "false",
        "show_debug": "false",
        "fps_max": str(cfg.fps_max),
        "fps_max_unfocused": str(cfg.fps_max),
        "pause_on_lost_focus": "false",
        "viewing_range": "80",
        "fov": "70",  # Minecraft's training FOV
        "mg_name": "v7",
        "fixed_map_seed": str(cfg.seed),
        "mouse_sensitivity": f"{cfg.degrees_per_count:g}",
        "invert_mouse": "false",
        "cinematic": "false",
        "enable_minimap": "false",
        "time_speed": "0",
        "dedicated_server_step": "0.03",  # the pose log's sample period
        "server_announce": "false",
        # Minecraft's default bindings (minetest's differ: I inventory, E aux1, F12 screenshot)
        "keymap_inventory": "KEY_KEY_E",
        "keymap_aux1": "KEY_LCONTROL",
        "keymap_special1": "KEY_LCONTROL",
        "aux1_descends": "false",
        "keymap_sneak": "KEY_LSHIFT",
        "keymap_jump": "KEY_SPACE",
        "keymap_drop": "KEY_KEY_Q",
        "keymap_screenshot": "KEY_F2",
        "keymap_toggle_chat": "",  # F2 is the screenshot, as in Minecraft
        "keymap_toggle_debug": "KEY_F3",  # Minecraft's debug screen
        "keymap_camera_mode": "KEY_F5",  # Minecraft's perspective key (minetest: C or F7, a judge's key)
        "keymap_toggle_fog": "",  # F3 is the debug screen
        "keymap_toggle_profiler": "",  # F6 is a judge's key: its page would cover the frames the model sees
        "keymap_minimap": "",
        "jarvis_arena": "true" if cfg.arena else "false",
    }
    if cfg.arena:
        # The arena's sky is plain (the mod sets cloud density 0), but minetest_game's weather mod sets
        # its own clouds every 8 s and overrode it: after 12 s the view 45 degrees up was grey cloud on
        # 99.7% of the screen at every yaw, and how much cloud came and went with the run. A tiny model
        # taught one minute under grey cloud was then evaluated under blue sky.
        out["enable_weather"] = "false"
    out.update(cfg.extra_settings)
    return out


class PoseLog:
    """Incremental reader of the mod's JSON-lines log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = ""
        self.records: list[dict[str, Any]] = []
        self.poses: list[Pose] = []

    def poll(self) -> list[dict[str, Any]]:
        """Parse what was appended since the last call; returns the new records."""
        try:
            with open(self.path, encoding="utf-8") as f:
                f.seek(self._offset)
                chunk = f.read()
                self._offset = f.tell()
        except FileNotFoundError:
            return []
        lines = (self._partial + chunk).split("\n")
        self._partial = lines.pop()
        new = []
        for line in lines:
            if not line.strip():
                continue
            rec = json.loads(line)
            new.append(rec)
            if rec.get("k") == "pose":
                self.poses.append(
                    Pose(rec["t"], tuple(rec["p"]), rec["yaw"], rec["pitch"], dict(rec.get("c", {})))
                )
        self.records.extend(new)
        return new

    def latest(self) -> Pose | None:
        self.poll()
        return self.poses[-1] if self.poses else None

    def events(self, kind: str) -> list[dict[str, Any]]:
        self.poll()
        return [r for r in self.records if r.get("k") == kind]

    def since(self, mark: int, kinds: Collection[str] = GAME_EVENTS) -> list[dict[str, Any]]:
        """Records of ``kinds`` logged after ``mark`` (a ``len(records)`` taken earlier): what one
        evaluation trial did, read without rescanning the whole log."""
        self.poll()
        return [r for r in self.records[mark:] if r.get("k") in kinds]


# minetest 5.6 runs singleplayer on a port drawn at random from a generator seeded with the clock's
# second, whatever minetest.conf or --port say: two games started in the same second draw the same
# port, and the second dies with "Failed to bind socket (port already in use?)" (seen with two test
# workers, and two doors started together). So starts take turns, machine-wide, until the player has
# joined (the port is bound by then).
START_LOCK = Path(tempfile.gettempdir()) / "jarvis-demo-start.lock"


@contextlib.contextmanager
def _one_start_at_a_time() -> Iterator[None]:
    with open(START_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class DemoGameClosed(AppError, RuntimeError):
    """The game was closed while it was starting (the app is quitting): nothing was left running."""


class DemoGame:
    """One minetest process in a fresh world. ``start()`` does the work; the constructor only stores.

    ``close()`` may come from any thread at any moment, also while ``start()`` runs on another (the
    window opens the game off its GUI thread, and quits when signalled): a lock orders the two, so the
    world folder and the process are each made only while the game is not closed, and close() takes
    whatever exists at that instant. A start that finds the game closed raises ``DemoGameClosed``.
    """

    def __init__(self, config: DemoGameConfig | None = None, display: str | None = None) -> None:
        self.config = config or DemoGameConfig()
        self.display = display or os.environ.get("DISPLAY", "")
        self.root: Path | None = None
        self.world: Path | None = None
        self.window_id = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: PoseLog | None = None
        self._owns_root = False
        self._lock = threading.Lock()
        self._closed = False
        self.attached_pid: int | None = None  # a demo game another process started (see ``attach``)
        # commands are acknowledged by id in the shared log: ids of their own per controller, so two
        # processes driving one game (a test's person and an ``eval``) never take each other's acks
        self._cmd_id = secrets.randbelow(10**6) * 1000

    @classmethod
    def attach(cls, pid: int, display: str | None = None) -> DemoGame | None:
        """The demo game running as process ``pid`` (started by ``jarvis-play demo-game`` or another
        session), or None when that process is not one. Its mod's log and commands work as for a game
        this process started (the judge of ``eval --window Minetest`` uses them); the process and its
        world stay theirs: ``close`` leaves both alone."""
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        words = [a.decode(errors="replace") for a in args]
        if "--world" not in words or words.index("--world") + 1 >= len(words):
            return None
        world = Path(words[words.index("--world") + 1])
        if not (world.parent / MARKER).is_file() or not (world / "worldmods" / MOD_NAME).is_dir():
            return None
        game = cls(display=display)
        game.root, game.world, game.attached_pid = world.parent, world, pid
        game.log = PoseLog(world / "jarvis_pose.jsonl")
        return game

    # ----- lifecycle -------------------------------------------------------------------------
    def prepare(self) -> Path:
        """Create the world directory, config and mod; returns the world path. One step under the lock:
        a close() meanwhile would remove the folder while the rest is written into it again."""
        with self._lock, uninterrupted():
            self._check_open()
            return self._prepare()

    def _prepare(self) -> Path:
        cfg = self.config
        if cfg.world_dir is None:
            self.root = Path(tempfile.mkdtemp(prefix="jarvis-demo-"))
            self._owns_root = True
        else:
            self.root = Path(cfg.world_dir).expanduser().resolve()
            if self.root.exists() and any(self.root.iterdir()) and not (self.root / MARKER).exists():
                raise FileExistsError(
                    f"{self.root} exists and is not a jarvis-play demo world; refusing to touch it"
                )
            self.root.mkdir(parents=True, exist_ok=True)
        (self.root / MARKER).write_text("made by jarvis-play demo-game\n")
        self.world = self.root / "world"
        (self.world / "worldmods").mkdir(parents=True, exist_ok=True)
        (self.world / "world.mt").write_text(
            "gameid = minetest\nbackend = sqlite3\nplayer_backend = sqlite3\n"
            "auth_backend = sqlite3\nmod_storage_backend = sqlite3\ncreative_mode = true\n"
            "enable_damage = false\n"
        )
        mod_dst = self.world / "worldmods" / MOD_NAME
        shutil.rmtree(mod_dst, ignore_errors=True)
        shutil.copytree(mod_source(), mod_dst)
        conf = "".join(f"{k} = {v}\n" for k, v in settings(cfg).items())
        (self.root / "minetest.conf").write_text(conf)
        (self.root / "home").mkdir(exist_ok=True)
        for stale in ("jarvis_pose.jsonl", "jarvis_cmd.txt"):
            (self.world / stale).unlink(missing_ok=True)
        return self.world

    def start(self, timeout: float = 40.0, focus: bool = True) -> DemoGame:
        binary = self.config.binary or find_binary()
        if binary is None:
            raise FileNotFoundError(
                "minetest/luanti is not installed (Debian/Ubuntu: apt-get install minetest)"
            )
        if not self.display:
            raise RuntimeError("no display to open the game on (DISPLAY is not set)")
        world = self.prepare()
        assert self.root is not None
        env = dict(os.environ)
        env["DISPLAY"] = self.display
        # HOME is redirected so minetest's user dir lands here; X auth must still be found
        env.setdefault("XAUTHORITY", str(Path.home() / ".Xauthority"))
        env["HOME"] = str(self.root / "home")
        env.update(self.config.env)
        cmd = [
            binary,
            "--go",
            "--world",
            str(world),
            "--gameid",
            "minetest",
            "--config",
            str(self.root / "minetest.conf"),
            "--logfile",
            str(self.root / "minetest.log"),
        ]
        LOG.info("starting %s", " ".join(cmd))

        try:
            with _one_start_at_a_time():
                with self._lock, uninterrupted():  # started and noted as one step, or not at all
                    self._check_open()
                    self.proc = subprocess.Popen(
                        cmd,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                        preexec_fn=parent_death_signal if self.config.die_with_parent else None,
                    )
                self.log = PoseLog(world / "jarvis_pose.jsonl")
                self.window_id = self._wait_window(timeout)
                ready = "arena" if self.config.arena else "join"
                self.wait_for(
                    lambda: bool(self.log and self.log.events(ready)), timeout, f"the player to {ready}"
                )
            if focus:
                self.focus()
        except BaseException:
            self.close()
            raise
        return self

    def _wait_window(self, timeout: float) -> int:
        desktop = for_display(self.display)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                self._check_alive()
                for w in desktop.windows():
                    if self._is_ours(w.pid, w.title) and w.rect[2] >= self.config.width // 2:
                        return w.id
                time.sleep(0.1)
        finally:
            desktop.close()
        raise TimeoutError("the minetest window did not appear")

    def _is_ours(self, pid: int | None, title: str) -> bool:
        """Our game's window: by pid when the window says it, else by title (Irrlicht may not)."""
        if pid is not None:
            return self.proc is not None and pid == self.proc.pid
        return any(name in title.lower() for name in ("minetest", "luanti"))

    def _check_open(self) -> None:
        if self._closed:
            raise DemoGameClosed("the demo game was closed while it was starting")

    def _check_alive(self) -> None:
        self._check_open()
        if self.attached_pid is not None:
            if not Path(f"/proc/{self.attached_pid}").exists():
                raise RuntimeError("the demo game this session attached to has exited")
            return
        if self.proc is None or self.proc.poll() is not None:
            tail = ""
            if self.root and (self.root / "minetest.log").exists():
                tail = (self.root / "minetest.log").read_text(errors="replace")[-800:]
            raise RuntimeError(f"minetest exited early. Log tail:\n{tail}")

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "the game") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            time.sleep(0.02)

    def focus(self) -> None:
        """Give the game focus the way its desktop allows, and the pointer to its centre."""

        desktop = for_display(self.display)
        try:
            desktop.focus(self.window_id)
            rect = desktop.window_rect(self.window_id)
            desktop.warp_pointer(rect[0] + rect[2] // 2, rect[1] + rect[3] // 2)
        finally:
            desktop.close()

    def command(self, *lines: str, timeout: float = 5.0) -> None:
        """Run mod commands (``tp x y z yaw pitch``, ``setnode x y z name``) and wait until done."""
        assert self.world is not None and self.log is not None
        self._cmd_id += 1
        ident = self._cmd_id
        # whole or not at all: the mod may read the file at any moment
        write_atomically(
            self.world / "jarvis_cmd.txt", "".join(line + "\n" for line in lines) + f"id {ident}\n"
        )
        log = self.log
        acked = lambda: any(r.get("id") == ident for r in log.events("ack"))  # noqa: E731
        self.wait_for(acked, timeout, f"command {lines!r}")

    def reset(
        self,
        pos: tuple[float, float, float],
        yaw: float = 0.0,
        pitch: float = 0.0,
        give: Collection[tuple[str, int]] = (),
    ) -> int:
        """Put the world back for the next evaluation trial: nodes dug or placed since the last reset
        are restored, the inventory emptied (then ``give`` items), dropped items removed, the player
        teleported and turned (degrees, + pitch looks down). Returns the log mark after the reset."""
        lines = [f"reset {pos[0]} {pos[1]} {pos[2]} {yaw:.2f} {pitch:.2f}"]
        lines += [f"give {name} {count}" for name, count in give]
        self.command(*lines)
        assert self.log is not None
        return len(self.log.records)

    def pose(self) -> Pose:
        assert self.log is not None
        pose = self.log.latest()
        if pose is None:
            raise RuntimeError("no pose logged yet")
        return pose

    def close(self) -> None:
        """Stop the game and remove the world it made; safe from any thread, at any time, twice. A
        signal during it waits for it to finish (``uninterrupted``), so neither is left half done."""
        with self._lock, uninterrupted():
            self._closed = True
            proc, self.proc = self.proc, None
            root = self.root if self._owns_root else None
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=8)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if root is not None:
                shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> DemoGame:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
