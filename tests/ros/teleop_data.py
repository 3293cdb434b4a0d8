"""A real arm motion for the teleop tests: CMU clip 131_01 (walking, arm swing), coco17 joint names, 30 Hz."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: coco17 name -> CMU BVH joint
CMU_ARM = {"right_shoulder": "RightShoulder", "right_elbow": "RightElbow", "right_wrist": "RightWrist",
           "left_shoulder": "LeftShoulder", "left_elbow": "LeftElbow", "left_wrist": "LeftWrist"}


def arm_motion(bvh: Path, step: int = 4) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(times (T,) s, {coco17 joint: positions (T, 3) m})`` of a CMU clip, every ``step``-th frame."""
    from mocap.export.bvh import read_bvh

    anim = read_bvh(bvh, scale=0.056444)
    P = anim.world_positions()[::step]
    times = np.arange(len(P)) * step / anim.fps
    return times, {k: P[:, anim.joint_names.index(v)] for k, v in CMU_ARM.items()}


def people_at(joints: dict[str, np.ndarray], i: int, conf: float = 0.9, pid: int = 0) -> dict:
    """The ``people`` argument of TeleopController.update for frame ``i``."""
    return {pid: ({k: v[i] for k, v in joints.items()}, {k: conf for k in joints})}
