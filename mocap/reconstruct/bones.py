"""Bone lengths: estimate each person's lengths, measure their stability, and constrain a sequence to them.

A rigid skeleton keeps its bone lengths; triangulation noise does not. Estimating one length per bone and person
(median over confident frames) and moving joints to honour it removes a large part of the noise along bones.
Arrays: ``xyz (T, P, J, 3)`` metres, ``conf (T, P, J)``; bones are ``(parent, child)`` joint-index pairs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mocap.errors import MocapError


def bones_of(joint_set) -> list[tuple[int, int]]:
    """``(parent, child)`` pairs of a joint set given as a name, a :class:`~mocap.skeletons.JointSet`, a parents
    sequence (``-1`` for roots) or already as pairs."""
    if isinstance(joint_set, str):
        from mocap.skeletons import get_joint_set

        return list(get_joint_set(joint_set).bones)
    if hasattr(joint_set, "bones"):
        return list(joint_set.bones)
    seq = list(joint_set)
    if seq and isinstance(seq[0], tuple | list):
        return [(int(a), int(b)) for a, b in seq]
    return [(int(p), i) for i, p in enumerate(seq) if int(p) >= 0]


# Segments that are rigid in a real body (the same length in every frame), by side-less joint name. Links such as
# nose-shoulder or shoulder-hip change length with the neck and spine and must not be constrained.
RIGID_SEGMENTS = frozenset({
    ("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle"), ("nose", "eye"), ("eye", "ear"),
    ("ankle", "heel"), ("ankle", "big_toe"), ("ankle", "small_toe"), ("heel", "big_toe"), ("big_toe", "small_toe"),
})
_FINGERS = ("thumb", "index", "middle", "ring", "pinky")


def _sideless(name: str) -> str:
    for side in ("left_", "right_"):
        if name.startswith(side):
            return name[len(side):]
    return name


def rigid_bones(joint_set) -> list[tuple[int, int]]:
    """The bones of a joint set (name or :class:`~mocap.skeletons.JointSet`) that are rigid body segments:
    upper arm, forearm, thigh, shank, face and foot links, and finger phalanges (see :data:`RIGID_SEGMENTS`)."""
    if isinstance(joint_set, str):
        from mocap.skeletons import get_joint_set

        joint_set = get_joint_set(joint_set)
    names = joint_set.joints
    out = []
    for p, c in joint_set.bones:
        a, b = _sideless(names[p]), _sideless(names[c])
        side_ok = names[p].startswith("left_") == names[c].startswith("left_") or "_" not in names[p]
        finger = any(f in names[p] for f in _FINGERS) and any(f in names[c] for f in _FINGERS)
        if ((a, b) in RIGID_SEGMENTS or (b, a) in RIGID_SEGMENTS or finger) and side_ok:
            out.append((p, c))
    return out


def _check_xyz(xyz: np.ndarray) -> np.ndarray:
    xyz = np.asarray(xyz, dtype=float)
    if xyz.ndim == 3:
        xyz = xyz[:, None]
    if xyz.ndim != 4 or xyz.shape[-1] != 3:
        raise MocapError(f"3D points have shape {xyz.shape}; expected (frames, people, joints, 3)")
    return xyz


def bone_lengths_per_frame(xyz: np.ndarray, bones: Sequence[tuple[int, int]]) -> np.ndarray:
    """Lengths ``(T, P, B)`` of every bone in every frame (NaN where an end is missing)."""
    xyz = _check_xyz(xyz)
    b = np.asarray(bones, dtype=int).reshape(-1, 2)
    return np.linalg.norm(xyz[:, :, b[:, 1]] - xyz[:, :, b[:, 0]], axis=-1)


def estimate_bone_lengths(xyz: np.ndarray, bones: Sequence[tuple[int, int]], conf: np.ndarray | None = None,
                          min_conf: float = 0.5) -> np.ndarray:
    """Each person's bone lengths: the median over frames where both ends exist (and are confident).

    Args:
        xyz: ``(T, P, J, 3)`` (or ``(T, J, 3)``) positions, metres.
        bones: ``(parent, child)`` pairs (see :func:`bones_of`).
        conf: optional ``(T, P, J)`` confidences; frames where either end is below ``min_conf`` are ignored.

    Returns:
        ``(P, B)`` lengths in metres; NaN for a bone never seen.
    """
    xyz = _check_xyz(xyz)
    L = bone_lengths_per_frame(xyz, bones)
    if conf is not None:
        c = np.asarray(conf, dtype=float).reshape(xyz.shape[:3])
        b = np.asarray(bones, dtype=int).reshape(-1, 2)
        ok = (c[:, :, b[:, 0]] >= min_conf) & (c[:, :, b[:, 1]] >= min_conf)
        L = np.where(ok, L, np.nan)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(L, axis=0)


@dataclass
class BoneStability:
    """Bone-length stability of a sequence, per person and bone (arrays ``(P, B)``).

    Attributes:
        median_m: median length, metres.
        std_m: standard deviation, metres.
        cv: coefficient of variation (std / median).
        p95_dev_m: 95th percentile of the absolute deviation from the median, metres.
    """

    median_m: np.ndarray
    std_m: np.ndarray
    cv: np.ndarray
    p95_dev_m: np.ndarray

    def summary(self) -> dict[str, float]:
        """Mean over bones and people: ``{"std_mm", "cv_percent", "p95_dev_mm"}``."""
        return {"std_mm": float(np.nanmean(self.std_m) * 1000), "cv_percent": float(np.nanmean(self.cv) * 100),
                "p95_dev_mm": float(np.nanmean(self.p95_dev_m) * 1000)}


def bone_length_stability(xyz: np.ndarray, bones: Sequence[tuple[int, int]]) -> BoneStability:
    """How much each bone's length varies over the sequence ``xyz`` ``(T, P, J, 3)``."""
    import warnings

    L = bone_lengths_per_frame(xyz, bones)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(L, axis=0)
        std = np.nanstd(L, axis=0)
        p95 = np.nanpercentile(np.abs(L - med), 95, axis=0)
    return BoneStability(med, std, std / med, p95)


