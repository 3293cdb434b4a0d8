"""ROS 2 node ``game_control``: skeletons -> ``sensor_msgs/Joy`` (axes + buttons) and gesture events.

Thin adapter over :class:`mocap.apps.gestures.GestureMapper` (the mapper of ``mocap events`` and ``mocap live
--sink osc://``). Publishes, per skeleton message of the followed person:

- ``joy_topic`` (``/mocap/joy``, ``sensor_msgs/Joy``): ``axes`` = :data:`mocap.apps.gestures.AXES` in that order
  (lean, twist, crouch, hand_left_x/y/z, hand_right_x/y/z); ``buttons`` = one per gesture (sorted by name, the
  order is logged at start), 1 while the gesture is active;
- ``events_topic`` (``/mocap/events``, ``std_msgs/String``): one JSON object per event start/end, the line format of
  ``mocap events`` (``t``, ``person``, ``name``, ``phase``).

Parameters: ``skeletons_topic``, ``joy_topic``, ``events_topic``, ``gestures`` (a TOML file, "" = built-ins),
``person_id`` (-1: the first tracked person), ``calib_s``.
"""

from __future__ import annotations

import sys

from mocap_msgs.msg import SkeletonArray
from rclpy.node import Node
from sensor_msgs.msg import Joy
from std_msgs.msg import String

from mocap.apps.gestures import AXES, GestureEvent, GestureMapper
from mocap.apps.people import PersonSelector
from mocap_ros import convert
from mocap_ros.node_main import run_node
from mocap_ros.stream_bridge import SkeletonArrayToStream

PARAMS = {"skeletons_topic": "/mocap/skeletons", "joy_topic": "/mocap/joy", "events_topic": "/mocap/events",
          "gestures": "", "person_id": -1, "calib_s": 1.0}


class GameControl(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("game_control", **kwargs)
        for k, v in PARAMS.items():
            self.declare_parameter(k, v)
        p = {k: self.get_parameter(k).value for k in PARAMS}
        self.selector = PersonSelector(None if int(p["person_id"]) < 0 else int(p["person_id"]))
        self.mapper = GestureMapper.from_file(p["gestures"] or None, calib_s=float(p["calib_s"]))
        self.buttons = sorted(self.mapper.gestures)
        self.active: set[str] = set()
        self.axes = [0.0] * len(AXES)
        self.mapper.on_event(self._on_event)
        self.mapper.on_axes(self._on_axes)
        self.conv = SkeletonArrayToStream()
        self.pub_joy = self.create_publisher(Joy, p["joy_topic"], 10)
        self.pub_events = self.create_publisher(String, p["events_topic"], 10)
        self.create_subscription(SkeletonArray, p["skeletons_topic"], self._on_skeletons, 10)
        self.get_logger().info(f"game_control: {p['skeletons_topic']} -> {p['joy_topic']} (axes {', '.join(AXES)}; "
                               f"buttons {', '.join(self.buttons)}) and {p['events_topic']}")

    def _on_event(self, e: GestureEvent) -> None:
        (self.active.add if e.phase == "start" else self.active.discard)(e.name)
        self.pub_events.publish(String(data=e.to_json()))

    def _on_axes(self, t: float, person: int, values: dict[str, float]) -> None:
        self.axes = [float(values[k]) if values[k] == values[k] else 0.0 for k in AXES]

    def _on_skeletons(self, msg: SkeletonArray) -> None:
        descs, frame = self.conv.convert(msg)
        for d in descs:
            self.mapper.describe(d)
        p = self.selector.pick(frame)
        frame.people = [p] if p is not None else []
        self.mapper.send(frame)
        joy = Joy()
        joy.header.stamp = convert.sec_to_stamp(frame.stamp)
        joy.header.frame_id = msg.header.frame_id
        joy.axes = self.axes
        joy.buttons = [int(b in self.active) for b in self.buttons]
        self.pub_joy.publish(joy)


def main(argv: list[str] | None = None) -> int:
    return run_node(GameControl, "game_control", argv)


if __name__ == "__main__":
    sys.exit(main())
