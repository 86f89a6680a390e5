"""``FastVLA``: ``VLA.generate``'s constrained action tokens, with the per-tick overhead taken out.

The pieces are in this package (``model.fast``'s docstring has the overview); this module runs a tick:
the layout and the pixels on the host side, then the prefill (prompt head, vision tower, the rest of
the prompt, the first token's choice) and one decode step per further token, each replayed as a CUDA
graph once captured and checked, or run eagerly (the graph-free equivalent, what a CPU runs).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from model.actions.grammar import YAW_IDS, complete
from model.actions.tokens import BEGIN_ID, IMAGE_PAD_ID
from model.fast.cache import KVCache
from model.fast.grammar import MAX_ACTION_TOKENS, DeviceGrammar, action_logits, choose
from model.fast.graphs import agree, capture
from model.fast.layout import Layout, build_layout
from model.fast.parts import cache_keyword, inner, language_model
from model.fast.pixels import PixelSpec, frame_bytes
from model.fast.resize import BicubicResize
from model.fast.vision import VisionTower
from model.image import SourceFrame, pil_image, prepare_frame
from model.prompts import Message
from model.vla import VLA, Generation, Sampling

LOG = logging.getLogger(__name__)
MAX_LAYOUTS = 8  # token layouts remembered (each may hold a captured prefill graph)
DECODE_STATE = ("token", "index", "rope", "step")  # what a decode step advances


class FastVLA:
    """A ``VLA`` stand-in for ``LocalPolicy``: same ``generate``, ``prepare``, ``lock``, ``tokenizer``,
    ``name``."""

    def __init__(
        self,
        vla: VLA,
        cuda_graph: bool | None = None,
        prefix_reuse: bool = True,
        device_pixels: bool | None = None,
        device_resize: bool | None = None,
    ) -> None:
        self.vla = vla
        self.lock = vla.lock
        self.processor = vla.processor
        self.tokenizer = vla.tokenizer
        self.name = vla.name + " (fast)"
        self.device = vla.device
        on_gpu = self.device.type == "cuda"
        self.use_graph = on_gpu if cuda_graph is None else cuda_graph
        self.prefix_reuse = prefix_reuse
        # on a CPU numpy and PIL are as fast as torch there: the device work pays on a GPU
        self.device_pixels = on_gpu if device_pixels is None else device_pixels
        self.device_resize = self.device_pixels if device_resize is None else device_resize
        self.notes: list[str] = []  # fallbacks taken, for the benchmark's report
        self.stats = {"prefix_computed": 0, "prefix_reused": 0, "prefill_graph_replays": 0}
        self.grammar = DeviceGrammar(self.device)
        self.vision = VisionTower(self._note)
        self.kv = KVCache(vla.model.config)
        self._pixel_spec = PixelSpec.of(self.processor.image_processor)
        self._layouts: OrderedDict[tuple[Any, ...], Layout] = OrderedDict()
        self._forget()

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

    def prepare(self, frame: Any) -> Any:
        """The frame as captured when this engine resizes on the device, else PIL's resize."""
        return (
            SourceFrame(frame) if self.device_resize and SourceFrame.accepts(frame) else prepare_frame(frame)
        )

    def force_groups(self, groups: int | None) -> None:
        """Every action with exactly ``groups`` button groups (benchmarks: a fixed decode length)."""
        self.grammar.force(groups)

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
            pil = [pil_image(image) for image in images]
            return self.vla.generate(
                messages, pil, sampling, constrained=constrained, should_stop=should_stop
            )
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
        ids = complete(new) if new and new[-1] in YAW_IDS else [BEGIN_ID, *new]
        text = self.tokenizer.decode(ids, skip_special_tokens=False)
        timings = {
            "prepare_ms": (t1 - t0) * 1e3,
            "generate_ms": (t2 - t1) * 1e3,
            "prefill_ms": prefill_ms,
            "new_tokens": float(len(new)),
        }
        return Generation(ids=ids, text=text, timings_ms=timings)

    # ----- host side: the layout, the pixels ------------------------------------------------------
    def _prepare(self, messages: list[Message], images: list[Any]) -> tuple[Layout, Any]:
        """The cached layout for this prompt, and this tick's pixels: host pixel values (a tensor) or
        a list of frames' bytes for the device (captured frames, or resized ones)."""
        sizes = tuple(
            (image.pixels.shape if isinstance(image, SourceFrame) else None, image.size) for image in images
        )
        key = (self.vla.render(messages), sizes)
        layout = self._layouts.get(key)
        if layout is None:
            pil = [pil_image(image) for image in images]
            batch = self.vla.inputs(messages, pil, force_begin=True, on_device=False)
            layout = build_layout(self.vla.model, batch, self.prefix_reuse)
            layout.sizes = tuple((int(image.height), int(image.width)) for image in pil)
            layout.pixels_on_device = self._check_device_pixels(pil, batch["pixel_values"])
            if layout.pixels_on_device:
                layout.resizers = self._check_device_resize(images, pil)
            self._layouts[key] = layout
            while len(self._layouts) > MAX_LAYOUTS:
                self._layouts.popitem(last=False)
            pixels = batch["pixel_values"]
        else:
            self._layouts.move_to_end(key)
            pixels = self._tick_pixels(layout, images)
        layout.seen += 1
        return layout, pixels

    def _tick_pixels(self, layout: Layout, images: list[Any]) -> Any:
        if layout.resize_on_device:
            return [image.pixels for image in images]  # the device resizes them, inside the prefill
        if layout.pixels_on_device:
            frames = [frame_bytes(pil_image(image)) for image in images]
            if all(frame is not None for frame in frames):
                return frames
        pil = [pil_image(image) for image in images]
        return self.processor.image_processor(images=pil, return_tensors="pt")["pixel_values"]

    def _check_device_pixels(self, images: list[Any], expected: torch.Tensor) -> bool:
        """Whether the device-side processing gives the stock processor's pixel values, bit for bit."""
        if not self.device_pixels or self._pixel_spec is None:
            return False
        frames = [frame_bytes(image) for image in images]
        if any(frame is None for frame in frames):
            return False
        try:
            with torch.inference_mode():
                on_device = [torch.from_numpy(f.copy()).to(self.device) for f in frames]  # type: ignore[union-attr]
                got = self._pixel_spec.patches(on_device, self._pixel_spec.constants(self.device))
            if got.cpu().equal(expected):
                return True
            problem = "they differ"
        except Exception as exc:  # an unexpected processor: keep using it
            problem = f"{type(exc).__name__}: {exc}"
        self._note(f"image processor on the host (device pixel values: {problem})")
        return False

    def _check_device_resize(self, images: list[Any], resized: list[Any]) -> tuple[BicubicResize, ...]:
        """Resizers for these frames when the device gives PIL's resized bytes exactly, else ()."""
        if not self.device_resize or not all(isinstance(image, SourceFrame) for image in images):
            return ()
        try:
            resizers = []
            with torch.inference_mode():
                for image, pil in zip(images, resized, strict=True):
                    resize = BicubicResize(image.pixels.shape[:2], (pil.height, pil.width), self.device)
                    got = resize(torch.from_numpy(image.pixels.copy()).to(self.device)).cpu().numpy()
                    if not np.array_equal(got, np.asarray(pil)):
                        diff = int(np.abs(got.astype(np.int16) - np.asarray(pil)).max())
                        raise ValueError(f"it differs from PIL's by up to {diff}")
                    resizers.append(resize)
            return tuple(resizers)
        except Exception as exc:
            self._note(f"frames resized on the host (device resize: {type(exc).__name__}: {exc})")
            return ()

    # ----- decoding -------------------------------------------------------------------------------
    def _decode(
        self, layout: Layout, pixels: Any, temperature: float, should_stop: Callable[[], bool] | None = None
    ) -> tuple[list[int], float]:
        t0 = time.perf_counter()
        if self.kv.ensure(layout.length + MAX_ACTION_TOKENS + 1):
            self._drop_bound_state()
        self._sampling(temperature)
        self._prefill(layout, pixels)  # chooses the first token too, on the device
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        prefill_ms = (time.perf_counter() - t0) * 1e3
        new: list[int] = []
        token = self._static["token"]
        while True:
            chosen = int(token)  # the one host sync per token: the stop after yaw needs the id
            new.append(chosen)
            if chosen in YAW_IDS or len(new) == MAX_ACTION_TOKENS:
                break
            if should_stop is not None and should_stop():
                break
            self._decode_step()
        return new, prefill_ms

    def _sampling(self, temperature: float) -> None:
        """Set the choice's temperature on the device, only when it changes (a launch otherwise)."""
        if self._temperature == temperature:
            return
        s = self._static
        s["inverse_temperature"].fill_(1.0 / temperature if temperature > 0 else 1.0)
        s["noise"].fill_(1.0 if temperature > 0 else 0.0)
        self._temperature = temperature

    def _forget(self) -> None:
        """Drop everything bound to the old weights: graphs, cached keys/values, layouts."""
        self._model = self.vla.model
        self._cache_kw = cache_keyword(self.vla.model)
        self._dtype = self.vla.model.get_input_embeddings().weight.dtype
        self.kv.drop()
        self._layouts.clear()
        self._drop_bound_state()

    def _drop_bound_state(self) -> None:
        """What points at the cache's tensors: the decode graph, its inputs, the prompt head, the
        layouts' device copies and prefill graphs."""
        self._graph: Any = None
        self._prefix_key: tuple[int, ...] | None = None  # whose keys/values fill cache slots [0, len)
        self._temperature: float | None = None
        for layout in self._layouts.values():
            layout.device.clear()
        device = self.device
        self._static: dict[str, Any] = {
            "token": torch.zeros((1, 1), dtype=torch.long, device=device),
            "index": torch.zeros((), dtype=torch.long, device=device),  # the cache slot it writes
            "rope": torch.zeros((3, 1, 1), dtype=torch.long, device=device),
            "step": torch.zeros((), dtype=torch.long, device=device),  # decode steps since the prefill
            "inverse_temperature": torch.ones((), device=device),
            "noise": torch.zeros((), device=device),
            "slots": self.kv.slots(device),
        }

    def _forward(self, embeds: Any, positions: Any, mask: Any) -> Any:
        return language_model(self.vla.model)(
            inputs_embeds=embeds,
            position_ids=positions,
            attention_mask={"full_attention": mask, "sliding_attention": mask},
            use_cache=True,
            **{self._cache_kw: self.kv.cache},
        )

    # ----- prefill: prefix, vision, the rest ------------------------------------------------------
    def _prefill(self, layout: Layout, pixels: Any) -> Any:
        """Grammar-masked scores of the first answer token, whose choice is in the static token; the
        cache holds the whole prompt after it."""
        start = len(layout.prefix)
        if start and self._prefix_key != layout.prefix:
            self._run_prefix(layout)
        elif start:
            self.stats["prefix_reused"] += 1
        dev = self._device_state(layout)
        if not isinstance(pixels, list):  # the host processor's pixel values: this tick runs eagerly
            dev["pixels"].copy_(pixels)
            if layout.pixels_on_device:
                return self._prefill_body(layout, dev, from_frames=False)
        else:
            for host, frame, buffer in zip(dev["staging"], pixels, dev["frames"], strict=True):
                host.numpy()[...] = frame
                buffer.copy_(host, non_blocking=True)
        if "graph" in dev:
            dev["graph"].replay()
            self.stats["prefill_graph_replays"] += 1
            return dev["scores"]
        if self.use_graph and layout.seen >= 2 and layout.graph_error is None and self.vision.own:
            return self._capture_prefill(layout, dev)
        return self._prefill_body(layout, dev)

    def _run_prefix(self, layout: Layout) -> None:
        start = len(layout.prefix)
        model = self.vla.model
        ids = layout.ids[:, :start].to(self.device)
        slots = self._static["slots"]
        mask = (slots[None, :] <= torch.arange(start, device=self.device)[:, None]).view(1, 1, start, -1)
        self.kv.set_length(0)
        self._forward(model.get_input_embeddings()(ids), layout.positions[:, :, :start].to(self.device), mask)
        self._prefix_key = layout.prefix
        self.stats["prefix_computed"] += 1

    def _device_state(self, layout: Layout) -> dict[str, Any]:
        """The layout's fixed tensors on the device (ids, positions, mask, image slots), made once."""
        dev = layout.device
        if dev:
            return dev
        start, n = len(layout.prefix), layout.length
        device = self.device
        ids = layout.ids[:, start:]
        rows = torch.arange(start, n, device=device)
        mask = (self._static["slots"][None, :] <= rows[:, None]).view(1, 1, n - start, -1)
        config = inner(self.vla.model).visual.config
        width = config.in_channels * config.temporal_patch_size * config.patch_size**2
        patches = sum(t * h * w for t, h, w in layout.grids)
        dev.update(
            ids=ids.to(device),
            positions=layout.positions[:, :, start:].to(device),
            mask=mask,
            slots=(ids[0] == IMAGE_PAD_ID).nonzero().view(-1).to(device),
            grid=torch.tensor(layout.grids, dtype=torch.long).to(device),
            pixels=torch.empty((patches, width), dtype=torch.float32, device=device),
        )
        if layout.pixels_on_device:
            assert self._pixel_spec is not None
            sizes = [r.source for r in layout.resizers] if layout.resize_on_device else list(layout.sizes)
            pinned = device.type == "cuda"  # an asynchronous upload needs page-locked host memory
            dev["frames"] = [torch.empty((h, w, 3), dtype=torch.uint8, device=device) for h, w in sizes]
            dev["staging"] = [torch.empty((h, w, 3), dtype=torch.uint8, pin_memory=pinned) for h, w in sizes]
            dev["constants"] = self._pixel_spec.constants(device)
        return dev

    def _prefill_body(self, layout: Layout, dev: dict[str, Any], from_frames: bool = True) -> Any:
        """Everything a prefill graph holds: the cache rewound to the prompt head, pixel values from
        the frames' bytes (resized first if they come as captured), the vision tower, the image
        features in the text embeddings, the language model, the head, the first token's choice,
        and the decode state set for the first step."""
        model = self.vla.model
        start = len(layout.prefix)
        self.kv.set_length(start)
        if from_frames and layout.pixels_on_device:
            assert self._pixel_spec is not None
            frames = dev["frames"]
            if layout.resize_on_device:
                frames = [resize(frame) for resize, frame in zip(layout.resizers, frames, strict=True)]
            dev["pixels"].copy_(self._pixel_spec.patches(frames, dev["constants"]))
        image = self.vision(model, dev["pixels"], dev["grid"], layout.grids)
        embeds = model.get_input_embeddings()(dev["ids"])
        embeds = embeds.index_copy(1, dev["slots"], image.to(embeds.dtype).unsqueeze(0))
        out = self._forward(embeds, dev["positions"], dev["mask"])
        scores = action_logits(model, out.last_hidden_state[:, -1]).float() + self.grammar.first()
        s = self._static
        s["token"].copy_(choose(scores, s["inverse_temperature"], s["noise"]))
        s["index"].fill_(layout.length)
        s["rope"].fill_(layout.length + layout.delta)
        s["step"].fill_(1)
        return scores

    def _capture_prefill(self, layout: Layout, dev: dict[str, Any]) -> Any:
        """Eager prefill (this tick's answer), then capture it; the first replay must agree."""
        eager = self._prefill_body(layout, dev).clone()
        after = self._snapshot()
        try:
            graph, dev["scores"] = capture(lambda: self._prefill_body(layout, dev), lambda: None, eager)
            agree(dev["scores"], eager, "prefill", self._dtype)
        except Exception as exc:
            layout.graph_error = f"{type(exc).__name__}: {exc}"[:200]
            dev.pop("scores", None)
            self._note(f"eager prefill ({layout.graph_error})")
            self._restore(after)
            self.kv.set_length(layout.length)
            return eager
        dev["graph"] = graph
        return dev["scores"]

    # ----- one decode step ------------------------------------------------------------------------
    def _decode_step(self) -> Any:
        """Feed the chosen token, choose the next: masked scores; the state moves one token on."""
        if not self.use_graph:
            return self._step_body()
        if self._graph is None:
            return self._capture_step()
        self._graph.replay()
        return self._static["scores"]

    def _step_body(self) -> Any:
        s = self._static
        model = self.vla.model
        mask = (s["slots"] <= s["index"]).view(1, 1, 1, -1)
        out = self._forward(model.get_input_embeddings()(s["token"]), s["rope"], mask)
        scores = action_logits(model, out.last_hidden_state[:, -1]).float()
        scores = scores + self.grammar.after(s["token"], s["step"])
        s["token"].copy_(choose(scores, s["inverse_temperature"], s["noise"]))
        s["index"].add_(1)
        s["rope"].add_(1)
        s["step"].add_(1)
        return scores

    def _snapshot(self) -> dict[str, Any]:
        return {name: self._static[name].clone() for name in DECODE_STATE}

    def _restore(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            self._static[name].copy_(value)

    def _capture_step(self) -> Any:
        """Eager step (the answer for this token), then capture; the first replay must agree with it."""
        before = self._snapshot()
        position = int(before["index"])
        eager = self._step_body().clone()
        after = self._snapshot()

        def rewind() -> None:
            self._restore(before)
            self.kv.set_length(position)

        try:
            graph, self._static["scores"] = capture(self._step_body, rewind, eager)
            agree(self._static["scores"], eager, "decode step", self._dtype)
        except Exception as exc:
            self.use_graph = False
            self._note(f"eager decode (CUDA graph off: {type(exc).__name__}: {exc})")
            self._restore(after)
            self.kv.set_length(position + 1)
            return eager
        self._graph = graph
        return self._static["scores"]

    def _note(self, what: str) -> None:
        LOG.warning("fast decoder: %s", what)
        self.notes.append(what[:300])

    @property
    def mode(self) -> str:
        """What this decoder does now, fallbacks included (the benchmark reports it)."""
        layouts = list(self._layouts.values())
        parts = [
            "static cache",
            "CUDA graph prefill" if any("graph" in layout.device for layout in layouts) else "eager prefill",
            "CUDA graph decode" if self._graph is not None else "eager decode",
        ]
        if self.prefix_reuse:
            parts.append("prompt head reused")
        if any(layout.resize_on_device for layout in layouts):
            parts.append("frames resized on the device")
        if any(layout.pixels_on_device for layout in layouts):
            parts.append("pixel values on the device")
        if self.vision.own is False:
            parts.append("library vision tower")
        if self.grammar.forced_groups is not None:
            parts.append(f"{self.grammar.forced_groups} button groups forced")
        if not self.use_graph and self.device.type != "cuda":
            parts.append("no CUDA")
        text = ", ".join(parts)
        return text + (f" ({'; '.join(dict.fromkeys(self.notes))})" if self.notes else "")
