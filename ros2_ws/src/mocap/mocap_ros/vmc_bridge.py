"""ROS 2 node ``vmc_bridge``: ``mocap_msgs/SkeletonArray`` -> an avatar over the VMC protocol (OSC/UDP).

Thin adapter over :class:`mocap.apps.vmc.VmcSender` (the sender ``mocap live --sink vmc://`` uses): Unity humanoid
bones, local rotations in Unity axes, float32 only, ``/VMC/Ext/OK`` and ``/VMC/Ext/T`` every frame. Parameters:
``skeletons_topic`` (``/mocap/skeletons``), ``vmc_url`` (``vmc://127.0.0.1:39539``; options ``person``, ``rate``,
``calib``, ``mtu`` as in the URL of ``mocap live``), ``person_id`` (-1: the first tracked person).
"""

from __future__ import annotations

import sys

from mocap_msgs.msg import SkeletonArray
from rclpy.node import Node

from mocap.apps.vmc import VmcSender
from mocap_ros.node_main import run_node
from mocap_ros.stream_bridge import SkeletonArrayToStream

PARAMS = {"skeletons_topic": "/mocap/skeletons", "vmc_url": "vmc://127.0.0.1:39539", "person_id": -1}


class VmcBridge(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("vmc_bridge", **kwargs)
        for k, v in PARAMS.items():
            self.declare_parameter(k, v)
        p = {k: self.get_parameter(k).value for k in PARAMS}
        self.sender = VmcSender.from_url(p["vmc_url"])
        if int(p["person_id"]) >= 0:
            self.sender.selector.person = self.sender.selector.current = int(p["person_id"])
        self.conv = SkeletonArrayToStream()
        self.create_subscription(SkeletonArray, p["skeletons_topic"], self._on_skeletons, 10)
        self.get_logger().info(f"vmc_bridge: {p['skeletons_topic']} -> {p['vmc_url']}")

    def _on_skeletons(self, msg: SkeletonArray) -> None:
        descs, frame = self.conv.convert(msg)
        for d in descs:
            self.sender.describe(d)
        self.sender.send(frame)


def main(argv: list[str] | None = None) -> int:
    return run_node(VmcBridge, "vmc_bridge", argv, on_exit=lambda n: n.sender.close())


if __name__ == "__main__":
    sys.exit(main())
