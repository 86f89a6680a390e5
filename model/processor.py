"""A Qwen2-VL processor that needs no torchvision.

transformers 5 builds ``Qwen2VLProcessor``'s attribute list from its ``__init__`` signature and insists
on a video processor, which only exists with torchvision. Declaring an ``__init__`` without one
gives a processor that handles text and images identically and never touches video.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import Qwen2VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

# JARVIS's construct.py raises max_pixels so a 644×364 frame (or larger) is never shrunk again.
JARVIS_MIN_PIXELS = 3136
JARVIS_MAX_PIXELS = 1605632


class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
    def __init__(
        self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kwargs: Any
    ):
        super().__init__(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=chat_template,
        )


def image_processor_from(path: Path) -> Qwen2VLImageProcessorPil:
    """The checkpoint's image processor settings, read into the PIL (torchvision-free) implementation."""
    config_file = path / "preprocessor_config.json"
    config: dict[str, Any] = json.loads(config_file.read_text()) if config_file.is_file() else {}
    keep = (
        "image_mean",
        "image_std",
        "patch_size",
        "temporal_patch_size",
        "merge_size",
        "do_rescale",
        "do_normalize",
        "rescale_factor",
        "do_convert_rgb",
    )
    kwargs = {k: config[k] for k in keep if k in config}
    size = config.get("size") or {}
    kwargs["min_pixels"] = int(config.get("min_pixels", size.get("shortest_edge", JARVIS_MIN_PIXELS)))
    kwargs["max_pixels"] = int(config.get("max_pixels", size.get("longest_edge", JARVIS_MAX_PIXELS)))
    return Qwen2VLImageProcessorPil(**kwargs)
