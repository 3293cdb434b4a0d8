"""Synthetic demonstration streams for the recorder tests: a 6-joint robot, a 3-joint skeleton and one camera
whose image encodes the frame number (so decoded frames can be matched)."""

from __future__ import annotations

import numpy as np

from mocap.apps.record.recorder import DemonstrationRecorder, RecorderConfig
from mocap.live.stream import PersonSkeleton, SkeletonDescription, SkeletonFrame, identity_quats

ROBOT = [f"joint_{i}" for i in range(1, 7)]
DESC = SkeletonDescription("arm3", ["right_shoulder", "right_elbow", "right_wrist"], [-1, 0, 1], np.zeros((3, 3)))
H, W = 48, 64


def image(k: int) -> np.ndarray:
    """A frame whose grey level encodes ``k`` (mod 32, 8 levels apart: survives lossy coding)."""
    img = np.zeros((H, W, 3), np.uint8)
    img[:, :, :] = (k % 32) * 8
    img[: H // 2, : W // 2, 0] = 255
    return img


def robot_q(t: float) -> np.ndarray:
    return 0.3 * np.sin(t + np.arange(6))


def skeleton(t: float) -> SkeletonFrame:
    X = np.array([[0, 0, 1.4], [0.2, 0, 1.2 + 0.1 * np.sin(t)], [0.4, 0.1 * np.cos(t), 1.1]])
    p = PersonSkeleton(0, X, np.ones(3), identity_quats(3), identity_quats(3))
    return SkeletonFrame(t, int(t * 30), [p], "arm3")


def make_recorder(root, fps: int = 30) -> DemonstrationRecorder:
    rec = DemonstrationRecorder(root, RecorderConfig(fps=fps, cameras=["cam01"], robot_type="sim6"))
    rec.describe(DESC)
    return rec


def feed(rec: DemonstrationRecorder, t: float, k: int) -> None:
    """All streams at ``t``; frame number ``k`` in the image; a trajectory commanding ``q(t + 0.1)``."""
    rec.on_robot_state(t, ROBOT, robot_q(t))
    rec.on_skeleton(skeleton(t), t)
    rec.on_image("cam01", t, image(k))
    rec.on_trajectory(t, ROBOT, [0.05, 0.1], np.stack([robot_q(t + 0.05), robot_q(t + 0.1)]))
