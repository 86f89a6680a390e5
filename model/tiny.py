"""``jarvis-play model make-tiny``: a tiny, randomly initialised Qwen2-VL with JARVIS's real token layout.

It exists so tests, CI and people without a GPU can run every code path — loading, prompting,
constrained decoding, serving, fine-tuning — on a model that loads through exactly the same
``from_pretrained`` calls as the 7B checkpoint. Its weights are random: it plays randomly.

The real ids matter (the codec, the grammar and the checks use them), so the tokenizer's vocabulary is
padded with unreachable filler entries up to 151643, where Qwen2-VL's control tokens start, followed
by JARVIS's 251 special tokens at 151657..151907.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from transformers import PreTrainedTokenizerFast, Qwen2VLConfig, Qwen2VLForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from model.actions.tokens import JARVIS_SPECIAL_TOKENS, QWEN2_VL_FIRST_SPECIAL, QWEN2_VL_SPECIAL_TOKENS
from model.checkpoint import TEMPLATE_PATH
from model.processor import JARVIS_MAX_PIXELS, JARVIS_MIN_PIXELS
from recorder.files import replace_folder

LOG = logging.getLogger(__name__)
TINY_VOCAB = 152064  # Qwen2-VL-7B's embedding rows
MARKER = "jarvis_play_tiny.json"
FORMAT = 3  # bump when the tiny model changes, so cached copies are rebuilt
# The language model's random init scale. At transformers' 0.02 a 64-wide model's tied embeddings have a
# norm of about 0.16, so no logit can stand more than about 1 above the rest whatever LoRA learns: the
# model can never be confident, a fine-tune's loss barely moves (11.9 -> 10.7 in 200 steps on a minute
# of play) and greedy decoding follows noise. At 0.3 the same data and steps bring the loss to about 0.5
# and the model tells the sky from the stone floor. It still learns only what its data teaches.
TEXT_INIT = 0.3

# What the tokenizer's BPE learns from: the words the prompts and chat template use.
_CORPUS = [
    "You are a helpful assistant.",
    "system user assistant",
    "observation: thought: ",
    "Kill a zombie. Hunt the zombie. Mine the oak log. Chop down a tree. Craft a crafting table.",
    "mine_block:oak_log craft_item:crafting_table kill_entity:zombie use_item pickup drop",
    "walk forward, turn left, turn right, jump, attack, collect wood, dig down, build a pillar",
    "the quick brown fox jumps over the lazy dog 0123456789",
]


def default_tiny_dir() -> Path:
    """Where the embedded default model lives: the user's cache, created on first use."""
    override = os.environ.get("JARVIS_PLAY_TINY_DIR")
    if override:  # checked first: a bare GPU machine (make gpu-check) has no platformdirs
        return Path(override)
    from platformdirs import user_cache_dir  # optional: absent on a bare GPU machine (see above)

    return Path(user_cache_dir("jarvis-play")) / "tiny-qwen2-vl"


def ensure_tiny_model(path: Path | None = None) -> Path:
    """The tiny model folder, built if it is missing, incomplete or from an older format.

    Safe to call from several processes at once (two windows, a test run beside a ``run``): builders
    take turns under a lock file, and each builds in a temporary folder that is renamed into place
    only when complete, so a reader never sees a half-written ``config.json``.
    """
    path = Path(path) if path else default_tiny_dir()
    if is_current(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(path):
        if is_current(path):  # another process built it while this one waited
            return path
        replace_folder(path, make_tiny)  # an old or broken copy is swapped out only once this one is whole
    return path


def is_current(path: Path) -> bool:
    """The folder holds a complete tiny model of this ``FORMAT`` (the marker is written last)."""
    try:
        return json.loads((Path(path) / MARKER).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    with open(path.parent / f".{path.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def make_tiny(path: Path, seed: int = 0) -> Path:
    """Write config, weights, tokenizer, image processor and chat template to ``path``."""
    import torch  # heavy: torch

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer()
    torch.manual_seed(seed)
    config = Qwen2VLConfig(
        text_config=dict(
            vocab_size=TINY_VOCAB,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=32768,
            rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
            bos_token_id=151643,
            eos_token_id=151645,
            pad_token_id=151643,
            tie_word_embeddings=True,
            initializer_range=TEXT_INIT,
        ),
        vision_config=dict(
            depth=2,
            embed_dim=32,
            hidden_size=64,
            num_heads=2,
            mlp_ratio=2,
            in_chans=3,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
        ),
        image_token_id=151655,
        video_token_id=151656,
        vision_start_token_id=151652,
        vision_end_token_id=151653,
        tie_word_embeddings=True,
    )
    model = Qwen2VLForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = 151645
    model.generation_config.pad_token_id = 151643
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    _image_processor().save_pretrained(str(path))
    template = TEMPLATE_PATH.read_text(encoding="utf-8")
    (path / "chat_template.json").write_text(json.dumps({"chat_template": template}, indent=2))
    (path / MARKER).write_text(
        json.dumps(
            {
                "what": "tiny random Qwen2-VL with JARVIS-VLA token layout; plays randomly",
                "seed": seed,
                "format": FORMAT,
            }
        )
    )
    LOG.info("tiny model written to %s (random weights: it plays randomly)", path)
    return path


def _tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # heavy: tokenizers

    trainer_model = Tokenizer(models.BPE())
    trainer_model.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=600, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    trainer_model.train_from_iterator(_CORPUS, trainer=trainer)
    learned = json.loads(trainer_model.to_str())["model"]
    vocab: dict[str, int] = dict(learned["vocab"])
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in learned["merges"]]
    # Filler entries no merge can produce, so the control tokens land on Qwen2-VL's real ids.
    for filler in range(len(vocab), QWEN2_VL_FIRST_SPECIAL):
        vocab[f"<|tiny_filler_{filler}|>"] = filler
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.add_special_tokens(list(QWEN2_VL_SPECIAL_TOKENS))
    bpe.add_special_tokens(list(JARVIS_SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(QWEN2_VL_SPECIAL_TOKENS[1:]),
        padding_side="left",
        model_max_length=32768,
    )


def _image_processor():  # type: ignore[no-untyped-def]

    return Qwen2VLImageProcessorPil(min_pixels=JARVIS_MIN_PIXELS, max_pixels=JARVIS_MAX_PIXELS)
