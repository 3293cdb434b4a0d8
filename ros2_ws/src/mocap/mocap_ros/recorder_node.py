"""ROS 2 recorder node: demonstrations (human skeleton, robot joint targets, optional images) -> rosbag2 MCAP +
LeRobot v3.0 dataset.

Thin adapter over :mod:`mocap_ros.recorder_core`. Output in ``output_dir/<YYYYmmdd_HHMMSS>/``:

- ``bag/``: rosbag2 (MCAP) with ``skeletons_topic``, ``trajectory_topic``, every ``image_topics`` entry
  (``sensor_msgs/Image``) and ``extra_topics`` (type discovered at run time), written as received (CDR bytes);
- ``lerobot/``: written at shutdown; ``observation.state`` = the tracked person's joints, ``action`` = the robot
  joint targets (see :class:`mocap_ros.recorder_core.Demonstrations`).

Episodes: ``episode_topic`` (``std_msgs/String``): a non-empty string starts an episode with that task, an empty one
ends it; with ``auto_start`` an episode of ``task`` starts at once.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

from mocap_msgs.msg import SkeletonArray
from rclpy.node import Node
from rclpy.serialization import deserialize_message
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from mocap_ros import convert
from mocap_ros.node_main import run_node
from mocap_ros.params import RECORDER_PARAMS as PARAMS
from mocap_ros.recorder_core import BagRecorder, Demonstrations


def _msg_class(typename: str):
    pkg, _, name = typename.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


class RecorderNode(Node):
    """See the module docstring; parameters in :data:`PARAMS` (``config/recorder.yaml`` documents them)."""

    def __init__(self, **kwargs) -> None:
        super().__init__("recorder", **kwargs)
        for k, v in PARAMS.items():
            self.declare_parameter(k, v)
        p = self.p = {k: self.get_parameter(k).value for k in PARAMS}
        self.out = Path(p["output_dir"]).expanduser() / time.strftime("%Y%m%d_%H%M%S")
        self.out.mkdir(parents=True, exist_ok=False)
        self.bag = BagRecorder(self.out / "bag") if p["bag"] else None
        self.demos: Demonstrations | None = None
        self.task = p["task"]
        self.pending_start = bool(p["auto_start"])
        self.t0 = time.monotonic()
        self._subscribe(p["skeletons_topic"], "mocap_msgs/msg/SkeletonArray", self._on_skeletons)
        if p["trajectory_topic"]:
            self._subscribe(p["trajectory_topic"], "trajectory_msgs/msg/JointTrajectory", self._on_trajectory)
        for t in (t for t in p["image_topics"] if t):
            self._subscribe(t, "sensor_msgs/msg/Image", None)
        self.extra = [t for t in p["extra_topics"] if t]
        self.create_subscription(String, p["episode_topic"], self._on_episode, 10)
        if self.extra:
            self.create_timer(1.0, self._discover)
        self.n_frames = 0
        self.get_logger().info(f"recording to {self.out} (bag: {p['bag']}, LeRobot: {p['lerobot']}); episodes on "
                               f"{p['episode_topic']}")

    def _subscribe(self, topic: str, typename: str, handler) -> None:
        if self.bag is not None:
            self.bag.add_topic(topic, typename)
        cls = _msg_class(typename)

        def cb(data: bytes, topic=topic, cls=cls) -> None:
            if self.bag is not None:
                self.bag.write(topic, self.get_clock().now().nanoseconds, data)
            if handler is not None:
                handler(deserialize_message(data, cls))

        self.create_subscription(cls, topic, cb, 50, raw=True)

    def _discover(self) -> None:
        types = dict(self.get_topic_names_and_types())
        for t in list(self.extra):
            if t in types and types[t]:
                try:
                    self._subscribe(t, types[t][0], None)
                except (KeyError, ImportError, AttributeError) as e:
                    self.get_logger().warning(f"cannot record {t} ({types[t][0]}): {e}")
                self.extra.remove(t)

    def _on_episode(self, msg: String) -> None:
        if msg.data:
            self.task = msg.data
            self.pending_start = True
            if self.demos is not None:
                self.demos.start_episode(self.task)
                self.pending_start = False
            self.get_logger().info(f"episode started: {self.task!r}")
        else:
            if self.demos is not None:
                self.demos.end_episode()
            self.pending_start = False
            self.get_logger().info("episode ended")

    def _on_skeletons(self, msg: SkeletonArray) -> None:
        if not msg.skeletons:
            return
        pid = self.p["person_id"]
        sk = min(msg.skeletons, key=lambda s: s.person_id) if pid < 0 else \
            next((s for s in msg.skeletons if s.person_id == pid), None)
        if sk is None:
            return
        if self.demos is None:
            self.demos = Demonstrations(list(sk.joint_names), [])
        if self.pending_start:
            self.demos.start_episode(self.task)
            self.pending_start = False
        X, conf, _, _ = convert.skeleton_to_arrays(sk)
        if len(X) == len(self.demos.joint_names):
            self.demos.add_skeleton(convert.stamp_to_sec(msg.header.stamp), X, conf)
            self.n_frames += 1

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        if self.demos is None or not msg.points:
            return
        if not self.demos.action_names:
            self.demos.action_names = list(msg.joint_names)
        # the action's time base is the skeleton stamps: the latest skeleton time the target answers
        if self.demos.current is not None and self.demos.current.times:
            self.demos.add_action(self.demos.current.times[-1], msg.points[0].positions)

    def finish(self) -> None:
        """Close the bag and export the LeRobot dataset (called at shutdown)."""
        if self.bag is not None:
            self.bag.close()
            self.get_logger().info(f"bag: {self.bag.count} messages in {self.bag.path}")
        if self.p["lerobot"] and self.demos is not None:
            try:
                info = self.demos.export_lerobot(self.out / "lerobot", self.p["fps"], self.p["robot_type"],
                                                 self.p["task"])
                self.get_logger().info(f"LeRobot dataset: {info['total_episodes']} episodes, {info['total_frames']} "
                                       f"frames in {self.out / 'lerobot'}")
            except ValueError as e:
                self.get_logger().warning(f"LeRobot export skipped: {e}")


def main(argv: list[str] | None = None) -> int:
    return run_node(RecorderNode, "recorder", argv, on_exit=RecorderNode.finish,
                    user_errors=(FileExistsError, FileNotFoundError))


if __name__ == "__main__":
    sys.exit(main())
