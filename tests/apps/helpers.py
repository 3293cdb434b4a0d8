"""Shared test data for the apps: CMU clips as skeleton streams, T-pose keypoints, synthetic gestures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mocap.apps.offline import OfflineStream, keypoints_stream
from mocap.export.ik import STANDARD_JOINTS, STANDARD_PARENTS
from mocap.keypoints.containers import Keypoints3D

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def cmu_keypoints(name: str, frame_step: int = 2, max_frames: int | None = None) -> Keypoints3D:
    """A CMU clip of ``../shared/data/bvh`` as COCO-17 markers (metres, Z up, x forward), ``120 / frame_step`` Hz."""
    from mocap.synthetic.capture import bvh_markers

    X, fps = bvh_markers(SHARED / "data" / "bvh" / f"{name}.bvh", frame_step=frame_step, max_frames=max_frames)
    data = np.concatenate([X, np.ones(X.shape[:2] + (1,))], -1)[:, None]
    return Keypoints3D(data, "coco17", fps=fps)


def cmu_stream(name: str, frame_step: int = 2, max_frames: int | None = None) -> OfflineStream:
    return keypoints_stream(cmu_keypoints(name, frame_step, max_frames))


def standard_tpose(yaw: float = np.pi / 2) -> np.ndarray:
    """``(22, 3)`` positions of the IK rig's standard skeleton in a T-pose (rest facing -Y) turned by ``yaw`` about
    Z (the default faces +X), hips 0.95 m above the floor."""
    off = np.zeros((22, 3))
    table = {"left_hip": (0.09, 0.0, -0.08), "right_hip": (-0.09, 0.0, -0.08), "spine1": (0, 0, 0.12),
             "spine2": (0, 0, 0.12), "spine3": (0, 0, 0.12), "neck": (0, 0, 0.14), "head": (0, 0, 0.2),
             "left_knee": (0, 0, -0.42), "right_knee": (0, 0, -0.42), "left_ankle": (0, 0, -0.41),
             "right_ankle": (0, 0, -0.41), "left_foot": (0, -0.14, -0.05), "right_foot": (0, -0.14, -0.05),
             "left_collar": (0.07, 0, 0.0), "right_collar": (-0.07, 0, 0.0), "left_shoulder": (0.1, 0, 0),
             "right_shoulder": (-0.1, 0, 0), "left_elbow": (0.28, 0, 0), "right_elbow": (-0.28, 0, 0),
             "left_wrist": (0.25, 0, 0), "right_wrist": (-0.25, 0, 0)}
    for j, n in enumerate(STANDARD_JOINTS):
        off[j] = table.get(n, (0, 0, 0))
    X = np.zeros((22, 3))
    for j, p in enumerate(STANDARD_PARENTS):
        X[j] = off[j] if p < 0 else X[p] + off[j]
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    return X @ R.T + np.array([0.0, 0.0, 0.95])


def coco_from_standard(S: np.ndarray) -> np.ndarray:
    """``(..., 17, 3)`` COCO-17 keypoints from standard-skeleton positions ``(..., 22, 3)`` (face points around the
    head: nose ahead, eyes and ears beside it, using the body's left axis)."""
    ix = STANDARD_JOINTS.index
    out = np.zeros(S.shape[:-2] + (17, 3))
    names = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
             "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
             "right_knee", "left_ankle", "right_ankle")
    left = S[..., ix("left_shoulder"), :] - S[..., ix("right_shoulder"), :]
    left /= np.linalg.norm(left, axis=-1, keepdims=True)
    up = S[..., ix("head"), :] - S[..., ix("neck"), :]
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    fwd = np.cross(left, up)
    head = S[..., ix("head"), :]
    face = {"nose": 0.1 * fwd, "left_eye": 0.08 * fwd + 0.03 * left + 0.03 * up,
            "right_eye": 0.08 * fwd - 0.03 * left + 0.03 * up, "left_ear": 0.08 * left, "right_ear": -0.08 * left}
    for k, n in enumerate(names):
        out[..., k, :] = head + face[n] if n in face else S[..., ix(n), :]
    return out
