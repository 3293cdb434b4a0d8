"""Process level, with DDS: the teleop and recorder nodes started as the launch file does (teleop:=true
record:=true), driven by a real arm motion published as SkeletonArray; checks the dead-man, the e-stop and the
velocity limit on the received JointTrajectory messages, then the recorder's MCAP bag and LeRobot dataset."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from tests.ros.conftest import needs_netns, needs_ros
from tests.ros.teleop_data import arm_motion

pytest.importorskip("pinocchio", reason="pin (pinocchio) not installed")
pytest.importorskip("rosbags", reason="rosbags not installed")
pytest.importorskip("pyarrow", reason="pyarrow not installed")
pytestmark = [pytest.mark.ros, needs_ros, needs_netns]
BASE = 1000.0


def _array(t: float, joints: dict | None, i: int = 0, conf: float = 0.9):
    from mocap_ros import convert

    sks = []
    if joints is not None:
        names = list(joints)
        X = np.stack([joints[n][i] for n in names])
        q = np.tile([0, 0, 0, 1.0], (len(names), 1))
        sks = [convert.skeleton_msg(0, names, [-1] * len(names), X, np.full(len(names), conf), q, q, t, "world")]
    return convert.skeleton_array_msg(sks, "coco17", t, "world")


@pytest.mark.slow
def test_teleop_and_recorder_nodes(shared_data, ros_env, tmp_path):
    import pyarrow.parquet as pq
    from mocap_msgs.msg import SkeletonArray
    from mocap_ros.launch_spec import node_specs
    from mocap_ros.recorder_core import make_typestore
    from rosbags.rosbag2 import Reader
    from std_msgs.msg import Bool, String
    from trajectory_msgs.msg import JointTrajectory

    from tests.ros.rosutil import Collector, installed_executable, logs, start_nodes, stop_nodes

    times, joints = arm_motion(shared_data / "bvh" / "131_01.bvh")
    config = installed_executable("x").parents[2] / "share" / "mocap" / "config" / "multiview.yaml"
    specs = [s for s in node_specs(config, "cam01", teleop=True, record=True, record_dir=str(tmp_path / "rec"))
             if s.executable in ("teleop_node", "recorder_node")]
    assert [s.name for s in specs] == ["teleop", "recorder"]
    specs[0].overrides.update({"lost_timeout_s": 5.0, "smoothing": 1.0})
    col = Collector({"/teleop/joint_trajectory": JointTrajectory})
    node = col.node
    pub = node.create_publisher(SkeletonArray, "/mocap/skeletons", 10)
    estop = node.create_publisher(Bool, "/teleop/estop", 10)
    episode = node.create_publisher(String, "/recorder/episode", 10)
    got = col.msgs["/teleop/joint_trajectory"]
    procs = start_nodes(specs, ros_env, tmp_path)

    def step(msg, pub=pub) -> JointTrajectory:
        n = len(got)
        pub.publish(msg)
        deadline = time.monotonic() + 5
        while len(got) <= n and time.monotonic() < deadline:
            time.sleep(0.002)
        assert len(got) > n, f"no trajectory answered message {n}\n{logs(tmp_path)}"
        return got[n][1]

    try:
        deadline = time.monotonic() + 30
        while (pub.get_subscription_count() < 2 or estop.get_subscription_count() < 1
               or episode.get_subscription_count() < 1
               or node.count_publishers("/teleop/joint_trajectory") < 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pub.get_subscription_count() >= 2, f"teleop/recorder did not subscribe\n{logs(tmp_path)}"
        # we see their subscriptions; they must match our publishers too (DDS matches each side on its own, and a
        # volatile subscriber loses what was sent before): on a loaded machine this takes up to about a second
        time.sleep(2.0)
        out = []
        for i in range(40):
            out.append(("move", step(_array(BASE + times[i], joints, i))))
        out.append(("lost", step(_array(BASE + times[40], None))))
        for i in range(41, 50):
            out.append(("move", step(_array(BASE + times[i], joints, i))))
        out.append(("lowconf", step(_array(BASE + times[50], joints, 50, conf=0.05))))
        for i in range(51, 60):
            out.append(("move", step(_array(BASE + times[i], joints, i))))
        out.append(("estop", step(Bool(data=True), estop)))
        out.append(("estop", step(_array(BASE + times[61], joints, 61))))
        estop.publish(Bool(data=False))
        time.sleep(0.3)
        episode.publish(String(data=""))  # end episode 0, start "pick" with the next skeleton
        episode.publish(String(data="pick"))
        time.sleep(0.3)
        for i in range(62, 90):
            out.append(("move", step(_array(BASE + times[i], joints, i))))
        time.sleep(1.0)  # the recorder may lag the teleop node; let it drain before SIGINT
    finally:
        stop_nodes(procs, timeout=20)
        col.close()

    names = list(out[0][1].joint_names)
    assert names == ["shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint",
                     "wrist_3_joint"]
    prev = None
    for kind, m in out:
        pt = m.points[0]
        q, v = np.array(pt.positions), np.array(pt.velocities)
        dur = pt.time_from_start.sec + pt.time_from_start.nanosec * 1e-9
        if kind == "move":
            assert np.any(v != 0) or prev is None or np.allclose(q, prev)
        else:  # stop within one message: same positions, zero velocity
            assert not np.any(v), kind
            np.testing.assert_array_equal(q, prev)
        if prev is not None:
            assert np.all(np.abs(q - prev) <= 1.0 * max(dur, 0.0) + 1e-9), (kind, q - prev, dur)  # 1 rad/s
        assert np.all(np.abs(v) <= 1.0 + 1e-9)
        prev = q
    moved = np.abs(np.diff([m.points[0].positions for _, m in out], axis=0)).max()
    assert moved > 0.01, "the robot should follow the arm"

    runs = list((tmp_path / "rec").iterdir())
    assert len(runs) == 1, f"{runs}\n{logs(tmp_path)}"
    with Reader(runs[0] / "bag") as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        ts = make_typestore()
        skel = [ts.deserialize_cdr(raw, c.msgtype) for c, _, raw in reader.messages()
                if c.topic == "/mocap/skeletons"]
    assert counts["/mocap/skeletons"] == len(skel) == 89, f"{counts}\n{logs(tmp_path)}"
    assert counts["/teleop/joint_trajectory"] >= 88
    assert [round(s.header.stamp.sec + s.header.stamp.nanosec * 1e-9 - BASE, 6) for s in skel if s.skeletons][:3] == \
        [round(t, 6) for t in times[:3]]
    root = runs[0] / "lerobot"
    info = json.loads((root / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 2 and info["features"]["action"]["names"] == names, f"{info}\n{logs(tmp_path)}"
    eps = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [e["tasks"] for e in eps] == [["teleoperation demonstration"], ["pick"]]
    # episode 0 covers frames 0..61 (30 Hz), episode 1 frames 62..89 (the first skeleton before any target dropped)
    assert abs(eps[0]["length"] - 62) <= 2 and abs(eps[1]["length"] - 28) <= 2, eps
    data = pq.read_table(root / "data/chunk-000/file-000.parquet")
    assert data.num_rows == info["total_frames"] == eps[1]["dataset_to_index"]
