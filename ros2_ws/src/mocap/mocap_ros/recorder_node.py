"""ROS 2 recorder node: demonstrations for imitation learning -> LeRobot v3.0 dataset + rosbag2 MCAP.

Thin adapter over :class:`mocap.apps.record.recorder.DemonstrationRecorder` and
:class:`mocap.apps.record.bag.BagRecorder`. Output in ``output_dir/<YYYYmmdd_HHMMSS>/``:

- ``lerobot/``: ``observation.state`` = robot joint state (``robot_state_topic``, ``sensor_msgs/JointState``) +
  the operator's skeleton (``skeletons_topic``); ``action`` = the commanded joints (``trajectory_topic``,
  ``trajectory_msgs/JointTrajectory`` evaluated at each frame); ``observation.images.<camera>`` = video of each
  ``image_topics`` entry (``sensor_msgs/Image``, rgb8/bgr8/mono8) named by ``cameras``; sampled at ``fps``.
  Each episode is flushed atomically when it stops: killing the process loses at most the episode in progress.
- ``bag/``: rosbag2 MCAP of every recorded topic and ``extra_topics`` (type found at run time), written as
  messages arrive (flushed every 0.5 s; ``mocap.apps.record.bag.recover_bag`` reads a bag whose writer died).

Episodes: services ``~/start_episode`` (the ``task`` parameter names the task; set it first with
``ros2 param set``), ``~/stop_episode`` (save) and ``~/discard_episode`` (``std_srvs/Trigger``); with
``auto_start`` an episode starts once every stream has spoken. Ctrl-C saves the episode in progress.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import numpy as np
from mocap_msgs.msg import SkeletonArray
from mocap_msgs.msg import SkeletonDescription as SkeletonDescriptionMsg
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image, JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from mocap.apps.record.bag import BagRecorder
from mocap.apps.record.recorder import DemonstrationRecorder, RecorderConfig
from mocap.errors import MocapError
from mocap_ros import convert
from mocap_ros.node_main import run_node
from mocap_ros.params import RECORDER_PARAMS as PARAMS
from mocap_ros.teleop_node import description_from_skeleton

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def _msg_class(typename: str):
    pkg, _, name = typename.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


def image_to_rgb(msg: Image) -> np.ndarray | None:
    """``sensor_msgs/Image`` -> ``(H, W, 3)`` uint8 RGB (rgb8, bgr8, mono8); None for other encodings."""
    ch = {"rgb8": 3, "bgr8": 3, "mono8": 1}.get(msg.encoding)
    if ch is None:
        return None
    a = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)[:, : msg.width * ch]
    a = a.reshape(msg.height, msg.width, ch)
    if msg.encoding == "bgr8":
        a = a[:, :, ::-1]
    elif ch == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a)


class RecorderNode(Node):
    """See the module docstring; parameters in :data:`PARAMS` (``config/recorder.yaml`` documents them)."""

    def __init__(self, **kwargs) -> None:
        super().__init__("recorder", **kwargs)
        for k, v in PARAMS.items():
            self.declare_parameter(k, v)
        p = self.p = {k: self.get_parameter(k).value for k in PARAMS}
        cams = [c for c in p["cameras"] if c]
        topics = [t for t in p["image_topics"] if t]
        if len(cams) != len(topics):
            raise MocapError(f"recorder: {len(cams)} camera names for {len(topics)} image topics",
                             hint="give one name per image topic in 'cameras'")
        self.out = Path(p["output_dir"]).expanduser() / time.strftime("%Y%m%d_%H%M%S")
        self.out.mkdir(parents=True, exist_ok=False)
        self.rec = DemonstrationRecorder(
            self.out / "lerobot", RecorderConfig(int(p["fps"]), int(p["person_id"]), float(p["max_age_s"]), cams,
                                                 p["robot_type"], p["video_codec"])) if p["lerobot"] else None
        self.bag = BagRecorder(self.out / "bag") if p["bag"] else None
        self._subscribe(p["robot_state_topic"], "sensor_msgs/msg/JointState", self._on_joint_state)
        self._subscribe(p["skeletons_topic"], "mocap_msgs/msg/SkeletonArray", self._on_skeletons)
        self._subscribe(p["trajectory_topic"], "trajectory_msgs/msg/JointTrajectory", self._on_trajectory)
        self._subscribe(p["description_topic"], "mocap_msgs/msg/SkeletonDescription", self._on_description, LATCHED)
        for cam, topic in zip(cams, topics):
            self._subscribe(topic, "sensor_msgs/msg/Image", lambda m, cam=cam: self._on_image(cam, m))
        self.extra = [t for t in p["extra_topics"] if t]
        if self.extra:
            self.create_timer(1.0, self._discover)
        self.create_service(Trigger, "~/start_episode", self._srv_start)
        self.create_service(Trigger, "~/stop_episode", self._srv_stop)
        self.create_service(Trigger, "~/discard_episode", self._srv_discard)
        self.create_timer(1.0 / int(p["fps"]), self._tick)
        self.get_logger().info(f"recording to {self.out} (bag: {p['bag']}, LeRobot: {p['lerobot']}, cameras {cams}); "
                               "episodes: ~/start_episode ~/stop_episode ~/discard_episode")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _subscribe(self, topic: str, typename: str, handler, qos=50) -> None:
        if not topic:
            return
        name = self.resolve_topic_name(topic)  # the bag names topics fully (namespace resolved)
        if self.bag is not None:
            self.bag.add_topic(name, typename)
        cls = _msg_class(typename)

        def cb(data: bytes, name=name, cls=cls) -> None:
            if self.bag is not None:
                self.bag.write(name, self.get_clock().now().nanoseconds, data)
            if handler is not None and self.rec is not None:
                handler(deserialize_message(data, cls))

        self.create_subscription(cls, topic, cb, qos, raw=True)

    def _discover(self) -> None:
        types = dict(self.get_topic_names_and_types())
        for t in list(self.extra):
            if t in types and types[t]:
                try:
                    self._subscribe(t, types[t][0], None)
                except (KeyError, ImportError, AttributeError) as e:
                    self.get_logger().warning(f"cannot record {t} ({types[t][0]}): {e}")
                self.extra.remove(t)

    # ------------------------------------------------------------------ streams
    def _on_joint_state(self, msg: JointState) -> None:
        self.rec.on_robot_state(self._now(), list(msg.name), list(msg.position))

    def _on_description(self, msg: SkeletonDescriptionMsg) -> None:
        self.rec.describe(convert.msg_to_description(msg))

    def _on_skeletons(self, msg: SkeletonArray) -> None:
        if self.rec.description is None:
            d = description_from_skeleton(msg)
            if d is None:
                return
            self.rec.describe(d)
        self.rec.on_skeleton(convert.msg_to_frame(msg), self._now())

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        if not msg.points:
            return
        start = convert.stamp_to_sec(msg.header.stamp) or self._now()
        times = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points]
        self.rec.on_trajectory(start, list(msg.joint_names), times, [list(p.positions) for p in msg.points])

    def _on_image(self, cam: str, msg: Image) -> None:
        img = image_to_rgb(msg)
        if img is None:
            self.get_logger().warning(f"camera {cam}: image encoding {msg.encoding!r} not recorded (rgb8, bgr8, "
                                      "mono8)", throttle_duration_sec=5.0)
            return
        self.rec.on_image(cam, self._now(), img)

    def _tick(self) -> None:
        if self.rec is None:
            return
        if self.p["auto_start"] and self.rec.writer is None and not self.rec.missing():
            self.get_logger().info(self.rec.start_episode(self.get_parameter("task").value)[1])
        self.rec.tick(self._now())

    # ------------------------------------------------------------------ services
    def _srv_start(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.rec is None:
            response.success, response.message = False, "LeRobot recording is off (lerobot: false)"
            return response
        try:
            response.success, response.message = self.rec.start_episode(self.get_parameter("task").value)
        except MocapError as e:
            response.success, response.message = False, str(e)
        self.get_logger().info(response.message)
        return response

    def _srv_stop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        e = self.rec.stop_episode() if self.rec is not None else None
        response.success = e is not None
        response.message = f"episode {e} saved" if e is not None else "no episode with frames in progress"
        self.get_logger().info(response.message)
        return response

    def _srv_discard(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success = self.rec is not None and self.rec.discard_episode()
        response.message = "episode discarded" if response.success else "no episode in progress"
        self.get_logger().info(response.message)
        return response

    def finish(self) -> None:
        """Save the episode in progress and close the bag (clean shutdown)."""
        if self.rec is not None:
            e = self.rec.stop_episode()
            if e is not None:
                self.get_logger().info(f"episode {e} saved at shutdown")
            self.rec.close()
        if self.bag is not None:
            self.bag.close()
            self.get_logger().info(f"bag: {self.bag.count} messages in {self.bag.path}")


def main(argv: list[str] | None = None) -> int:
    return run_node(RecorderNode, "recorder", argv, on_exit=RecorderNode.finish,
                    user_errors=(FileExistsError, FileNotFoundError))


if __name__ == "__main__":
    sys.exit(main())
