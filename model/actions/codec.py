"""Env action ⇄ VPT joint index ⇄ JARVIS-VLA token ids, bit-exact with the official tokenizer.

The chain follows upstream step by step (spec §3): ``env2policy`` (camera bins), VPT's
``CameraHierarchicalMapping.from_factored`` (mutually exclusive button groups, the camera meta flag
and the inventory override), ``OneActionTokenizer`` (12 group digits, then tokens). Keeping the joint
index as an explicit intermediate lets tests compare against VPT-style ``(buttons, camera)`` pairs,
which is what the official agent hands MineStudio.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from model.actions.camera import JARVIS_CAMERA, CameraQuantizer
from model.actions.env import BUTTONS, EnvAction
from model.actions.tokens import (
    BEGIN_ID,
    END_ID,
    GROUP_BASE_IDS,
    GROUP_BASES,
    ID_TO_GROUP_VALUE,
    PITCH_GROUP,
    YAW_GROUP,
    token_text,
)

INVENTORY_INDEX = 8640  # joint button index appended after the 8640 product combinations
N_BUTTON_GROUPS = 9  # groups 0..8 (the camera meta flag is group 8)
CAMERA_FLAG_GROUP = 8
INVENTORY_GROUP = 9

# VPT BUTTONS_GROUPS: option index 0 is "none"; later options win on multi-press.
BUTTON_GROUPS: tuple[tuple[str, ...], ...] = (
    tuple(f"hotbar.{i}" for i in range(1, 10)),
    ("forward", "back"),
    ("left", "right"),
    ("sprint", "sneak"),
    ("use",),
    ("drop",),
    ("attack",),
    ("jump",),
)
_CANCELLING = {1, 2}  # fore/back and left/right: pressing both means neither

# Place value of each of groups 0..8 in the joint button index (last group varies fastest).
_PLACES: tuple[int, ...] = tuple(int(np.prod(GROUP_BASES[g + 1 : N_BUTTON_GROUPS])) for g in range(9))


class JointAction(NamedTuple):
    """VPT ``CameraHierarchicalMapping`` joint indices: buttons 0..8640, camera pitch_bin·n + yaw_bin."""

    buttons: int
    camera: int


class ActionCodec:
    """Encodes env actions to token ids and decodes model output back to env actions."""

    def __init__(self, camera: CameraQuantizer = JARVIS_CAMERA) -> None:
        self.camera = camera
        self.n_bins = camera.n_bins
        self.null_bin = camera.null_bin
        self.null_camera = self.null_bin * self.n_bins + self.null_bin
        self._bin_degrees = [float(d) for d in camera.undiscretize(np.arange(self.n_bins))]

    # ----- env -> joint -----------------------------------------------------------------------
    def env_to_joint(self, action: Mapping[str, Any]) -> JointAction:
        return self.env_to_joint_batch([action])[0]

    def env_to_joint_batch(self, actions: Sequence[Mapping[str, Any]]) -> list[JointAction]:
        """Joint indices for many actions; the camera is quantised in one numpy call."""
        raw = [a.get("camera") for a in actions]
        float32 = bool(raw) and all(isinstance(c, np.ndarray) and c.dtype == np.float32 for c in raw)
        dtype = np.float32 if float32 else np.float64  # keep MineRL's float32 arithmetic, as upstream
        cameras = np.array([_camera_of(a) for a in actions], dtype=dtype).reshape(-1, 2)
        bins = self.camera.discretize(cameras) if len(actions) else np.zeros((0, 2), np.int64)
        out = []
        for action, (pitch_bin, yaw_bin) in zip(actions, bins.tolist(), strict=True):
            if _value(action, "inventory") == 1:
                out.append(JointAction(INVENTORY_INDEX, self.null_camera))
                continue
            buttons = 0
            for g, options in enumerate(BUTTON_GROUPS):
                pressed = [i for i, name in enumerate(options) if _value(action, name) != 0]
                if g in _CANCELLING and len(pressed) == len(options):
                    pressed = []
                if pressed:
                    buttons += (pressed[-1] + 1) * _PLACES[g]
            if (pitch_bin, yaw_bin) != (self.null_bin, self.null_bin):
                buttons += _PLACES[CAMERA_FLAG_GROUP]
            out.append(JointAction(buttons, pitch_bin * self.n_bins + yaw_bin))
        return out

    # ----- joint <-> groups -------------------------------------------------------------------
    def joint_to_groups(self, joint: JointAction) -> list[int]:
        groups = [0] * len(GROUP_BASES)
        buttons = joint.buttons
        if buttons == INVENTORY_INDEX:
            groups[INVENTORY_GROUP] = 1
        else:
            for g in range(N_BUTTON_GROUPS - 1, -1, -1):
                groups[g] = buttons % GROUP_BASES[g]
                buttons //= GROUP_BASES[g]
        groups[PITCH_GROUP], groups[YAW_GROUP] = divmod(joint.camera, self.n_bins)
        return groups

    def groups_to_joint(self, groups: Sequence[int]) -> JointAction:
        buttons = 0
        for g in range(N_BUTTON_GROUPS):
            buttons = buttons * GROUP_BASES[g] + groups[g]
        if groups[INVENTORY_GROUP]:
            buttons = INVENTORY_INDEX
        return JointAction(buttons, groups[PITCH_GROUP] * self.n_bins + groups[YAW_GROUP])

    # ----- joint <-> ids ----------------------------------------------------------------------
    def joint_to_ids(self, joint: JointAction) -> list[int]:
        """The emission rule: BEGIN, non-zero groups 0..7 in order, both camera bins, END."""
        groups = self.joint_to_groups(joint)
        ids = [BEGIN_ID]
        ids.extend(GROUP_BASE_IDS[g] + v for g, v in enumerate(groups[:8]) if v != 0)
        ids.append(GROUP_BASE_IDS[PITCH_GROUP] + groups[PITCH_GROUP])
        ids.append(GROUP_BASE_IDS[YAW_GROUP] + groups[YAW_GROUP])
        ids.append(END_ID)
        return ids

    def ids_to_joints(self, ids: Iterable[int]) -> list[JointAction]:
        """One joint action per BEGIN…END segment; one null action when there is none.

        Mirrors ``token_2_group_action``: the first END after each BEGIN closes the segment, unknown
        ids (text, a nested BEGIN) are ignored, a later id for a group overwrites an earlier one, and
        a non-null camera sets the camera flag.
        """
        tokens = [int(t) for t in ids]
        null_groups = [0] * len(GROUP_BASES)
        null_groups[PITCH_GROUP] = null_groups[YAW_GROUP] = self.null_bin
        joints: list[JointAction] = []
        start = 0
        while start < len(tokens):
            try:
                begin = tokens.index(BEGIN_ID, start)
                end = tokens.index(END_ID, begin + 1)
            except ValueError:
                break
            groups = list(null_groups)
            for token in tokens[begin + 1 : end]:
                group_value = ID_TO_GROUP_VALUE.get(token)
                if group_value is not None:
                    groups[group_value[0]] = group_value[1]
            if (groups[PITCH_GROUP], groups[YAW_GROUP]) != (self.null_bin, self.null_bin):
                groups[CAMERA_FLAG_GROUP] = 1
            joints.append(self.groups_to_joint(groups))
            start = end + 1
        if not joints:
            joints.append(self.groups_to_joint(null_groups))
        return joints

    # ----- joint -> env -----------------------------------------------------------------------
    def joint_to_env(self, joint: JointAction) -> EnvAction:
        """VPT ``to_factored`` then ``policy2env``: all 20 buttons plus camera in degrees."""
        action: EnvAction = dict.fromkeys(BUTTONS, 0)
        pitch_bin, yaw_bin = divmod(joint.camera, self.n_bins)
        if joint.buttons == INVENTORY_INDEX:
            action["inventory"] = 1  # the camera is *not* nulled here, as upstream
        else:
            groups = self.joint_to_groups(joint)
            for g, options in enumerate(BUTTON_GROUPS):
                if groups[g]:
                    action[options[groups[g] - 1]] = 1
            if not groups[CAMERA_FLAG_GROUP]:
                pitch_bin = yaw_bin = self.null_bin
        action["camera"] = [self._bin_degrees[pitch_bin], self._bin_degrees[yaw_bin]]
        return action

    # ----- the two directions users care about --------------------------------------------------
    def encode(self, action: Mapping[str, Any]) -> list[int]:
        return self.joint_to_ids(self.env_to_joint(action))

    def encode_batch(self, actions: Sequence[Mapping[str, Any]]) -> list[list[int]]:
        return [self.joint_to_ids(j) for j in self.env_to_joint_batch(actions)]

    def decode(self, ids: Iterable[int]) -> list[EnvAction]:
        return [self.joint_to_env(j) for j in self.ids_to_joints(ids)]

    @staticmethod
    def text(ids: Iterable[int]) -> str:
        """The token string of action ids, as the model writes it (no separators)."""
        return "".join(token_text(i) for i in ids)

    def null_ids(self) -> list[int]:
        """``OneActionTokenizer.null_token()``: what the agent pre-fills its history with."""
        return self.joint_to_ids(JointAction(0, self.null_camera))


def has_segment(ids: Sequence[int]) -> bool:
    """Whether the ids hold a complete BEGIN…END action, i.e. the decoder did not fall back to null."""
    ids = list(ids)
    try:
        return END_ID in ids[ids.index(BEGIN_ID) + 1 :]
    except ValueError:
        return False


def _value(action: Mapping[str, Any], key: str) -> Any:
    value = action.get(key, 0)
    if isinstance(value, (list, tuple, np.ndarray)):
        value = np.asarray(value).reshape(-1)[0]
    return value


def _camera_of(action: Mapping[str, Any]) -> tuple[float, float]:
    camera = action.get("camera")
    if camera is None:
        return (0.0, 0.0)
    flat = np.asarray(camera, dtype=np.float64).reshape(-1)
    return (float(flat[0]), float(flat[1]))
