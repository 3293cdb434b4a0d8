"""Mappings between joint sets.

A target joint gets its value, in this order of preference, from:

1. the source joint with the **same name** (names are shared across sets, see :mod:`mocap.skeletons`);
2. an **alias**: a source joint under another name that marks (nearly) the same point, e.g. MediaPipe's
   ``left_foot_index`` for ``left_big_toe``, the hand model's ``left_hand_wrist`` for ``left_wrist``
   (see :data:`ALIASES`; always flagged approximate; ``aliases=False`` turns them off);
3. a **derived joint**: the midpoint of source joints (see :data:`DERIVED`), e.g. COCO -> BODY_25
   ``neck = (left_shoulder + right_shoulder) / 2`` and ``mid_hip = (left_hip + right_hip) / 2``, which is how
   OpenPose itself defines those two points (``derive=False`` turns them off);
4. nothing: NaN.

**Approximate pairs.** The same name does not always mean the same point: a COCO-style hip keypoint is not the
SMPL-X hip joint centre (:data:`~mocap.skeletons.base.KEYPOINT` vs :data:`~mocap.skeletons.base.JOINT_CENTRE`
joints, see :data:`APPROXIMATE`). :func:`joint_mapping` returns an ``approximate`` flag per target joint so that
body fitting can down-weight such joints; :func:`approximate_mask` gives just that flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from mocap.errors import KeypointsError
from mocap.skeletons.base import JOINT_CENTRE, KEYPOINT, JointSet
from mocap.skeletons.registry import get_joint_set

_SIDES = ("left", "right")

#: Joint names whose point differs between keypoint-style sets (COCO, OpenPose, MediaPipe) and joint-centre sets
#: (SMPL-X): a mapping between joints of different kinds with one of these names is flagged approximate.
APPROXIMATE: dict[str, str] = {
    **{f"{s}_hip": "detector hip keypoints lie lateral to and below the hip joint centre of a body model "
                   "(several cm); the name matches, the point does not" for s in _SIDES},
    **{f"{s}_shoulder": "detector shoulder keypoints mark the top of the shoulder (acromion), body models the "
                        "glenohumeral joint centre below it" for s in _SIDES},
    "neck": "OpenPose-style neck = midpoint of the shoulder keypoints; SMPL-X neck = base of the cervical spine, "
            "higher and further back",
    "mid_hip": "midpoint of the hip keypoints, not the pelvis joint of a body model",
    "pelvis": "a body model's pelvis joint sits above the midpoint of the hips",
}


@dataclass(frozen=True)
class Derivation:
    """A target joint defined as the mean of source joints.

    Attributes:
        sources: names of the source joints averaged (all must be present).
        approximate: whether the mean only approximates the target point.
        note: what the derivation assumes.
    """

    sources: tuple[str, ...]
    approximate: bool = False
    note: str = ""


#: Target joints definable from others, tried when the source has no joint of that name (or alias).
DERIVED: dict[str, Derivation] = {
    "neck": Derivation(("left_shoulder", "right_shoulder"), False, "midpoint of the shoulders (OpenPose's neck)"),
    "mid_hip": Derivation(("left_hip", "right_hip"), False, "midpoint of the hips (OpenPose's MidHip)"),
    "pelvis": Derivation(("left_hip", "right_hip"), True, "midpoint of the hips, approximating the pelvis joint"),
}

_ALIAS_PAIRS: list[tuple[str, str, str]] = [
    ("mid_hip", "pelvis", "hip midpoint keypoint vs body-model pelvis joint"),
    ("nose_tip", "nose", "iBUG face tip of the nose vs body nose keypoint"),
    ("face_nose_tip", "nose_tip", "face-mesh nose tip vs iBUG nose tip"),
    ("face_chin", "chin", "face-mesh chin vs iBUG chin"),
    ("face_upper_lip_top", "upper_lip_top", "face-mesh vs iBUG upper lip"),
    ("face_lower_lip_bottom", "lower_lip_bottom", "face-mesh vs iBUG lower lip"),
]
for _s in _SIDES:
    _ALIAS_PAIRS += [
        (f"{_s}_hand_wrist", f"{_s}_wrist", "hand-model wrist vs body wrist"),
        (f"{_s}_foot_index", f"{_s}_big_toe", "MediaPipe foot tip vs big toe"),
        (f"{_s}_index_knuckle", f"{_s}_index_mcp", "MediaPipe pose index knuckle vs hand index MCP"),
        (f"{_s}_pinky_knuckle", f"{_s}_pinky_mcp", "MediaPipe pose pinky knuckle vs hand pinky MCP"),
        (f"{_s}_thumb_knuckle", f"{_s}_thumb_mcp", "MediaPipe pose thumb knuckle vs hand thumb MCP"),
        (f"face_{_s}_eye_outer", f"{_s}_eye_outer", "face-mesh vs iBUG/MediaPipe eye corner"),
        (f"face_{_s}_eye_inner", f"{_s}_eye_inner", "face-mesh vs iBUG/MediaPipe eye corner"),
        (f"face_{_s}_mouth_corner", f"{_s}_mouth_corner", "face-mesh vs iBUG/MediaPipe mouth corner"),
    ]

#: Approximate counterparts under other names: target name -> ``[(source name, note), ...]`` (symmetric).
ALIASES: dict[str, list[tuple[str, str]]] = {}
for _a, _b, _note in _ALIAS_PAIRS:
    ALIASES.setdefault(_a, []).append((_b, _note))
    ALIASES.setdefault(_b, []).append((_a, _note))


@dataclass(frozen=True, eq=False)
class JointMapping:
    """How to fill each joint of ``dst`` from ``src``.

    Attributes:
        src, dst: joint-set names.
        index: ``(J_dst,)`` source index per target joint (same name or alias), ``-1`` where there is none
            (derived joints are ``-1`` here too).
        derived: target index -> source indices whose mean gives that joint.
        approximate: ``(J_dst,)`` bool, true where the target value only approximates the target point
            (alias, approximate derivation, or a name in :data:`APPROXIMATE` across joint kinds).
        notes: target joint name -> how it was obtained, for every target joint that is not an exact match.
    """

    src: str
    dst: str
    index: np.ndarray
    derived: dict[int, tuple[int, ...]] = field(default_factory=dict)
    approximate: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def available(self) -> np.ndarray:
        """``(J_dst,)`` bool: target joints that get a value (matched or derived)."""
        ok = self.index >= 0
        ok[list(self.derived)] = True
        return ok

    def __call__(self, arr: np.ndarray, *, confidence_last: bool = False) -> np.ndarray:
        """Apply the mapping; see :func:`map_keypoints`."""
        return _apply(self, arr, confidence_last)


def _kind_differs(src: JointSet, i: int, dst: JointSet, j: int) -> bool:
    return src.kind(i) != dst.kind(j)


@lru_cache(maxsize=256)
def _build_mapping(src: JointSet, dst: JointSet, derive: bool, aliases: bool) -> JointMapping:
    src_index = {n: i for i, n in enumerate(src.joints)}
    index = np.full(len(dst), -1, dtype=np.int64)
    approx = np.zeros(len(dst), dtype=bool)
    derived: dict[int, tuple[int, ...]] = {}
    notes: dict[str, str] = {}
    for j, name in enumerate(dst.joints):
        if name in src_index:
            i = src_index[name]
            index[j] = i
            if name in APPROXIMATE and _kind_differs(src, i, dst, j):
                approx[j] = True
                notes[name] = f"{src.kind(i)} -> {dst.kind(j)}: {APPROXIMATE[name]}"
            continue
        if aliases:
            hit = next(((a, note) for a, note in ALIASES.get(name, []) if a in src_index), None)
            if hit is not None:
                index[j] = src_index[hit[0]]
                approx[j] = True
                notes[name] = f"alias of {src.name}:{hit[0]} ({hit[1]})"
                continue
        d = DERIVED.get(name)
        if derive and d is not None and all(s in src_index for s in d.sources):
            ids = tuple(src_index[s] for s in d.sources)
            derived[j] = ids
            kinds_differ = any(src.kind(i) != dst.kind(j) for i in ids)
            sensitive = name in APPROXIMATE or any(s in APPROXIMATE for s in d.sources)
            approx[j] = d.approximate or (kinds_differ and sensitive)
            notes[name] = f"derived: mean of {src.name}:{', '.join(d.sources)} ({d.note})"
    index.setflags(write=False)
    approx.setflags(write=False)
    return JointMapping(src.name, dst.name, index, derived, approx, notes)


def joint_mapping(src: str | JointSet, dst: str | JointSet, *, derive: bool = True,
                  aliases: bool = True) -> JointMapping:
    """The full mapping from ``src`` to ``dst`` (cached; its arrays are read-only).

    Args:
        src, dst: joint-set names or :class:`JointSet` objects.
        derive: fill target joints definable as midpoints of source joints (:data:`DERIVED`).
        aliases: use approximate counterparts under other names (:data:`ALIASES`).
    """
    return _build_mapping(get_joint_set(src), get_joint_set(dst), bool(derive), bool(aliases))


def joint_index_map(src: str | JointSet, dst: str | JointSet, *, aliases: bool = True) -> np.ndarray:
    """``(J_dst,)`` int array: for each target joint the source index with the same name (or alias), else ``-1``.

    Derived joints are not included (they are ``-1``); use :func:`joint_mapping` or :func:`map_keypoints` for them.
    """
    return joint_mapping(src, dst, derive=False, aliases=aliases).index.copy()


def approximate_mask(src: str | JointSet, dst: str | JointSet, *, derive: bool = True,
                     aliases: bool = True) -> np.ndarray:
    """``(J_dst,)`` bool: target joints whose mapped value only approximates the target point."""
    return joint_mapping(src, dst, derive=derive, aliases=aliases).approximate.copy()


def _apply(m: JointMapping, arr: np.ndarray, confidence_last: bool) -> np.ndarray:
    a = np.asarray(arr, dtype=float)
    n_src = len(get_joint_set(m.src))
    if a.ndim < 2 or a.shape[-2] != n_src:
        raise KeypointsError(
            f"cannot map keypoints of shape {a.shape} from joint set {m.src!r}: expected (..., {n_src}, D)",
            hint=f"pass an array whose second-to-last axis has the {n_src} joints of {m.src!r}")
    out = np.full(a.shape[:-2] + (len(m.index), a.shape[-1]), np.nan)
    hit = m.index >= 0
    out[..., hit, :] = a[..., m.index[hit], :]
    for j, ids in m.derived.items():
        vals = a[..., list(ids), :]
        v = vals.mean(axis=-2)
        if confidence_last:
            v[..., -1] = vals[..., -1].min(axis=-1)
        out[..., j, :] = v
    return out


def map_keypoints(arr: np.ndarray, src: str | JointSet, dst: str | JointSet, *, derive: bool = True,
                  aliases: bool = True, confidence_last: bool = False) -> np.ndarray:
    """Re-express keypoints of joint set ``src`` in joint set ``dst``.

    Args:
        arr: ``(..., J_src, D)`` values per joint (pixels, metres, with or without a confidence channel).
        src, dst: joint-set names or objects.
        derive: compute derivable target joints as midpoints (:data:`DERIVED`).
        aliases: use approximate counterparts under other names (:data:`ALIASES`).
        confidence_last: the last channel is a confidence: a derived joint gets the minimum of its sources'
            confidences instead of their mean.

    Returns:
        ``(..., J_dst, D)`` float array; NaN where a target joint has no counterpart.

    Raises:
        KeypointsError: ``arr`` does not have ``J_src`` joints on its second-to-last axis.
    """
    return _apply(joint_mapping(src, dst, derive=derive, aliases=aliases), arr, confidence_last)


def describe_mapping(src: str | JointSet, dst: str | JointSet, *, derive: bool = True, aliases: bool = True) -> str:
    """A human-readable table, one line per target joint: where its value comes from, ``~`` if approximate."""
    m = joint_mapping(src, dst, derive=derive, aliases=aliases)
    s, d = get_joint_set(src), get_joint_set(dst)
    lines = [f"{s.name} -> {d.name}"]
    for j, name in enumerate(d.joints):
        if m.index[j] >= 0:
            how = s.joints[m.index[j]]
        elif j in m.derived:
            how = "mean(" + ", ".join(s.joints[i] for i in m.derived[j]) + ")"
        else:
            how = "-"
        flag = "~" if m.approximate[j] else " "
        lines.append(f"{j:4d} {name:28s} {flag} {how}")
    return "\n".join(lines)


__all__ = [
    "ALIASES", "APPROXIMATE", "DERIVED", "JOINT_CENTRE", "KEYPOINT", "Derivation", "JointMapping",
    "approximate_mask", "describe_mapping", "joint_index_map", "joint_mapping", "map_keypoints",
]
