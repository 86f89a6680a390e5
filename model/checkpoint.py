"""Finding, validating and loading a JARVIS-VLA checkpoint (or any Qwen2-VL with its action tokens).

Everything a user can get wrong is checked here, before any play starts, and reported as a
``CheckpointError`` whose message says what to do: a missing path, a tokenizer whose ids do not line
up with the action tokens (a Qwen2.5-VL tokenizer puts ``<tool_call>`` at 151657), or a model whose
embedding table cannot hold them. These checks need only the small files, so a hub checkpoint runs
them before its weights are downloaded (``model.fetch``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from model.actions.tokens import (
    ACTION_IDS,
    JARVIS_SPECIAL_TOKENS,
    LAST_ACTION_ID,
    QWEN2_VL_BASE_VOCAB,
    token_text,
)
from model.errors import ModelError

LOG = logging.getLogger(__name__)
TEMPLATE_PATH = Path(__file__).with_name("templates") / "qwen2_vl_chat.jinja"


class CheckpointError(ModelError):
    """A checkpoint that cannot be used, with the fix in the message."""


def checked_folder(path: Path) -> Path:
    """A local checkpoint folder, or the reason it is not one (HF ids are ``model.fetch.resolve``'s)."""
    path = Path(path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CheckpointError(f"{path} has no config.json; point --model at the checkpoint folder itself")
        return path
    if path.exists():
        raise CheckpointError(f"{path} is a file; --model needs a checkpoint folder or an HF hub id")
    raise CheckpointError(f"no checkpoint folder at {path} (and it is not an HF id like owner/name)")


def check_config(path: Path) -> None:
    """The architecture and the embedding table, from config.json alone (before any weight is read)."""
    from transformers import AutoConfig  # heavy: transformers

    try:
        config = AutoConfig.from_pretrained(str(path))
    except Exception as exc:
        raise CheckpointError(f"cannot read the model config in {path}: {exc}") from exc
    if getattr(config, "model_type", None) not in ("qwen2_vl", "qwen2_5_vl"):
        raise CheckpointError(
            f"{path} is a {config.model_type!r} model; jarvis-play runs Qwen2-VL checkpoints such as "
            "CraftJarvis/JarvisVLA-Qwen2-VL-7B"
        )
    text_config = getattr(config, "text_config", config)
    if text_config.vocab_size <= LAST_ACTION_ID:
        raise CheckpointError(
            f"{path} has an embedding table of {text_config.vocab_size} rows; the action tokens need "
            f"{LAST_ACTION_ID + 1}"
        )


def check_action_tokens(tokenizer: Any, where: str = "this tokenizer") -> None:
    """Every action id must map to its JARVIS token string, or nothing the model emits means what we think."""
    size = len(tokenizer)
    if size <= LAST_ACTION_ID:
        raise CheckpointError(
            f"{where} has {size} tokens and lacks JARVIS-VLA's action tokens "
            f"(ids {ACTION_IDS[0]}..{LAST_ACTION_ID}). Use a JARVIS-VLA checkpoint, or a Qwen2-VL "
            "tokenizer of exactly 151657 tokens (the action tokens are then added as the official agent "
            "adds them)."
        )
    for token_id in (QWEN2_VL_BASE_VOCAB, *ACTION_IDS):
        expected = token_text(token_id)
        found = tokenizer.convert_ids_to_tokens(token_id)
        if found != expected:
            family = " This looks like a Qwen2.5-VL tokenizer." if found == "<tool_call>" else ""
            raise CheckpointError(
                f"{where} maps id {token_id} to {found!r}, but JARVIS-VLA needs {expected!r} there.{family} "
                "Action tokens would be misread; use the tokenizer saved with the JARVIS-VLA checkpoint "
                "(a Qwen2-VL layout)."
            )


def add_action_tokens_if_stock(tokenizer: Any) -> bool:
    """Add JARVIS's special tokens to a stock Qwen2-VL tokenizer, as the official agent does.

    Only when the tokenizer has exactly the stock 151657 entries, so the added ids land where
    JARVIS expects them. Returns True when tokens were added.
    """
    if len(tokenizer) != QWEN2_VL_BASE_VOCAB:
        return False
    tokenizer.add_special_tokens({"additional_special_tokens": list(JARVIS_SPECIAL_TOKENS)})
    LOG.warning(
        "stock Qwen2-VL tokenizer: added the %d JARVIS-VLA special tokens", len(JARVIS_SPECIAL_TOKENS)
    )
    return True


def chat_template(path: Path, tokenizer: Any) -> str:
    """The checkpoint's own chat template; the stock Qwen2-VL one only when it ships none."""
    for name in ("chat_template.jinja", "chat_template.json"):
        file = path / name
        if file.is_file():
            text = file.read_text(encoding="utf-8")
            return json.loads(text)["chat_template"] if name.endswith(".json") else text
    template = getattr(tokenizer, "chat_template", None)
    if template:
        return str(template)
    LOG.warning("%s ships no chat template; using the stock Qwen2-VL one", path)
    return TEMPLATE_PATH.read_text(encoding="utf-8")


def load_processor(path: Path) -> Any:
    """Tokenizer + image processor + chat template, without torchvision.

    ``AutoProcessor`` needs a torchvision video processor for Qwen2-VL in transformers 5, and
    torchvision drags in a CUDA torch; the image-only processor does everything a frame needs.
    """
    from transformers import AutoTokenizer  # heavy: transformers

    from model.processor import ImageOnlyQwen2VLProcessor, image_processor_from  # heavy: transformers

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except Exception as exc:
        raise CheckpointError(f"cannot load the tokenizer in {path}: {exc}") from exc
    add_action_tokens_if_stock(tokenizer)
    check_action_tokens(tokenizer, where=f"the tokenizer in {path}")
    template = chat_template(path, tokenizer)
    return ImageOnlyQwen2VLProcessor(
        image_processor=image_processor_from(path), tokenizer=tokenizer, chat_template=template
    )


def load_model(path: Path, device: str, dtype: Any) -> Any:
    from transformers import AutoModelForImageTextToText  # heavy: transformers

    check_config(path)
    try:
        model = AutoModelForImageTextToText.from_pretrained(
            str(path), dtype=dtype, attn_implementation="sdpa"
        )
    except Exception as exc:
        raise CheckpointError(f"cannot load the weights in {path}: {exc}") from exc
    return model.to(device).eval()
