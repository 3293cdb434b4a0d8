"""Acceptance (issue 14): the simulated arm starts 0.5 rad from home on every joint; arming, then following the
recorded operator (CMU 131_01, right arm): every trajectory is accepted by the simulated controller's rules, no
commanded joint velocity or acceleration exceeds its limit, and the end-effector tracking error is measured."""

from __future__ import annotations

import numpy as np
import pytest

from tests.apps.teleop.conftest import OFFSET_FROM_HOME, arm_rig, executed_limits_ratio, make_rig, shifted

#: regression bounds on the p95 tracking error (measured: UR5 237 mm, Panda 348 mm; the arm swings at up to 1.2 m/s
#: after scaling, and every plan ends at rest within the acceleration limits, which costs about 0.5 s of lag)
P95_BOUND_M = {"ur5": 0.30, "panda": 0.42}


@pytest.mark.slow
@pytest.mark.parametrize("robot", ["ur5", "panda"])
def test_follow_recorded_operator_from_away_from_home(operator, robot):
    desc, frames = operator
    rig = make_rig(desc, robot)
    home = rig.ctl.robot.home
    assert np.all(np.abs(rig.sim.q - home) >= min(OFFSET_FROM_HOME, 0.49)), "starts away from home"
    fr = shifted(frames, rig.t + 0.2)
    arm_rig(rig, desc, fr)
    errors = []

    def measure(r, frame, cmd):
        if cmd is not None and cmd.target is not None:
            p, _ = r.ctl.robot.fk(r.sim.q)
            errors.append((r.t, np.linalg.norm(p - cmd.target.position), cmd.target.position, p))

    rig.run(fr[-1][0] + 1.0, fr, on_frame=measure)
    sent = rig.sent
    assert len(sent) >= 0.95 * len(frames), f"{len(sent)} trajectories for {len(frames)} frames"
    rejected = [why for _, _, ok, why in sent if not ok]
    assert not rejected, rejected[:3]
    lim = rig.ctl.limits  # what teleoperation promises (the robot's limits scaled)
    V = np.concatenate([np.abs(c.velocities) for _, c, _, _ in sent])
    A = np.concatenate([np.abs(c.accelerations) for _, c, _, _ in sent])
    assert np.all(V <= lim.velocity * (1 + 1e-9)) and np.all(A <= lim.acceleration * (1 + 1e-9))
    for t, c, _, _ in sent:
        assert np.all(c.velocities[-1] == 0) and np.all(np.diff(c.times) > 0) and c.times[0] == 0 < c.start_time - t
    # the first trajectory starts from the MEASURED state 0.5 rad from home: no jump
    t1, first = sent[0][0], sent[0][1]
    q_at = [q for t, q, _, _ in rig.states if t <= t1][-1]
    assert np.all(np.abs(first.positions[0] - q_at) <= lim.velocity * (first.start_time - t1) + 1e-9)
    # the executed motion (the controller's interpolation from the state at each reception) stays within limits
    v_ratio, a_ratio = executed_limits_ratio(rig)
    err = np.array([e[1] for e in errors])
    lag = _best_lag(errors)
    print(f"{robot}: {len(sent)} trajectories, all accepted; commanded peak |v|/limit "
          f"{(V.max(0) / lim.velocity).max():.3f}, |a|/limit {(A.max(0) / lim.acceleration).max():.3f}; executed "
          f"|v|/robot limit {v_ratio:.3f}, |a|/robot limit {a_ratio:.3f}; end-effector tracking error median "
          f"{np.median(err) * 1000:.0f} mm, p95 {np.percentile(err, 95) * 1000:.0f} mm "
          f"(after removing a {lag[0] * 1000:.0f} ms lag: p95 {lag[1] * 1000:.0f} mm)")
    assert v_ratio <= 1.0 + 1e-6 and a_ratio <= 1.0 + 1e-6
    assert np.percentile(err, 95) < P95_BOUND_M[robot]


def _best_lag(errors) -> tuple[float, float]:
    """The delay that best aligns the end effector with the target, and the p95 error after removing it."""
    t = np.array([e[0] for e in errors])
    tgt = np.array([e[2] for e in errors])
    ee = np.array([e[3] for e in errors])
    best = (0.0, np.inf)
    for lag in np.arange(0.0, 0.8, 0.02):
        past = np.stack([np.interp(t - lag, t, tgt[:, k]) for k in range(3)], axis=1)
        keep = t - lag >= t[0]
        p95 = float(np.percentile(np.linalg.norm(ee[keep] - past[keep], axis=1), 95))
        if p95 < best[1]:
            best = (float(lag), p95)
    return best
