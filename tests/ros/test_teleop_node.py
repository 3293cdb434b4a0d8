"""The teleop node through ROS (issue 14): the simulated robot node started 0.5 rad from home, the teleop node,
and this process as operator (CMU 131_01 skeleton frames), dead-man pedal, e-stop and parameter client. One test
per scenario: follow, bystander, heartbeat, estop, stale, param. The same logic is tested without ROS in
tests/apps/teleop/test_safety.py."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.ros.conftest import needs_netns, needs_ros

pytest.importorskip("pinocchio", reason="pin (pinocchio) not installed")
pytestmark = [pytest.mark.ros, pytest.mark.slow, needs_ros, needs_netns]

TELEOP = {"orientation": "none", "scale": [0.6, 0.6, 0.6], "state_timeout_s": 0.3, "heartbeat_timeout_s": 0.5,
          "operator_timeout_s": 1.0}


@pytest.fixture(scope="module")
def operator(shared_data):
    from tests.apps.teleop.operator import cmu_operator

    return cmu_operator(shared_data / "bvh" / "131_01.bvh")


@pytest.fixture(scope="module")
def rig(operator, ros_env, tmp_path_factory):
    from tests.ros.teleop_harness import TeleopHarness

    desc, _ = operator
    h = TeleopHarness(ros_env, tmp_path_factory.mktemp("teleop_logs"), desc, TELEOP, {"start_offset": 0.5})
    try:
        h.wait_ready()
        yield h
    finally:
        h.close()


@pytest.fixture(scope="module")
def limits():
    from mocap.apps.teleop.controller import TeleopConfig, TeleopController

    return TeleopController(TeleopConfig(**TELEOP)).limits


@pytest.fixture
def fresh(rig):
    """Disarmed, e-stop released, heartbeat and robot state on, default velocity scale."""
    rig.call(rig.disarm_cli)
    rig.estop(False)
    rig.heartbeat_on = True
    rig.set_params("sim_robot", publish_state=True)
    rig.set_params("teleop", velocity_scale=0.5)
    time.sleep(0.5)
    return rig


def _arm(rig, frames):
    rig.play(frames[:3])
    res = rig.call(rig.arm_cli)
    assert res.success, f"{res.message}\n{rig.state()}"
    return time.time()


def _settled_motion(rig, t_from: float, wait: float = 1.0) -> float:
    """Largest joint motion (rad) of the robot state after the end of the last trajectory received (the stop),
    measured for ``wait`` s."""
    from tests.ros.teleop_harness import points

    trajs = rig.trajectories()
    end = t_from
    if trajs:
        t_last, m = trajs[-1]
        end = t_last + points(m)[0][-1] + 0.1
    time.sleep(max(0.0, end + wait - time.time()))
    qs = np.array([q for t, q, _ in rig.joint_states(end)])
    return float(np.abs(qs - qs[0]).max()) if len(qs) > 1 else 0.0


def test_follow_node_from_away_from_home(fresh, operator, limits):
    from tests.ros.teleop_harness import points

    rig = fresh
    desc, frames = operator
    home = __import__("mocap.apps.teleop.robot", fromlist=["RobotModel"]).RobotModel.from_name("ur5",
                                                                                                collision=False).home
    q_start = rig.joint_states()[-1][1]
    t0 = _arm(rig, frames)
    assert "armed (operator 0)" in rig.state() or rig.call(rig.arm_cli).success
    rig.play(frames[3:150])
    time.sleep(1.0)
    trajs = rig.trajectories(t0)
    events = [e for _, e in rig.events(t0)]
    assert len(trajs) >= 100, f"{len(trajs)} trajectories"
    assert events and all(e == "accepted" for e in events), [e for e in events if e != "accepted"][:3]
    V = np.concatenate([np.abs(points(m)[2]) for _, m in trajs])
    A = np.concatenate([np.abs(points(m)[3]) for _, m in trajs])
    assert np.all(V <= limits.velocity * (1 + 1e-6)) and np.all(A <= limits.acceleration * (1 + 1e-6))
    for _, m in trajs:
        assert not np.any(points(m)[2][-1]), "last point at rest"
    # started 0.5 rad away from home, then followed the operator
    assert np.all(np.abs(q_start - home) > 0.45)
    q_end = rig.joint_states()[-1][1]
    assert np.abs(q_end - q_start).max() > 0.1
    print(f"node follow: {len(trajs)} trajectories, all accepted; peak |v|/limit "
          f"{(V.max(0) / limits.velocity).max():.3f}, |a|/limit {(A.max(0) / limits.acceleration).max():.3f}")


def test_bystander_node(fresh, operator):
    from mocap.live.stream import PersonSkeleton, SkeletonFrame

    rig = fresh
    desc, frames = operator
    _arm(rig, frames)
    rig.play(frames[3:60])

    def other(f):
        p = f.people[0]
        q = PersonSkeleton(7, p.positions + [0, 1.0, 0], p.joint_confidence, p.local_quat_xyzw, p.global_quat_xyzw)
        return SkeletonFrame(f.stamp, f.frame_index, [q], f.joint_set)

    rig.quiesce()  # the node has answered the operator's frames
    sent = rig.play([(t, other(f)) for t, f in frames[60:150]])
    t_leave = sent[0][0]
    time.sleep(0.5)
    ok, why = rig.last_command_is_stop(t_leave)
    assert ok, f"{why}; state: {rig.state_msgs[-3:]}"  # the last command is a stop, nothing after it
    # the stop was triggered by a frame holding only the bystander: the first such frame (frames are processed in
    # order, and any frame without the operator stops); the library test times it to the frame
    assert "stopped: operator 0 lost (people in view: [7])" in rig.state(), rig.state()
    assert _settled_motion(rig, t_leave) < 1e-6, "the arm moved after stopping"
    rig.play([(0.0, other(frames[150][1]))])
    res = rig.call(rig.arm_cli)  # re-arming locks onto the person now in view
    assert res.success and "operator 7" in res.message, res.message


def test_heartbeat_node(fresh, operator):
    rig = fresh
    desc, frames = operator
    _arm(rig, frames)
    rig.play(frames[3:40])
    rig.heartbeat_on = False
    t_off = time.time()
    rig.play(frames[40:100])
    stopped = [t for t, s in rig.state_msgs if t > t_off and s.startswith("stopped: heartbeat lost")]
    assert stopped, rig.state()
    # the last heartbeat left at most 0.05 s before t_off: stop within the timeout + one control period + transport
    timeout = TELEOP["heartbeat_timeout_s"]
    assert stopped[0] - t_off <= timeout + 0.02 + 0.15, stopped[0] - t_off
    assert _settled_motion(rig, stopped[0]) < 1e-6
    rig.heartbeat_on = True
    t_back = time.time()
    rig.play(frames[100:130])
    assert not rig.trajectories(t_back + 0.1), "no motion until re-armed"


def test_estop_node(fresh, operator):
    rig = fresh
    desc, frames = operator
    _arm(rig, frames)
    rig.play(frames[3:40])
    rig.quiesce()
    t_e = time.time()
    rig.estop(True)
    rig.play(frames[40:70])
    assert "stopped: e-stop" in rig.state()
    res = rig.call(rig.arm_cli)
    assert not res.success and "e-stop" in res.message
    rig.estop(False)
    t_rel = time.time()
    rig.play(frames[70:110])
    assert not rig.trajectories(t_rel + 0.1), "released e-stop: still no motion"
    ok, why = rig.last_command_is_stop(t_e)
    assert ok, why  # the e-stop's stop is the last command: nothing after it, released or not
    assert _settled_motion(rig, t_e) < 1e-6
    assert rig.call(rig.arm_cli).success
    t_arm = time.time()
    rig.play(frames[110:140])
    assert rig.trajectories(t_arm)


def test_stale_node(fresh, operator):
    rig = fresh
    desc, frames = operator
    _arm(rig, frames)
    rig.play(frames[3:40])
    assert all(r.successful for r in rig.set_params("sim_robot", publish_state=False))
    t_off = time.time()
    rig.play(frames[40:90])
    stopped = [t for t, s in rig.state_msgs if t > t_off and "robot state stale" in s]
    assert stopped, rig.state()
    last = rig.trajectories(t_off)
    assert len(last) <= 1 + int(0.3 * 30), "motion commands only until the staleness was noticed"
    rig.set_params("sim_robot", publish_state=True)
    t_back = time.time()
    rig.play(frames[90:120])
    assert not rig.trajectories(t_back + 0.1), "no motion until re-armed"


def test_param_node(fresh, operator, limits):
    from tests.ros.teleop_harness import points

    rig = fresh
    desc, frames = operator
    _arm(rig, frames)
    rig.play(frames[3:40])
    res = rig.set_params("teleop", velocity_scale=0.1)
    assert res[0].successful, res[0].reason
    t_set = time.time()
    rig.play(frames[40:200])
    trajs = rig.trajectories(t_set + 0.6)
    V = np.max([np.abs(points(m)[2]).max(0) for _, m in trajs], axis=0)
    vlim = limits.velocity / 0.5 * 0.1
    assert np.all(V <= vlim * (1 + 1e-6)), (V, vlim)
    for bad in ({"velocity_scale": 1.5}, {"workspace_min": [1.0, 1.0, 1.0]}, {"robot": "panda"},
                {"heartbeat_timeout_s": -1.0}):
        r = rig.set_params("teleop", **bad)
        assert not r[0].successful and r[0].reason, (bad, r)
    assert "armed" in rig.state() and not rig.state().startswith("stopped")
