"""Safety scenarios without ROS (issue 14): bystander, heartbeat, e-stop, stale robot state, run-time parameters.
The controller drives the simulated arm in a closed loop (tests/apps/teleop/rig.py) on the recorded operator."""

from __future__ import annotations

import numpy as np

from mocap.apps.teleop.safety import SafetyConfig, SafetyState, SafetySupervisor, choose_operator
from mocap.live.stream import PersonSkeleton, SkeletonFrame, TrackState
from tests.apps.teleop.conftest import arm_rig, following, make_rig, shifted


def _other_person(frame: SkeletonFrame, pid: int, dy: float = 1.0) -> PersonSkeleton:
    p = frame.people[0]
    return PersonSkeleton(pid, p.positions + [0.0, dy, 0.0], p.joint_confidence, p.local_quat_xyzw,
                          p.global_quat_xyzw, TrackState.TRACKED)


def _tracks_after(rig, t0):
    return [(t, c) for t, c, ok, _ in rig.sent if t > t0 and c.kind == "track"]


def _stops(rig):
    return [(t, c) for t, c, _, _ in rig.sent if c.kind == "stop"]


def _assert_stops_and_stays(rig, t_stop, tol=1e-9):
    """After the stop trajectory's end the executed arm never moves again."""
    stop = [c for t, c in _stops(rig) if abs(t - t_stop) < 1e-9][0]
    settled = stop.end_time + 1e-6
    assert rig.moved_since(settled) <= tol, f"moved {rig.moved_since(settled)} rad after the stop"
    return stop


def test_bystander_never_takes_over(operator):
    desc, frames = operator
    rig, fr = following(desc, frames, 60)
    assert rig.ctl.status.state == SafetyState.ARMED and _tracks_after(rig, 0)
    # the operator leaves; a second person (id 7) walks in doing the same arm motion 1 m aside
    t_leave = fr[61][0]
    swap = [(t, SkeletonFrame(f.stamp, f.frame_index, [_other_person(f, 7)], f.joint_set)) for t, f in fr[61:150]]
    n_before = len(rig.sent)
    answers = []
    rig.run(swap[-1][0], swap, on_frame=lambda r, fr_, cmd: answers.append(cmd))
    assert answers[0] is not None and answers[0].kind == "stop", "stop on the very first frame without the operator"
    first = rig.sent[n_before]
    assert first[1] is answers[0] and 0 <= first[0] - t_leave < rig.state_dt
    assert "operator 0 lost" in first[1].reason and first[2], first
    t_leave = first[0]
    assert not _tracks_after(rig, t_leave), "no trajectory after the operator left"
    assert rig.ctl.status.state == SafetyState.STOPPED and rig.ctl.status.operator_id == -1
    stop = _assert_stops_and_stays(rig, t_leave)
    # the stop decelerates within the acceleration limit from the measured state
    assert np.all(np.abs(stop.accelerations) <= rig.ctl.limits.acceleration * (1 + 1e-9))
    # re-arming is explicit and locks onto the person now in view
    ok, msg = rig.ctl.arm(rig.t)
    assert ok and rig.ctl.status.operator_id == 7, msg
    rig.run(rig.t + 1.0, [(rig.t + 0.02 + k / 30, f) for k, (_, f) in enumerate(swap[:30])])
    assert _tracks_after(rig, swap[-1][0])


def test_bystander_in_view_is_ignored_and_arming_refuses_to_guess(operator):
    desc, frames = operator
    rig = make_rig(desc)
    both = [(t, SkeletonFrame(f.stamp, f.frame_index, [f.people[0], _other_person(f, 4, -1.0)], f.joint_set))
            for t, f in shifted(frames, rig.t + 0.2)]
    rig.run(rig.t + 0.2)
    rig.ctl.on_skeleton(both[0][1], rig.t)
    ok, msg = rig.ctl.arm(rig.t)
    assert not ok and "2 people in view" in msg
    rig.ctl.reconfigure({"operator_id": 0})
    assert rig.ctl.arm(rig.t)[0] and rig.ctl.status.operator_id == 0
    # the bystander never matters: the same targets as a run with the operator alone
    rig.run(both[40][0], both[:41])
    solo = make_rig(desc)
    solo_frames = shifted(frames, solo.t + 0.2)
    arm_rig(solo, desc, solo_frames)
    solo.run(solo_frames[40][0], solo_frames[:41])
    a = [c.target.position for _, c in _tracks_after(rig, 0)]
    b = [c.target.position for _, c in _tracks_after(solo, 0)]
    np.testing.assert_allclose(a, b)


def test_heartbeat_timeout_stops(operator):
    desc, frames = operator
    rig, fr = following(desc, frames, 40)
    rig.heartbeat_on = False
    last_hb = rig.ctl.supervisor.last_heartbeat
    rig.run(fr[120][0], fr[41:121])
    stops = _stops(rig)
    assert stops and "heartbeat lost" in stops[0][1].reason
    timeout = rig.ctl.cfg.heartbeat_timeout_s
    delay = stops[0][0] - last_hb
    assert timeout < delay <= timeout + rig.tick_dt + 1e-9, f"stopped {delay:.3f} s after the last heartbeat"
    assert not _tracks_after(rig, stops[0][0])
    _assert_stops_and_stays(rig, stops[0][0])
    rig.heartbeat_on = True  # the heartbeat comes back: still no motion until re-armed
    rig.run(fr[150][0], fr[121:151])
    assert not _tracks_after(rig, stops[0][0]) and rig.ctl.status.state == SafetyState.STOPPED


