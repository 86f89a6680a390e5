"""Turn what the user typed after ``--model`` into a policy.

``tiny`` is the embedded random model; an ``http(s)://`` URL is an OpenAI-compatible server; anything
else is a local folder or an HF hub id loaded in-process. Errors surface here, before play starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.policies.base import Policy
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


def is_remote(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def model_path(spec: str) -> str:
    """The loadable folder or id for a local spec (``tiny`` resolves to the embedded model)."""
    if spec == "tiny":
        from model.tiny import ensure_tiny_model

        return str(ensure_tiny_model())
    return spec


def make_policy(spec: str, options: PolicyOptions | None = None) -> Policy:
    options = options or PolicyOptions()
    if is_remote(spec):
        from model.policies.remote import RemotePolicy, RemotePolicyConfig

        remote = RemotePolicy(
            spec,
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
