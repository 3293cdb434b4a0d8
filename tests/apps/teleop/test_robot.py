"""Robot model from URDFs (UR5, Panda from example-robot-data): limits, pose IK, self-collision."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pinocchio", reason="pin (pinocchio) not installed: pip install pin==2.7.0 example-robot-data")

from mocap.apps.teleop.robot import RobotModel, example_robot_urdf  # noqa: E402
from mocap.errors import MocapError  # noqa: E402


@pytest.fixture(scope="module", params=["ur5", "panda"])
def robot(request):
    return RobotModel.from_name(request.param)


def test_limits_come_from_the_urdf(robot):
    lim = robot.limits
    assert lim.n == robot.n == (6 if "ur5" in robot.urdf.name else 7)
    assert np.all(lim.lower < lim.upper) and np.all(lim.velocity > 0) and np.all(lim.acceleration > 0)
    import xml.etree.ElementTree as ET

    joints = {j.get("name"): j.find("limit") for j in ET.parse(robot.urdf).getroot().findall("joint")}
    for k, name in enumerate(robot.joint_names):  # the URDF's own numbers, joint by joint
        assert lim.velocity[k] == pytest.approx(float(joints[name].get("velocity")))
        assert lim.lower[k] == pytest.approx(float(joints[name].get("lower")))
    assert np.all(robot.home >= lim.lower) and np.all(robot.home <= lim.upper)


def test_pose_ik_reaches_reachable_poses(robot, rng):
    errs = []
    for _ in range(40):
        q = robot.limits.clip_positions(robot.home + rng.normal(0, 0.4, robot.n), 0.1)
        p, R = robot.fk(q)
        res = robot.solve_ik(p, R, robot.home, iterations=100)
        errs.append((res.position_error, res.orientation_error))
        p2, R2 = robot.fk(res.q)
        assert np.linalg.norm(p2 - p) == pytest.approx(res.position_error, abs=1e-12)
        assert np.all(res.q >= robot.limits.lower) and np.all(res.q <= robot.limits.upper)
    errs = np.array(errs)
    assert np.percentile(errs[:, 0], 90) < 1e-3 and np.percentile(errs[:, 1], 90) < 2e-3, errs.max(0)


def test_self_collision_uses_the_collision_geometry(robot):
    assert robot.has_collision
    assert robot.in_self_collision(robot.home) == []
    q = robot.home.copy()
    if robot.n == 6:
        q[2] = 3.1  # UR5 elbow folded back: the forearm passes through the shoulder
    else:  # Panda: shoulder down and elbow folded: the wrist (links 5, 6) hits the base (link 0)
        q = np.array([-1.97, 1.66, 0.09, -2.72, 0.72, 2.91, 0.65])
    assert robot.in_self_collision(q), "folded pose should collide"


def test_urdf_without_collision_geometry_has_no_check(tmp_path):
    src = example_robot_urdf("ur5").read_text()
    import re

    stripped = re.sub(r"<collision>.*?</collision>", "", src, flags=re.S)
    f = tmp_path / "ur5_nocoll.urdf"
    f.write_text(stripped)
    r = RobotModel(f, "tool0")
    assert not r.has_collision and r.in_self_collision(np.full(6, 3.0)) == []


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(MocapError, match="frame 'nope'"):
        RobotModel(example_robot_urdf("ur5"), "nope")
    with pytest.raises(MocapError, match="robot must be one of"):
        RobotModel.from_name("r2d2")
    with pytest.raises(MocapError, match="not found"):
        RobotModel(tmp_path / "missing.urdf", "tool0")
