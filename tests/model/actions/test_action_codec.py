"""The codec against the spec's worked examples, its tables, and properties that must always hold."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.actions.camera import JARVIS_CAMERA
from model.actions.codec import INVENTORY_INDEX, ActionCodec, JointAction
from model.actions.env import BUTTONS, normalize
from model.actions.grammar import ALLOWED, START, state_after
from model.actions.tokens import ACTION_IDS, BEGIN_ID, END_ID, ID_TO_GROUP_VALUE, token_text

CODEC = ActionCodec()

# spec §3.6: (env action, joint, token ids, decoded non-zero keys, decoded camera)
VECTORS = [
    ({}, (0, 220), [151835, 151876, 151897, 151836], set(), (0.0, 0.0)),
    (
        {"forward": 1, "attack": 1, "camera": [5, -2]},
        (293, 383),
        [151835, 151848, 151861, 151884, 151892, 151836],
        {"attack", "forward"},
        (5.2114, -1.7913),
    ),
    (
        {"hotbar.3": 1, "forward": 1, "sprint": 1, "jump": 1, "camera": [0, 10]},
        (2915, 230),
        [151835, 151840, 151848, 151854, 151863, 151876, 151907, 151836],
        {"forward", "jump", "sprint", "hotbar.3"},
        (0.0, 10.0),
    ),
    (
        {"forward": 1, "back": 1, "left": 1, "camera": [0.08, -0.09]},
        (97, 219),
        [151835, 151851, 151876, 151896, 151836],
        {"left"},
        (0.0, -0.1779),
    ),
    (
        {"sprint": 1, "sneak": 1, "use": 1, "camera": [-30, 45]},
        (81, 20),
        [151835, 151855, 151857, 151866, 151907, 151836],
        {"sneak", "use"},
        (-10.0, 10.0),
    ),
    (
        {"hotbar.2": 1, "hotbar.7": 1, "drop": 1},
        (6056, 220),
        [151835, 151844, 151859, 151876, 151897, 151836],
        {"drop", "hotbar.7"},
        (0.0, 0.0),
    ),
    (
        {"inventory": 1, "attack": 1, "camera": [3, 3]},
        (8640, 220),
        [151835, 151876, 151897, 151836],
        set(),
        (0, 0),
    ),
    (
        {"attack": 1, "camera": [-0.5, 0.3]},
        (5, 180),
        [151835, 151861, 151874, 151899, 151836],
        {"attack"},
        (-0.4192, 0.4192),
    ),
]

# spec §2.3: decoded degrees per bin
BIN_DEGREES = [
    -10.0,
    -7.244036,
    -5.211438,
    -3.712341,
    -2.606716,
    -1.791288,
    -1.189887,
    -0.746338,
    -0.419208,
    -0.177941,
    0.0,
]


@pytest.mark.parametrize(("env", "joint", "ids", "keys", "camera"), VECTORS)
def test_spec_vectors(env, joint, ids, keys, camera) -> None:
    assert CODEC.env_to_joint(env) == JointAction(*joint)
    assert CODEC.encode(env) == ids
    (decoded,) = CODEC.decode(ids)
    assert {k for k in BUTTONS if decoded[k]} == keys
    assert decoded["camera"] == pytest.approx(list(camera), abs=5e-5)


def test_worked_example_token_string() -> None:
    ids = CODEC.encode({"forward": 1, "attack": 1, "camera": [5, -2]})
    assert CODEC.text(ids) == (
        "<|reserved_special_token_178|><|reserved_special_token_191|><|reserved_special_token_204|>"
        "<|reserved_special_token_227|><|reserved_special_token_235|><|reserved_special_token_179|>"
    )
    assert CODEC.decode(ids)[0]["camera"] == pytest.approx([(21**0.8 - 1) / 2, -(21**0.5 - 1) / 2], abs=1e-12)


def test_decoder_only_vectors() -> None:
    (inv,) = CODEC.decode([151835, 151834, 151876, 151897, 151836])
    assert inv["inventory"] == 1 and inv["camera"] == [0.0, 0.0]
    (inv_cam,) = CODEC.decode([151835, 151834, 151870, 151897, 151836])
    assert inv_cam["inventory"] == 1 and inv_cam["camera"][0] == pytest.approx(-2.6067, abs=1e-4)
    assert CODEC.decode([1, 2, 3]) == CODEC.decode([])
    (null,) = CODEC.decode([1, 2, 3])
    assert not any(null[k] for k in BUTTONS) and null["camera"] == [0.0, 0.0]
    first, second = CODEC.decode(
        [151835, 151848, 151876, 151897, 151836, 151835, 151861, 151876, 151898, 151836]
    )
    assert first["forward"] == 1 and first["camera"] == [0.0, 0.0]
    assert second["attack"] == 1 and second["camera"][1] == pytest.approx(0.1779, abs=1e-4)


def test_bin_table_and_symmetry() -> None:
    degrees = JARVIS_CAMERA.undiscretize(np.arange(21))
    assert degrees[:11] == pytest.approx(BIN_DEGREES, abs=1e-6)
    assert degrees[10:] == pytest.approx(-degrees[10::-1], abs=1e-12)
    # edges of spec §2.3: 0.0822 is the first non-zero bin, 8.5173 the saturation edge
    assert JARVIS_CAMERA.discretize([0.0821, 0.0823, 8.517, 8.518, 1e6]).tolist() == [10, 11, 19, 20, 20]


def test_float32_input_is_quantised_in_float32_like_upstream() -> None:
    edge = np.array([8.517337799072266, 0.08221175521612167], dtype=np.float32)
    assert JARVIS_CAMERA.discretize(edge).tolist() == [19, 10]
    assert JARVIS_CAMERA.discretize(edge.astype(np.float64)).tolist() == [20, 11]
    assert CODEC.env_to_joint({"camera": edge}).camera == 19 * 21 + 10


def test_id_table_covers_all_75_action_ids() -> None:
    assert len(ACTION_IDS) == 75 and ACTION_IDS[0] == 151833 and ACTION_IDS[-1] == 151907
    assert set(ID_TO_GROUP_VALUE) | {BEGIN_ID, END_ID} == set(ACTION_IDS)
    assert ID_TO_GROUP_VALUE[151833] == (9, 0) and ID_TO_GROUP_VALUE[151866] == (10, 0)
    assert ID_TO_GROUP_VALUE[151907] == (11, 20) and ID_TO_GROUP_VALUE[151846] == (0, 9)
    assert token_text(151835) == "<|reserved_special_token_178|>"


def test_normalize_rejects_garbage_with_the_key_named() -> None:
    with pytest.raises(ValueError, match="forward"):
        normalize({"forward": "yes"})
    with pytest.raises(ValueError, match="camera"):
        normalize({"camera": [1]})


env_actions = st.fixed_dictionaries(
    {},
    optional={
        **{k: st.integers(0, 1) for k in BUTTONS},
        "camera": st.tuples(st.floats(-30, 30, allow_nan=False), st.floats(-30, 30, allow_nan=False)),
    },
)


@settings(max_examples=400, deadline=None)
@given(env_actions)
def test_encode_decode_encode_is_stable(env) -> None:
    ids = CODEC.encode(env)
    (decoded,) = CODEC.decode(ids)
    assert set(decoded) == {*BUTTONS, "camera"}
    again = CODEC.encode(decoded)
    assert CODEC.decode(again) == [decoded]
    if not env.get("inventory"):  # inventory collapses to the null tokens, by the official rule
        assert again == ids


@settings(max_examples=400, deadline=None)
@given(env_actions)
def test_encoder_output_is_in_the_grammar(env) -> None:
    ids = CODEC.encode(env)
    assert ids[0] == BEGIN_ID and ids[-1] == END_ID
    body = ids[1:-1]
    for i, token in enumerate(body):
        assert token in ALLOWED[state_after(body[:i]) if i else START]
    assert END_ID in ALLOWED[state_after(body)]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([*ACTION_IDS, 0, 198, 151645]), max_size=30))
def test_any_id_soup_decodes_to_complete_actions(ids) -> None:
    actions = CODEC.decode(ids)
    assert actions
    for action in actions:
        assert set(action) == {*BUTTONS, "camera"}
        assert all(action[k] in (0, 1) for k in BUTTONS)
        assert all(math.isfinite(v) and -10 <= v <= 10 for v in action["camera"])
        assert CODEC.decode(CODEC.encode(action))[0]["camera"] == (
            action["camera"] if not action["inventory"] else [0.0, 0.0]
        )


def test_inventory_joint_round_trip() -> None:
    joint = JointAction(INVENTORY_INDEX, 220)
    assert CODEC.groups_to_joint(CODEC.joint_to_groups(joint)) == joint
    assert CODEC.joint_to_ids(joint) == CODEC.null_ids()
