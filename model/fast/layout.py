"""What a prompt's token layout fixes, computed once: ids, multimodal rope positions, image slots.

The chat text, the image sizes and the image-token count fix the input ids, the rope positions and
where the image features go. A tick with a cached layout needs no tokenizer and no rope-index code
(whose host synchronisations cost more than the GPU work they describe).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model.actions.tokens import IMAGE_PAD_ID, VISION_START_ID
from model.fast.parts import inner
from model.fast.resize import BicubicResize


@dataclass
class Layout:
    ids: Any  # (1, n) long, host
    grids: tuple[tuple[int, int, int], ...]
    positions: Any  # (3, 1, n) long, host
    delta: int  # rope position minus cache index for every later token
    prefix: tuple[int, ...]  # the ids before the first image: their keys/values do not change
    sizes: tuple[tuple[int, int], ...] = ()  # (height, width) of each image as the model sees it
    pixels_on_device: bool = False  # the pixel values are made on the device from the frames' bytes
    resizers: tuple[BicubicResize, ...] = ()  # set: the frames arrive unresized and are resized there
    seen: int = 0
    device: dict[str, Any] = field(default_factory=dict)  # device copies, the prefill graph
    graph_error: str | None = None

    @property
    def length(self) -> int:
        return int(self.ids.shape[1])

    @property
    def resize_on_device(self) -> bool:
        return bool(self.resizers)


def build_layout(model: Any, batch: Any, prefix_reuse: bool) -> Layout:
    """The layout of one processor batch (``VLA.inputs(..., on_device=False)``)."""
    ids = batch["input_ids"]
    grids = batch["image_grid_thw"]
    types = batch.get("mm_token_type_ids")
    positions, deltas = inner(model).get_rope_index(
        input_ids=ids,
        mm_token_type_ids=types if types is not None else (ids == IMAGE_PAD_ID).int(),
        image_grid_thw=grids,
        attention_mask=batch.get("attention_mask"),
    )
    id_list = ids[0].tolist()
    first_image = id_list.index(VISION_START_ID) if VISION_START_ID in id_list else 0
    return Layout(
        ids=ids,
        grids=tuple(tuple(int(x) for x in row) for row in grids.tolist()),
        positions=positions.to("cpu"),
        delta=int(deltas.reshape(-1)[0]),
        prefix=tuple(id_list[:first_image]) if prefix_reuse else (),
    )
