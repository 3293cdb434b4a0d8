"""Child process of the kill test: records 3 episodes (LeRobot dataset + MCAP bag) and reports its progress in
``progress.json``; the test kills it with SIGKILL during episode 3.

Usage: python -m tests.apps.record.kill_child OUT_DIR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from mocap.apps.record.bag import BagRecorder
from tests.apps.record.streams import ROBOT, feed, make_recorder, robot_q

LENGTHS = (45, 30, 10_000)  # episode 3 runs until killed


def main(out: Path) -> None:
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    JointState = ts.types["sensor_msgs/msg/JointState"]
    Header = ts.types["std_msgs/msg/Header"]
    Time = ts.types["builtin_interfaces/msg/Time"]
    bag = BagRecorder(out / "bag", typestore=ts, flush_every_s=0.2)
    bag.add_topic("/joint_states", "sensor_msgs/msg/JointState")
    rec = make_recorder(out / "dataset")
    progress = {"episodes_saved": 0, "bag_flushed": 0, "frames_in_episode_3": 0}
    t, k = 1000.0, 0
    for e, n in enumerate(LENGTHS):
        feed(rec, t, k)
        ok, msg = rec.start_episode(f"task {e % 2}")
        assert ok, msg
        for i in range(n):
            t += 1 / 30
            k += 1
            feed(rec, t, k)
            rec.tick(t)
            q = robot_q(t)
            msg = JointState(Header(Time(int(t), int(t % 1 * 1e9)), "base"), ROBOT, q.astype(np.float64),
                             np.zeros(6), np.zeros(0))
            bag.write("/joint_states", int(t * 1e9), ts.serialize_cdr(msg, "sensor_msgs/msg/JointState"))
            if e == 2:
                progress["frames_in_episode_3"] = i + 1
            progress["bag_flushed"] = bag.flushed
            _report(out, progress)
            time.sleep(0.004)
        rec.stop_episode()
        progress["episodes_saved"] = e + 1
        _report(out, progress)


def _report(out: Path, progress: dict) -> None:
    tmp = out / "progress.json.tmp"
    tmp.write_text(json.dumps(progress))
    tmp.replace(out / "progress.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
