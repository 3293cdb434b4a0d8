"""A recorded operator for the teleop tests: CMU clip 131_01 (start, walk, stop; the arm swings) as a skeleton
stream with coco17 body points plus right-hand points placed from the clip's own hand rotation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mocap.live.stream import PersonSkeleton, SkeletonDescription, SkeletonFrame, TrackState, identity_quats
from mocap.skeletons import get_joint_set

#: coco17 name -> CMU BVH joint
CMU = {"nose": "Head", "left_shoulder": "LeftShoulder", "right_shoulder": "RightShoulder", "left_elbow": "LeftElbow",
       "right_elbow": "RightElbow", "left_wrist": "LeftWrist", "right_wrist": "RightWrist", "left_hip": "LeftHip",
       "right_hip": "RightHip", "left_knee": "LeftKnee", "right_knee": "RightKnee", "left_ankle": "LeftAnkle",
       "right_ankle": "RightAnkle"}
HAND = ["right_hand_wrist", "right_index_mcp", "right_middle_mcp", "right_ring_mcp", "right_pinky_mcp",
        "right_index_tip", "right_middle_tip", "right_ring_tip", "right_pinky_tip"]


def description() -> SkeletonDescription:
    """coco17 + the right hand's wrist, knuckles and fingertips (names of ``mocap.skeletons``)."""
    js = get_joint_set("coco17")
    names = list(js.joints) + HAND
    parents = list(js.parents) + [names.index("right_wrist")] + [len(js.joints)] * 8
    return SkeletonDescription("coco17+right_hand", names, np.asarray(parents), np.zeros((len(names), 3)))


def hand_points(wrist: np.ndarray, R: np.ndarray, opening: float) -> np.ndarray:
    """``(9, 3)`` hand points (HAND order) of a hand at ``wrist`` with rotation ``R`` (x along the hand, y towards
    the thumb side, z out of the back of the hand), ``opening`` 1 = flat, 0 = fist."""
    across = np.array([0.03, 0.01, -0.01, -0.03])
    mcp = np.array([[0.09, a, 0.0] for a in across])
    ang = (1 - opening) * np.deg2rad(250)  # total flexion along the finger
    finger = 0.085 * np.array([np.cos(ang / 2), 0.0, -np.sin(ang / 2)]) * np.sinc(ang / (2 * np.pi))
    tips = mcp + finger
    local = np.vstack([np.zeros(3), mcp, tips])
    return wrist + local @ R.T


def cmu_operator(bvh: Path, step: int = 4, person_id: int = 0, t0: float = 0.0):
    """``(description, [(time, SkeletonFrame)])`` at 120/step Hz from a CMU BVH clip."""
    from mocap.export.bvh import read_bvh

    anim = read_bvh(bvh, scale=0.056444, up="y")
    P_world, G_world = anim.world_transforms()
    desc = description()
    idx = {k: anim.joint_names.index(v) for k, v in CMU.items()}
    hand = anim.joint_names.index("rhand")
    fingers = anim.joint_names.index("RFingers")
    off = anim.offsets[fingers] / np.linalg.norm(anim.offsets[fingers])  # along the hand, in the hand's frame
    a = np.eye(3)[np.argmin(np.abs(off))]
    across = a - off * (off @ a)
    across /= np.linalg.norm(across)
    frames = []
    for k, i in enumerate(range(0, anim.n_frames, step)):
        X = np.full((desc.n_joints, 3), np.nan)
        for name, j in idx.items():
            X[desc.index(name)] = P_world[i, j]
        x = P_world[i, fingers] - P_world[i, hand]
        x /= np.linalg.norm(x)
        y = G_world[i, hand] @ across
        y -= x * (x @ y)
        y /= np.linalg.norm(y)
        R = np.column_stack([x, y, np.cross(x, y)])
        X[len(desc.joint_names) - len(HAND):] = hand_points(P_world[i, idx["right_wrist"]], R, 1.0)
        conf = np.where(np.isfinite(X).all(1), 0.95, 0.0)
        p = PersonSkeleton(person_id, X, conf, identity_quats(len(X)), identity_quats(len(X)), TrackState.TRACKED)
        t = t0 + k * step / anim.fps
        frames.append((t, SkeletonFrame(t, k, [p], desc.joint_set)))
    return desc, frames
