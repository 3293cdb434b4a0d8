"""Draw 2D keypoints on an image (overlay PNGs/videos for checking a detector by eye)."""

from __future__ import annotations

import numpy as np

_COLOURS = [(0, 255, 0), (255, 128, 0), (0, 128, 255), (255, 0, 255), (0, 255, 255), (255, 255, 0)]


def _bones(joint_set: str, n_joints: int) -> list[tuple[int, int]]:
    try:
        from mocap.skeletons import get_joint_set

        js = get_joint_set(joint_set)
    except Exception:  # unknown joint set: points only
        return []
    if len(js) != n_joints:
        return []
    return [b for b in list(js.bones) + list(js.extra_bones) if max(b) < n_joints]


def draw_keypoints(image: np.ndarray, kpts: np.ndarray, joint_set: str = "", min_confidence: float = 0.3,
                   radius: int | None = None) -> np.ndarray:
    """A copy of ``image`` (BGR ``(H, W, 3)``) with ``kpts`` ``(P, J, 3)`` pixels drawn: one colour per person,
    bones of the joint set as lines, joints below ``min_confidence`` or NaN skipped."""
    import cv2

    out = image.copy()
    k = np.asarray(kpts, float)
    if k.ndim == 2:
        k = k[None]
    r = radius or max(2, int(round(max(image.shape[:2]) / 300)))
    bones = _bones(joint_set, k.shape[1])
    for p in range(k.shape[0]):
        col = _COLOURS[p % len(_COLOURS)]
        ok = np.isfinite(k[p, :, :2]).all(-1) & (np.nan_to_num(k[p, :, 2], nan=0.0) >= min_confidence)
        for a, b in bones:
            if ok[a] and ok[b]:
                pa = tuple(int(v) for v in np.round(k[p, a, :2]))
                pb = tuple(int(v) for v in np.round(k[p, b, :2]))
                cv2.line(out, pa, pb, col, max(1, r // 2), cv2.LINE_AA)
        for j in np.flatnonzero(ok):
            cv2.circle(out, tuple(int(v) for v in np.round(k[p, j, :2])), r, (0, 0, 255), -1, cv2.LINE_AA)
    return out
