"""Recorder core without DDS: MCAP bag of real ROS messages reads back with rosbags; the LeRobot v3.0 export has
the required files and fields, loads with pyarrow and has the right episode boundaries."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.ros.conftest import needs_ros

pytest.importorskip("rosbags", reason="rosbags not installed: pip install rosbags==0.11.9")
pa = pytest.importorskip("pyarrow", reason="pyarrow not installed: pip install pyarrow==21.0.0")
pq = pytest.importorskip("pyarrow.parquet")
pytestmark = [pytest.mark.ros, needs_ros]

JOINTS = ["right_shoulder", "right_elbow", "right_wrist", "left_shoulder"]
ROBOT = ["j1", "j2", "j3"]


def _skeleton_msg(t: float, X: np.ndarray):
    from mocap_ros import convert

    sk = convert.skeleton_msg(0, JOINTS, [-1, 0, 1, 0], X, np.full(len(JOINTS), 0.9),
                              np.tile([0, 0, 0, 1.0], (len(JOINTS), 1)), np.tile([0, 0, 0, 1.0], (len(JOINTS), 1)),
                              t, "world")
    return convert.skeleton_array_msg([sk], "coco17", t, "world")


def test_mcap_bag_reads_back(tmp_path):
    from mocap_ros.recorder_core import BagRecorder
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import Reader
    from std_msgs.msg import Bool
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    rng = np.random.default_rng(1)
    bag = BagRecorder(tmp_path / "bag")
    bag.add_topic("/mocap/skeletons", "mocap_msgs/msg/SkeletonArray")
    bag.add_topic("/teleop/joint_trajectory", "trajectory_msgs/msg/JointTrajectory")
    bag.add_topic("/teleop/estop", "std_msgs/msg/Bool")
    with pytest.raises(KeyError, match="unknown"):
        bag.add_topic("/x", "nope_msgs/msg/Nope")
    sent = []
    for i in range(12):
        t = 100.0 + i / 30
        X = rng.normal(size=(len(JOINTS), 3))
        sent.append(X)
        bag.write("/mocap/skeletons", int(t * 1e9), serialize_message(_skeleton_msg(t, X)))
        jt = JointTrajectory(joint_names=ROBOT, points=[JointTrajectoryPoint(positions=[0.1 * i, 0.2, -0.3])])
        bag.write("/teleop/joint_trajectory", int(t * 1e9) + 1, serialize_message(jt))
    bag.write("/teleop/estop", int(101e9), serialize_message(Bool(data=True)))
    bag.close()
    assert list((tmp_path / "bag").glob("*.mcap")), "no .mcap file written"

    with Reader(tmp_path / "bag") as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        assert topics == {"/mocap/skeletons": "mocap_msgs/msg/SkeletonArray",
                          "/teleop/joint_trajectory": "trajectory_msgs/msg/JointTrajectory",
                          "/teleop/estop": "std_msgs/msg/Bool"}
        assert all(c.msgdef.data for c in reader.connections)  # definitions travel with the bag
        ts = bag.typestore
        skel, traj, estop = [], [], []
        for conn, _, raw in reader.messages():
            m = ts.deserialize_cdr(raw, conn.msgtype)
            {"/mocap/skeletons": skel, "/teleop/joint_trajectory": traj, "/teleop/estop": estop}[conn.topic].append(m)
    assert len(skel) == len(traj) == 12 and len(estop) == 1 and estop[0].data is True
    for X, m in zip(sent, skel, strict=True):
        sk = m.skeletons[0]
        assert list(sk.joint_names) == JOINTS and m.joint_set == "coco17"
        np.testing.assert_allclose([[p.x, p.y, p.z] for p in sk.positions], X)
    assert [round(m.points[0].positions[0], 6) for m in traj] == [round(0.1 * i, 6) for i in range(12)]


def _demos():
    from mocap_ros.recorder_core import Demonstrations

    d = Demonstrations(JOINTS, ROBOT)
    rng = np.random.default_rng(2)
    lengths = []
    for e, (task, n) in enumerate([("wave", 40), ("reach", 25), ("wave", 31)]):
        d.start_episode(task)
        t0 = 10.0 * e
        for k in range(n):
            t = t0 + k / 30 + rng.uniform(-0.002, 0.002)  # jittered 30 Hz
            X = rng.normal(size=(len(JOINTS), 3))
            if k == 3:
                X[1] = np.nan
            d.add_skeleton(t, X, np.full(len(JOINTS), 0.8))
            d.add_action(t, [e, k, 0.5])
        lengths.append(n)
    d.end_episode()
    d.add_skeleton(99.0, np.zeros((4, 3)), np.ones(4))  # outside an episode: ignored
    d.end_episode()
    return d, lengths


def test_lerobot_export_layout_and_episodes(tmp_path):
    d, lengths = _demos()
    root = tmp_path / "ds"
    info = d.export_lerobot(root, fps=30, robot_type="ur5")
    for f in ("meta/info.json", "meta/stats.json", "meta/tasks.parquet", "meta/episodes/chunk-000/file-000.parquet",
              "data/chunk-000/file-000.parquet"):
        assert (root / f).is_file(), f
    info_file = json.loads((root / "meta/info.json").read_text())
    assert info_file == info and info["codebase_version"] == "v3.0" and info["fps"] == 30
    assert info["total_episodes"] == 3 and info["total_tasks"] == 2 and info["splits"] == {"train": "0:3"}
    assert info["data_path"].format(chunk_index=0, file_index=0) == "data/chunk-000/file-000.parquet"
    feats = info["features"]
    assert {"observation.state", "action", "timestamp", "frame_index", "episode_index", "index",
            "task_index"} <= set(feats)
    assert feats["observation.state"]["shape"] == [12] and feats["action"]["names"] == ROBOT

    data = pq.read_table(root / "data/chunk-000/file-000.parquet")
    assert set(data.column_names) == set(feats)
    assert data.num_rows == info["total_frames"]
    ep_idx = data["episode_index"].to_numpy()
    frame = data["frame_index"].to_numpy()
    ts = data["timestamp"].to_numpy()
    np.testing.assert_array_equal(data["index"].to_numpy(), np.arange(data.num_rows))
    np.testing.assert_allclose(ts, frame / 30, atol=1e-6)
    state = np.asarray(data["observation.state"].to_pylist(), np.float32)
    assert state.shape == (data.num_rows, 12) and np.isfinite(state).all()

    eps = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [e["episode_index"] for e in eps] == [0, 1, 2]
    assert [e["tasks"] for e in eps] == [["wave"], ["reach"], ["wave"]]
    for e, n in zip(eps, lengths, strict=True):
        lo, hi = e["dataset_from_index"], e["dataset_to_index"]
        assert hi - lo == e["length"] and abs(e["length"] - n) <= 1  # resampled to exactly 30 fps
        assert np.all(ep_idx[lo:hi] == e["episode_index"]) and frame[lo] == 0 and frame[hi - 1] == hi - lo - 1
        action = np.asarray(data["action"].to_pylist()[lo:hi])
        assert np.all(action[:, 0] == e["episode_index"])  # no action leaks across episode boundaries
        assert e["stats/action/count"] == [e["length"]] and e["data/chunk_index"] == 0
    assert eps[-1]["dataset_to_index"] == data.num_rows

    tasks = pq.read_table(root / "meta/tasks.parquet")
    meta = json.loads(tasks.schema.metadata[b"pandas"])
    assert meta["index_columns"] == ["task"]
    assert dict(zip(tasks["task"].to_pylist(), tasks["task_index"].to_pylist(), strict=True)) == {"wave": 0,
                                                                                                 "reach": 1}
    tix = data["task_index"].to_numpy()
    assert np.all(tix[ep_idx == 1] == 1) and np.all(tix[ep_idx != 1] == 0)

    stats = json.loads((root / "meta/stats.json").read_text())
    np.testing.assert_allclose(stats["observation.state"]["mean"], state.mean(0), rtol=1e-5, atol=1e-6)
    assert stats["action"]["count"] == [data.num_rows]
    assert set(stats["observation.state"]) >= {"min", "max", "mean", "std", "count"}


def test_lerobot_export_without_frames_is_an_error(tmp_path):
    from mocap_ros.recorder_core import Demonstrations

    d = Demonstrations(JOINTS, ROBOT)
    d.start_episode("x")
    d.add_skeleton(0.0, np.zeros((4, 3)), np.ones(4))  # no robot target ever: no frame
    with pytest.raises(ValueError, match="no frames"):
        d.export_lerobot(tmp_path / "ds", fps=30)
