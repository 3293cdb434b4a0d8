"""Gripper open/close from hand keypoints on a synthetic sequence (known opening, random hand pose and size,
keypoint noise): the decision's error rate is measured and bounded."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.apps.teleop.gripper import GripperFromHand, hand_opening
from mocap.errors import MocapError
from mocap.geometry.rotations import rotvec_to_matrix
from mocap.live.stream import PersonSkeleton, SkeletonDescription, identity_quats
from tests.apps.teleop.operator import HAND, description, hand_points


def synthetic_sequence(rng, seconds: float = 60.0, fps: float = 30.0, noise_m: float = 0.005):
    """``(openings (T,), hand points (T, 9, 3))``: holds of 0.5-2 s open or closed, 0.3 s smooth transitions, a
    slowly turning and moving hand of random size, Gaussian keypoint noise."""
    n = int(seconds * fps)
    opening = np.empty(n)
    k, state = 0, 1.0
    while k < n:
        hold = int(rng.uniform(0.5, 2.0) * fps)
        opening[k:k + hold] = state
        k += hold
        trans = int(0.3 * fps)
        s = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, trans))
        opening[k:k + trans] = (state + (1 - 2 * state) * s)[: max(0, min(trans, n - k))]
        k += trans
        state = 1.0 - state
    rv = np.cumsum(rng.normal(0, 0.05, (n, 3)), axis=0)  # random walk of the hand's rotation
    pos = np.array([0.4, -0.2, 1.2]) + np.cumsum(rng.normal(0, 0.003, (n, 3)), axis=0)
    size = rng.uniform(0.85, 1.15)
    pts = np.empty((n, 9, 3))
    for i in range(n):
        p = hand_points(np.zeros(3), rotvec_to_matrix(rv[i]), opening[i]) * size
        pts[i] = pos[i] + p + rng.normal(0, noise_m, (9, 3))
    return opening, pts


def _person(desc: SkeletonDescription, pts: np.ndarray) -> PersonSkeleton:
    X = np.full((desc.n_joints, 3), np.nan)
    X[-len(HAND):] = pts
    conf = np.where(np.isfinite(X).all(1), 0.9, 0.0)
    return PersonSkeleton(0, X, conf, identity_quats(desc.n_joints), identity_quats(desc.n_joints))


@pytest.mark.parametrize("noise_mm,max_error", [(5.0, 0.01), (10.0, 0.03)])
def test_gripper_decision_error_rate(noise_mm, max_error):
    rng = np.random.default_rng(int(noise_mm))
    desc = description()
    errors = total = 0
    for _ in range(3):  # three hands of different size and motion
        opening, pts = synthetic_sequence(rng, noise_m=noise_mm / 1000)
        g = GripperFromHand(desc, "right")
        decided = np.array([g.update(_person(desc, p)).closed for p in pts])
        truth = np.where(opening < 0.35, 1, np.where(opening > 0.65, 0, -1))  # -1: half-open, no ground truth
        sure = truth >= 0
        errors += int(np.sum(decided[sure] != truth[sure].astype(bool)))
        total += int(sure.sum())
    rate = errors / total
    print(f"gripper decision error rate at {noise_mm} mm keypoint noise: {rate:.4f} ({errors}/{total} frames)")
    assert rate <= max_error


def test_opening_ratio_of_open_and_closed_hands():
    R = np.eye(3)
    open_ = hand_points(np.zeros(3), R, 1.0)
    fist = hand_points(np.zeros(3), R, 0.0)
    r_open = hand_opening(open_[0], open_[5:9], open_[1:5])
    r_fist = hand_opening(fist[0], fist[5:9], fist[1:5])
    assert r_open > 1.7 and r_fist < 1.0
    assert np.isnan(hand_opening(open_[0], np.full((4, 3), np.nan), open_[1:5]))


def test_gripper_holds_when_the_hand_is_not_seen_and_needs_hand_points():
    desc = description()
    g = GripperFromHand(desc, "right")
    fist = hand_points(np.array([0.4, 0, 1.2]), np.eye(3), 0.0)
    assert g.update(_person(desc, fist)).closed
    p = _person(desc, fist)
    p.joint_confidence[:] = 0.0
    cmd = g.update(p)
    assert cmd.closed and not cmd.measured
    coco = SkeletonDescription("coco17", ["right_wrist"], [-1], np.zeros((1, 3)))
    with pytest.raises(MocapError, match="hand keypoints"):
        GripperFromHand(coco, "right")
