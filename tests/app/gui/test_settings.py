"""Settings: defaults without a file, round trip, and a broken file never stops the app."""

from __future__ import annotations

import json
from pathlib import Path

from app import settings as settings_mod
from app.settings import Settings


def test_defaults_without_a_file(tmp_path: Path) -> None:
    result = settings_mod.load(tmp_path / "settings.json")
    assert result.settings == Settings() and result.messages == []
    assert result.settings.model == "tiny" and result.settings.game == "auto"


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "settings.json"
    s = Settings(model="/ckpt", tick_hz=10.0, key_bindings={"forward": "up"})
    s.remember("Kill a zombie.")
    s.remember("Mine the oak log.")
    s.remember("Kill a zombie.")
    settings_mod.save(s, path)
    loaded = settings_mod.load(path)
    assert loaded.messages == []
    assert loaded.settings == s
    assert loaded.settings.history == ["Mine the oak log.", "Kill a zombie."]


def test_corrupt_file_is_backed_up_and_defaults_used(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    result = settings_mod.load(path)
    assert result.settings == Settings()
    assert len(result.messages) == 1 and "could not be read" in result.messages[0]
    backups = list(tmp_path.glob("settings.json.broken-*"))
    assert len(backups) == 1 and backups[0].read_text() == "{not json"
    assert not path.exists()


def test_wrong_types_fall_back_per_field(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"tick_hz": "fast", "temperature": 1, "record": "yes", "unknown": 3}))
    result = settings_mod.load(path)
    assert result.settings.tick_hz == Settings().tick_hz
    assert result.settings.temperature == 1.0
    assert result.settings.record is False
    assert len(result.messages) == 2
    assert any("tick_hz" in m for m in result.messages) and any("record" in m for m in result.messages)


def test_config_dir_is_the_platform_folder(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from platformdirs import user_config_dir

    monkeypatch.delenv("JARVIS_PLAY_CONFIG_DIR", raising=False)
    assert settings_mod.config_dir() == Path(user_config_dir("jarvis-play"))


def test_episodes_root_follows_settings(tmp_path: Path) -> None:
    from app.settings import Settings, episodes_root

    assert episodes_root(Settings(episodes_dir=str(tmp_path))) == tmp_path
    assert episodes_root(Settings()).name == "episodes"
