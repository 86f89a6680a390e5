"""``jarvis-play finetune --compare``, the door the Adapters panel's "Compare" goes through, on the tiny
model and a real adapter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.model.lora import make_adapter
from tests.recorder.episodes.synth import write_episode


def test_a_corrections_round_is_compared_on_the_persons_corrections_alone(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    """In a corrections round the agent's own ticks are the base model's play, not answers to score
    against: counting them, the comparison measured an adapter on what the base did."""
    episodes = tmp_path / "held-out"
    # 40 ticks, the person in control for ticks 10-19; every other tick walks forward (the rest pause)
    write_episode(episodes, 40, mode="corrections", phases={t: "correction" for t in range(10, 20)})
    adapter = make_adapter(tiny_model_dir, tmp_path / "adapter", 1, str(tiny_model_dir))
    command = [sys.executable, "-m", "app.cli", "finetune", "--model", str(tiny_model_dir)]
    command += ["--episodes", str(episodes), "--compare", str(adapter), "--device", "cpu"]
    done = subprocess.run([*command, "--json-progress"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["scored"] == "the person's corrections"
    assert result["samples"] == 5, result  # ticks 11, 13, ..., 19: the person's, the pauses left out
    said = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert said.returncode == 0, said.stderr[-2000:]
    assert "held-out frames: 5 (drawn kind by kind, the person's corrections)" in said.stdout, said.stdout
