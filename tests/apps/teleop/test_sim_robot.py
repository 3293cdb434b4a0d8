"""The simulated JointTrajectoryController: the stock controller's acceptance rules, one test per rule, and
execution (interpolation from the state at reception, holding the last point)."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.apps.teleop.sim_robot import SimulatedJTC, Trajectory, TrajectoryPoint
from mocap.apps.teleop.trajectory import JointLimits, plan_to_rest

NAMES = ["j1", "j2", "j3"]
LIM = JointLimits.make(NAMES, -3, 3, 2.0, 5.0, 50.0)


def _sim(q0=(0.5, -0.5, 0.5), **kw):
    return SimulatedJTC(LIM, np.array(q0), **kw)


def _traj(stamp=0.0, names=NAMES, pts=None):
    if pts is None:
        pts = [TrajectoryPoint(0.1, [0.1, 0.1, 0.1], [0.5, 0, 0]), TrajectoryPoint(0.2, [0.2, 0.1, 0.1], [0, 0, 0])]
    return Trajectory(stamp, list(names), pts)


@pytest.mark.parametrize("traj,match", [
    (_traj(names=["j1", "j2"]), "don't match the controller joints"),
    (_traj(names=["j1", "j2", "x"]), "doesn't match the controller's joints"),
    (_traj(pts=[]), "Empty trajectory"),
    (_traj(pts=[TrajectoryPoint(0.1, [0, 0, 0], [0.1, 0, 0])]), "last trajectory point of joint j1 is not zero"),
    (_traj(stamp=5.0), "ends in the past"),
    (_traj(pts=[TrajectoryPoint(0.2, [0, 0, 0]), TrajectoryPoint(0.2, [0, 0, 0])]), "not strictly increasing"),
    (_traj(pts=[TrajectoryPoint(0.2, [0, 0])]), "positions"),
    (_traj(pts=[TrajectoryPoint(0.2, [0, 0, 0], [0, 0])]), "velocities"),
    (_traj(pts=[TrajectoryPoint(0.2, [0, 0, 0], effort=[1, 1, 1])]), "effort"),
    (_traj(pts=[TrajectoryPoint(0.2, [0, 4, 0], [0, 0, 0])]), "outside its limits"),
    (_traj(pts=[TrajectoryPoint(0.1, [0, 0, 0], [3, 0, 0]), TrajectoryPoint(0.2, [0, 0, 0], [0, 0, 0])]),
     "over its limit"),
])
def test_rejections(traj, match):
    sim = _sim()
    ok, why = sim.receive(traj, now=10.0)
    assert not ok and match in why
    np.testing.assert_array_equal(sim.q, [0.5, -0.5, 0.5])  # nothing executed


def test_accepts_the_stock_cases():
    sim = _sim()
    assert sim.receive(_traj(), 10.0) == (True, "")
    assert sim.receive(_traj(stamp=10.05), 10.0)[0]  # future stamp
    assert sim.receive(_traj(stamp=9.9), 10.0)[0]  # past stamp that still ends in the future
    reordered = _traj(names=["j3", "j1", "j2"], pts=[TrajectoryPoint(0.2, [3.0, 1.0, 2.0], [0, 0, 0])])
    reordered.points[0].positions = [0.3, 0.1, 0.2]
    assert sim.receive(reordered, 10.0)[0]
    sim.advance(11.0)
    np.testing.assert_allclose(sim.q, [0.1, 0.2, 0.3])  # mapped to the controller's joint order
    tol = SimulatedJTC(LIM, np.zeros(3), allow_nonzero_velocity_at_trajectory_end=True)
    assert tol.receive(_traj(pts=[TrajectoryPoint(0.1, [0, 0, 0], [0.1, 0, 0])]), 0.0)[0]


def test_execution_reproduces_a_plan_from_away_from_home():
    q0 = np.array([0.5, -0.5, 0.5])  # not at home
    sim = _sim(q0)
    plan = plan_to_rest(q0, np.zeros(3), np.zeros(3), np.array([-0.5, 0.5, 0.0]), LIM)
    pts = [TrajectoryPoint(t, q.tolist(), v.tolist(), a.tolist()) for t, q, v, a in plan.points(0.05)]
    sim.advance(1.0)
    assert sim.receive(Trajectory(1.0, NAMES, pts), 1.0)[0]
    for t in np.linspace(1.0, 1.0 + plan.duration, 97):
        q, v, a = sim.advance(t)
        pq, pv, pa = plan.sample(t - 1.0)
        np.testing.assert_allclose(q, pq, atol=1e-9)
        np.testing.assert_allclose(v, pv, atol=1e-8)
        np.testing.assert_allclose(a, pa, atol=1e-7)
    q, v, a = sim.advance(5.0)
    np.testing.assert_allclose(q, [-0.5, 0.5, 0.0], atol=1e-12)
    assert not np.any(v) and not np.any(a)
    with pytest.raises(Exception, match="backwards"):
        sim.advance(4.0)
