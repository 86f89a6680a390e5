"""The camera law comes from the settings file the running game itself reads (real processes, real files)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.games import game_settings, minecraft_options, minetest_config
from recorder.input.camera_law import CameraLaw


def spawn(argv0: str, *args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """A real process whose /proc shows ``argv0 -c ... args``: a waiting shell named as the game is."""
    script = f'exec -a {argv0} bash -c "sleep 30; :" "$@"'
    return subprocess.Popen(["bash", "-c", script, "_", *args], env=env, cwd=cwd)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        p.kill()
        p.wait()


def wait_argv(pid: int, argv0: str) -> None:
    for _ in range(200):
        argv, _, _ = game_settings.process_info(pid)
        if argv and argv[0] == argv0:
            return
        time.sleep(0.01)
    raise AssertionError("the process never showed its name")


def test_minetest_config_parsing_follows_the_game() -> None:
    text = (
        "# comment\nmouse_sensitivity = 0.5\nfov=90\ninvert_mouse = true\n"
        'motd = """\nmouse_sensitivity = 9\n"""\n'
        "mg_flags = {\nmouse_sensitivity = 8\n}\nmouse_sensitivity = 0.35\n"
    )
    cfg = minetest_config.parse(text)
    assert (cfg.mouse_sensitivity, cfg.fov, cfg.invert_mouse) == (0.35, 90.0, True)
    law = cfg.camera_law((1280, 720))
    assert law.invert_y and law.degrees_per_count == pytest.approx(
        CameraLaw.minetest(0.35, fov=90).degrees_per_count
    )
    assert law.to_degrees(0, 10)[0] < 0  # inverted: the pointer down turns the view up
    assert minetest_config.parse("").camera_law().degrees_per_count == pytest.approx(0.2)  # the defaults


def test_minetest_law_scales_with_fov_and_narrow_windows() -> None:
    assert CameraLaw.minetest(0.2).degrees_per_count == pytest.approx(0.2, rel=1e-6)  # 72° on 16:9
    assert CameraLaw.minetest(0.15, fov=70).degrees_per_count == pytest.approx(0.14456, abs=1e-4)
    square = CameraLaw.minetest(0.2, aspect=1.0).degrees_per_count  # 4:3 and narrower widen the FOV
    assert square > 0.2


def test_minetest_process_with_config_on_its_command_line(tmp_path: Path, procs: list) -> None:
    (tmp_path / "mt.conf").write_text("mouse_sensitivity = 0.45\ninvert_mouse = true\nfov = 72\n")
    home = tmp_path / "home"
    (home / ".minetest").mkdir(parents=True)
    (home / ".minetest" / "minetest.conf").write_text("mouse_sensitivity = 0.1\n")
    env = {**os.environ, "HOME": str(home)}
    env.pop("MINETEST_USER_PATH", None)
    given = spawn("/usr/games/minetest", "--go", "--config", "mt.conf", env=env, cwd=tmp_path)  # relative
    default = spawn("luanti", "--go", env=env, cwd=tmp_path)
    procs += [given, default]
    wait_argv(given.pid, "/usr/games/minetest")
    wait_argv(default.pid, "luanti")
    a = game_settings.game_settings_for_pid(given.pid, (1280, 720))
    b = game_settings.game_settings_for_pid(default.pid, (1280, 720))
    assert a is not None and b is not None
    assert a.record["source"] == str(tmp_path / "mt.conf") and a.law.invert_y
    assert a.law.degrees_per_count == pytest.approx(0.45, rel=1e-6)
    assert b.record["source"] == str(home / ".minetest" / "minetest.conf")  # the game user's own file
    assert b.law.degrees_per_count == pytest.approx(0.1, rel=1e-6)
    assert b.meta()["settings"]["mouse_sensitivity"] == 0.1


def test_minecraft_process_reads_options_of_its_game_dir(tmp_path: Path, procs: list) -> None:
    game_dir = tmp_path / "profile"
    game_dir.mkdir()
    (game_dir / "options.txt").write_text(
        "mouseSensitivity:1.0\ninvertYMouse:true\nguiScale:3\nrawMouseInput:false\n"
    )
    p = spawn("java", "-cp", "x.jar", "net.minecraft.client.main.Main", "--gameDir", str(game_dir),
              env={**os.environ, "HOME": str(tmp_path)}, cwd=tmp_path)  # fmt: skip
    procs.append(p)
    wait_argv(p.pid, "java")
    s = game_settings.game_settings_for_pid(p.pid)
    assert s is not None and s.game == "minecraft"
    assert s.law == CameraLaw.minecraft(1.0, invert_y=True)
    assert s.record["guiScale"] == 3 and s.record["rawMouseInput"] is False
    assert minecraft_options.options_path(["java"], {"HOME": "/h"}) == Path("/h/.minecraft/options.txt")


def test_other_processes_have_no_settings(procs: list, tmp_path: Path) -> None:
    p = spawn("firefox", env=dict(os.environ), cwd=tmp_path)
    procs.append(p)
    wait_argv(p.pid, "firefox")
    assert game_settings.game_settings_for_pid(p.pid) is None


def test_a_calibration_is_kept_per_window_and_found_by_title(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    game_settings.save_calibration("Luanti", CameraLaw(0.123, "minetest"), {"method": "test"}, path)
    found = game_settings.calibrated_settings("Luanti 5.9 [singleplayer]", path)
    assert found is not None and found.law.degrees_per_count == 0.123
    assert game_settings.calibrated_settings("Minecraft", path) is None