def _tree_order(bones: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Bones sorted root-outwards (a parent's bone before its children's), for a stable projection sweep."""
    children: dict[int, list[int]] = {}
    has_parent = set()
    for p, c in bones:
        children.setdefault(p, []).append(c)
        has_parent.add(c)
    roots = [p for p in children if p not in has_parent]
    order, seen = [], set()
    stack = list(reversed(roots))
    while stack:
        j = stack.pop()
        for c in children.get(j, []):
            if (j, c) not in seen:
                seen.add((j, c))
                order.append((j, c))
                stack.append(c)
    order += [b for b in bones if tuple(b) not in seen]
    return order


def constrain_bone_lengths(xyz: np.ndarray, lengths: np.ndarray, bones: Sequence[tuple[int, int]],
                           conf: np.ndarray | None = None, iterations: int = 10) -> np.ndarray:
    """Move joints so that every bone has its target length (iterative projection along the bone tree).

    Each pass visits bones root-outwards and moves both ends along the bone, in proportion to the other end's
    confidence (a confident joint moves less). The whole sequence and all people are processed at once.

    Args:
        xyz: ``(T, P, J, 3)`` (or ``(T, J, 3)``) positions, metres; NaN joints are left alone.
        lengths: ``(P, B)`` (or ``(B,)``) target lengths, e.g. from :func:`estimate_bone_lengths`.
        bones: ``(parent, child)`` pairs matching ``lengths``.
        conf: optional ``(T, P, J)`` confidences (default equal).
        iterations: projection passes (the error shrinks geometrically).

    Returns:
        Constrained positions, same shape as ``xyz``.
    """
    squeeze = np.asarray(xyz).ndim == 3
    X = _check_xyz(xyz).copy()
    T, P, J, _ = X.shape
    b = np.asarray(bones, dtype=int).reshape(-1, 2)
    L = np.broadcast_to(np.asarray(lengths, dtype=float).reshape(-1, b.shape[0]), (P, b.shape[0]))
    w = np.ones((T, P, J)) if conf is None else np.nan_to_num(np.asarray(conf, float).reshape(T, P, J), nan=0.0)
    w = np.clip(w, 1e-3, None)
    groups = _bone_groups(tuple(tuple(x) for x in b.tolist()))
    for _ in range(iterations):
        for k, p, c in groups:
            d = X[:, :, c] - X[:, :, p]  # (T, P, G, 3)
            cur = np.linalg.norm(d, axis=-1)
            ok = np.isfinite(cur) & (cur > 1e-9) & np.isfinite(L[None, :, k])
            if not ok.any():
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = np.where(ok, (cur - L[None, :, k]) / cur, 0.0)[..., None] * d
            wp, wc = w[:, :, p], w[:, :, c]
            share_c = (wp / (wp + wc))[..., None]  # the child moves more if the parent is more confident
            X[:, :, c] -= np.where(ok[..., None], share_c * corr, 0.0)
            X[:, :, p] += np.where(ok[..., None], (1 - share_c) * corr, 0.0)
    return X[:, 0] if squeeze else X


@functools.lru_cache(maxsize=64)
def _bone_groups(bones: tuple[tuple[int, int], ...]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The bones in root-outwards order (:func:`_tree_order`), packed into groups of bones with no joint in common:
    ``(bone indices, parents, children)`` per group. A bone goes one group after the last earlier bone it shares a
    joint with, so every two bones that touch the same joint keep their order; bones with no joint in common move
    disjoint joints, so processing a group at once gives exactly the sequential sweep."""
    index = {b: k for k, b in enumerate(bones)}
    level_of_joint: dict[int, int] = {}
    groups: list[list[tuple[int, int, int]]] = []
    for p, c in _tree_order(list(bones)):
        g = max(level_of_joint.get(p, -1), level_of_joint.get(c, -1)) + 1
        level_of_joint[p] = level_of_joint[c] = g
        if g == len(groups):
            groups.append([])
        groups[g].append((index[(p, c)], p, c))
    return [tuple(np.array(col, dtype=int) for col in zip(*grp)) for grp in groups]


class RunningBoneLengths:
    """A causal (online) estimate of one person's bone lengths: per bone, the median of its last ``window``
    confident samples (both ends measured with confidence ``>= min_conf``). Future frames are never used.

    Args:
        bones: ``(parent, child)`` pairs (e.g. :func:`rigid_bones`).
        window: samples kept per bone.
        min_samples: a bone's length is NaN until it has this many samples.
        min_conf: confidence a joint needs to contribute.
    """

    def __init__(self, bones: Sequence[tuple[int, int]], window: int = 300, min_samples: int = 10,
                 min_conf: float = 0.5) -> None:
        self.bones = np.asarray(bones, dtype=int).reshape(-1, 2)
        self.window, self.min_samples, self.min_conf = int(window), int(min_samples), float(min_conf)
        self.reset()

    def reset(self) -> None:
        B = len(self.bones)
        self._buf = np.full((self.window, B), np.inf)  # inf = empty: sorts last
        self._next = np.zeros(B, dtype=int)  # per bone: next slot of its ring
        self._count = np.zeros(B, dtype=int)
        self._lengths = np.full(B, np.nan)

    def update(self, xyz: np.ndarray, conf: np.ndarray | None = None) -> np.ndarray:
        """Add one frame ``xyz`` ``(J, 3)`` (metres, NaN = missing) with confidences ``(J,)``; returns the lengths
        ``(B,)`` (NaN for bones with fewer than ``min_samples`` samples)."""
        X = np.asarray(xyz, dtype=float)
        a, c = self.bones[:, 0], self.bones[:, 1]
        L = np.linalg.norm(X[c] - X[a], axis=-1)
        ok = np.isfinite(L)
        if conf is not None:
            cf = np.asarray(conf, dtype=float)
            ok &= (cf[a] >= self.min_conf) & (cf[c] >= self.min_conf)
        k = np.flatnonzero(ok)
        if k.size:
            self._buf[self._next[k], k] = L[k]
            self._next[k] = (self._next[k] + 1) % self.window
            self._count[k] = np.minimum(self._count[k] + 1, self.window)
            srt = np.sort(self._buf[:, k], axis=0)
            n = self._count[k]
            self._lengths[k] = 0.5 * (srt[(n - 1) // 2, np.arange(k.size)] + srt[n // 2, np.arange(k.size)])
        out = self._lengths.copy()
        out[self._count < self.min_samples] = np.nan
        return out

    @property
    def lengths(self) -> np.ndarray:
        """Current lengths ``(B,)`` metres (NaN: too few samples yet)."""
        out = self._lengths.copy()
        out[self._count < self.min_samples] = np.nan
        return out


def bone_tolerance(lengths: np.ndarray, rel_tol: float = 0.25, abs_tol_m: float = 0.05) -> np.ndarray:
    """Allowed length deviation of each bone: ``max(rel_tol * length, abs_tol_m)`` (same shape as ``lengths``)."""
    return np.maximum(rel_tol * np.asarray(lengths, dtype=float), abs_tol_m)


def bone_deviation(xyz: np.ndarray, lengths: np.ndarray, bones: Sequence[tuple[int, int]], rel_tol: float = 0.25,
                   abs_tol_m: float = 0.05) -> np.ndarray:
    """How far every bone's length is from its expected length, in units of its tolerance.

    Args:
        xyz: ``(T, P, J, 3)`` (or ``(T, J, 3)``) positions, metres.
        lengths: ``(P, B)`` (or ``(B,)``) expected lengths, e.g. from :func:`estimate_bone_lengths`.
        bones: ``(parent, child)`` pairs matching ``lengths``.
        rel_tol, abs_tol_m: tolerance ``max(rel_tol * length, abs_tol_m)`` (see :func:`bone_tolerance`).

    Returns:
        ``(T, P, B)`` ``|length - expected| / tolerance`` (``> 1``: inconsistent); NaN where an end is missing or
        the expected length is unknown.
    """
    L = bone_lengths_per_frame(xyz, bones)
    ref = np.broadcast_to(np.asarray(lengths, dtype=float).reshape(-1, L.shape[-1]), L.shape[1:])
    return np.abs(L - ref) / bone_tolerance(ref, rel_tol, abs_tol_m)


def inconsistent_joints(xyz: np.ndarray, lengths: np.ndarray, bones: Sequence[tuple[int, int]],
                        rel_tol: float = 0.25, abs_tol_m: float = 0.05) -> np.ndarray:
    """The joints to blame for inconsistent bone lengths.

    A bone too long or too short says that one of its two ends is wrong, not which. Rules, per frame:

    * a joint with at least two inconsistent bones (deviation > tolerance, see :func:`bone_deviation`) that
      outnumber its consistent ones is to blame (a wrong knee breaks both the thigh and the shin);
    * otherwise an inconsistent bone blames its child (distal) end: proximal joints are detected more reliably,
      and a wrong distal segment (an ankle with its heel, both taken from the other foot) keeps its own bones
      consistent, so counting bones alone cannot tell the knee from the ankle.

    Args:
        xyz: ``(T, P, J, 3)`` (or ``(T, J, 3)``) positions, metres.
        lengths, bones, rel_tol, abs_tol_m: as in :func:`bone_deviation`; ``bones`` are ``(parent, child)``.

    Returns:
        ``(T, P, J)`` (or ``(T, J)``) bool.
    """
    squeeze = np.asarray(xyz).ndim == 3
    xyz = _check_xyz(xyz)
    dev = bone_deviation(xyz, lengths, bones, rel_tol, abs_tol_m)
    bad = dev > 1.0
    good = dev <= 1.0  # NaN: neither
    T, P, J, _ = xyz.shape
    b = np.asarray(bones, dtype=int).reshape(-1, 2)
    n_bad = np.zeros((T, P, J), dtype=np.int32)
    n_good = np.zeros((T, P, J), dtype=np.int32)
    for k, (a, c) in enumerate(b):
        n_bad[:, :, a] += bad[:, :, k]
        n_bad[:, :, c] += bad[:, :, k]
        n_good[:, :, a] += good[:, :, k]
        n_good[:, :, c] += good[:, :, k]
    out = (n_bad >= 2) & (n_bad > n_good)
    blamed = out.copy()
    for k, (a, c) in enumerate(b):
        blamed[:, :, c] |= bad[:, :, k] & ~out[:, :, a]
    return blamed[:, 0] if squeeze else blamed


__all__ = ["bones_of", "rigid_bones", "RIGID_SEGMENTS", "bone_lengths_per_frame", "estimate_bone_lengths",
           "BoneStability", "bone_length_stability", "constrain_bone_lengths", "RunningBoneLengths", "bone_tolerance",
           "bone_deviation", "inconsistent_joints"]
