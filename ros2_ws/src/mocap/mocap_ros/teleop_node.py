"""ROS 2 teleop node: a tracked person's arm (``mocap_msgs/SkeletonArray``) -> ``trajectory_msgs/JointTrajectory``.

Thin adapter over :class:`mocap_ros.teleop_core.TeleopController` (IK with pinocchio on a URDF arm, workspace box,
joint velocity limits, dead-man, smoothing). Topics (parameters):

- subscribes ``skeletons_topic`` (``/mocap/skeletons``) and ``estop_topic`` (``/teleop/estop``, ``std_msgs/Bool``:
  True latches the e-stop, False releases it);
- publishes ``trajectory_topic`` (``/teleop/joint_trajectory``): one point per skeleton message, positions (rad),
  velocities (rad/s, zero when stopped) and ``time_from_start`` = the step's period; a stop repeats the last
  commanded positions with zero velocity;
- ``target_topic`` (``geometry_msgs/PointStamped``, base frame) and ``active_topic`` (``std_msgs/Bool``).

Dead-man: no skeleton for ``lost_timeout_s``, the person missing or its arm joints below ``min_confidence`` ->
stop at once (the first message after the loss is a stop).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import PointStamped
from mocap_msgs.msg import SkeletonArray
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Bool
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from mocap_ros import convert
from mocap_ros.node_main import run_node
from mocap_ros.params import TELEOP_PARAMS as PARAMS
from mocap_ros.teleop_core import Command, TeleopConfig, TeleopController


def skeletons_to_people(msg: SkeletonArray) -> dict[int, tuple[dict[str, np.ndarray], dict[str, float]]]:
    """``{person_id: ({joint: position (3,)}, {joint: confidence})}`` of a SkeletonArray."""
    out = {}
    for sk in msg.skeletons:
        X, conf, _, _ = convert.skeleton_to_arrays(sk)
        names = list(sk.joint_names)
        out[int(sk.person_id)] = ({n: X[i] for i, n in enumerate(names)},
                                  {n: float(conf[i]) if i < len(conf) else 0.0 for i, n in enumerate(names)})
    return out


def trajectory_msg(cmd: Command, joint_names: list[str], frame_id: str) -> JointTrajectory:
    """One-point ``JointTrajectory`` (header stamp zero = execute now)."""
    msg = JointTrajectory()
    msg.header.frame_id = frame_id
    msg.joint_names = list(joint_names)
    pt = JointTrajectoryPoint()
    pt.positions = [float(x) for x in cmd.positions]
    pt.velocities = [float(x) for x in cmd.velocities]
    ns = int(round(cmd.duration * 1e9))
    pt.time_from_start = Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)
    msg.points = [pt]
    return msg


class TeleopNode(Node):
    """See the module docstring; parameters in :data:`PARAMS` (``config/teleop.yaml`` documents them)."""

    def __init__(self, **kwargs) -> None:
        super().__init__("teleop", **kwargs)
        for k, v in PARAMS.items():
            self.declare_parameter(k, v)
        self.declare_parameter("home", Parameter.Type.DOUBLE_ARRAY)
        p = {k: self.get_parameter(k).value for k in PARAMS}
        try:
            home = list(self.get_parameter("home").value or [])
        except rclpy.exceptions.ParameterUninitializedException:
            home = []
        self.p = p
        cfg = TeleopConfig.from_dict({**p, "home": home})
        self.ctl = TeleopController(cfg)
        self.pub_traj = self.create_publisher(JointTrajectory, p["trajectory_topic"], 10)
        self.pub_target = self.create_publisher(PointStamped, p["target_topic"], 10)
        self.pub_active = self.create_publisher(Bool, p["active_topic"], 10)
        self.create_subscription(SkeletonArray, p["skeletons_topic"], self._on_skeletons, 10)
        self.create_subscription(Bool, p["estop_topic"], self._on_estop, 10)
        self.last_msg: float | None = None
        self.last_reason = ""
        self.create_timer(max(0.01, p["lost_timeout_s"] / 2), self._watchdog)
        self.get_logger().info(f"teleop: {p['robot'] if not p['urdf'] else p['urdf']} joints {self.ctl.joint_names}, "
                               f"{p['arm']} arm of person {p['person_id'] if p['person_id'] >= 0 else '(first)'} "
                               f"-> {p['trajectory_topic']}; e-stop on {p['estop_topic']}")

    def _emit(self, cmd: Command) -> None:
        self.pub_traj.publish(trajectory_msg(cmd, self.ctl.joint_names, self.p["base_frame"]))
        self.pub_active.publish(Bool(data=cmd.active))
        if cmd.target is not None:
            pt = PointStamped()
            pt.header.frame_id = self.p["base_frame"]
            pt.header.stamp = self.get_clock().now().to_msg()
            pt.point.x, pt.point.y, pt.point.z = (float(x) for x in cmd.target)
            self.pub_target.publish(pt)
        if not cmd.active and cmd.reason != self.last_reason:
            self.get_logger().warning(f"teleop stopped: {cmd.reason}")
        if cmd.active and self.last_reason:
            self.get_logger().info("teleop engaged")
        self.last_reason = "" if cmd.active else cmd.reason

    def _on_skeletons(self, msg: SkeletonArray) -> None:
        self.last_msg = time.monotonic()
        self._emit(self.ctl.update(convert.stamp_to_sec(msg.header.stamp), skeletons_to_people(msg)))

    def _on_estop(self, msg: Bool) -> None:
        was = self.ctl.estop
        self.ctl.set_estop(msg.data)
        if msg.data:
            self._emit(self.ctl.stop("e-stop"))
        elif was:
            self.get_logger().info("e-stop released")

    def _watchdog(self) -> None:
        if self.ctl.active and self.last_msg is not None and \
                time.monotonic() - self.last_msg > self.p["lost_timeout_s"]:
            self._emit(self.ctl.stop(f"no skeleton for {self.p['lost_timeout_s']:.2f} s"))


def main(argv: list[str] | None = None) -> int:
    return run_node(TeleopNode, "teleop", argv, user_errors=(ValueError, FileNotFoundError, ImportError))


if __name__ == "__main__":
    sys.exit(main())
