"""Adapter hot-swap on the tiny model: a wrong base is refused by its manifest, a failed swap keeps
the adapter that was active (issue 16, item 6)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from model import adapters
from model.adapters import AdapterError
from tests.model.lora import make_adapter


def _lora_state(model: Any) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}


@pytest.fixture(scope="module")
def adapter_dirs(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from model.tiny import make_tiny

    root = tmp_path_factory.mktemp("adapters")
    other_base = make_tiny(root / "other-base", seed=1)  # same shapes, other weights
    return {
        "good": make_adapter(tiny_model_dir, root / "good", 1, str(tiny_model_dir)),
        "second": make_adapter(tiny_model_dir, root / "second", 2, str(tiny_model_dir)),
        "no_manifest": make_adapter(tiny_model_dir, root / "no-manifest", 3, None),
        "other_base": make_adapter(other_base, root / "other", 4, str(other_base)),
        "hub_other": make_adapter(tiny_model_dir, root / "hub-other", 5, "CraftJarvis/Some-Other-Base"),
    }


@pytest.fixture
def policy(tiny_model_dir: Path) -> Any:
    from model.vla import VLA

    return SimpleNamespace(vla=VLA.load(str(tiny_model_dir), device="cpu"))


def test_adapter_of_the_loaded_base_swaps_in_and_out(
    policy: Any, tiny_model_dir: Path, adapter_dirs: Any
) -> None:
    spec = str(tiny_model_dir)
    assert adapters.swap(policy, spec, str(adapter_dirs["good"])) == str(adapter_dirs["good"])
    assert _lora_state(policy.vla.model)
    assert adapters.swap(policy, spec, str(adapter_dirs["no_manifest"])) == str(adapter_dirs["no_manifest"])
    assert adapters.swap(policy, spec, None) is None
    assert not _lora_state(policy.vla.model)


@pytest.mark.parametrize("wrong", ["other_base", "hub_other"])
def test_adapter_trained_on_another_base_is_refused_and_the_active_one_kept(
    policy: Any, tiny_model_dir: Path, adapter_dirs: Any, wrong: str
) -> None:
    spec = str(tiny_model_dir)
    adapters.swap(policy, spec, str(adapter_dirs["good"]))
    before = _lora_state(policy.vla.model)
    with pytest.raises(AdapterError, match="was trained on"):
        adapters.swap(policy, spec, str(adapter_dirs[wrong]))
    assert policy.vla.adapter == str(adapter_dirs["good"])
    after = _lora_state(policy.vla.model)
    assert after.keys() == before.keys()
    assert all(bool((after[k] == before[k]).all()) for k in before)


def test_failed_hot_swap_keeps_the_adapter_that_was_active(
    policy: Any, tiny_model_dir: Path, adapter_dirs: Any, tmp_path: Path
) -> None:
    import shutil

    spec = str(tiny_model_dir)
    broken = tmp_path / "broken"
    shutil.copytree(adapter_dirs["second"], broken)
    weights = broken / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # a torn download
    adapters.swap(policy, spec, str(adapter_dirs["good"]))
    before = _lora_state(policy.vla.model)
    with pytest.raises(AdapterError, match="still using"):
        adapters.swap(policy, spec, str(broken))
    assert policy.vla.adapter == str(adapter_dirs["good"])
    after = _lora_state(policy.vla.model)
    assert after.keys() == before.keys()
    assert all(bool((after[k] == before[k]).all()) for k in before)
    # and the model still works after going back to the base: no half-wrapped layers left behind
    adapters.swap(policy, spec, None)
    assert not _lora_state(policy.vla.model)


def test_the_base_model_needs_no_swap_on_a_model_that_takes_no_adapter(tmp_path: Path) -> None:
    """``eval`` of the base arm alone swaps to "no adapter" first: on a scripted model or a server that
    must be a no-op, not "takes no adapter" (it ended every such eval before its first trial)."""
    from model.policies.scripted import ScriptedPolicy

    policy = ScriptedPolicy([{"forward": 1}])
    assert adapters.swap(policy, "scripted:walk.jsonl", None) is None
    assert adapters.swap(policy, "http://127.0.0.1:9/v1", None) is None
    with pytest.raises(AdapterError, match="takes no adapter"):
        adapters.swap(policy, "scripted:walk.jsonl", str(tmp_path))
    with pytest.raises(AdapterError, match="No model is loaded"):
        adapters.swap(None, None, None)
