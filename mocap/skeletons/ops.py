"""Small operations on keypoint arrays that only need a joint set: left/right flipping and drawing edges."""

from __future__ import annotations

import numpy as np

from mocap.errors import KeypointsError
from mocap.skeletons.base import JointSet
from mocap.skeletons.registry import get_joint_set


def flip_left_right(arr: np.ndarray, joint_set: str | JointSet, *, axis: int = -2) -> np.ndarray:
    """Swap every left joint with its right counterpart (the joint set's ``lr_pairs``).

    This relabels joints only; it does not mirror coordinates. Use it to undo a detector's left/right swap, or
    after mirroring an image (mirror the coordinates yourself, then relabel).

    Args:
        arr: ``(..., J, D)`` per-joint values (or any array whose ``axis`` has the ``J`` joints).
        joint_set: name or object.
        axis: the joint axis (default the second-to-last).

    Returns:
        A new array of the same shape with left and right joints exchanged.

    Raises:
        KeypointsError: the joint axis does not have ``J`` entries.
    """
    js = get_joint_set(joint_set)
    a = np.asarray(arr)
    if a.ndim == 0 or not -a.ndim <= axis < a.ndim or a.shape[axis] != len(js):
        raise KeypointsError(f"cannot flip an array of shape {a.shape} with joint set {js.name!r}: "
                             f"axis {axis} should have its {len(js)} joints")
    return np.take(a, js.flip_permutation, axis=axis)


def skeleton_edges(joint_set: str | JointSet) -> np.ndarray:
    """``(E, 2)`` int array of joint-index pairs to draw: the parent links, then the extra drawing edges.

    Face points have no parent; their outline comes from the extra edges (iBUG 68-point sets), the MediaPipe
    face mesh has none (draw its points).
    """
    js = get_joint_set(joint_set)
    edges: list[tuple[int, int]] = []
    seen: set[frozenset[int]] = set()
    for a, b in list(js.bones) + list(js.extra_bones):
        key = frozenset((a, b))
        if key not in seen:
            seen.add(key)
            edges.append((a, b))
    return np.asarray(edges, dtype=np.int64).reshape(-1, 2)
