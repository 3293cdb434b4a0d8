"""The teleop node + simulated robot node as processes, driven from this process over DDS: skeleton frames of a
recorded operator, heartbeats, e-stop, service calls, parameter changes; everything that arrives is kept."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from tests.ros.rosutil import Collector, installed_executable, logs, start_nodes, stop_nodes

NS = "/mocap"
TRAJ = "/joint_trajectory_controller/joint_trajectory"


class TeleopHarness:
    """Start ``sim_robot`` and ``teleop`` in ``/mocap`` and talk to them (see the module docstring)."""

    def __init__(self, env: dict, log_dir: Path, description, teleop_overrides: dict, sim_overrides: dict) -> None:
        from mocap_msgs.msg import SkeletonArray
        from mocap_msgs.msg import SkeletonDescription as DescMsg
        from mocap_ros import convert
        from mocap_ros.launch_spec import NodeSpec
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import JointState, Joy
        from std_msgs.msg import Bool, String
        from std_srvs.srv import Trigger
        from trajectory_msgs.msg import JointTrajectory

        share = installed_executable("x").parents[2] / "share" / "mocap" / "config"
        self.log_dir = log_dir
        specs = [NodeSpec("sim_robot_node", "sim_robot", NS, str(share / "sim_robot.yaml"), sim_overrides),
                 NodeSpec("teleop_node", "teleop", NS, str(share / "teleop.yaml"), teleop_overrides)]
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.col = Collector({TRAJ: JointTrajectory, "/joint_states": JointState, f"{NS}/sim_robot/events": String})
        node = self.node = self.col.node
        self.state_msgs: list[tuple[float, str]] = []
        node.create_subscription(String, f"{NS}/teleop/state",
                                 lambda m: self.state_msgs.append((time.time(), m.data)), latched)
        self.pub_skel = node.create_publisher(SkeletonArray, f"{NS}/skeletons", 10)
        self.pub_desc = node.create_publisher(DescMsg, f"{NS}/skeleton_description", latched)
        self.pub_hb = node.create_publisher(Joy, f"{NS}/teleop/heartbeat", 10)
        self.pub_estop = node.create_publisher(Bool, f"{NS}/teleop/estop", latched)
        self.arm_cli = node.create_client(Trigger, f"{NS}/teleop/arm")
        self.disarm_cli = node.create_client(Trigger, f"{NS}/teleop/disarm")
        self.convert, self.Bool, self.Joy, self.Trigger = convert, Bool, Joy, Trigger
        self.description = description
        self.pub_desc.publish(convert.description_to_msg(description, 0.0))
        self.heartbeat_on = True
        self._stop = False
        self.procs = start_nodes(specs, env, log_dir)
        self.hb_thread = threading.Thread(target=self._heartbeats, daemon=True)
        self.hb_thread.start()

    # ------------------------------------------------------------------ plumbing
    def _heartbeats(self) -> None:
        while not self._stop:
            if self.heartbeat_on:
                self.pub_hb.publish(self.Joy())
            time.sleep(0.05)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the nodes are up, matched and the robot state arrives."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.arm_cli.service_is_ready() and self.pub_skel.get_subscription_count() >= 1
                    and self.col.msgs["/joint_states"] and self.pub_hb.get_subscription_count() >= 1
                    and self.col.subs[TRAJ].get_publisher_count() >= 1):
                time.sleep(1.0)  # the other sides match our publishers too
                return
            assert all(p.poll() is None for p in self.procs), f"a node died\n{logs(self.log_dir)}"
            time.sleep(0.1)
        raise AssertionError(f"nodes not ready in {timeout} s\n{logs(self.log_dir)}")

    def call(self, client, timeout: float = 10.0):
        fut = client.call_async(self.Trigger.Request())
        deadline = time.monotonic() + timeout
        while not fut.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fut.done(), f"service call timed out\n{logs(self.log_dir)}"
        return fut.result()

    def set_params(self, node: str, **values):
        """``ros2 param set`` through the node's SetParameters service; the list of results."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        cli = self.node.create_client(SetParameters, f"{NS}/{node}/set_parameters")
        assert cli.wait_for_service(10.0)
        req = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
        fut = cli.call_async(req)
        deadline = time.monotonic() + 10
        while not fut.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        return fut.result().results

    def estop(self, on: bool) -> None:
        self.pub_estop.publish(self.Bool(data=on))

    def play(self, frames, t0: float | None = None, rate: float = 30.0, stamp0: float = 1000.0):
        """Publish ``frames`` ``[(t, SkeletonFrame)]`` in real time; returns [(time.time() sent, frame)]."""
        sent = []
        start = time.time()
        for k, (_, f) in enumerate(frames):
            due = start + k / rate
            while time.time() < due:
                time.sleep(0.001)
            msg = self.convert.frame_to_msg(f, lambda pid: self.description, "world")
            self.pub_skel.publish(msg)
            sent.append((time.time(), f))
        return sent

    def quiesce(self, quiet: float = 0.3, timeout: float = 10.0) -> None:
        """Wait until no trajectory has arrived for ``quiet`` s: the node has answered every frame sent so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.col.msgs[TRAJ][-1][0] if self.col.msgs[TRAJ] else 0.0
            if time.time() - last >= quiet:
                return
            time.sleep(0.02)
        raise AssertionError(f"trajectories kept coming for {timeout} s\n{logs(self.log_dir)}")

    def last_command_is_stop(self, since: float) -> tuple[bool, str]:
        """Among the trajectories received after ``since``: the latest-stamped one (the node stamps at processing
        time) is the last received and decelerates monotonically to rest (a stop); ``(ok, details)``."""
        trajs = self.trajectories(since)
        if not trajs:
            return False, "no trajectory"
        stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in trajs]
        k = int(np.argmax(stamps))
        _, _, v, _ = points(trajs[k][1])
        mono = bool(np.all(np.diff(np.abs(v), axis=0) <= 1e-9)) and not np.any(v[-1])
        return (k == len(trajs) - 1 and mono), f"latest stamp at #{k} of {len(trajs)}, decelerating {mono}"

    # ------------------------------------------------------------------ what arrived
    def trajectories(self, since: float = 0.0):
        return [(t, m) for t, m in self.col.msgs[TRAJ] if t >= since]

    def events(self, since: float = 0.0):
        return [(t, m.data) for t, m in self.col.msgs[f"{NS}/sim_robot/events"] if t >= since]

    def joint_states(self, since: float = 0.0):
        return [(t, np.array(m.position), np.array(m.velocity)) for t, m in self.col.msgs["/joint_states"]
                if t >= since]

    def state(self) -> str:
        return self.state_msgs[-1][1] if self.state_msgs else ""

    def close(self) -> None:
        self._stop = True
        self.hb_thread.join(2)
        stop_nodes(self.procs, timeout=15)
        self.col.close()


def points(msg):
    """``(times, positions, velocities, accelerations)`` of a JointTrajectory."""
    t = np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points])
    return (t, np.array([p.positions for p in msg.points]), np.array([p.velocities for p in msg.points]),
            np.array([p.accelerations for p in msg.points]))
