"""Quintic (minimum-jerk) plans: boundary values, exact limit checks against dense sampling, stops."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.apps.teleop.trajectory import JointLimits, Quintic, plan_stop, plan_to_rest
from mocap.errors import MocapError

LIM = JointLimits.make(list("abcdef"), -6, 6, [2, 2, 3, 3, 3, 3], [4, 4, 5, 5, 6, 6], [40, 40, 50, 50, 60, 60])


def _dense(plan: Quintic, n: int = 4001):
    ts = np.linspace(0, plan.duration, n)
    q, v, a = plan.sample(ts)
    j = np.diff(a, axis=0) / np.diff(ts)[:, None]
    return ts, q, v, a, j


def test_plan_to_rest_hits_the_boundary_values_within_limits(rng):
    for _ in range(60):
        q0, qf = rng.uniform(-1, 1, 6), rng.uniform(-1, 1, 6)
        v0 = rng.uniform(-1, 1, 6) * LIM.velocity
        plan = plan_to_rest(q0, v0, np.zeros(6), qf, LIM)
        assert plan is not None
        ts, q, v, a, j = _dense(plan)
        np.testing.assert_allclose(q[0], q0, atol=1e-12)
        np.testing.assert_allclose(v[0], v0, atol=1e-12)
        np.testing.assert_allclose(q[-1], qf, atol=1e-9)
        assert np.all(v[-1] == 0) and np.all(a[-1] == 0)
        assert np.all(np.abs(v) <= np.maximum(LIM.velocity, np.abs(v0)) * (1 + 1e-6))
        assert np.all(np.abs(a) <= LIM.acceleration * (1 + 1e-6))
        assert np.all(np.abs(j) <= LIM.jerk * (1 + 1e-3))  # finite differences of a
        # the exact peaks bound the dense samples and one limit is (nearly) active: the plan is not padded
        vp, ap, jp = plan.peaks()
        assert np.all(vp >= np.abs(v).max(0) - 1e-9) and np.all(ap >= np.abs(a).max(0) - 1e-9)
        ratio = max((vp / LIM.velocity).max(), (ap / LIM.acceleration).max(), (jp / LIM.jerk).max())
        assert ratio > 0.99 or plan.duration <= 1.001e-3


def test_rest_to_rest_duration_matches_the_closed_form():
    d = np.array([1.0, 0, 0, 0, 0, 0])
    plan = plan_to_rest(np.zeros(6), np.zeros(6), np.zeros(6), d, LIM)
    T = max(1.875 / 2, np.sqrt(5.7735 / 4), np.cbrt(60 / 40))  # velocity, acceleration, jerk bound
    assert plan.duration == pytest.approx(T, rel=3e-3)


def test_points_end_at_rest_and_reproduce_the_plan():
    plan = plan_to_rest(np.zeros(6), LIM.velocity * 0.5, np.zeros(6), np.full(6, 0.4), LIM)
    pts = plan.points(0.02)
    times = [p[0] for p in pts]
    assert np.all(np.diff(times) > 0) and times[0] > 0
    assert times[-1] == pytest.approx(plan.duration)
    assert np.all(pts[-1][2] == 0) and np.all(pts[-1][3] == 0)
    q, v, a = plan.sample(np.array(times))
    np.testing.assert_allclose(np.stack([p[1] for p in pts]), q)
    # published late: times count from the offset, the plan's remainder only
    late = plan.points(0.02, t_offset=0.05)
    assert late[-1][0] == pytest.approx(plan.duration - 0.05)
    np.testing.assert_allclose(late[0][1], plan.sample(0.07)[0])


def test_stop_decelerates_within_limits_and_holds():
    v0 = np.array([2.0, -2.0, 1.0, 0.0, 3.0, -0.5])
    plan = plan_stop(np.zeros(6), v0, np.zeros(6), LIM)
    ts, q, v, a, j = _dense(plan)
    assert np.all(np.abs(a) <= LIM.acceleration * (1 + 1e-6)) and np.all(np.abs(j) <= LIM.jerk * (1 + 1e-3))
    assert np.all(np.abs(v[-1]) == 0)
    assert np.all(np.diff(np.abs(v), axis=0) <= 1e-12), "speed falls monotonically"
    # as fast as the limits allow within this family: 1.5 |v0| / a_max for the binding joint (no jerk bound hit)
    assert plan.duration == pytest.approx(max(1.5 * np.abs(v0) / LIM.acceleration), rel=0.02)
    rest = plan_stop(np.ones(6), np.zeros(6), np.zeros(6), LIM)
    assert rest.duration == 0.0 and len(rest.points(0.02)) == 1


def test_bad_limits_are_refused():
    with pytest.raises(MocapError, match="velocity"):
        JointLimits.make(["a"], -1, 1, 0.0, 1, 1)
    with pytest.raises(MocapError, match="shape|acceleration"):
        JointLimits.make(["a", "b"], -1, 1, 1, [1, 2, 3], 1)
    with pytest.raises(MocapError, match="lower"):
        JointLimits.make(["a"], 1, -1, 1, 1, 1)
    with pytest.raises(MocapError, match="scale"):
        LIM.scaled(velocity=1.5)
