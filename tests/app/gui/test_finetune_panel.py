"""The fine-tune and adapters tabs end to end on the tiny model, in the real window: train (a real child
process), watch the bar and the curves, find the new adapter in the Adapters tab, hot-swap it into
the running model and back (every place naming the active adapter agrees, and none does while an
evaluation runs), compare on held-out episodes; and the plain refusal for a server model."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from PyQt6.QtCore import Qt

from app.finetune_job import FinetuneState
from app.gui.adapters_panel import AdaptersPanel
from app.gui.controller import WindowController
from app.gui.finetune_panel import PROGRESS_MAX, FinetunePanel
from app.gui.main_window import MainWindow
from app.session import Session
from app.settings import Settings, adapters_root
from model.policies.local import LocalPolicy
from model.policies.scripted import ScriptedPolicy
from tests.recorder.episodes.synth import write_episode

LEFT = Qt.MouseButton.LeftButton
# A training or a comparison runs in a child process that loads the model: seconds on an idle machine,
# minutes when the suite's other tier and the game take the cores (make test runs this tier at nice 19)
CHILD_MS = 300_000


def _window(qtbot: Any, tiny_vla: Any, episodes: Path) -> tuple[MainWindow, Session]:
    """The window over a session playing the fake game with the tiny model (shared, adapters unloaded
    by the caller)."""
    session = Session(
        Settings(model="tiny-local", game="fake", episodes_dir=str(episodes)),
        policy_factory=lambda _spec, _s: LocalPolicy(tiny_vla),
        listen=False,
    )
    session.open_game("fake")
    session.load_model("tiny-local")
    window = MainWindow()
    qtbot.addWidget(window)
    controller = WindowController(window, session)
    controller.confirm = lambda _parent, _question: True
    window.show()
    return window, session


def _agree(window: MainWindow, name: str | None) -> bool:
    """The Live figures and the Adapters tab name the same active adapter."""
    figures = window.status_panel.values["adapter"].text()
    active = window.adapters.active.text()
    if name is None:
        return figures == "none (base model)" and active.startswith("Active: the base model")
    return figures == name and active == f"Active: {name}"


def _quick_adapter(base: Path, out: Path) -> Path:
    """A real PEFT adapter for the tiny model in seconds (random LoRA weights), as a run leaves it."""
    import torch
    from peft import LoraConfig, get_peft_model

    from model.vla import VLA

    vla = VLA.load(str(base), device="cpu")
    peft_model = get_peft_model(vla.model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_()
    peft_model.save_pretrained(str(out))
    manifest = {
        "base_model": str(base),
        "base_path": str(base),
        "steps_done": 5,
        "episodes": {"train": ["a"]},
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def test_one_active_adapter_everywhere_and_none_while_an_evaluation_runs(
    qtbot: Any, tmp_path: Path, tiny_model_dir: Path, tiny_vla: Any
) -> None:
    from peft import PeftModel

    episodes = tmp_path / "episodes"
    window, session = _window(qtbot, tiny_vla, episodes)
    root = adapters_root(session.settings)
    root.mkdir(parents=True)
    adapter = _quick_adapter(tiny_model_dir, root / "20250101-120000-tiny")
    panel = window.adapters
    try:
        window.show_panel("adapters")  # the tab reads the adapters folder when it comes to the front
        assert [r.folder for r in panel.rows] == [adapter] and panel.selected == adapter
        assert _agree(window, None)
        qtbot.mouseClick(panel.use_button, LEFT)
        qtbot.waitUntil(lambda: panel.base_button.isEnabled(), timeout=20_000)
        assert session.adapter == str(adapter) and isinstance(tiny_vla.model, PeftModel)
        assert _agree(window, adapter.name)
        qtbot.mouseClick(panel.evaluate_button, LEFT)  # "Evaluate in play": the Evaluate tab, filled in
        evaluate = window.evaluate
        assert window.panel == "evaluate" and evaluate.adapters.text() == str(adapter)
        evaluate.task.setText("craft_item:stick")  # the person judges it: the run waits for them first
        evaluate.trials.setValue(1)
        qtbot.mouseClick(evaluate.start_button, LEFT)
        qtbot.waitUntil(lambda: "press F8" in evaluate.status.text(), timeout=30_000)
        assert evaluate.is_running  # blind: nothing names the adapter in play, nothing swaps one
        assert "hidden" in window.status_panel.values["adapter"].text() and "hidden" in panel.active.text()
        assert not panel.use_button.isEnabled() and not panel.base_button.isEnabled()
        qtbot.mouseClick(evaluate.cancel_button, LEFT)
        qtbot.waitUntil(lambda: not evaluate.is_running, timeout=30_000)
        qtbot.mouseClick(panel.use_button, LEFT)  # the evaluation went back to the base: use it again
        qtbot.waitUntil(
            lambda: session.adapter == str(adapter) and _agree(window, adapter.name), timeout=20_000
        )
        qtbot.mouseClick(panel.base_button, LEFT)
        qtbot.waitUntil(lambda: session.adapter is None and _agree(window, None), timeout=20_000)
        assert not isinstance(tiny_vla.model, PeftModel)
    finally:
        if tiny_vla.adapter is not None:  # the VLA is shared by the whole test session
            tiny_vla.unload_adapter()
        session.close()


@pytest.mark.slow  # trains in a child process: a minute on a CPU
def test_train_watch_find_swap_and_compare(
    qtbot: Any, tmp_path: Path, tiny_model_dir: Path, tiny_vla: Any
) -> None:
    from peft import PeftModel

    train_dir, held_dir = tmp_path / "episodes", tmp_path / "held-out"
    for _ in range(3):
        write_episode(train_dir, 6)
    write_episode(train_dir, 6, extra={"purpose": "evaluation"})  # an evaluation's trial: left out
    write_episode(held_dir, 4)
    window, session = _window(qtbot, tiny_vla, train_dir)
    panel, adapters = window.finetune, window.adapters
    panel.template = dataclasses.replace(
        panel.template, batch_size=1, eval_every=1, eval_samples=1, device="cpu"
    )  # seconds on a CPU
    adapters.eval_samples = 4  # every usable tick of the held-out episode
    adapters.device = "cpu"
    messages: list[tuple[str, str]] = []
    for source in (panel, adapters):
        source.message.connect(lambda text, level: messages.append((text, level)))
    states: list[FinetuneState] = []
    panel._state.connect(states.append)
    try:
        window.show_panel("finetune")
        assert panel.episodes.item(0).text() == str(train_dir)  # the recordings folder by default
        out = Path(panel.out.text())
        assert out.parent == adapters_root(session.settings)  # where the Adapters tab looks
        panel.model.setText(str(tiny_model_dir))
        panel.steps.setValue(2)
        assert "first evaluation" not in panel.accuracy_curve.missing  # idle: nothing to measure yet
        qtbot.mouseClick(panel.start_button, LEFT)
        qtbot.waitUntil(lambda: panel.cancel_button.isEnabled(), timeout=2_000)
        assert not panel.start_button.isEnabled()
        qtbot.waitUntil(lambda: panel.state.finished, timeout=CHILD_MS)
        assert panel.state.status == "done", panel.state
        assert any(0 < s.fraction < 1 for s in states)  # the bar moved through the run, not only at the end
        assert panel.progress.value() == PROGRESS_MAX
        assert [x for x, _ in panel.loss_curve.points] == [1.0, 2.0]
        assert [x for x, _ in panel.accuracy_curve.points] == [0.0, 1.0, 2.0]
        assert panel.state.train_episodes == 2 and panel.state.valid_episodes == 1  # the trial left out
        assert panel.eta.text() == f"done: adapter in {out}"
        assert out.name in messages[-1][0] and "Adapters tab" in messages[-1][0]
        assert messages[-1][1] == ("note" if panel.state.warnings else "info")  # two steps: it may warn
        assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()
        manifest = json.loads((out / "manifest.json").read_text())
        assert any("evaluation trial" in skip for skip in manifest["episodes"]["skipped"])

        # the Adapters tab lists it, selected, with its figures; Use loads it, Back to base unloads it
        window.show_panel("adapters")
        assert adapters.selected == out and adapters.rows[0].steps == 2
        assert "% of " in adapters.rows[0].held_out  # the held-out action accuracy, on how many ticks
        assert _agree(window, None)
        qtbot.mouseClick(adapters.use_button, LEFT)
        qtbot.waitUntil(lambda: adapters.base_button.isEnabled(), timeout=20_000)
        assert session.adapter == str(out) and isinstance(tiny_vla.model, PeftModel)
        assert _agree(window, out.name)
        qtbot.mouseClick(adapters.base_button, LEFT)
        qtbot.waitUntil(lambda: _agree(window, None), timeout=20_000)
        assert session.adapter is None and not isinstance(tiny_vla.model, PeftModel)

        adapters.held_out.setText(str(held_dir))
        qtbot.mouseClick(adapters.compare_button, LEFT)
        qtbot.waitUntil(lambda: adapters.table.rowCount() > 0, timeout=CHILD_MS)
        # the held-out episode: 4 ticks, the person pausing on two (left out: --null-ticks drop) and
        # walking forward on two, never attacking. Each row says what it counts and on how many ticks;
        # a group has a row only where the person used it (no "attack": an empty row says nothing)
        rows = range(adapters.table.rowCount())
        groups = [adapters.table.item(i, 0).text() for i in rows]
        assert groups == ["right kind of action (2)", "exact action (2)", "forward/back (2)"], groups
        meanings = [adapters.table.item(i, 0).toolTip() for i in rows]
        assert "averaged kind by kind over 2 held-out ticks" in meanings[0], meanings
        assert "on the 2 held-out ticks where you did something" in meanings[1], meanings
        assert meanings[2] == "Used forward/back as you did, on the 2 held-out ticks where you used it"
        for i in rows:  # a figure and its interval on each side, and a verdict
            assert "%" in adapters.table.item(i, 1).text() and "–" in adapters.table.item(i, 2).text()
            assert any(v in adapters.table.item(i, 3).text() for v in ("better", "worse", "chance"))
        assert "On 2 held-out ticks" in adapters.compare_status.text()

        # pointed at training data: a clear warning (the comparison still runs)
        adapters.held_out.setText(str(train_dir))
        qtbot.mouseClick(adapters.compare_button, LEFT)
        assert any("trained on" in text and level == "error" for text, level in messages), messages
        qtbot.waitUntil(lambda: adapters.compare_run is None, timeout=CHILD_MS)
        # no held-out folder given: the episodes the run itself kept aside (split by episode)
        adapters.table.setRowCount(0)
        adapters.held_out.setText("")
        qtbot.mouseClick(adapters.compare_button, LEFT)
        assert "1 episodes its run held out" in adapters.compare_status.text()
        qtbot.waitUntil(lambda: adapters.table.rowCount() > 0, timeout=CHILD_MS)

        # a second Start never overwrites the finished adapter: a new folder named by time and base
        window.show_panel("finetune")
        finished_at = (out / "adapter_config.json").stat().st_mtime_ns
        assert not panel.resume_button.isEnabled()  # nothing unfinished to resume
        qtbot.mouseClick(panel.start_button, LEFT)
        second = Path(panel.out.text())
        assert second != out and second.parent == out.parent and second.name.endswith(tiny_model_dir.name)
        done = lambda: panel.state.status == "done" and panel.state.out == str(second)  # noqa: E731
        qtbot.waitUntil(done, timeout=CHILD_MS)
        assert (out / "adapter_config.json").stat().st_mtime_ns == finished_at
        assert (second / "adapter_config.json").is_file()
        assert {r.folder for r in adapters.rows} == {out, second} and adapters.selected == second
    finally:
        if tiny_vla.adapter is not None:  # the VLA is shared by the whole test session
            tiny_vla.unload_adapter()
        session.close()


def test_swapping_is_refused_in_words_for_a_server_model(qtbot: Any, tmp_path: Path) -> None:
    session = Session(Settings(model="http://127.0.0.1:9"), listen=False)
    session.policy, session.model_spec = ScriptedPolicy([{}]), "http://127.0.0.1:9"
    adapters = AdaptersPanel()
    qtbot.addWidget(adapters)
    adapters.attach(session, tmp_path / "adapters", tmp_path / "evaluations")
    assert "server" in adapters.swap_note.text() and not adapters.swap_note.isHidden()
    assert not adapters.use_button.isEnabled() and not adapters.base_button.isEnabled()
    assert not adapters.other_button.isEnabled()
    panel = FinetunePanel()
    qtbot.addWidget(panel)
    panel.attach(session)
    assert panel.model.text() == ""  # a server URL is no base to fine-tune
    messages: list[tuple[str, str]] = []
    panel.message.connect(lambda text, level: messages.append((text, level)))
    qtbot.mouseClick(panel.start_button, LEFT)
    assert messages and messages[-1][1] == "error" and "server URL" in messages[-1][0]
    assert panel.job is None


def test_the_quick_preset_fills_the_fields_and_defaults_come_back(qtbot: Any) -> None:
    from app.cli import build_parser
    from model.finetune.config import DEFAULTS, PRESETS, from_flags

    panel = FinetunePanel()
    qtbot.addWidget(panel)
    panel.template = dataclasses.replace(panel.template, device="cpu")  # a flag the form does not show
    panel.model.setText("tiny")
    panel.out.setText("/tmp/adapter-x")
    panel._add_folder("/tmp/episodes-x")
    assert panel.preset.currentText() == "Defaults" and panel.steps.value() == DEFAULTS.steps
    panel.preset.setCurrentIndex(panel.preset.findText("Quick (tiny demo model)"))
    request = panel.request()
    assert request.preset == "quick" and panel.steps.value() == PRESETS["quick"]["steps"]
    assert {k: getattr(request, k) for k in PRESETS["quick"]} == PRESETS["quick"]
    assert request.device == "cpu" and request.batch_size == DEFAULTS.batch_size
    # the child's command line rebuilds exactly this request
    args = build_parser().parse_args(request.args())
    rebuilt = from_flags(args)
    assert (rebuilt.steps, rebuilt.lr, rebuilt.eval_samples) == (
        request.steps,
        request.lr,
        request.eval_samples,
    )
    # a field changed after choosing the preset is the person's own: the name no longer applies
    panel.steps.setValue(0)
    request = panel.request()
    assert request.preset == "" and request.steps == 0 and request.lr == PRESETS["quick"]["lr"]
    assert from_flags(build_parser().parse_args(request.args())).steps == 0  # not the preset's steps
    panel.preset.setCurrentIndex(panel.preset.findText("Defaults"))
    request = panel.request()
    assert (request.steps, request.lr, request.eval_samples) == (
        DEFAULTS.steps,
        DEFAULTS.lr,
        DEFAULTS.eval_samples,
    )
    assert request.device == "cpu"


def test_the_agents_own_play_is_left_out_unless_the_person_ticks_it(qtbot: Any) -> None:
    """What the agent did between a person's takeovers is not what they showed: by default the child's
    command line leaves it out, and the box puts it back."""
    from app.cli import build_parser
    from model.finetune.config import from_flags

    panel = FinetunePanel()
    qtbot.addWidget(panel)
    panel.model.setText("tiny")
    panel.out.setText("/tmp/adapter-x")
    panel._add_folder("/tmp/episodes-x")
    assert not panel.agent_play.isChecked()
    assert from_flags(build_parser().parse_args(panel.request().args())).agent_play == "drop"
    panel.agent_play.setChecked(True)
    assert from_flags(build_parser().parse_args(panel.request().args())).agent_play == "keep"


def test_held_out_warnings_are_said_in_words(qtbot: Any, tmp_path: Path) -> None:
    from app.gui.finetune_panel import done_message

    panel = FinetunePanel()
    qtbot.addWidget(panel)
    messages: list[tuple[str, str]] = []
    panel.message.connect(lambda text, level: messages.append((text, level)))
    waits = "the adapter does nothing on 90% of held-out frames: it learnt to wait, not to play"
    running = FinetuneState(
        status="running", step=20, steps=80, accuracy=[(0, 0.25), (20, 0.3)], warnings=[waits]
    )
    panel._show(running)
    assert not panel.warnings.isHidden() and "does nothing on 90%" in panel.warnings.text()
    assert panel.accuracy_curve.points == [(0.0, 0.25), (20.0, 0.3)]
    assert "right kind of action" in panel.accuracy_curve.title
    panel._show(dataclasses.replace(running, status="done", step=80, out=str(tmp_path / "a1")))
    assert (
        messages[-1][1] == "note" and "warn" in messages[-1][0] and "does nothing on 90%" in messages[-1][0]
    )
    good = FinetuneState(status="done", step=80, steps=80, accuracy=[(80, 0.92)], out=str(tmp_path / "a2"))
    panel._show(dataclasses.replace(good, status="running"))
    panel._show(good)  # the next run's figures: no warning left standing
    assert panel.warnings.isHidden()
    assert messages[-1] == done_message(good) and messages[-1][1] == "info" and "92%" in messages[-1][0]


def test_the_adapters_tab_shows_the_held_out_headline_and_its_warnings(qtbot: Any, tmp_path: Path) -> None:
    root = tmp_path / "adapters"
    waits = "the adapter does nothing on 90% of held-out frames: it learnt to wait, not to play"
    for name, figures in (
        ("20250101-000000-tiny", {"kind_accuracy": 0.25, "samples": 24, "warnings": [waits]}),
        ("20250102-000000-tiny", {"kind_accuracy": 0.875, "samples": 24, "warnings": []}),
    ):
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text("{}")
        metrics = [{"step": 0, "kind_accuracy": 0.1, "samples": 24, "warnings": []}, {"step": 80, **figures}]
        manifest = {
            "base_model": "tiny",
            "steps_done": 80,
            "metrics": metrics,
            "warnings": figures["warnings"],
        }
        (folder / "manifest.json").write_text(json.dumps(manifest))
    panel = AdaptersPanel()
    qtbot.addWidget(panel)
    panel.attach(Session(Settings(model="tiny"), listen=False), root, tmp_path / "evaluations")
    cells = {r.name: r.held_out for r in panel.rows}
    assert cells == {"20250101-000000-tiny": "⚠ 25% of 24", "20250102-000000-tiny": "88% of 24"}
    panel.select(root / "20250102-000000-tiny")
    assert not panel.figures.isHidden()
    assert "right kind of action on 88% of 24 held-out ticks" in panel.figures.text()
    assert "Warning" not in panel.figures.text()
    panel.select(root / "20250101-000000-tiny")
    assert "25% of 24" in panel.figures.text() and f"Warning: {waits}." in panel.figures.text()
