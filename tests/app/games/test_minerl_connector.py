"""The MineRL adapter against small stand-ins that follow the gym / gymnasium / MineStudio interfaces."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from app.games.minerl_env import MineRLConnector, make_env
from app.runtime.loop import ControlLoop, LoopConfig
from model.actions.env import null_action
from model.policies.scripted import ScriptedPolicy


class Space:
    def __init__(self, keys: list[str]) -> None:
        self.spaces = dict.fromkeys(keys)


class GymEnv:
    """gym style: reset() -> obs, step() -> (obs, reward, done, info), frame in obs["pov"]."""

    keys: ClassVar[list[str]] = [
        "attack",
        "back",
        "forward",
        "jump",
        "left",
        "right",
        "sneak",
        "sprint",
        "use",
        "drop",
        "inventory",
        *(f"hotbar.{i}" for i in range(1, 10)),
        "ESC",
        "pickItem",
        "swapHands",
        "camera",
    ]

    def __init__(self, episode: int = 100, size: tuple[int, int] = (360, 640)) -> None:
        self.action_space = Space(self.keys)
        self.episode = episode
        self.size = size
        self.actions: list[dict[str, Any]] = []
        self.yaw = 0.0
        self.closed = False

    def _obs(self) -> dict[str, Any]:
        frame = np.full((*self.size, 3), len(self.actions) % 256, np.uint8)
        return {"pov": frame}

    def reset(self) -> Any:
        self.actions.clear()
        return self._obs()

    def step(self, action: dict[str, Any]) -> tuple:
        self.actions.append(action)
        self.yaw += float(action["camera"][1])
        return self._obs(), 1.0, len(self.actions) >= self.episode, {}

    def close(self) -> None:
        self.closed = True


class GymnasiumEnv(GymEnv):
    """gymnasium style: reset() -> (obs, info), step() -> 5-tuple; MineStudio's pov in info."""

    keys: ClassVar[list[str]] = [k for k in GymEnv.keys if k not in ("drop", "ESC", "pickItem", "swapHands")]

    def reset(self, **kw: Any) -> Any:
        self.actions.clear()
        return {"image": np.zeros((224, 224, 3), np.uint8)}, {"pov": self._obs()["pov"]}

    def step(self, action: dict[str, Any]) -> tuple:
        obs, reward, done, _ = super().step(action)
        return {"image": np.zeros((224, 224, 3), np.uint8)}, reward, done, False, {"pov": obs["pov"]}


def make_gym_env() -> GymEnv:
    return GymEnv()


def test_gym_env_gets_full_minerl_actions_in_lockstep() -> None:
    env = GymEnv(episode=1000)
    conn = MineRLConnector(env).open()
    actions = [dict(null_action(), forward=1, camera=[0.0, float(i)]) for i in range(7)]
    loop = ControlLoop(conn, ScriptedPolicy(actions, chunk=3), "", LoopConfig(hz=1000, max_ticks=7))
    loop.run()
    assert [a["camera"][1] for a in env.actions] == [float(i) for i in range(7)]  # each action one step
    sent = env.actions[0]
    assert set(sent) == set(GymEnv.keys)
    assert sent["camera"].dtype == np.float32 and sent["camera"].shape == (2,)
    assert sent["forward"] == 1 and sent["ESC"] == 0
    assert loop.telemetry.missed == 0 and loop.telemetry.ticks == 7
    frame = conn.observe()
    assert frame.shape == (360, 640, 3) and frame[0, 0, 0] == 7


def test_gymnasium_env_with_pov_in_info_and_episode_end() -> None:
    env = GymnasiumEnv(episode=5, size=(720, 1280))
    conn = MineRLConnector(env).open()
    assert conn.observe().shape == (360, 640, 3)  # resized from 1280×720
    policy = ScriptedPolicy([dict(null_action(), attack=1)], loop=True)
    ControlLoop(conn, policy, "", LoopConfig(hz=1000, max_ticks=50)).run()
    assert conn.finished and len(env.actions) == 5  # stopped at the episode's end
    assert "drop" not in env.actions[0]  # only the keys this environment declares
    assert conn.total_reward == 5.0
    conn.close()
    assert env.closed


def test_step_with_a_wrong_tuple_is_reported() -> None:
    class Odd(GymEnv):
        def step(self, action: dict[str, Any]) -> tuple:
            return (self._obs(),)

    conn = MineRLConnector(Odd()).open()
    with pytest.raises(ValueError, match="expected 4"):
        conn.apply(null_action())


def test_make_env_by_module_path_and_clear_errors() -> None:
    assert isinstance(make_env("tests.app.games.test_minerl_connector:make_gym_env"), GymEnv)
    with pytest.raises(ValueError, match="unknown environment"):
        make_env("nonsense")
    with pytest.raises(ImportError, match="pip install"):
        make_env("minerl")
