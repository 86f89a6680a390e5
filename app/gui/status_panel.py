"""Live figures beside the game view: model latency, actions and ticks per second, misses, nulls; the
model, adapter and game in play (the pickers above say what was chosen, these what loaded); and,
when the model is slower than the game, what that means (``figures_text``). Every dash carries its
reason in the tooltip."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtWidgets import QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from app.gui import figures_text
from app.gui.elided import ElidedLabel
from app.runtime.live_stats import Figures

LABELS = {
    "model_ms": "Model time",
    "actions_per_s": "Actions/s",
    "ticks_per_s": "Ticks/s",
    "missed_ticks": "Missed ticks",
    "null_actions": "Null actions",
    "view_fps": "View fps",
}
BLIND = "hidden while an evaluation runs (the arms are blind)"


class StatusPanel(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Figures", parent)
        col = QVBoxLayout(self)
        form = QFormLayout()
        col.addLayout(form)
        self.values: dict[str, QLabel] = {}
        for key, label in LABELS.items():
            value = QLabel()
            self.values[key] = value
            form.addRow(label, value)
        for key, label in (("model", "Model"), ("adapter", "Adapter"), ("game", "Game")):
            value = ElidedLabel(figures_text.MISSING)
            self.values[key] = value
            form.addRow(label, value)
        self.slow = QLabel()
        self.slow.setObjectName("slowModel")
        self.slow.setWordWrap(True)
        self.slow.setStyleSheet("color:#8d4a00;")
        self.slow.hide()
        col.addWidget(self.slow)
        col.addStretch(1)
        self.clear_figures()
        self.set_adapter(None)

    def clear_figures(self) -> None:
        """No run: no figures (a stopped run's last numbers would read as live), each dash with why."""
        self._show(figures_text.figures(None, 0.0))
        self.set_slow(None)

    def set_figures(self, fig: Figures, view_fps: float, teleop: bool = False) -> None:
        self._show(figures_text.figures(fig, view_fps, teleop=teleop))

    def set_slow(self, slow: figures_text.SlowModel | None, sentence: str = "") -> None:
        """The model is slower than the game: the sentence under the figures, and its time marked."""
        self.slow.setText(sentence if slow is not None else "")
        self.slow.setVisible(slow is not None)
        if slow is None:
            return
        value = self.values["model_ms"]
        if value.text() == figures_text.MISSING:  # no answer in the last 2 s: the last one measured
            value.setText(f"{slow.model_ms:.0f} ms, slow")
            value.setToolTip("the model's last measured time per answer (none came in the last 2 s)")
        else:
            value.setText(value.text() + ", slow")

    def _show(self, shown: dict[str, figures_text.Shown]) -> None:
        for key, value in shown.items():
            self.values[key].setText(value.text)
            self.values[key].setToolTip(value.why)

    def set_adapter(self, adapter: str | None, blind: bool = False) -> None:
        label = self.values["adapter"]
        assert isinstance(label, ElidedLabel)
        if blind:
            label.setText("hidden (evaluation running)")
            label.set_tip(BLIND)
            return
        label.setText(Path(adapter).name if adapter else "none (base model)")
        label.set_tip(adapter or "the base model, without an adapter")

    def set_source(self, model: str | None, game: str | None) -> None:
        """What is loaded and played (the pickers may hold a choice that failed to load)."""
        for key, text in (("model", model), ("game", game)):
            label = self.values[key]
            assert isinstance(label, ElidedLabel)
            label.setText(text or figures_text.MISSING)
            label.set_tip(text or f"no {key} loaded")
