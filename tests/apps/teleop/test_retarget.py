"""Arm -> end-effector pose: heading frame, relative/absolute position, orientation from hand keypoints or the
body's wrist rotation, workspace clamping."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.apps.teleop.retarget import ArmRetarget, RetargetConfig, hand_frame, heading_frame
from mocap.errors import MocapError
from mocap.geometry.rotations import axis_angle_matrix, matrix_to_quat_xyzw
from mocap.live.stream import PersonSkeleton, SkeletonDescription, identity_quats
from tests.apps.teleop.operator import HAND, description, hand_points


def _person(desc, shoulder, elbow, wrist, hand_R=None, yaw=0.0, conf=0.9, wrist_quat=None):
    """A person facing world direction ``yaw`` (0 = +x): right shoulder at ``shoulder`` (world)."""
    H = axis_angle_matrix("z", yaw)
    X = np.full((desc.n_joints, 3), np.nan)
    X[desc.index("right_shoulder")] = shoulder
    X[desc.index("left_shoulder")] = shoulder + H @ [0, 0.35, 0]
    X[desc.index("right_elbow")] = elbow
    X[desc.index("right_wrist")] = wrist
    if hand_R is not None:
        X[-len(HAND):] = hand_points(wrist, hand_R, 1.0)
    c = np.where(np.isfinite(X).all(1), conf, 0.0)
    g = identity_quats(desc.n_joints)
    if wrist_quat is not None:
        g[desc.index("right_wrist")] = wrist_quat
    return PersonSkeleton(0, X, c, identity_quats(desc.n_joints), g)


def test_heading_frame_axes():
    H = heading_frame([0, 1, 1.4], [0, 0.6, 1.4])  # left shoulder at +y: facing +x
    np.testing.assert_allclose(H, np.eye(3), atol=1e-12)
    H = heading_frame([-1, 0, 1.4], [-0.6, 0.0, 1.3])  # facing +y
    np.testing.assert_allclose(H[:, 0], [0, 1, 0], atol=1e-12)
    assert heading_frame([0, 0, 1], [0, 0, 2]) is None


def test_hand_frame_is_a_rotation_and_follows_the_hand(rng):
    for side in ("left", "right"):
        for _ in range(10):
            R = axis_angle_matrix("z", rng.uniform(-3, 3)) @ axis_angle_matrix("x", rng.uniform(-3, 3))
            w = rng.normal(size=3)
            i, p = w + R @ [0.09, 0.03, 0], w + R @ [0.09, -0.03, 0]
            F = hand_frame(w, i, p, side)
            np.testing.assert_allclose(F.T @ F, np.eye(3), atol=1e-9)
            assert np.linalg.det(F) == pytest.approx(1.0)
            np.testing.assert_allclose(F[:, 0], R[:, 0], atol=1e-9)
            np.testing.assert_allclose(F[:, 2], R[:, 2] * (1 if side == "right" else -1), atol=1e-9)
    assert hand_frame([0, 0, 0], [np.nan, 0, 0], [0, 1, 0], "right") is None


@pytest.mark.parametrize("yaw", [0.0, 1.2, -2.5])
def test_relative_position_and_hand_orientation(yaw):
    desc = description()
    rt = ArmRetarget(RetargetConfig(scale=[2.0, 2.0, 2.0], workspace_min=[-5] * 3, workspace_max=[5] * 3), desc)
    H = axis_angle_matrix("z", yaw)
    s = np.array([0.3, -0.2, 1.4])
    R0 = H @ axis_angle_matrix("y", 0.3)
    p0 = _person(desc, s, s + H @ [0.1, 0, -0.25], s + H @ [0.3, 0, -0.2], R0, yaw)
    arm0, why = rt.arm_pose(p0)
    assert arm0 is not None, why
    ee_p, ee_R = np.array([0.5, 0.1, 0.3]), axis_angle_matrix("x", np.pi)
    rt.engage(arm0, ee_p, ee_R)
    t0 = rt.target(arm0)
    np.testing.assert_allclose(t0.position, ee_p, atol=1e-12)
    np.testing.assert_allclose(t0.rotation, ee_R, atol=1e-9)
    # the wrist moves 10 cm forward and 5 cm up (the operator's frame); the hand turns 0.4 rad about up
    dR = H @ axis_angle_matrix("z", 0.4) @ H.T
    w = s + H @ [0.4, 0, -0.15]
    p1 = _person(desc, s + [0.5, 0.5, 0], s + H @ [0.1, 0, -0.25] + [0.5, 0.5, 0], w + [0.5, 0.5, 0],
                 dR @ R0, yaw)  # the whole person also stepped 0.7 m: no effect (shoulder-anchored)
    t1 = rt.target(rt.arm_pose(p1)[0])
    np.testing.assert_allclose(t1.position, ee_p + 2.0 * np.array([0.1, 0, 0.05]), atol=1e-9)
    np.testing.assert_allclose(t1.rotation, axis_angle_matrix("z", 0.4) @ ee_R, atol=1e-9)


def test_absolute_mode_reach_and_clamp():
    desc = description()
    cfg = RetargetConfig(mode="absolute", orientation="none", offset=[0.3, 0, 0.5], reach=0.6,
                         workspace_min=[0.1, -0.3, 0.1], workspace_max=[0.7, 0.3, 0.8])
    rt = ArmRetarget(cfg, desc)
    s = np.array([0, 0, 1.4])
    stretched = _person(desc, s, s + [0.3, 0, 0], s + [0.6, 0, 0])
    rt.engage(rt.arm_pose(stretched)[0], np.zeros(3), np.eye(3))
    t = rt.target(rt.arm_pose(stretched)[0])
    np.testing.assert_allclose(t.raw_position, [0.9, 0, 0.5], atol=1e-9)  # offset + reach forward
    np.testing.assert_allclose(t.position, [0.7, 0, 0.5], atol=1e-12)
    assert t.clamped
    side = _person(desc, s, s + [0, -0.3, 0], s + [0, -0.6, 0])
    t = rt.target(rt.arm_pose(side)[0])
    assert t.raw_position[1] == pytest.approx(-0.6) and t.position[1] == pytest.approx(-0.3) and t.clamped


def test_body_orientation_from_the_wrist_rotation():
    desc = description()
    desc = SkeletonDescription(desc.joint_set, desc.joint_names, desc.parents, desc.rest_offsets, body_model="anny")
    rt = ArmRetarget(RetargetConfig(orientation="body", workspace_min=[-5] * 3, workspace_max=[5] * 3), desc)
    s = np.array([0, 0, 1.4])
    q0 = matrix_to_quat_xyzw(axis_angle_matrix("x", 0.2))
    p0 = _person(desc, s, s + [0.2, 0, -0.2], s + [0.4, 0, -0.2], wrist_quat=q0)
    rt.engage(rt.arm_pose(p0)[0], np.zeros(3), np.eye(3))
    q1 = matrix_to_quat_xyzw(axis_angle_matrix("x", 0.7))
    t = rt.target(rt.arm_pose(_person(desc, s, s + [0.2, 0, -0.2], s + [0.4, 0, -0.2], wrist_quat=q1))[0])
    np.testing.assert_allclose(t.rotation, axis_angle_matrix("x", 0.5), atol=1e-9)


def test_low_confidence_arm_and_bad_configuration():
    desc = description()
    rt = ArmRetarget(RetargetConfig(), desc)
    s = np.array([0, 0, 1.4])
    arm, why = rt.arm_pose(_person(desc, s, s + [0.2, 0, 0], s + [0.4, 0, 0], conf=0.1))
    assert arm is None and "not tracked" in why
    coco = SkeletonDescription("coco17", ["right_shoulder", "right_elbow", "right_wrist"], [-1, 0, 1], np.zeros((3, 3)))
    with pytest.raises(MocapError, match="hand keypoints"):
        ArmRetarget(RetargetConfig(orientation="hand"), coco)
    with pytest.raises(MocapError, match="body model"):
        ArmRetarget(RetargetConfig(orientation="body"), coco)
    with pytest.raises(MocapError, match="workspace_min"):
        RetargetConfig(workspace_min=[1, 0, 0], workspace_max=[0, 1, 1]).validate()
    ArmRetarget(RetargetConfig(orientation="none"), coco)  # position only works with any arm
