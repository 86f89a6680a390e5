"""Live figures beside the game: who is in control, model latency, actions per second, misses, nulls."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtWidgets import QFormLayout, QGroupBox, QLabel, QWidget

from app.gui.overlay import BADGES
from app.runtime.live_stats import Figures


class StatusPanel(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Live", parent)
        form = QFormLayout(self)
        self.mode = QLabel()
        self.mode.setObjectName("modeBadge")
        self.values: dict[str, QLabel] = {}
        form.addRow("Control", self.mode)
        for key, label, tip in (
            ("model_ms", "Model", "mean time the model took per answer, last 2 s"),
            ("actions_per_s", "Actions/s", "model answers applied per second, last 2 s"),
            ("ticks_per_s", "Ticks/s", "loop ticks per second (the target is the tick rate)"),
            ("missed_ticks", "Missed ticks", "ticks where the model was late and the fallback was applied"),
            ("null_actions", "Null actions", "applied actions that pressed nothing and did not look"),
            ("view_fps", "View fps", "frames this window painted in the last second"),
            ("model", "Model spec", "the loaded model"),
            ("adapter", "Adapter", "the LoRA adapter the model runs with (Fine-tune panel: Use adapter…)"),
            ("game", "Game", "what is being played"),
        ):
            value = QLabel("–")
            value.setToolTip(tip)
            value.setWordWrap(key in ("model", "game", "adapter"))
            self.values[key] = value
            form.addRow(label, value)
        self.set_mode("idle")

    def set_mode(self, mode: str) -> None:
        text, color = BADGES.get(mode, (mode.upper(), "#616161"))
        self.mode.setText(text)
        self.mode.setStyleSheet(
            f"background:{color}; color:white; font-weight:bold; padding:4px 10px; border-radius:4px;"
        )

    def clear_figures(self) -> None:
        """No run: no figures (a stopped run's last numbers would read as live)."""
        for key in ("model_ms", "actions_per_s", "ticks_per_s", "missed_ticks", "null_actions", "view_fps"):
            self.values[key].setText("–")

    def set_adapter(self, adapter: str | None) -> None:
        self.values["adapter"].setText(Path(adapter).name if adapter else "none (base model)")
        self.values["adapter"].setToolTip(adapter or "the base model, without an adapter")

    def set_figures(self, fig: Figures, view_fps: float) -> None:
        v = self.values
        v["model_ms"].setText("–" if fig.model_ms is None else f"{fig.model_ms:.0f} ms")
        v["actions_per_s"].setText(f"{fig.actions_per_s:.1f}")
        v["ticks_per_s"].setText(f"{fig.ticks_per_s:.1f}")
        v["missed_ticks"].setText(str(fig.missed_ticks))
        v["null_actions"].setText(str(fig.null_actions))
        v["view_fps"].setText(f"{view_fps:.0f}")

    def set_source(self, model: str | None, game: str | None) -> None:
        self.values["model"].setText(model or "–")
        self.values["game"].setText(game or "–")
