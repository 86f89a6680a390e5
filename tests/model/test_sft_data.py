"""Episodes -> JARVIS-VLA SFT parquet: splits by episode, options, rows that render to the right prompt."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.actions.codec import ActionCodec
from model.finetune.sft_data import (
    SftOptions,
    _kept_ticks,
    episode_records,
    export_sft,
    split_episodes,
    usable_episodes,
)
from recorder.episodes.format import FLAG_NOOP_RUN, list_episodes, read_meta
from tests.conftest import shared_path
from tests.recorder.episodes.synth import line_for, read_tick, write_episode

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def episodes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("episodes")
    write_episode(root, 6, instruction="chop a tree")
    write_episode(
        root, 5, mode="corrections", phases={2: "correction", 3: "correction"}, instruction="mine iron"
    )
    write_episode(root, 4, instruction="build a house")
    return root


def _episode(root: Path, instruction: str) -> Path:
    (folder,) = [f for f in list_episodes(root) if read_meta(f).first_instruction == instruction]
    return folder


def test_records_carry_instruction_image_and_action_text(episodes: Path) -> None:
    folder = _episode(episodes, "chop a tree")
    records = list(episode_records(folder, SftOptions(image_format="png")))
    assert len(records) == 6
    codec = ActionCodec()
    for tick, rec in enumerate(records):
        user, assistant = rec["conversations"]
        assert user["content"][0]["text"] == f"{'chop a tree'}\nobservation: \n"
        assert user["content"][1] == {"type": "image"}
        assert assistant["content"][0]["text"] == codec.text(line_for(tick)["action_ids"])
        image = Image.open(io.BytesIO(rec["image_bytes"][0]))
        assert image.size == (640, 360)
        assert read_tick(np.asarray(image.convert("RGB"))) == tick == rec["tick"]  # the right frame


def test_kept_ticks_options() -> None:
    lines = [line_for(i, phase="correction" if i in (2, 3) else "none") for i in range(6)]
    lines[5]["flags"] = [FLAG_NOOP_RUN]
    corrections = [{"context_start": 1, "start": 2, "end": 4}]
    assert _kept_ticks(lines, corrections, SftOptions()) == [1, 1, 1, 1, 1, 0]
    assert _kept_ticks(lines, corrections, SftOptions(skip_flags=())) == [1] * 6
    assert _kept_ticks(lines, corrections, SftOptions(correction_weight=3)) == [1, 1, 3, 3, 1, 0]
    assert _kept_ticks(lines, corrections, SftOptions(only_corrections=True)) == [0, 0, 1, 1, 0, 0]
    with_context = SftOptions(only_corrections=True, with_context=True)
    assert _kept_ticks(lines, corrections, with_context) == [0, 1, 1, 1, 0, 0]


def test_split_is_by_whole_episodes() -> None:
    folders = [Path(f"ep{i}") for i in range(10)]
    train, valid = split_episodes(folders, 0.2, seed=3)
    assert len(valid) == 2 and not set(train) & set(valid) and sorted(train + valid) == folders
    assert split_episodes(folders, 0.2, seed=3) == (train, valid)  # deterministic
    assert len(split_episodes(folders[:2], 0.1)[1]) == 1  # at least one valid episode
    assert split_episodes(folders[:1], 0.5) == (folders[:1], [])  # never an empty train split


def test_export_loads_with_train_and_valid_splits(episodes: Path, tmp_path: Path) -> None:
    out = tmp_path / "sft"
    report = export_sft([episodes], out, SftOptions(valid_fraction=0.34, correction_weight=2))
    names = sorted(p.name for p in (out / "data").iterdir())
    assert len(names) == 2 and names[0].startswith("train-") and names[1].startswith("valid-")
    assert all(n.endswith("-00000-of-00001.parquet") for n in names)
    ds = datasets.load_dataset(str(out))
    assert set(ds) == {"train", "valid"}
    assert {s: len(ds[s]) for s in ds} == report.rows
    assert sum(report.rows.values()) == 6 + 5 + 2 + 4  # two correction ticks weighted twice
    train_eps, valid_eps = set(ds["train"]["episode"]), set(ds["valid"]["episode"])
    assert len(valid_eps) == 1 and not train_eps & valid_eps
    same = datasets.load_dataset("parquet", data_dir=str(out / "data"))  # the other documented way
    assert sum(len(same[s]) for s in same) == sum(report.rows.values())
    with pytest.raises(FileExistsError):
        export_sft([episodes], out)  # nothing is overwritten


def test_exported_rows_render_through_the_chat_template(episodes: Path, tmp_path: Path) -> None:
    tokenizer_dir = shared_path("fixtures", "qwen2-vl-7b-instruct")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    out = tmp_path / "sft"
    export_sft([_episode(episodes, "mine iron")], out, SftOptions(valid_fraction=0.0))
    rows = datasets.load_dataset(str(out))["train"]
    codec = ActionCodec()
    checked = 0
    for row in rows:
        if row["episode"] != _episode(episodes, "mine iron").name:
            continue
        text = tokenizer.apply_chat_template(
            row["conversations"], tokenize=False, add_generation_prompt=False
        )
        action = codec.text(line_for(row["tick"])["action_ids"])
        assert action.startswith("<|reserved_special_token_178|>") and action.endswith("_179|>")
        assert text == (
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nmine iron\nobservation: \n"
            "<|vision_start|><|image_pad|><|vision_end|><|im_end|>\n"
            f"<|im_start|>assistant\n{action}<|im_end|>\n"
        )
        assert len(row["image_bytes"]) == text.count("<|image_pad|>") == 1
        checked += 1
    assert checked == 5


def test_a_single_episode_still_gives_train_and_valid(episodes: Path, tmp_path: Path) -> None:
    out = tmp_path / "sft"
    folder = _episode(episodes, "chop a tree")  # 6 ticks
    report = export_sft([folder], out, SftOptions(valid_fraction=0.34))
    ds = datasets.load_dataset(str(out))
    assert set(ds) == {"train", "valid"}  # what the official train.py opens
    assert report.rows == {"train": 4, "valid": 2}
    # one cut, the tail to valid: no tick in both, no interleaving
    assert sorted(ds["train"]["tick"]) == [0, 1, 2, 3] and sorted(ds["valid"]["tick"]) == [4, 5]


def test_parquet_carries_plain_arrow_types_any_datasets_version_reads(episodes: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "sft"
    export_sft([episodes], out, SftOptions(valid_fraction=0.34))
    for path in sorted((out / "data").glob("*.parquet")):
        schema = pq.read_schema(path)
        # datasets >= 4 writes its "List" feature type into this metadata; 3.x cannot parse it
        assert not schema.metadata or b"huggingface" not in schema.metadata
        content = pa.list_(pa.struct([("type", pa.string()), ("text", pa.string())]))
        assert schema.field("conversations").type == pa.list_(
            pa.struct([("role", pa.string()), ("content", content)])
        )
        assert schema.field("image_bytes").type == pa.list_(pa.binary())
    row = datasets.load_dataset(str(out))["train"][0]
    assert isinstance(row["image_bytes"][0], bytes)
    assert row["conversations"][0]["content"][0]["type"] == "text"  # a list of dicts, not a dict of lists


def test_evaluation_trials_stay_out_of_training_unless_chosen(tmp_path: Path) -> None:
    """An evaluation's trials are the model's own judged play, not the person's demonstrations."""
    mine = write_episode(tmp_path, 3)
    trial = write_episode(tmp_path, 3, extra={"purpose": "evaluation"})
    assert read_meta(trial).evaluation_trial and not read_meta(mine).evaluation_trial
    folders, skipped = usable_episodes([tmp_path], SftOptions().statuses)
    assert folders == [mine] and len(skipped) == 1 and "evaluation trial" in skipped[0]
    folders, skipped = usable_episodes([tmp_path], SftOptions().statuses, evaluation_trials=True)
    assert sorted(folders) == sorted([mine, trial]) and skipped == []
