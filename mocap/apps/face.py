"""Avatar blendshapes from face keypoints (VRM presets: mouth ``A``, ``Blink_L``, ``Blink_R``).

Only what the keypoints can measure, as ratios that do not depend on the face's size or distance:

- ``A`` (mouth open): inner-lip gap / mouth width (68-point face of COCO-WholeBody or SMPL-X landmarks: inner lips;
  MediaPipe's face mesh: outer lips minus a closed-mouth baseline), mapped linearly from ``OPEN_RANGE``;
- ``Blink_L`` / ``Blink_R``: 1 - eyelid gap / eye width (68-point face), mapped from ``EYE_RANGE``.

Sides are the subject's: ``Blink_L`` is the person's left eye (the avatar's left eye).
"""

from __future__ import annotations

import numpy as np

#: mouth gap / width ratios mapped to ``A`` = 0 and 1.
OPEN_RANGE = (0.08, 0.55)
#: eyelid gap / eye width ratios mapped to fully closed (1) and open (0).
EYE_RANGE = (0.12, 0.28)


def _dist(X: dict[str, np.ndarray], a: str, b: str) -> float:
    return float(np.linalg.norm(X[a] - X[b])) if a in X and b in X else float("nan")


def _ramp(x: float, lo: float, hi: float) -> float:
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def face_blendshapes(joint_names: list[str], positions: np.ndarray,
                     confidence: np.ndarray | None = None, min_conf: float = 0.3) -> dict[str, float]:
    """Blendshape values in [0, 1] for the presets the face keypoints support (empty dict: no face).

    Args:
        joint_names: ``J`` joint names of the skeleton.
        positions: ``(J, 3)`` (or ``(J, 2)``) keypoints; NaN = missing.
        confidence: ``(J,)`` or None; joints below ``min_conf`` are ignored.
    """
    P = np.asarray(positions, float)
    ok = np.isfinite(P).all(-1)
    if confidence is not None:
        ok &= np.asarray(confidence, float) >= min_conf
    X = {n: P[j] for j, n in enumerate(joint_names) if ok[j]}
    out: dict[str, float] = {}
    width = _dist(X, "left_mouth_corner", "right_mouth_corner")
    gap = _dist(X, "inner_upper_lip", "inner_lower_lip")
    base = 0.0
    if not np.isfinite(width):
        width = _dist(X, "face_left_mouth_corner", "face_right_mouth_corner")
    if not np.isfinite(gap):  # outer lips: a closed mouth already has the lips' thickness between them
        gap, base = _dist(X, "face_upper_lip_top", "face_lower_lip_bottom"), 0.35
    if np.isfinite(width) and width > 1e-9 and np.isfinite(gap):
        out["A"] = _ramp(gap / width - base, *OPEN_RANGE)
    for side, S in (("left", "L"), ("right", "R")):
        w = _dist(X, f"{side}_eye_inner", f"{side}_eye_outer")
        g = np.nanmean([_dist(X, f"{side}_eye_upper_inner", f"{side}_eye_lower_inner"),
                        _dist(X, f"{side}_eye_upper_outer", f"{side}_eye_lower_outer")]) \
            if f"{side}_eye_upper_inner" in X else float("nan")
        if np.isfinite(w) and w > 1e-9 and np.isfinite(g):
            out[f"Blink_{S}"] = 1.0 - _ramp(g / w, *EYE_RANGE)
    return out
