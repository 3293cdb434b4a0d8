"""Teleop core without DDS: IK accuracy, workspace clamping, joint velocity limits, dead-man and e-stop, driven by
a real arm motion (CMU clip 131_01)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ros.conftest import import_pure
from tests.ros.teleop_data import arm_motion, people_at

pytest.importorskip("pinocchio", reason="pin (pinocchio) not installed: pip install pin==2.7.0 example-robot-data")
core = import_pure("teleop_core")
pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def motion(shared_data):
    return arm_motion(shared_data / "bvh" / "131_01.bvh")


def _cfg(**kw):
    base = {"offset": [0.4, -0.1, 0.5], "reach": 0.35, "workspace_min": [0.1, -0.6, 0.1],
            "workspace_max": [0.7, 0.6, 0.9], "max_velocity": 1.0, "smoothing": 1.0}
    return core.TeleopConfig(**{**base, **kw})


@pytest.mark.parametrize("robot", ["ur5", "panda"])
def test_ik_tracks_targets_within_1cm(motion, robot):
    times, joints = motion
    ctl = core.TeleopController(_cfg(robot=robot, max_velocity=100.0))  # URDF joint limits (>= 2.1 rad/s) apply
    errs, track, n_in = [], [], 0
    for i, t in enumerate(times):
        cmd = ctl.update(t, people_at(joints, i))
        assert cmd.active, cmd.reason
        inside = np.all(cmd.raw_target >= ctl.lo) and np.all(cmd.raw_target <= ctl.hi)
        n_in += inside
        errs.append(np.linalg.norm(ctl.ik.fk(cmd.ik_positions) - cmd.target))  # the IK solution
        if i >= 15 and inside:  # commanded (rate-limited) positions lag a fast arm: measured, not asserted
            track.append(np.linalg.norm(ctl.ik.fk(cmd.positions) - cmd.raw_target))
    assert n_in > 0.8 * len(times)
    assert np.ptp(np.array([ctl.arm_target({k: v[i] for k, v in joints.items()}) for i in range(len(times))]),
                  axis=0).max() > 0.2, "the clip should move the target by decimetres"
    assert max(errs) < 0.01, f"IK error up to {max(errs) * 1000:.2f} mm"
    print(f"{robot}: IK error max {max(errs) * 1000:.3f} mm; commanded tracking p95 "
          f"{np.percentile(track, 95) * 1000:.2f} mm, max {max(track) * 1000:.2f} mm")
    # the person holds a pose: the rate-limited commands converge onto the target within 1 cm in < 1 s
    t = times[-1]
    for i in range(0, len(times), 25):
        if not (np.all(ctl.arm_target({k: v[i] for k, v in joints.items()}) >= ctl.lo)
                and np.all(ctl.arm_target({k: v[i] for k, v in joints.items()}) <= ctl.hi)):
            continue
        for _ in range(30):
            t += 1 / 30
            cmd = ctl.update(t, people_at(joints, i))
        err = np.linalg.norm(ctl.ik.fk(cmd.positions) - cmd.raw_target)
        assert err < 0.01, f"frame {i}: commanded end effector {err * 1000:.1f} mm from the target after 1 s"


def test_targets_clamped_to_workspace(motion):
    times, joints = motion
    ctl = core.TeleopController(_cfg(workspace_min=[0.3, -0.3, 0.3], workspace_max=[0.5, 0.0, 0.6],
                                     max_velocity=100.0))
    clamped = 0
    for i, t in enumerate(times):
        cmd = ctl.update(t, people_at(joints, i))
        assert np.all(cmd.target >= ctl.lo - 1e-12) and np.all(cmd.target <= ctl.hi + 1e-12)
        clamped += not np.allclose(cmd.raw_target, cmd.target)
        assert np.linalg.norm(ctl.ik.fk(cmd.ik_positions) - cmd.target) < 0.01
    assert clamped > 10, "the tight box should clamp part of the motion"


def test_joint_velocity_limits_never_exceeded(motion):
    times, joints = motion
    rng = np.random.default_rng(0)
    stamps = times + rng.uniform(-0.01, 0.01, len(times))  # jittered clock, some stamps repeat or jump
    stamps[50] = stamps[49]
    stamps[100:] += 2.0
    ctl = core.TeleopController(_cfg(max_velocity=0.5, smoothing=0.7))
    assert np.all(ctl.vmax <= 0.5)
    q_prev, t_prev, n_limited = ctl.q.copy(), None, 0
    for i, t in enumerate(stamps):
        cmd = ctl.update(t, people_at(joints, i))
        dt = ctl.cfg.max_dt if t_prev is None else min(max(t - t_prev, 0.0), ctl.cfg.max_dt)
        dq = np.abs(cmd.positions - q_prev)
        assert np.all(dq <= ctl.vmax * dt + 1e-12), (i, dq, dt)
        assert np.all(np.abs(cmd.velocities) <= ctl.vmax + 1e-9)
        assert cmd.duration == pytest.approx(dt)
        n_limited += bool(np.any(np.isclose(dq, ctl.vmax * dt)) and dt > 0)
        q_prev, t_prev = cmd.positions, t
    assert n_limited > 0, "the limit should be active for part of this motion"
    assert np.all(ctl.q >= ctl.ik.lower) and np.all(ctl.q <= ctl.ik.upper)


def test_deadman_and_estop_stop_within_one_message(motion):
    times, joints = motion
    ctl = core.TeleopController(_cfg())
    for i in range(10):
        cmd = ctl.update(times[i], people_at(joints, i))
    assert cmd.active
    held = cmd.positions.copy()
    # person lost: the very next command is a stop at the last positions
    stop = ctl.update(times[10], {})
    assert not stop.active and "lost" in stop.reason
    np.testing.assert_array_equal(stop.positions, held)
    assert not np.any(stop.velocities)
    # low confidence wrist: stop
    for i in range(11, 15):
        assert ctl.update(times[i], people_at(joints, i)).active
    p = people_at(joints, 15)
    p[0][1]["right_wrist"] = 0.1
    low = ctl.update(times[15], p)
    assert not low.active and "right_wrist" in low.reason
    # NaN elbow: stop
    p = people_at(joints, 16)
    p[0][0]["right_elbow"] = np.full(3, np.nan)
    assert not ctl.update(times[16], p).active
    # a different person than the one locked, after engagement with person 0 -> stays locked on 3 only if chosen
    assert ctl.update(times[17], people_at(joints, 17)).active
    # e-stop: latched until released
    ctl.set_estop(True)
    for i in range(18, 22):
        e = ctl.update(times[i], people_at(joints, i))
        assert not e.active and e.reason == "e-stop" and not np.any(e.velocities)
    held = e.positions.copy()
    ctl.set_estop(False)
    r = ctl.update(times[22], people_at(joints, 22))
    assert r.active and np.all(np.abs(r.positions - held) <= ctl.vmax * (times[22] - times[21]) + 1e-12)


def test_fixed_person_id_is_deadman(motion):
    times, joints = motion
    ctl = core.TeleopController(_cfg(person_id=3))
    assert not ctl.update(times[0], people_at(joints, 0, pid=0)).active  # someone else: no motion
    assert ctl.update(times[1], people_at(joints, 1, pid=3)).active
    assert not ctl.update(times[2], people_at(joints, 2, pid=0)).active


def test_bad_configuration_is_reported():
    with pytest.raises(ValueError, match="workspace_min"):
        core.TeleopController(_cfg(workspace_min=[1, 0, 0], workspace_max=[0, 1, 1]))
    with pytest.raises(ValueError, match="robot must be one of"):
        core.example_robot_urdf("r2d2")
    with pytest.raises(ValueError, match="arm must be"):
        core.TeleopController(_cfg(arm="middle"))
