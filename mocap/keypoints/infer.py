"""Which joint set imported 2D keypoints use, from the data itself (:func:`infer_joint_set`)."""

from __future__ import annotations

import numpy as np

from mocap.errors import KeypointsError

#: Joint set per number of joints in a person's keypoint list (25 is ambiguous: see :func:`infer_joint_set`).
JOINT_SETS_BY_COUNT = {17: "coco17", 18: "coco18", 26: "halpe26", 33: "mediapipe33", 133: "coco_wholebody133",
                       135: "body135"}
#: Median offsets (in shoulder or hip widths) below which joint 1 / joint 8 of a 25-joint set is BODY_25's neck /
#: mid hip; on real detections BODY_25 gives ~0.05 and BODY_25B (left eye / right elbow there) 0.5 and more.
_MIDPOINT_TOL = 0.25


def _midpoint_offsets(pts: np.ndarray, mid: int, a: int, b: int) -> np.ndarray:
    """Per instance ``|p_mid - (p_a + p_b) / 2| / |p_a - p_b|`` of ``pts (N, J, 3)`` where all three are seen."""
    seen = np.isfinite(pts[..., :2]).all(-1) & (np.nan_to_num(pts[..., 2], nan=0.0) > 0)
    ok = seen[:, mid] & seen[:, a] & seen[:, b]
    p = pts[ok][..., :2]
    width = np.linalg.norm(p[:, a] - p[:, b], axis=-1)
    d = np.linalg.norm(p[:, mid] - 0.5 * (p[:, a] + p[:, b]), axis=-1)
    return d[width > 1e-6] / width[width > 1e-6]


def infer_joint_set(data: np.ndarray) -> tuple[str, str]:
    """Name the joint set of 2D keypoints from their joint count, and for 25 joints from their geometry.

    17 / 18 / 26 / 33 / 133 / 135 joints are COCO-17, OpenPose COCO-18, Halpe-26, MediaPipe-33, COCO-WholeBody-133
    and OpenPose BODY_135. 25 joints are OpenPose BODY_25 or BODY_25B: BODY_25 has a neck (joint 1) between the
    shoulders (2, 5) and a mid hip (joint 8) between the hips (9, 12); in BODY_25B those indices are the left eye
    and the right elbow. The median offset of joints 1 and 8 from those midpoints, in shoulder / hip widths,
    decides (BODY_25 when both are below 0.25).

    Args:
        data: ``(..., J, 2|3)`` keypoints ``(u, v[, confidence])``, pixels, NaN (or confidence 0) where missing.

    Returns:
        ``(joint set name, reason)``: the reason is a sentence saying why (printed by the CLI).

    Raises:
        KeypointsError: a joint count that names no known joint set.
    """
    a = np.asarray(data, dtype=float)
    if a.ndim < 2 or a.shape[-1] not in (2, 3):
        raise KeypointsError(f"keypoints of shape {a.shape}: expected (..., joints, 2 or 3)")
    J = a.shape[-2]
    if J in JOINT_SETS_BY_COUNT:
        name = JOINT_SETS_BY_COUNT[J]
        return name, f"{J} joints per person: {name}"
    if J != 25:
        known = ", ".join(f"{n} ({k})" for k, n in sorted(JOINT_SETS_BY_COUNT.items()))
        raise KeypointsError(f"{J} joints per person match no known joint set ({known}, body25/body25b (25))",
                             hint="pass the joint set explicitly (--joint-set NAME)")
    pts = a.reshape(-1, J, a.shape[-1])
    if pts.shape[-1] == 2:
        pts = np.concatenate([pts, np.ones(pts.shape[:-1] + (1,))], axis=-1)
    neck = _midpoint_offsets(pts, 1, 2, 5)
    hip = _midpoint_offsets(pts, 8, 9, 12)
    if neck.size + hip.size == 0:
        return "body25", ("25 joints per person, but no person shows the shoulders and hips needed to tell BODY_25 "
                          "from BODY_25B: assuming body25 (pass --joint-set body25b if that is wrong)")
    med = [float(np.median(x)) if x.size else np.nan for x in (neck, hip)]
    is_25 = all(not (m >= _MIDPOINT_TOL) for m in med) and np.isfinite(med).any()
    what = (f"joint 1 lies {med[0]:.2f} shoulder widths from the shoulders' midpoint and joint 8 {med[1]:.2f} hip "
            f"widths from the hips' midpoint (median over {max(neck.size, hip.size)} people)")
    if is_25:
        return "body25", f"25 joints per person: body25 (BODY_25: {what}, so they are the neck and mid hip)"
    return "body25b", f"25 joints per person: body25b (BODY_25B: {what}, too far for a neck and a mid hip)"


__all__ = ["JOINT_SETS_BY_COUNT", "infer_joint_set"]
