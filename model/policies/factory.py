"""Turn a model spec (``model.spec.ModelSpec``) into a policy.

``tiny`` is the embedded random model; an ``http(s)://`` URL is an OpenAI-compatible server;
``scripted:FILE`` replays env actions; anything else is a local folder or an HF hub id loaded
in-process. Errors surface here, before play starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.policies.base import Policy
from model.spec import ModelSpec
from model.vla import Sampling


@dataclass
class PolicyOptions:
    temperature: float = 0.7
    history_num: int = 0
    constrained: bool = True
    adapter: str | None = None
    device: str | None = None
    timeout_s: float = 10.0
    seed: int | None = None


def model_path(spec: ModelSpec | str) -> str:
    """The loadable folder or id for an in-process spec (``tiny`` resolves to the embedded model)."""
    spec = ModelSpec.parse(spec)
    if spec.kind == "tiny":
        from model.tiny import ensure_tiny_model

        return str(ensure_tiny_model())
    return spec.value


def make_policy(spec: ModelSpec | str, options: PolicyOptions | None = None) -> Policy:
    """Load the policy ``spec`` names. Errors say what to do (``CheckpointError``, ``PolicyError``,
    ``ModelSpecError``, ``OSError``/``ValueError`` for a bad actions file)."""
    spec = ModelSpec.parse(spec)
    options = options or PolicyOptions()
    if spec.kind == "scripted":
        from model.policies.scripted import ScriptedPolicy

        return ScriptedPolicy.from_jsonl(spec.value, loop=True)
    if spec.remote:
        from model.policies.remote import RemotePolicy, RemotePolicyConfig

        remote = RemotePolicy(
            spec.value,
            RemotePolicyConfig(
                temperature=options.temperature, history_num=options.history_num, timeout_s=options.timeout_s
            ),
        )
        remote.check()
        return remote
    from model.policies.local import LocalPolicy, LocalPolicyConfig
    from model.vla import VLA

    vla = VLA.load(model_path(spec), adapter=options.adapter, device=options.device)
    config = LocalPolicyConfig(
        history_num=options.history_num,
        constrained=options.constrained,
        sampling=Sampling(temperature=options.temperature, seed=options.seed),
    )
    return LocalPolicy(vla, config)
