"""Plain-text summaries of keypoint data: shape, joint set, cameras, frame rate, and what is missing."""

from __future__ import annotations

import numpy as np

from mocap.keypoints._common import joint_names
from mocap.keypoints.containers import Keypoints2D, Keypoints3D


def missing_fraction_per_joint(kp: Keypoints2D | Keypoints3D) -> np.ndarray:
    """``(J,)`` fraction of points with a missing coordinate, over frames, cameras (2D) and people.

    NaN for a joint when there is no frame or person at all.
    """
    xy = kp.data[..., :2]  # (..., J, 2)
    miss = ~np.isfinite(xy).all(-1)  # (..., J)
    flat = miss.reshape(-1, kp.n_joints)
    if flat.shape[0] == 0:
        return np.full(kp.n_joints, np.nan)
    return flat.mean(axis=0)


def describe_keypoints(kp: Keypoints2D | Keypoints3D, source: str = "") -> str:
    """A multi-line human-readable summary of 2D or 3D keypoints.

    Lists the kind, shape, joint set, cameras (2D), people (3D), frame rate, duration, and the percentage of
    missing points per joint (and per camera for 2D, plus quality field means for 3D).
    """
    is2d = isinstance(kp, Keypoints2D)
    T = kp.n_frames
    ts = kp.timestamps
    lines = []
    if source:
        lines.append(f"{source}")
    dims = "(frames, cameras, people, joints, u/v/conf)" if is2d else "(frames, people, joints, x/y/z/conf)"
    lines.append(f"{'2D' if is2d else '3D'} keypoints, shape {tuple(kp.data.shape)} {dims}")
    lines.append(f"joint set: {kp.joint_set} ({kp.n_joints} joints)")
    if is2d:
        lines.append(f"cameras ({kp.n_cameras}): {', '.join(kp.camera_names)}")
        lines.append(f"people slots: {kp.n_people}")
    else:
        lines.append(f"people ({kp.n_people}), ids: {kp.person_ids.tolist()}")
    span = f", {ts[0]:.3f}-{ts[-1]:.3f} s" if T else ""
    lines.append(f"frames: {T} at {kp.fps:g} fps{span}")
    miss_all = ~np.isfinite(kp.data[..., :2]).all(-1)
    total = 100.0 * miss_all.mean() if miss_all.size else float("nan")
    lines.append(f"missing: {total:.1f}% of all points")
    if is2d and kp.n_cameras:
        per_cam = [100.0 * miss_all[:, c].mean() if miss_all[:, c].size else float("nan")
                   for c in range(kp.n_cameras)]
        lines.append("missing per camera: " + ", ".join(f"{n} {m:.1f}%" for n, m in zip(kp.camera_names, per_cam)))
    if not is2d and kp.quality:
        for name, q in sorted(kp.quality.items()):
            qf = np.asarray(q, dtype=float)
            ok = np.isfinite(qf)
            if ok.any():
                lines.append(f"quality {name}: mean {qf[ok].mean():.3g}, max {qf[ok].max():.3g}")
            else:
                lines.append(f"quality {name}: no finite values")
    names = joint_names(kp.joint_set, kp.n_joints, kp.meta)
    frac = missing_fraction_per_joint(kp)
    if kp.n_joints:
        width = max(len(n) for n in names)
        lines.append("missing per joint:")
        for n, f in zip(names, frac):
            bar = "#" * int(round(20 * f)) if np.isfinite(f) else ""
            lines.append(f"  {n:<{width}}  {100 * f:5.1f}%  {bar}")
    return "\n".join(lines)
