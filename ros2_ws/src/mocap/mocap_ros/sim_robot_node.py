"""ROS 2 simulated robot for tests: a JointTrajectoryController stand-in. NOT a controller for real robots.

Thin adapter over :class:`mocap.apps.teleop.sim_robot.SimulatedJTC`: subscribes ``trajectory_topic``
(``trajectory_msgs/JointTrajectory``, default ``/joint_trajectory_controller/joint_trajectory``, the stock
controller's topic), accepts or rejects each message with the stock controller's rules (plus the URDF's limits),
executes accepted ones and publishes ``state_topic`` (``sensor_msgs/JointState``: positions and velocities) at
``rate`` Hz. ``~/events`` (``std_msgs/String``) says ``accepted`` or ``rejected: <the controller's reason>`` per
message. The arm starts at ``start_positions``, or ``start_offset`` rad from the robot's home on every joint.
``publish_state`` (settable at run time) pauses the joint states: how a test makes the robot state go stale.
"""

from __future__ import annotations

import sys

import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from mocap.apps.teleop.robot import RobotModel
from mocap.apps.teleop.sim_robot import SimulatedJTC, Trajectory, TrajectoryPoint
from mocap_ros import convert
from mocap_ros.node_main import run_node
from mocap_ros.params import SIM_ROBOT_PARAMS as PARAMS


def msg_to_trajectory(msg: JointTrajectory) -> Trajectory:
    """``JointTrajectory`` -> :class:`~mocap.apps.teleop.sim_robot.Trajectory` (stamp 0 = start now)."""
    return Trajectory(convert.stamp_to_sec(msg.header.stamp), list(msg.joint_names), [
        TrajectoryPoint(p.time_from_start.sec + p.time_from_start.nanosec * 1e-9, list(p.positions),
                        list(p.velocities), list(p.accelerations), list(p.effort)) for p in msg.points])


class SimRobotNode(Node):
    """See the module docstring."""

    def __init__(self, **kwargs) -> None:
        super().__init__("sim_robot", **kwargs)
        for k, v in PARAMS.items():
            self.declare_parameter(k, v)
        p = self.p = {k: self.get_parameter(k).value for k in PARAMS}
        robot = (RobotModel(p["urdf"], "", collision=False) if p["urdf"]
                 else RobotModel.from_name(p["robot"], collision=False))
        start = np.asarray(p["start_positions"], float)
        if len(start) != robot.n:
            start = robot.limits.clip_positions(robot.home + float(p["start_offset"]), 0.01)
        self.sim = SimulatedJTC(robot.limits, start,
                                allow_nonzero_velocity_at_trajectory_end=p["allow_nonzero_velocity_at_trajectory_end"],
                                check_limits=p["check_limits"])
        self.publish_state = bool(p["publish_state"])
        self.pub = self.create_publisher(JointState, p["state_topic"], 10)
        self.pub_events = self.create_publisher(String, "~/events", 100)
        self.create_subscription(JointTrajectory, p["trajectory_topic"], self._on_trajectory, 10)
        self.create_timer(1.0 / float(p["rate"]), self._step)
        self.add_on_set_parameters_callback(self._on_set)
        self.get_logger().info(f"simulated {robot.urdf.name} (a TEST TOOL, not a controller) at "
                               f"{np.round(start, 3).tolist()}; trajectories on {p['trajectory_topic']}, "
                               f"state on {p['state_topic']}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_set(self, params) -> SetParametersResult:
        for prm in params:
            if prm.name == "publish_state":
                self.publish_state = bool(prm.value)
            elif prm.name in PARAMS:
                return SetParametersResult(successful=False, reason=f"{prm.name} is read at start only")
        return SetParametersResult(successful=True)

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        ok, why = self.sim.receive(msg_to_trajectory(msg), self._now())
        self.pub_events.publish(String(data="accepted" if ok else f"rejected: {why}"))
        if not ok:
            self.get_logger().error(f"trajectory rejected: {why}")

    def _step(self) -> None:
        now = self._now()
        q, v, _ = self.sim.advance(now)
        if self.publish_state:
            msg = JointState()
            msg.header.stamp = convert.sec_to_stamp(now)
            msg.name = list(self.sim.joint_names)
            msg.position = [float(x) for x in q]
            msg.velocity = [float(x) for x in v]
            self.pub.publish(msg)


def main(argv: list[str] | None = None) -> int:
    return run_node(SimRobotNode, "sim_robot", argv, user_errors=(ValueError, FileNotFoundError, ImportError))


if __name__ == "__main__":
    sys.exit(main())