def test_estop_latches_until_rearmed(operator):
    desc, frames = operator
    rig, fr = following(desc, frames, 40)
    t_e = rig.t
    rig.send(rig.ctl.set_estop(True, rig.t))
    assert rig.sent[-1][1].kind == "stop" and rig.sent[-1][0] == t_e and rig.sent[-1][2]
    rig.run(fr[80][0], fr[41:81])
    assert rig.ctl.arm(rig.t) == (False, "e-stop is set: release it first")
    rig.ctl.set_estop(False, rig.t)  # released: still no motion
    rig.run(fr[120][0], fr[81:121])
    assert not _tracks_after(rig, t_e)
    _assert_stops_and_stays(rig, t_e)
    assert "re-arm" in rig.ctl.status.text()
    ok, msg = rig.ctl.arm(rig.t)
    assert ok, msg
    rig.run(fr[160][0], fr[121:161])
    assert _tracks_after(rig, fr[121][0])


def test_stale_robot_state_means_no_motion(operator):
    desc, frames = operator
    rig, fr = following(desc, frames, 40)
    rig.state_on = False
    t_off = rig.t
    rig.run(fr[100][0], fr[41:101])
    stops = _stops(rig)
    assert stops and "robot state stale" in stops[0][1].reason
    assert stops[0][0] - t_off <= rig.ctl.cfg.state_timeout_s + rig.tick_dt + 1e-9
    assert not _tracks_after(rig, stops[0][0])
    _assert_stops_and_stays(rig, stops[0][0])
    rig.state_on = True  # the state comes back: no motion until re-armed
    rig.run(fr[140][0], fr[101:141])
    assert not _tracks_after(rig, stops[0][0])
    # and arming without any state is refused
    fresh = make_rig(desc)
    fresh.state_on = False
    fresh.run(fresh.t + 0.2)
    fresh.ctl.on_skeleton(fr[0][1], fresh.t)
    assert fresh.ctl.arm(fresh.t) == (False, "no robot state received yet")


def test_param_changes_apply_at_run_time_and_invalid_ones_are_refused(operator):
    desc, frames = operator
    rig, fr = following(desc, frames, 60)
    full = rig.ctl.limits.velocity.copy()
    ok, why = rig.ctl.reconfigure({"velocity_scale": 0.1})
    assert ok, why
    t_change = rig.t
    rig.run(fr[200][0], fr[61:201])
    after = [c for t, c in _tracks_after(rig, t_change + 0.5)]  # once the plans started before have ended
    vmax = np.max([np.abs(c.velocities).max(0) for c in after], axis=0)
    lim = rig.ctl.robot.limits.velocity * 0.1
    assert np.all(vmax <= lim * (1 + 1e-9)) and np.any(vmax > 0.5 * lim), (vmax, lim)
    assert np.all(rig.ctl.limits.velocity < full)
    for bad, match in (({"velocity_scale": 1.5}, "velocity_scale"), ({"workspace_min": [1, 1, 1]}, "workspace_min"),
                       ({"heartbeat_timeout_s": 0.0}, "heartbeat_timeout_s"), ({"robot": "panda"}, "configured again"),
                       ({"no_such": 1}, "unknown")):
        ok, why = rig.ctl.reconfigure(bad)
        assert not ok and match in why, (bad, why)
    assert rig.ctl.cfg.velocity_scale == 0.1 and rig.ctl.status.state == SafetyState.ARMED


def test_supervisor_gates_and_operator_choice(operator):
    desc, frames = operator
    f = frames[0][1]
    sup = SafetySupervisor(SafetyConfig())
    assert sup.arm(0.0, f, desc, 0.0) == (False, "no robot state received yet")
    sup.robot_state(0.0)
    assert "no heartbeat" in sup.arm(0.0, f, desc, 0.0)[1]
    sup.heartbeat(0.0)
    assert "1.00 s old" in sup.arm(1.0, f, desc, 0.0)[1] or "stale" in sup.arm(1.0, f, desc, 0.0)[1]
    assert sup.arm(0.05, f, desc, 0.05)[0] and sup.operator_id == 0
    # both hands raised picks that person among several
    p = f.people[0]
    up = p.positions.copy()
    for side in ("left", "right"):
        up[desc.index(f"{side}_wrist")] = up[desc.index(f"{side}_shoulder")] + [0, 0, 0.3]
    raised = PersonSkeleton(5, up, p.joint_confidence, p.local_quat_xyzw, p.global_quat_xyzw)
    crowd = SkeletonFrame(0.0, 0, [_other_person(f, 2), raised, _other_person(f, 3, -1)])
    assert choose_operator(crowd, desc) == (5, "")
    pid, why = choose_operator(SkeletonFrame(0.0, 0, [_other_person(f, 2), _other_person(f, 3, -1)]), desc)
    assert pid is None and "raises both hands" in why
    lost = SkeletonFrame(0.0, 0, [PersonSkeleton(0, p.positions, p.joint_confidence, p.local_quat_xyzw,
                                                 p.global_quat_xyzw, TrackState.LOST)])
    assert sup.observe(lost, 0.1) == (None, True) and sup.state == SafetyState.STOPPED
