"""The fast constrained decoder (``--engine fast``): ``VLA.generate``'s action tokens, less overhead.

A constrained step is one prefill (about 300 image tokens plus the text) and k+2 one-token decode
steps. In eager transformers both are bound by Python and kernel launches (hundreds per layer pass),
and by host synchronisations inside the model code (rope index, image-token checks, vision splits),
not by the GPU. Here:

* **the token layout is computed once.** The chat text, the image sizes and the image-token count fix
  the input ids, the multimodal rope positions and where the image features go; they are cached per
  layout, so a tick only turns the new frame into pixel values (no tokenizer, no rope-index code);
* **the prompt head is reused.** Everything before the first image (system message, instruction) has
  the same keys and values every tick while the instruction stands; it stays in the static cache and
  only the rest (image, closing tags) is run. A new instruction (another layout prefix) recomputes it;
* **the vision tower and the prefill run as one CUDA graph** per layout, captured the second time a
  layout is seen (a one-off layout never pays for a capture). The vision blocks are called here with
  SDPA over each image's span (the spans are known on the host), so nothing in the graph syncs;
* **the frame goes to the device as bytes.** The image processor's rescale, normalise and patchify
  (most of a tick's host time, and a 5.6 MB float upload) run on the device inside the prefill graph
  from the 0.7 MB uint8 frame, with the processor's own arithmetic (float64 rescale, float32
  normalise), so the pixel values are bit-identical; each new layout checks that against the stock
  processor and keeps the processor if they differ;
* the KV cache is a ``StaticCache`` allocated once (and again only when a longer prompt arrives), and
  the one-token decode step is a second CUDA graph; its attention mask is built inside the graph;
* the action grammar is a table of additive masks on the device, indexed by the grammar state; the
  only host work per token is reading the chosen id (needed anyway to stop after the yaw token).

Every graph is checked against the eager computation on its first replay, and the decomposed vision
tower against the library's on the first image of each size; on any mismatch or error the decoder
falls back (library vision, eager prefill, eager decode) and says why in ``mode``. Greedy decoding
gives the plain path's tokens (checked by tests on CPU, and by ``bench gpu-check`` on a GPU).
Sampling draws from the same distribution with a different random stream. Unconstrained requests go
to the plain path.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from model.actions.grammar import ALLOWED, YAW_IDS, complete
from model.actions.tokens import BEGIN_ID, ID_TO_GROUP_VALUE
from model.prompts import Message
from model.vla import VLA, Generation, Sampling

LOG = logging.getLogger(__name__)
MAX_ACTION_TOKENS = 10  # ≤ 8 button groups + pitch + yaw, as the plain path's max_new_tokens
CACHE_STEP = 256  # cache lengths are rounded up to this, so small prompt changes reuse the cache
MAX_LAYOUTS = 8  # token layouts remembered (each may hold a captured prefill graph)
VISION_START_ID = 151652


def _language_model(model: Any) -> Any:
    """The decoder stack (``Qwen2VLTextModel``), through a PEFT wrapper if there is one."""
    for candidate in (model, getattr(model, "base_model", None)):
        for path in ("model.language_model", "model.model.language_model", "language_model"):
            found = candidate
            for part in path.split("."):
                found = getattr(found, part, None)
            if found is not None:
                return found
    raise TypeError(f"{type(model).__name__}: no language_model found for the fast decoder")


def _inner(model: Any) -> Any:
    """The ``Qwen2VLModel`` (``visual``, ``get_rope_index``), through a PEFT wrapper if there is one."""
    for candidate in (
        model,
        getattr(model, "base_model", None),
        getattr(getattr(model, "base_model", None), "model", None),
    ):
        inner = getattr(candidate, "model", None)
        if inner is not None and hasattr(inner, "get_rope_index"):
            return inner
    return getattr(model, "model", model)


@dataclass(frozen=True)
class _PixelSpec:
    """The image processor's arithmetic, read from its settings (``None``: a step it skips)."""

    scale: float | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    patch: int
    merge: int
    temporal: int

    @classmethod
    def of(cls, processor: Any) -> _PixelSpec | None:
        """The spec of a Qwen2-VL image processor, or ``None`` for one this module does not mirror."""
        try:
            rescale = bool(processor.do_rescale)
            normalize = bool(processor.do_normalize)
            return cls(
                scale=float(processor.rescale_factor) if rescale else None,
                mean=tuple(float(x) for x in processor.image_mean) if normalize else None,
                std=tuple(float(x) for x in processor.image_std) if normalize else None,
                patch=int(processor.patch_size),
                merge=int(processor.merge_size),
                temporal=int(processor.temporal_patch_size),
            )
        except (AttributeError, TypeError, ValueError):
            return None

    def constants(self, device: Any) -> tuple[Any, Any] | None:
        """(mean, std) as float32 device tensors, made outside any CUDA graph capture (an upload)."""
        import torch

        if self.mean is None or self.std is None:
            return None
        return tuple(torch.tensor(v, dtype=torch.float32, device=device) for v in (self.mean, self.std))

    def patches(self, frames: list[Any], constants: tuple[Any, Any] | None) -> Any:
        """Pixel values from (height, width, 3) uint8 tensors, as the processor computes them.

        The same operations in the same precisions as ``transformers``' numpy code: ``x.astype(float64)
        * scale`` cast to float32, then ``(x - mean) / std`` in float32 with tensor operands (a scalar
        divisor may be turned into a reciprocal multiply on CUDA). Each is correctly rounded on any
        device, hence bit-identical."""
        import torch

        out = []
        for frame in frames:
            x = frame.to(torch.float64)
            x = (x * self.scale).to(torch.float32) if self.scale is not None else x.to(torch.float32)
            if constants is not None:
                mean, std = constants
                x = (x - mean) / std
            height, width, channels = x.shape
            p, m = self.patch, self.merge
            gh, gw = height // p, width // p
            x = x.permute(2, 0, 1).reshape(channels, gh // m, m, p, gw // m, m, p)
            x = x.permute(1, 4, 2, 5, 0, 3, 6).unsqueeze(5)
            x = x.expand(*x.shape[:5], self.temporal, p, p)
            out.append(x.reshape(gh * gw, channels * self.temporal * p * p))
        return torch.cat(out, dim=0)


def _frame_bytes(image: Any) -> Any:
    """An RGB PIL image's (height, width, 3) uint8 array, or ``None`` for anything else."""
    import numpy as np

    if getattr(image, "mode", None) != "RGB":
        return None
    return np.asarray(image)


@dataclass
class _Layout:
    """What a prompt's token layout fixes, computed once: ids, rope positions, image slots."""

    ids: Any  # (1, n) long, host
    grids: tuple[tuple[int, int, int], ...]
    positions: Any  # (3, 1, n) long, host
    delta: int  # rope position minus cache index for every later token
    prefix: tuple[int, ...]  # the ids before the first image: their keys/values do not change
    sizes: tuple[tuple[int, int], ...] = ()  # (height, width) of each image
    device_pixels: bool = False  # the pixel values are made on the device from the frames' bytes
    seen: int = 0
    device: dict[str, Any] = field(default_factory=dict)  # device copies, the prefill graph
    graph_error: str | None = None

    @property
    def length(self) -> int:
        return int(self.ids.shape[1])


class FastVLA:
    """A ``VLA`` stand-in for ``LocalPolicy``: same ``generate``, ``lock``, ``tokenizer``, ``name``."""

    def __init__(
        self,
        vla: VLA,
        cuda_graph: bool | None = None,
        prefix_reuse: bool = True,
        device_pixels: bool | None = None,
    ) -> None:
        import torch

        self.vla = vla
        self.lock = vla.lock
        self.processor = vla.processor
        self.tokenizer = vla.tokenizer
        self.name = vla.name + " (fast)"
        self.device = vla.device
        self.use_graph = (self.device.type == "cuda") if cuda_graph is None else cuda_graph
        self.prefix_reuse = prefix_reuse
        self.notes: list[str] = []  # fallbacks taken, for the benchmark's report
        self.stats = {"prefix_computed": 0, "prefix_reused": 0, "prefill_graph_replays": 0}
        self._cache: Any = None
        self._cache_len = 0
        self._graph: Any = None
        self._static: dict[str, Any] = {}
        self._layouts: OrderedDict[tuple[Any, ...], _Layout] = OrderedDict()
        self._prefix_key: tuple[int, ...] | None = None  # whose keys/values fill cache slots [0, len)
        self._vision_rope: dict[tuple[Any, ...], Any] = {}  # grids -> (cos, sin)
        self._own_vision: bool | None = None  # None: not yet checked against the library's
        self._pixel_spec = _PixelSpec.of(self.processor.image_processor)
        # on a CPU the processor's numpy is as fast as torch's float64 there: device pixels pay on a GPU
        self.device_pixels = (self.device.type == "cuda") if device_pixels is None else device_pixels
        self._model = vla.model
        vocab = vla.model.get_output_embeddings().weight.shape[0]
        rows = {state: state + 1 for state in ALLOWED}  # START=-1 -> 0, group g -> g + 1
        masks = torch.full((max(rows.values()) + 1, vocab), float("-inf"))
        for state, allowed in ALLOWED.items():
            masks[rows[state], list(allowed)] = 0.0
        self._masks = masks.to(self.device)
        self._yaw = set(YAW_IDS)

    # ----- the same interface as VLA --------------------------------------------------------------
    @property
    def model(self) -> Any:
        return self.vla.model

    @property
    def adapter(self) -> str | None:
        return self.vla.adapter

    def load_adapter(self, adapter: str) -> None:
        """Hot swap (``model.adapters``): the next generate sees new weights and drops its graphs."""
        self.vla.load_adapter(adapter)

    def unload_adapter(self) -> None:
        self.vla.unload_adapter()

    def generate(
        self,
        messages: list[Message],
        images: list[Any],
        sampling: Sampling,
        constrained: bool = True,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generation:
        """As ``VLA.generate``; ``should_stop`` is polled before each decode step (an action is at most
        ten short steps, so a stop ends it with what was decoded so far)."""
        if not constrained or not images:
            return self.vla.generate(
                messages, images, sampling, constrained=constrained, should_stop=should_stop
            )
        import torch

        if self.vla.model is not self._model:  # an adapter was attached or removed: new weights
            self._forget()
        t0 = time.perf_counter()
        layout, pixels = self._prepare(messages, images)
        t1 = time.perf_counter()
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        with torch.inference_mode():
            new, prefill_ms = self._decode(layout, pixels, sampling.temperature, should_stop)
        t2 = time.perf_counter()
        ids = complete(new) if new and new[-1] in self._yaw else [BEGIN_ID, *new]
        text = self.tokenizer.decode(ids, skip_special_tokens=False)
        timings = {
            "prepare_ms": (t1 - t0) * 1e3,
            "generate_ms": (t2 - t1) * 1e3,
            "prefill_ms": prefill_ms,
            "new_tokens": float(len(new)),
        }
        return Generation(ids=ids, text=text, timings_ms=timings)

    # ----- host side: the layout, the pixels ------------------------------------------------------
    def _prepare(self, messages: list[Message], images: list[Any]) -> tuple[_Layout, Any]:
        """The cached layout for this prompt and this tick's pixel values (host tensors)."""
        key = (self.vla.render(messages), tuple(getattr(image, "size", None) for image in images))
        layout = self._layouts.get(key)
        if layout is None:
            batch = self.vla.inputs(messages, images, force_begin=True, on_device=False)
            layout = self._new_layout(batch)
            layout.sizes = tuple((int(image.height), int(image.width)) for image in images)
            layout.device_pixels = self._check_device_pixels(images, batch["pixel_values"])
            self._layouts[key] = layout
            while len(self._layouts) > MAX_LAYOUTS:
                self._layouts.popitem(last=False)
            pixels = batch["pixel_values"]
        else:
            self._layouts.move_to_end(key)
            frames = [_frame_bytes(image) for image in images] if layout.device_pixels else [None]
            if all(frame is not None for frame in frames):
                pixels = frames  # the device turns them into pixel values, inside the prefill
            else:
                pixels = self.processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
        layout.seen += 1
        return layout, pixels

    def _check_device_pixels(self, images: list[Any], expected: Any) -> bool:
        """Whether the device-side processing gives the stock processor's pixel values, bit for bit."""
        import torch

        if not self.device_pixels or self._pixel_spec is None:
            return False
        frames = [_frame_bytes(image) for image in images]
        if any(frame is None for frame in frames):
            return False
        try:
            with torch.inference_mode():
                frames_on_device = [torch.from_numpy(f.copy()).to(self.device) for f in frames]
                got = self._pixel_spec.patches(frames_on_device, self._pixel_spec.constants(self.device))
            if got.cpu().equal(expected):
                return True
            problem = "they differ"
        except Exception as exc:  # an unexpected processor: keep using it
            problem = f"{type(exc).__name__}: {exc}"
        self._note(f"image processor on the host (device pixel values: {problem})")
        return False

    def _new_layout(self, batch: Any) -> _Layout:
        ids = batch["input_ids"]
        grids = batch["image_grid_thw"]
        from model.actions.tokens import IMAGE_PAD_ID

        types = batch.get("mm_token_type_ids")
        positions, deltas = _inner(self.vla.model).get_rope_index(
            input_ids=ids,
            mm_token_type_ids=types if types is not None else (ids == IMAGE_PAD_ID).int(),
            image_grid_thw=grids,
            attention_mask=batch.get("attention_mask"),
        )
        id_list = ids[0].tolist()
        first_image = id_list.index(VISION_START_ID) if VISION_START_ID in id_list else 0
        return _Layout(
            ids=ids,
            grids=tuple(tuple(int(x) for x in row) for row in grids.tolist()),
            positions=positions.to("cpu"),
            delta=int(deltas.reshape(-1)[0]),
            prefix=tuple(id_list[:first_image]) if self.prefix_reuse else (),
        )

    # ----- decoding -------------------------------------------------------------------------------
    def _decode(
        self, layout: _Layout, pixels: Any, temperature: float, should_stop: Callable[[], bool] | None = None
    ) -> tuple[list[int], float]:
        import torch

        t0 = time.perf_counter()
        length = layout.length
        self._ensure_cache(length + MAX_ACTION_TOKENS + 1)
        scores = self._prefill(layout, pixels)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        prefill_ms = (time.perf_counter() - t0) * 1e3
        state, new = -1, []
        for step in range(MAX_ACTION_TOKENS):
            if step:
                scores = scores.float() + self._masks[state + 1]
            if temperature > 0:
                token = torch.multinomial(torch.softmax(scores / temperature, dim=-1), 1)
            else:
                token = scores.argmax(dim=-1, keepdim=True)
            chosen = int(token)  # the one host sync per token: the grammar and the stop need the id
            new.append(chosen)
            if chosen in self._yaw:
                break
            state = ID_TO_GROUP_VALUE[chosen][0]
            if should_stop is not None and should_stop():
                break
            scores = self._step(token.view(1, 1), length + step, layout.delta)
        return new, prefill_ms

    def _ensure_cache(self, needed: int) -> None:
        from transformers import StaticCache

        if self._cache is not None and self._cache_len >= needed:
            return
        self._cache_len = -(-needed // CACHE_STEP) * CACHE_STEP
        self._cache = StaticCache(config=self.vla.model.config, max_cache_len=self._cache_len)
        self._graph = None  # bound to the old cache's tensors
        self._static = {}
        self._prefix_key = None
        for layout in self._layouts.values():
            layout.device.clear()

    def _forget(self) -> None:
        """Drop everything bound to the old weights: graphs, cached keys/values, layouts."""
        self._model = self.vla.model
        self._cache, self._cache_len, self._graph, self._static = None, 0, None, {}
        self._layouts.clear()
        self._prefix_key = None

    def _set_cache_length(self, length: int) -> None:
        """Where the next forward writes: the static cache layers append at their own counter."""
        for layer in self._cache.layers:
            if getattr(layer, "is_initialized", False):
                layer.cumulative_length.fill_(length)
            else:
                layer.cumulative_length = layer.cumulative_length.new_tensor(length)

    @property
    def _cache_kw(self) -> str:
        """transformers renamed ``past_key_values`` to ``cache`` (5.2x); use what this version takes."""
        names = inspect.signature(_language_model(self.vla.model).forward).parameters
        return "cache" if "cache" in names else "past_key_values"

    # ----- prefill: prefix, vision, the rest ------------------------------------------------------
    def _prefill(self, layout: _Layout, pixels: Any) -> Any:
        """Grammar-masked scores of the first answer token; the cache holds the whole prompt after it."""
        start = len(layout.prefix)
        if start and self._prefix_key != layout.prefix:
            self._run_prefix(layout)
        elif start:
            self.stats["prefix_reused"] += 1
        dev = self._device_state(layout)
        self._set_cache_length(start)
        if not isinstance(pixels, list):  # the host processor's pixel values: this tick runs eagerly
            dev["pixels"].copy_(pixels)
            if layout.device_pixels:
                return self._prefill_body(layout, dev, from_frames=False)
        else:
            for host, frame, buffer in zip(dev["staging"], pixels, dev["frames"], strict=True):
                host.numpy()[...] = frame
                buffer.copy_(host, non_blocking=True)
        if "graph" in dev:
            dev["graph"].replay()
            self.stats["prefill_graph_replays"] += 1
            return dev["scores"]
        if self.use_graph and layout.seen >= 2 and layout.graph_error is None and self._own_vision:
            return self._capture_prefill(layout, dev, start)
        return self._prefill_body(layout, dev)

    def _run_prefix(self, layout: _Layout) -> None:
        import torch

        start = len(layout.prefix)
        model = self.vla.model
        ids = layout.ids[:, :start].to(self.device)
        kv = torch.arange(self._cache_len, device=self.device)
        mask = (kv[None, :] <= torch.arange(start, device=self.device)[:, None]).view(1, 1, start, -1)
        self._set_cache_length(0)
        _language_model(model)(
            inputs_embeds=model.get_input_embeddings()(ids),
            position_ids=layout.positions[:, :, :start].to(self.device),
            attention_mask={"full_attention": mask, "sliding_attention": mask},
            use_cache=True,
            **{self._cache_kw: self._cache},
        )
        self._prefix_key = layout.prefix
        self.stats["prefix_computed"] += 1

    def _device_state(self, layout: _Layout) -> dict[str, Any]:
        """The layout's fixed tensors on the device (ids, positions, mask, image slots), made once."""
        import torch

        from model.actions.tokens import IMAGE_PAD_ID

        dev = layout.device
        if dev:
            return dev
        start, n = len(layout.prefix), layout.length
        device = self.device
        ids = layout.ids[:, start:]
        kv = torch.arange(self._cache_len, device=device)
        rows = torch.arange(start, n, device=device)
        mask = (kv[None, :] <= rows[:, None]).view(1, 1, n - start, -1)
        grid = torch.tensor(layout.grids, dtype=torch.long)
        config = _inner(self.vla.model).visual.config
        width = config.in_channels * config.temporal_patch_size * config.patch_size**2
        patches = sum(t * h * w for t, h, w in layout.grids)
        dev.update(
            ids=ids.to(device),
            positions=layout.positions[:, :, start:].to(device),
            mask=mask,
            slots=(ids[0] == IMAGE_PAD_ID).nonzero().view(-1).to(device),
            grid=grid.to(device),
            pixels=torch.empty((patches, width), dtype=torch.float32, device=device),
        )
        if layout.device_pixels:
            pinned = device.type == "cuda"  # an asynchronous upload needs page-locked host memory
            sizes = layout.sizes
            dev["frames"] = [torch.empty((h, w, 3), dtype=torch.uint8, device=device) for h, w in sizes]
            assert self._pixel_spec is not None
            dev["constants"] = self._pixel_spec.constants(device)
            dev["staging"] = [
                torch.empty((h, w, 3), dtype=torch.uint8, pin_memory=pinned) for h, w in layout.sizes
            ]
        return dev

    def _prefill_body(self, layout: _Layout, dev: dict[str, Any], from_frames: bool = True) -> Any:
        """Pixel values (from the frames' bytes), vision tower, image features into the text embeddings,
        the language model, the head."""
        model = self.vla.model
        if from_frames and layout.device_pixels:
            assert self._pixel_spec is not None
            dev["pixels"].copy_(self._pixel_spec.patches(dev["frames"], dev["constants"]))
        image = self._vision(dev, layout)
        embeds = model.get_input_embeddings()(dev["ids"])
        embeds = embeds.index_copy(1, dev["slots"], image.to(embeds.dtype).unsqueeze(0))
        out = _language_model(model)(
            inputs_embeds=embeds,
            position_ids=dev["positions"],
            attention_mask={"full_attention": dev["mask"], "sliding_attention": dev["mask"]},
            use_cache=True,
            **{self._cache_kw: self._cache},
        )
        logits = model.get_output_embeddings()(out.last_hidden_state[:, -1])
        return logits.float() + self._masks[0]

    def _vision(self, dev: dict[str, Any], layout: _Layout) -> Any:
        visual = _inner(self.vla.model).visual
        if self._own_vision is None:
            self._check_own_vision(dev, layout)
        if not self._own_vision:
            out = visual(dev["pixels"], grid_thw=dev["grid"])
            return getattr(out, "pooler_output", out)
        return self._own_vision_forward(dev, layout)

    def _rope_for(self, dev: dict[str, Any], layout: _Layout) -> Any:
        """The vision tower's rotary (cos, sin) for these image sizes, as the library computes them."""
        found = self._vision_rope.get(layout.grids)
        if found is not None:
            return found
        visual = _inner(self.vla.model).visual
        seen: dict[str, Any] = {}

        def grab(module: Any, args: Any, kwargs: Any) -> None:
            seen.setdefault("rope", kwargs.get("position_embeddings"))

        handle = visual.blocks[0].register_forward_pre_hook(grab, with_kwargs=True)
        try:
            out = visual(dev["pixels"], grid_thw=dev["grid"])
        finally:
            handle.remove()
        if seen.get("rope") is None:
            raise TypeError("the vision blocks take no position_embeddings in this transformers version")
        self._vision_rope[layout.grids] = seen["rope"]
        dev["library_vision"] = getattr(out, "pooler_output", out)
        return seen["rope"]

    def _check_own_vision(self, dev: dict[str, Any], layout: _Layout) -> None:
        """The decomposed vision tower must give the library's image features (first image only)."""
        import torch

        try:
            self._rope_for(dev, layout)
            expected = dev.pop("library_vision")
            got = self._own_vision_forward(dev, layout)
            scale = float(expected.float().abs().max()) or 1.0
            if got.shape != expected.shape or not torch.allclose(
                got.float(), expected.float(), atol=2e-2 * scale, rtol=2e-2
            ):
                raise RuntimeError("image features differ from the library's vision tower")
            self._own_vision = True
        except Exception as exc:
            self._own_vision = False
            self._note(f"library vision tower, eager prefill ({type(exc).__name__}: {exc})")

    def _own_vision_forward(self, dev: dict[str, Any], layout: _Layout) -> Any:
        """Qwen2-VL's vision tower with each image's attention span fixed on the host (no sync)."""
        import torch
        from torch.nn import functional as F
        from transformers.models.qwen2_vl.modeling_qwen2_vl import apply_rotary_pos_emb_vision

        visual = _inner(self.vla.model).visual
        cos, sin = self._rope_for(dev, layout)
        spans, at = [], 0
        for t, h, w in layout.grids:
            for _ in range(t):
                spans.append((at, at + h * w))
                at += h * w
        hidden = visual.patch_embed(dev["pixels"])
        n = hidden.shape[0]
        for block in visual.blocks:
            attn = block.attn
            q, k, v = (
                attn.qkv(block.norm1(hidden)).reshape(n, 3, attn.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
            )
            q, k = apply_rotary_pos_emb_vision(q, k, cos, sin)
            q, k, v = (x.transpose(0, 1).unsqueeze(0) for x in (q, k, v))
            parts = [
                F.scaled_dot_product_attention(
                    q[:, :, a:b],
                    k[:, :, a:b],
                    v[:, :, a:b],
                    dropout_p=0.0,
                    scale=attn.scaling,
                    is_causal=False,
                ).transpose(1, 2)
                for a, b in spans
            ]
            out = torch.cat(parts, dim=1).reshape(n, -1)
            hidden = hidden + attn.proj(out)
            hidden = hidden + block.mlp(block.norm2(hidden))
        return visual.merger(hidden)

    def _capture_prefill(self, layout: _Layout, dev: dict[str, Any], start: int) -> Any:
        """Eager prefill (this tick's answer), then capture it; the first replay must agree."""
        import torch

        eager = self._prefill_body(layout, dev).clone()
        try:
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):  # warm-up off the default stream, as CUDA graphs require
                self._set_cache_length(start)
                self._prefill_body(layout, dev)
            torch.cuda.current_stream().wait_stream(stream)
            self._set_cache_length(start)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                dev["scores"] = self._prefill_body(layout, dev)
            self._set_cache_length(start)
            graph.replay()
            _agree(dev["scores"], eager, "prefill")
        except Exception as exc:
            layout.graph_error = f"{type(exc).__name__}: {exc}"[:200]
            dev.pop("scores", None)
            self._note(f"eager prefill ({layout.graph_error})")
            self._set_cache_length(start)
            return self._prefill_body(layout, dev)
        dev["graph"] = graph
        return dev["scores"]

    # ----- one decode step ------------------------------------------------------------------------
    def _step(self, token: Any, position: int, delta: int) -> Any:
        """Masked scores after feeding ``token`` at cache index ``position`` (rope position + ``delta``)."""
        import torch

        if not self._static:
            device = self.device
            self._static = {
                "token": torch.zeros((1, 1), dtype=torch.long, device=device),
                "rope": torch.zeros((3, 1, 1), dtype=torch.long, device=device),
                "index": torch.zeros((), dtype=torch.long, device=device),
                "kv": torch.arange(self._cache_len, device=device),
                "cache_kw": self._cache_kw,
            }
        s = self._static
        s["token"].copy_(token)
        s["rope"].fill_(position + delta)
        s["index"].fill_(position)
        if not self.use_graph:
            return self._forward()
        if self._graph is None:
            return self._capture(position)
        self._graph.replay()
        return s["logits"]

    def _forward(self) -> Any:
        s = self._static
        model = self.vla.model
        mask = (s["kv"] <= s["index"]).view(1, 1, 1, -1)
        out = _language_model(model)(
            inputs_embeds=model.get_input_embeddings()(s["token"]),
            position_ids=s["rope"],
            attention_mask={"full_attention": mask, "sliding_attention": mask},
            use_cache=True,
            **{s["cache_kw"]: self._cache},
        )
        return model.get_output_embeddings()(out.last_hidden_state[:, -1])

    def _capture(self, position: int) -> Any:
        """Eager step (the answer for this token), then capture; the first replay must agree with it."""
        import torch

        eager = self._forward().clone()
        try:
            self._set_cache_length(position)  # capture records, the replay below redoes this token's write
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):  # warm-up off the default stream, as CUDA graphs require
                self._forward()
                self._set_cache_length(position)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._static["logits"] = self._forward()
            self._set_cache_length(position)
            graph.replay()
            _agree(self._static["logits"], eager, "decode step")
        except Exception as exc:
            self.use_graph = False
            self._note(f"eager decode (CUDA graph off: {type(exc).__name__}: {exc})")
            self._set_cache_length(position + 1)
            return eager
        self._graph = graph
        return self._static["logits"]

    def _note(self, what: str) -> None:
        LOG.warning("fast decoder: %s", what)
        self.notes.append(what[:300])

    @property
    def mode(self) -> str:
        """What this decoder does now, fallbacks included (the benchmark reports it)."""
        graphs = any("graph" in layout.device for layout in self._layouts.values())
        parts = [
            "static cache",
            "CUDA graph prefill" if graphs else "eager prefill",
            "CUDA graph decode" if self._graph is not None else "eager decode",
        ]
        if self.prefix_reuse:
            parts.append("prompt head reused")
        if any(layout.device_pixels for layout in self._layouts.values()):
            parts.append("pixel values on the device")
        if self._own_vision is False:
            parts.append("library vision tower")
        if not self.use_graph and self.device.type != "cuda":
            parts.append("no CUDA")
        text = ", ".join(parts)
        return text + (f" ({'; '.join(dict.fromkeys(self.notes))})" if self.notes else "")


def _agree(replayed: Any, eager: Any, what: str) -> None:
    """A replay agrees with eager when it differs by no more than rounding: a few units in the last
    place of the logits' own dtype at their magnitude (in bf16 a graph's kernels may round a logit of
    8 to its neighbour 0.0625 away), and it picks the same token wherever eager's choice is clear by
    more than that. A tie within rounding is no evidence against the graph."""
    import torch

    finite = torch.isfinite(eager) & torch.isfinite(replayed)
    diff = (replayed.float() - eager.float()).abs().where(finite, torch.zeros((), device=eager.device))
    scale = eager.float().abs().where(finite, torch.zeros((), device=eager.device)).max()
    tol = max(1e-2, 4 * torch.finfo(eager.dtype).eps * float(scale)) if eager.is_floating_point() else 0.0
    top2 = eager.float().where(finite, torch.full((), -1e30, device=eager.device)).topk(2, dim=-1).values
    clear = (top2[..., 0] - top2[..., 1]) > 2 * tol
    same = replayed.argmax(-1) == eager.argmax(-1)
    if float(diff.max()) > tol or bool((clear & ~same).any()):
        raise RuntimeError(
            f"replayed {what} differs from eager by {float(diff.max()):.3g} (tolerance {tol:.3g})"
        )
