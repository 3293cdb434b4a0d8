"""Controller in the closed loop on synthetic operators: the tool's orientation follows the hand (keypoints), the
gripper command follows the hand opening, and IK goals in self-collision are refused."""

from __future__ import annotations

import numpy as np

from mocap.geometry.rotations import axis_angle_matrix, matrix_to_rotvec
from mocap.live.stream import PersonSkeleton, SkeletonFrame, identity_quats
from tests.apps.teleop.conftest import arm_rig, make_rig
from tests.apps.teleop.operator import HAND, description, hand_points

SHOULDER = np.array([0.0, 0.0, 1.4])


def _frame(desc, k: int, yaw: float, opening: float = 1.0) -> SkeletonFrame:
    """The operator (facing +x) holds the arm still and turns the hand by ``yaw`` about the vertical."""
    X = np.full((desc.n_joints, 3), np.nan)
    X[desc.index("right_shoulder")] = SHOULDER
    X[desc.index("left_shoulder")] = SHOULDER + [0, 0.35, 0]
    X[desc.index("right_elbow")] = SHOULDER + [0.15, 0, -0.25]
    wrist = SHOULDER + [0.4, 0, -0.2]
    X[desc.index("right_wrist")] = wrist
    X[-len(HAND):] = hand_points(wrist, axis_angle_matrix("z", yaw), opening)
    conf = np.where(np.isfinite(X).all(1), 0.9, 0.0)
    p = PersonSkeleton(0, X, conf, identity_quats(desc.n_joints), identity_quats(desc.n_joints))
    return SkeletonFrame(k / 30, k, [p], desc.joint_set)


def test_tool_orientation_follows_the_hand_and_gripper_the_opening():
    desc = description()
    rig = make_rig(desc, "panda", orientation="hand", gripper=True)
    frames = [(rig.t + 0.2 + k / 30, _frame(desc, k, 0.0)) for k in range(3)]
    arm_rig(rig, desc, frames)
    _, R0 = rig.ctl.robot.fk(rig.sim.q)
    # turn the hand 0.5 rad over 1 s while closing it, then hold 1.5 s
    n = 75
    yaw = np.minimum(np.arange(n) / 30, 1.0) * 0.5
    opening = 1.0 - np.minimum(np.arange(n) / 30, 1.0)
    t0 = rig.t + 0.05
    seq = [(t0 + k / 30, _frame(desc, 3 + k, yaw[k], opening[k])) for k in range(n)]
    grips = []
    rig.run(seq[-1][0] + 0.5, seq, on_frame=lambda r, f, cmd: grips.append(cmd.gripper if cmd else None))
    p, R = rig.ctl.robot.fk(rig.sim.q)
    err = np.degrees(np.linalg.norm(matrix_to_rotvec(R @ (axis_angle_matrix("z", 0.5) @ R0).T)))
    assert err < 2.0, f"tool orientation {err:.2f} deg from the hand's turn"
    assert not any(why for _, _, ok, why in rig.sent if not ok)
    g = [c for c in grips if c is not None]
    assert not g[0].closed and g[-1].closed and g[-1].opening < 0.1


def test_self_collision_goal_is_refused():
    desc = description()
    rig = make_rig(desc, "ur5", orientation="none", mode="absolute", offset=[0.05, 0.0, 0.12], scale=[1, 1, 1],
                   workspace_min=[-2, -2, -2], workspace_max=[2, 2, 2])
    ctl = rig.ctl
    frames = [(rig.t + 0.2 + k / 30, _frame(desc, k, 0.0)) for k in range(3)]
    arm_rig(rig, desc, frames)
    # the wrist at the shoulder maps the tool onto the robot's own base: the IK's closest poses collide and are
    # never commanded
    seq = [(rig.t + 0.05 + k / 30, _frame(desc, 3 + k, 0.0)) for k in range(30)]
    for _, f in seq:
        f.people[0].positions[desc.index("right_wrist")] = SHOULDER + [0.01, 0.0, 0.0]
    rig.run(seq[-1][0] + 0.5, seq)
    assert ctl.stats["ik_refused_collision"] > 0, ctl.stats
    for _, c, _, _ in rig.sent:
        assert not ctl.robot.in_self_collision(c.positions[-1]), "a commanded goal is in self-collision"
