"""The history across fine-tune rounds as a PNG, drawn with PIL (no matplotlib, no Qt).

x: the fine-tune round (0 = base model); y: success rate with its 95% Wilson interval as a whisker;
each point is one arm of one run on the task, labelled with the episodes the adapter was trained on.
Runs at the same round sit side by side so none hides another.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 720, 420
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 60, 20, 40, 50
COLOURS = [(40, 110, 200), (220, 110, 30), (40, 160, 80), (180, 50, 160), (120, 120, 120)]


def history_image(rows: list[dict[str, Any]], title: str) -> Any:
    """A PIL image of ``rows`` (history lines for one task)."""
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = MARGIN_L, MARGIN_T, WIDTH - MARGIN_R, HEIGHT - MARGIN_B
    draw.text((left, 12), title, fill="black")
    draw.rectangle((left, top, right, bottom), outline=(60, 60, 60))
    for pct in range(0, 101, 20):
        y = bottom - (bottom - top) * pct / 100
        draw.line((left, y, right, y), fill=(225, 225, 225))
        draw.text((8, y - 6), f"{pct}%", fill="black")
    rounds = sorted({int(r.get("round") or 0) for r in rows}) or [0]
    span = max(1, len(rounds))
    slot = (right - left) / span

    def y_of(rate: float) -> float:
        return bottom - (bottom - top) * max(0.0, min(1.0, rate))

    previous: dict[str, tuple[float, float]] = {}
    for i, rnd in enumerate(rounds):
        here = [r for r in rows if int(r.get("round") or 0) == rnd]
        cx = left + slot * (i + 0.5)
        draw.text((cx - 20, bottom + 8), f"round {rnd}", fill="black")
        for j, row in enumerate(here):
            x = cx + (j - (len(here) - 1) / 2) * min(18.0, slot / (len(here) + 1))
            colour = COLOURS[0] if rnd == 0 else COLOURS[1 + (j % (len(COLOURS) - 1))]
            draw.line((x, y_of(row["ci_low"]), x, y_of(row["ci_high"])), fill=colour, width=2)
            for yy in (y_of(row["ci_low"]), y_of(row["ci_high"])):
                draw.line((x - 4, yy, x + 4, yy), fill=colour, width=2)
            y = y_of(row["rate"])
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=colour)
            key = "base" if rnd == 0 else "adapter"
            if key in previous:
                draw.line((*previous[key], x, y), fill=(170, 170, 170))
            previous[key] = (x, y)
        episodes = [r.get("episodes") for r in here if r.get("episodes")]
        if episodes:
            draw.text((cx - 20, bottom + 24), f"{max(episodes)} episodes", fill=(90, 90, 90))
    return img


def save_history_plot(rows: list[dict[str, Any]], task: str, path: Path) -> Path:
    mine = [r for r in rows if r.get("task") == task]
    image = history_image(mine, f"{task}: success rate per fine-tune round (95% Wilson interval)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "PNG")
    return path
