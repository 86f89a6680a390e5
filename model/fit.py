"""Know before you load: which precisions of the model fit in the GPU memory left beside the game.

Loading a 7B checkpoint takes minutes; running out of GPU memory at the end of it, or in the first
forward pass next to a running game, wastes them. This module answers first, from two figures:

* the free GPU memory now (``torch.cuda.mem_get_info``: what the game and everything else left), and
* a fit table, precision -> weights GiB, peak GiB while playing, actions/s, measured by
  ``jarvis-play bench gpu-check`` (which writes ``fit-table.json``). The table measured on an NVIDIA
  H200 (2026-11-29, 7B shapes, random weights) is built in; ``JARVIS_PLAY_FIT_TABLE`` or ``--fit-table``
  points at another one.

The table is for one model size; a checkpoint of another size scales the memory by its parameter count
(read from its weight files), and its actions/s are then not claimed. A precision fits when its peak
plus ``MARGIN_GIB`` (CUDA context, allocator slack, room for the game to grow) is free.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from model.checkpoint import CheckpointError

GIB = 1024**3
MARGIN_GIB = 1.5
PRECISIONS = ("bf16", "8bit", "4bit")  # best first: the suggestion is the best one that fits
TABLE_ENV = "JARVIS_PLAY_FIT_TABLE"
FREE_ENV = "JARVIS_PLAY_GPU_FREE_GIB"  # plan for this much free GPU memory instead of measuring it


class FitError(CheckpointError):
    """The model, as asked, will not fit in free GPU memory; the message names a setting that will."""

    def __init__(self, message: str, offer: str | None = None) -> None:
        super().__init__(message)
        self.offer = offer  # the best precision that fits (a window offers it as a button), if any


@dataclass(frozen=True)
class Footprint:
    precision: str  # bf16, 8bit, 4bit
    weights_gib: float | None
    peak_gib: float  # most GPU memory allocated while playing
    actions_per_s: float | None
    engine: str = ""  # the path actions/s were measured on


@dataclass(frozen=True)
class FitTable:
    rows: tuple[Footprint, ...]
    params_b: float  # parameters of the measured model, billions
    source: str

    def row(self, precision: str) -> Footprint | None:
        return next((r for r in self.rows if r.precision == precision), None)

    def to_dict(self) -> dict[str, Any]:
        return {"params_b": self.params_b, "source": self.source, "rows": [asdict(r) for r in self.rows]}


# bench gpu-check on an NVIDIA H200, 2026-11-29: Qwen2-VL-7B shapes (8.29 B parameters), random weights.
# bf16: the fast path; 4-/8-bit: the plain local path (c). The 8-bit weights were read before
# bitsandbytes had packed them, so that figure is left out; its peak was measured after packing.
BUILTIN = FitTable(
    rows=(
        Footprint("bf16", 15.5, 15.7, 15.7, "fast"),
        Footprint("8bit", None, 9.7, 3.7, "plain"),
        Footprint("4bit", 6.5, 6.7, 9.0, "plain"),
    ),
    params_b=8.29,
    source="built in: bench gpu-check, NVIDIA H200, 2026-11-29",
)


@dataclass(frozen=True)
class Fit:
    precision: str
    need_gib: float  # peak, scaled to this model, plus the margin
    free_gib: float
    actions_per_s: float | None  # None: not measured for a model of this size
    flag: str  # the setting that asks for it

    @property
    def fits(self) -> bool:
        return self.need_gib <= self.free_gib


def flag_for(precision: str) -> str:
    return "--quantize none" if precision == "bf16" else f"--quantize {precision}"


def precision_of(quantize: str | None) -> str:
    """``--quantize`` value -> table precision (none -> bf16)."""
    value = (quantize or "none").lower()
    return "bf16" if value in ("", "none", "bf16") else value


def table_from_gpu_check(report: dict[str, Any], source: str = "bench gpu-check") -> FitTable:
    """The fit table a ``gpu-check.json`` supports: the fast path in bf16, the quantised sections."""
    sections = report.get("sections", {})
    gpu = report.get("environment", {}).get("gpu") or "GPU"
    rows: list[Footprint] = []
    policy = sections.get("policy", {})
    paths = {str(p.get("path", "")).split(")")[0] + ")": p for p in policy.get("paths", [])}
    best = next(
        (paths[k] for k in ("(fast)", "(c)") if isinstance(paths.get(k, {}).get("peak_gib"), int | float)),
        None,
    )
    if best is not None:
        engine = "fast" if best["path"].startswith("(fast)") else "plain"
        weights = policy.get("weights_gib") or sections.get("quant4", {}).get("bf16_weights_gib")
        rows.append(Footprint("bf16", weights, best["peak_gib"], best.get("actions_per_s"), engine))
    for bits in ("8bit", "4bit"):
        q = sections.get(f"quant{bits[0]}", {})
        if isinstance(q.get("peak_gib"), int | float):
            rows.append(Footprint(bits, q.get("weights_gib"), q["peak_gib"], q.get("actions_per_s"), "plain"))
    if not rows:
        raise ValueError("this gpu-check report measured no precision (every section failed?)")
    params = policy.get("params_b") or BUILTIN.params_b
    return FitTable(
        rows=tuple(rows), params_b=float(params), source=f"{source}, {gpu}, {report.get('started')}"
    )


def load_table(path: str | Path | None = None) -> FitTable:
    """``path`` (a fit-table.json or a gpu-check.json), else ``$JARVIS_PLAY_FIT_TABLE``, else built in."""
    chosen = path or os.environ.get(TABLE_ENV)
    if not chosen:
        return BUILTIN
    file = Path(chosen).expanduser()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        if "sections" in data:
            return table_from_gpu_check(data, source=str(file))
        rows = tuple(Footprint(**row) for row in data["rows"])
        return FitTable(rows=rows, params_b=float(data["params_b"]), source=str(data.get("source", file)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"cannot read the fit table {file} ({type(exc).__name__}: {exc}); write one with "
            f"`jarvis-play bench gpu-check`, or unset {TABLE_ENV} to use the built-in one"
        ) from exc


def checkpoint_params_b(path: str | Path, weight_bytes: int | None = None) -> float | None:
    """Parameters (billions) of a checkpoint folder, from its weight files (or, before they are
    downloaded, from ``weight_bytes``, their sizes on the hub); None when unknown."""
    folder = Path(path)
    index = folder / "model.safetensors.index.json"
    total = 0
    try:
        if index.is_file():
            total = int(json.loads(index.read_text(encoding="utf-8"))["metadata"]["total_size"])
        elif weight_bytes is not None:
            total = weight_bytes
        else:
            total = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError):
        return None
    if not total:
        return None
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16")
    return total / (4 if "32" in dtype else 2) / 1e9


def free_gpu_gib(device: str = "cuda") -> float | None:
    """Free memory on ``device`` now (None: no CUDA), or ``$JARVIS_PLAY_GPU_FREE_GIB`` when set: the
    figure to plan with for a GPU that is busy now, or that this machine does not have."""
    planned = os.environ.get(FREE_ENV)
    if planned:
        try:
            return float(planned)
        except ValueError as exc:
            raise CheckpointError(f"{FREE_ENV}={planned!r} is not a number of GiB (e.g. 10.5)") from exc
    import torch

    if not torch.cuda.is_available() or not str(device).startswith("cuda"):
        return None
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return free / GIB


def assess(free_gib: float, params_b: float | None = None, table: FitTable = BUILTIN) -> list[Fit]:
    """Every precision of the table, best first, with what it needs here and whether it fits."""
    scale = (params_b / table.params_b) if params_b else 1.0
    same_size = 0.8 <= scale <= 1.25
    fits = []
    for precision in PRECISIONS:
        row = table.row(precision)
        if row is None:
            continue
        fits.append(
            Fit(
                precision=precision,
                need_gib=row.peak_gib * scale + MARGIN_GIB,
                free_gib=free_gib,
                actions_per_s=row.actions_per_s if same_size else None,
                flag=flag_for(precision),
            )
        )
    return fits


def describe(fits: list[Fit]) -> list[str]:
    """One line per precision, for doctor and the window's model picker."""
    lines = []
    for f in fits:
        speed = f", ~{f.actions_per_s:.0f} actions/s" if f.actions_per_s else ""
        verdict = "fits" if f.fits else "does not fit"
        lines.append(f"{f.precision:<5} needs {f.need_gib:.1f} GiB{speed}: {verdict} ({f.flag})")
    return lines


