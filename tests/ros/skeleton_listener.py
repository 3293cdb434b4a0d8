"""Standalone subscriber for tests that run DDS in other network namespaces: counts ``/mocap/skeletons`` messages
and writes a JSON summary. Usage: python skeleton_listener.py OUT.json N TIMEOUT_S"""

import json
import sys
import time

import rclpy
from mocap_msgs.msg import SkeletonArray


def main() -> int:
    out, n, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    rclpy.init()
    node = rclpy.create_node("skeleton_listener")
    got = []
    node.create_subscription(SkeletonArray, "/mocap/skeletons", got.append, 100)
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    summary = {"count": len(got),
               "joint_names": [list(s.joint_names) for m in got[:1] for s in m.skeletons[:1]],
               "people": [len(m.skeletons) for m in got],
               "positions": [[[p.x, p.y, p.z] for p in s.positions] for m in got[-1:] for s in m.skeletons[:1]]}
    with open(out, "w") as f:
        json.dump(summary, f)
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
