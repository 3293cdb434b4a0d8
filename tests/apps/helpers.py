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


#: Synthetic gesture sequence: event -> true time (s), the midpoint of its motion.
SYNTH_EVENTS = {"crouch": 3.0, "lean_left": 5.5, "punch_right": 7.5, "arm_raise_left": 9.5, "hands_together": 11.5,
                "lean_right": 13.5}


def _smooth(t: np.ndarray, t_mid: float, dur: float) -> np.ndarray:
    """0 -> 1 smoothstep centred on ``t_mid`` lasting ``dur`` seconds."""
    x = np.clip((t - t_mid) / dur + 0.5, 0, 1)
    return x * x * (3 - 2 * x)


def synthetic_gestures(fps: float = 60.0, duration: float = 15.0, noise_m: float = 0.004, seed: int = 0
                       ) -> Keypoints3D:
    """COCO-17 keypoints of a person (1.75 m, facing +X) standing still for 2 s, then performing the gestures of
    :data:`SYNTH_EVENTS`, each motion centred on its time (crouch 0.4 s down / up 1 s later; leans 0.4 s, back
    after 1 s; punch 0.15 s, back after 0.5 s; arm raise 0.3 s, down after 1 s; hands together 0.3 s, apart after
    1 s), with Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration * fps)) / fps
    T = len(t)
    names = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
             "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
             "right_knee", "left_ankle", "right_ankle")
    base = {"nose": (0.09, 0, 1.62), "left_eye": (0.07, 0.03, 1.65), "right_eye": (0.07, -0.03, 1.65),
            "left_ear": (0.0, 0.075, 1.63), "right_ear": (0.0, -0.075, 1.63), "left_shoulder": (0, 0.18, 1.44),
            "right_shoulder": (0, -0.18, 1.44), "left_elbow": (0, 0.2, 1.15), "right_elbow": (0, -0.2, 1.15),
            "left_wrist": (0.02, 0.21, 0.89), "right_wrist": (0.02, -0.21, 0.89), "left_hip": (0, 0.09, 0.95),
            "right_hip": (0, -0.09, 0.95), "left_knee": (0.01, 0.09, 0.52), "right_knee": (0.01, -0.09, 0.52),
            "left_ankle": (0, 0.09, 0.09), "right_ankle": (0, -0.09, 0.09)}
    X = np.tile(np.array([base[n] for n in names], float), (T, 1, 1))
    ix = names.index
    upper = [ix(n) for n in names if not n.endswith(("hip", "knee", "ankle"))]
    # crouch: everything above the knees down by 0.4 m, knees forward and down
    c = _smooth(t, 3.0, 0.4) - _smooth(t, 4.2, 0.4)
    X[:, upper + [ix("left_hip"), ix("right_hip")], 2] -= 0.4 * c[:, None]
    X[:, [ix("left_knee"), ix("right_knee")], 0] += 0.3 * c[:, None]
    X[:, [ix("left_knee"), ix("right_knee")], 2] -= 0.15 * c[:, None]
    # leans: the upper body rotates about the pelvis around the forward (x) axis, 25 degrees
    for t_mid, sign in ((5.5, 1.0), (13.5, -1.0)):
        a = sign * np.radians(25) * (_smooth(t, t_mid, 0.4) - _smooth(t, t_mid + 1.2, 0.4))
        pel = 0.5 * (X[:, ix("left_hip")] + X[:, ix("right_hip")])
        rel = X[:, upper] - pel[:, None]
        ca, sa = np.cos(a)[:, None], np.sin(a)[:, None]
        y, z = rel[..., 1].copy(), rel[..., 2].copy()
        rel[..., 1], rel[..., 2] = ca * y + sa * z, -sa * y + ca * z  # positive: top toward +y (the left)
        X[:, upper] = pel[:, None] + rel
    # punch (right): wrist from the side to straight ahead at shoulder height in 0.15 s, elbow half way
    p = _smooth(t, 7.5, 0.15) - _smooth(t, 8.1, 0.3)
    sh = X[:, ix("right_shoulder")]
    for j, reach in ((ix("right_wrist"), 0.56), (ix("right_elbow"), 0.29)):
        X[:, j] = (1 - p)[:, None] * X[:, j] + p[:, None] * (sh + [reach, 0.0, 0.0])
    # arm raise (left): wrist and elbow above the shoulder
    r = _smooth(t, 9.5, 0.3) - _smooth(t, 10.8, 0.3)
    sh = X[:, ix("left_shoulder")]
    for j, reach in ((ix("left_wrist"), 0.56), (ix("left_elbow"), 0.29)):
        X[:, j] = (1 - r)[:, None] * X[:, j] + r[:, None] * (sh + [0.0, 0.02, reach])
    # hands together in front of the chest
    h = _smooth(t, 11.5, 0.3) - _smooth(t, 12.8, 0.3)
    for s, j in ((1, ix("left_wrist")), (-1, ix("right_wrist"))):
        X[:, j] = (1 - h)[:, None] * X[:, j] + h[:, None] * [0.35, s * 0.03, 1.2]
    X += rng.normal(0, noise_m, X.shape)
    data = np.concatenate([X, np.ones((T, 17, 1))], -1)[:, None]
    return Keypoints3D(data, "coco17", fps=fps)