def check_fits(
    path: str | Path,
    quantize: str | None,
    device: str = "cuda",
    free_gib: float | None = None,
    table: FitTable | None = None,
    params_b: float | None = None,
    name: str | None = None,
) -> list[Fit]:
    """Raise ``FitError`` naming a setting that fits when ``quantize`` will not; no CUDA: no check."""
    free = free_gib if free_gib is not None else free_gpu_gib(device)
    if free is None:
        return []
    fits = assess(
        free, params_b if params_b is not None else checkpoint_params_b(path), table or load_table()
    )
    wanted = precision_of(quantize)
    chosen = next((f for f in fits if f.precision == wanted), None)
    if chosen is None or chosen.fits:
        return fits
    name = name or Path(str(path)).name or str(path)
    head = (
        f"{name} in {wanted} needs about {chosen.need_gib:.1f} GiB of GPU memory, and {free:.1f} GiB is "
        "free beside what already runs"
    )
    better = [f for f in fits if f.fits]
    if better:
        alt = better[0]
        speed = f", ~{alt.actions_per_s:.0f} actions/s" if alt.actions_per_s else ""
        raise FitError(
            f"{head}. Use {alt.flag} (about {alt.need_gib:.1f} GiB{speed}), or free GPU memory and retry.",
            offer=alt.precision,
        )
    raise FitError(
        f"{head}; no precision fits (4bit needs {fits[-1].need_gib:.1f} GiB). Close what uses the GPU, "
        "or run the model on another machine (jarvis-play serve there, --model http://HOST:8000/v1 here)."
    )


def summary(
    path: str | Path | None = None, free_gib: float | None = None, table: FitTable | None = None
) -> str:
    """One line for the window's model picker: free memory and the precisions that fit."""
    free = free_gib if free_gib is not None else free_gpu_gib()
    if free is None:
        return "no CUDA GPU here: a local model runs on the CPU (the tiny one is fine, 7B is far too slow)"
    params = checkpoint_params_b(path) if path and Path(str(path)).is_dir() else None
    fits = assess(free, params, table or load_table())
    ok = [f for f in fits if f.fits]
    if not ok:
        return f"GPU {free:.1f} GiB free: no precision fits (4bit needs {fits[-1].need_gib:.1f} GiB)"
    speed = f", ~{ok[0].actions_per_s:.0f} actions/s" if ok[0].actions_per_s else ""
    return (
        f"GPU {free:.1f} GiB free: {', '.join(f.precision for f in ok)} fit{'s' if len(ok) == 1 else ''}"
        + (f" (best {ok[0].flag}{speed})")
    )
