"""Turn a model spec (``model.spec.ModelSpec``) into a policy.

``tiny`` is the embedded random model; an ``http(s)://`` URL is an OpenAI-compatible server;
``scripted:FILE`` replays env actions; anything else is a local folder or an HF hub id loaded
in-process. Errors surface here, before play starts: a precision that will not fit beside the game
(``model.fit``), 4-/8-bit without CUDA or bitsandbytes (``model.quantize``), a bad checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model.checkpoint import CheckpointError
from model.fit import check_fits
from model.policies.base import Policy
from model.policies.local import LocalPolicy, LocalPolicyConfig
from model.policies.remote import RemotePolicy, RemotePolicyConfig
from model.policies.scripted import ScriptedPolicy
from model.quantize import parse_quantize
from model.spec import ModelSpec
from model.vla import VLA, Sampling

ENGINES = ("auto", "fast", "plain")  # auto: fast on CUDA, plain on CPU


@dataclass
class PolicyOptions:
    temperature: float = 0.7
    history_num: int = 0
    constrained: bool = True
    adapter: str | None = None
    device: str | None = None
    timeout_s: float = 10.0
    seed: int | None = None
    engine: str = "auto"  # fast (model.fast) or plain (transformers generate); see ENGINES
    quantize: str = "none"  # the language model in int4/fp8/4bit/8bit (model.quantize); vision tower bf16
    check_fit: bool = True  # refuse a precision that will not fit in free GPU memory (model.fit)


def model_path(spec: ModelSpec | str) -> str:
    """The loadable folder or id for an in-process spec (``tiny`` resolves to the embedded model)."""
    spec = ModelSpec.parse(spec)
    if spec.kind == "tiny":
        from model.tiny import ensure_tiny_model  # heavy: transformers

        return str(ensure_tiny_model())
    return spec.value


def use_fast_engine(engine: str, device: Any) -> bool:
    """``fast`` or ``plain`` as asked; ``auto`` is fast on CUDA (where it pays) and plain on CPU."""
    if engine not in ENGINES:
        raise CheckpointError(f"--engine takes {', '.join(ENGINES)}, not {engine!r}")
    if engine == "auto":
        return str(device).startswith("cuda")
    return engine == "fast"


def load_vla(spec: ModelSpec | str, options: PolicyOptions) -> Any:
    """The in-process model as ``options`` ask: fit checked, quantised, fast engine or plain."""
    import torch  # heavy: torch

    path = model_path(spec)
    kind = parse_quantize(options.quantize)
    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if options.check_fit and device.startswith("cuda"):
        check_fits(path, options.quantize, device)
    vla = VLA.load(path, adapter=options.adapter, device=device, quantize=kind)
    if use_fast_engine(options.engine, vla.device):
        from model.fast import FastVLA  # heavy: torch, transformers

        return FastVLA(vla)
    return vla


def make_policy(spec: ModelSpec | str, options: PolicyOptions | None = None) -> Policy:
    """Load the policy ``spec`` names. Errors say what to do (``CheckpointError`` and its kinds
    ``QuantizeError``/``FitError``, ``PolicyError``, ``ModelSpecError``, ``OSError``/``ValueError``
    for a bad actions file)."""
    spec = ModelSpec.parse(spec)
    options = options or PolicyOptions()
    if spec.kind == "scripted":
        return ScriptedPolicy.from_jsonl(spec.value, loop=True)
    if spec.remote:
        remote = RemotePolicy(
            spec.value,
            RemotePolicyConfig(
                temperature=options.temperature, history_num=options.history_num, timeout_s=options.timeout_s
            ),
        )
        remote.check()
        return remote

    vla = load_vla(spec, options)
    config = LocalPolicyConfig(
        history_num=options.history_num,
        constrained=options.constrained,
        sampling=Sampling(temperature=options.temperature, seed=options.seed),
    )
    return LocalPolicy(vla, config)
