"""Weight quantisation of the language model for 12–16 GB cards, vision tower and head in bf16.

Two families, one flag (``--quantize``): ``int4`` and ``fp8`` run on PyTorch's own kernels
(``model.lowbit``), which the fast engine's CUDA graphs hold; ``4bit`` (NF4) and ``8bit`` are
bitsandbytes, which QLoRA fine-tuning needs and which run eagerly. Every choice is refused before
minutes of loading when it cannot run here: no CUDA, a missing package or kernel, a GPU too old.

The bitsandbytes layers are ``Linear4bit``/``Linear8bitLt``, swapped in place for the
language model's linear layers of an already loaded model, so a random-weight benchmark model and a
checkpoint go through the same code. The vision tower and the output head stay in bf16: they are a
small share of the memory and the image features and the action logits are where precision shows.
bitsandbytes is an optional package; without it this module says what to install instead of failing
deep inside a forward pass. (Recent bitsandbytes also runs on CPU, slowly: that is how it is tested.)
"""

from __future__ import annotations

from typing import Any

from model.checkpoint import CheckpointError

BITS = (4, 8)
CHOICES = ("none", "int4", "fp8", "4bit", "8bit")  # --quantize
FLAG_HELP = (
    "the language model in int4 or fp8 (PyTorch's kernels, inside the fast engine's CUDA graphs; fp8 "
    "needs an Ada or Hopper GPU) or 4bit/8bit (bitsandbytes); the vision tower and head stay bf16"
)


class QuantizeError(CheckpointError):
    """Quantisation cannot run here; the message says what to install or choose instead (a
    ``CheckpointError``: the model cannot be loaded as asked, and the message says how it can)."""


def parse_quantize(text: str | int | None) -> str | None:
    """A ``--quantize`` value -> ``int4``/``fp8``/``4bit``/``8bit``, or None for bf16 (``none``)."""
    if text is None or str(text).lower() in ("", "none", "bf16", "off"):
        return None
    value = str(text).lower()
    value = f"{value}bit" if value in ("4", "8") else value
    if value not in CHOICES:
        raise QuantizeError(f"--quantize takes {', '.join(CHOICES)}, not {text!r}")
    return value


def check_quantize(kind: str | int, device: str, capability: tuple[int, int] | None = None) -> None:
    """Refuse early, before minutes of loading, what cannot work here. ``capability``: the GPU's
    compute capability (read from the device when not given)."""
    kind = parse_quantize(kind) or "none"
    if kind == "none":
        return
    if not str(device).startswith("cuda"):
        raise QuantizeError(
            f"--quantize {kind} needs an NVIDIA GPU (CUDA); this run uses {device}. "
            "Leave --quantize at none here, or run the model on a GPU machine (jarvis-play serve)."
        )
    if kind in ("4bit", "8bit"):
        bitsandbytes()
        return
    import torch  # heavy: torch

    from model.lowbit import MIN_CAPABILITY, missing_kernel  # heavy: torch

    missing = missing_kernel(kind)
    if missing:
        raise QuantizeError(
            f"--quantize {kind} needs PyTorch's {missing} kernel, which this torch {torch.__version__} "
            "lacks; install a CUDA build of torch 2.5 or newer, or use --quantize 4bit (bitsandbytes)"
        )
    have = capability or tuple(torch.cuda.get_device_capability(torch.device(device)))
    need = MIN_CAPABILITY[kind]
    if have < need:
        other = "int4" if have >= MIN_CAPABILITY["int4"] else "4bit"
        card = "an Ada or Hopper GPU" if kind == "fp8" else "an Ampere or newer GPU"
        raise QuantizeError(
            f"--quantize {kind} needs {card} (compute capability {need[0]}.{need[1]} or newer); this GPU "
            f"is {have[0]}.{have[1]}. Use --quantize {other}."
        )


def quantize_model(model: Any, kind: str, device: Any) -> int:
    """The language model's linear layers in ``kind``, in place, each put on ``device``; returns how
    many were replaced."""
    if kind in ("4bit", "8bit"):
        return quantize_language_model(model, int(kind[0]), device=device)
    from model.lowbit import LowbitError, quantize_weights  # heavy: torch

    try:
        return quantize_weights(language_model(model), kind, device)
    except LowbitError as exc:
        raise QuantizeError(f"--quantize {kind}: {exc}; use --quantize 4bit or none") from exc


def parse_bits(text: str | int | None) -> int | None:
    """``"4bit"``/``"8bit"``/``4``/``8`` -> bits; ``None``, ``""``, ``"none"``, ``"bf16"`` -> None."""
    if text is None or str(text).lower() in ("", "none", "bf16", "off"):
        return None
    value = str(text).lower().removesuffix("bit")
    if value not in ("4", "8"):
        raise QuantizeError(f"--quantize takes 4bit, 8bit or none, not {text!r}")
    return int(value)


def bitsandbytes() -> Any:
    try:
        import bitsandbytes as bnb  # heavy: bitsandbytes
    except ImportError as exc:
        raise QuantizeError(
            "4-bit and 8-bit need the bitsandbytes package (pip install bitsandbytes); without it run in bf16"
        ) from exc
    return bnb


def language_model(model: Any) -> Any:
    """The decoder stack of a Qwen2-VL model (PEFT-wrapped or not), without vision tower and head."""
    inner = getattr(model, "model", model)
    inner = getattr(inner, "model", inner) if not hasattr(inner, "language_model") else inner
    found = getattr(inner, "language_model", None)
    if found is None:
        raise QuantizeError(f"{type(model).__name__} has no language_model to quantise")
    return found


def quantize_language_model(model: Any, bits: int, device: Any = None) -> int:
    """Replace every ``nn.Linear`` of the language model in place; returns how many were replaced.

    The quantised weights go to ``device`` (default: where each weight is). bitsandbytes packs a weight
    when it moves from the host to the GPU, so weights already on the GPU take a trip through the host:
    an 8-bit layer would otherwise keep its bf16 weight until its first forward pass."""
    import torch  # heavy: torch
    from torch import nn  # heavy: torch

    if bits not in BITS:
        raise QuantizeError(f"--quantize takes 4bit or 8bit, not {bits}-bit")
    bnb = bitsandbytes()
    target = language_model(model)
    replaced = 0
    for parent in list(target.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not nn.Linear:
                continue
            weight = child.weight.data
            target_device = torch.device(device) if device is not None else weight.device
            if bits == 8 and target_device.type != "cpu":
                weight = weight.to("cpu")
            bias = child.bias is not None
            if bits == 4:
                new = bnb.nn.Linear4bit(
                    child.in_features,
                    child.out_features,
                    bias=bias,
                    compute_dtype=torch.bfloat16,
                    quant_type="nf4",
                    device="meta",
                )
                new._parameters["weight"] = bnb.nn.Params4bit(
                    weight, requires_grad=False, quant_type="nf4", compress_statistics=True
                ).to(target_device)
            else:
                new = bnb.nn.Linear8bitLt(
                    child.in_features,
                    child.out_features,
                    bias=bias,
                    has_fp16_weights=False,
                    threshold=6.0,
                    device="meta",
                )
                new._parameters["weight"] = bnb.nn.Int8Params(
                    weight, requires_grad=False, has_fp16_weights=False
                ).to(target_device)
            if bias:
                new._parameters["bias"] = nn.Parameter(child.bias.data.to(target_device), requires_grad=False)
            setattr(parent, name, new)
            del child, weight
            replaced += 1
    return replaced
