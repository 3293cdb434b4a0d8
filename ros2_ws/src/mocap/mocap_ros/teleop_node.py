"""ROS 2 teleop node (lifecycle): the operator's arm (``mocap_msgs/SkeletonArray``) ->
``trajectory_msgs/JointTrajectory`` for a stock ros2_control JointTrajectoryController. A thin adapter over
:class:`mocap.apps.teleop.controller.TeleopController`; the safety logic lives there (:mod:`mocap.apps.teleop.safety`).

Interface (names relative to the node; ``config/teleop.yaml`` documents every parameter):

- services ``~/arm`` and ``~/disarm`` (``std_srvs/Trigger``): arming locks onto one operator (``operator_id``, or
  the one person raising both hands, or the only person in view) and needs a fresh robot state, a fresh
  heartbeat, no e-stop and a skeleton frame; the response says why it refused;
- ``~/heartbeat`` (``sensor_msgs/Joy``): the dead-man; any message counts, or only those with
  ``buttons[heartbeat_button] == 1``; none for ``heartbeat_timeout_s`` stops the arm;
- ``~/estop`` (``std_msgs/Bool``, reliable, transient local): true latches the e-stop (stop at once); false
  releases it, and the arm stays stopped until re-armed;
- ``~/state`` (``std_msgs/String``, transient local): ``disarmed`` / ``armed (operator N)`` / ``stopped: why``;
- ``~/target`` (``geometry_msgs/PoseStamped``, ``base_frame``): the clamped end-effector target;
- ``~/gripper`` (``std_msgs/Float64``: opening 0 closed .. 1 open; with ``gripper: true``);
- parameters ``robot_state_topic`` (``sensor_msgs/JointState``, default ``/joint_states``), ``trajectory_topic``
  (default ``/joint_trajectory_controller/joint_trajectory``), ``skeletons_topic`` and ``description_topic``.

Trajectories start from the MEASURED state (the node refuses to arm without it), are stamped ``lead_s`` in the
future, and end at rest (the controller rejects anything else). Every stop decelerates from the measured state
within the acceleration limits. Lifecycle: configure loads the robot (URDF) and creates the interfaces, activate
starts the control loop, deactivate disarms (stopping the arm). With ``autostart`` (default) the node configures
and activates itself. Parameters change at run time through a validated callback (refused values leave
everything as it was; ``robot``, ``urdf``, ``arm``, ... need cleanup + configure).
"""

from __future__ import annotations

import sys

import numpy as np
import rclpy
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import PoseStamped
from mocap_msgs.msg import SkeletonArray
from mocap_msgs.msg import SkeletonDescription as SkeletonDescriptionMsg
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Bool, Float64, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from mocap.apps.teleop.controller import TeleopConfig, TeleopController, TrajectoryCommand
from mocap.errors import MocapError
from mocap.geometry.rotations import matrix_to_quat_xyzw
from mocap.live.stream import SkeletonDescription
from mocap_ros import convert
from mocap_ros.node_main import run_node
from mocap_ros.params import TELEOP_CONFIG_PARAMS, TELEOP_NODE_PARAMS, TELEOP_OPTIONAL_LISTS

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def trajectory_msg(cmd: TrajectoryCommand) -> JointTrajectory:
    """A controller command as a ``JointTrajectory`` (header stamp = its start, in the future)."""
    msg = JointTrajectory()
    msg.header.stamp = convert.sec_to_stamp(cmd.start_time)
    msg.joint_names = list(cmd.joint_names)
    for t, q, v, a in zip(cmd.times, cmd.positions, cmd.velocities, cmd.accelerations):
        ns = int(round(float(t) * 1e9))
        msg.points.append(JointTrajectoryPoint(
            positions=[float(x) for x in q], velocities=[float(x) for x in v], accelerations=[float(x) for x in a],
            time_from_start=Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)))
    return msg


def description_from_skeleton(msg: SkeletonArray) -> SkeletonDescription | None:
    """A description from the joint names and parents a ``SkeletonArray`` carries (before the description topic
    has spoken)."""
    for sk in msg.skeletons:
        if len(sk.joint_names):
            n = len(sk.joint_names)
            return SkeletonDescription(msg.joint_set, list(sk.joint_names), np.asarray(sk.parents, int),
                                       np.zeros((n, 3)), sk.body_model)
    return None


class TeleopNode(LifecycleNode):
    """See the module docstring."""

    def __init__(self, **kwargs) -> None:
        super().__init__("teleop", **kwargs)
        for k, v in {**TELEOP_NODE_PARAMS, **TELEOP_CONFIG_PARAMS}.items():
            self.declare_parameter(k, v)
        for k in TELEOP_OPTIONAL_LISTS:
            self.declare_parameter(k, Parameter.Type.DOUBLE_ARRAY)
        self.ctl: TeleopController | None = None
        self.active = False
        self.last_state_text = ""
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if self.get_parameter("autostart").value and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    # ------------------------------------------------------------------ parameters
    def _value(self, name: str):
        try:
            return self.get_parameter(name).value
        except rclpy.exceptions.ParameterUninitializedException:
            return []

    def _config(self, overrides: dict | None = None) -> TeleopConfig:
        d = {k: self._value(k) for k in (*TELEOP_CONFIG_PARAMS, *TELEOP_OPTIONAL_LISTS)}
        d.update(overrides or {})
        d = {k: (list(v) if isinstance(v, list | tuple) or hasattr(v, "tolist") else v) for k, v in d.items()}
        return TeleopConfig.from_dict(d)

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        changes = {p.name: (list(p.value) if p.type_ in (Parameter.Type.DOUBLE_ARRAY, Parameter.Type.INTEGER_ARRAY)
                            else p.value) for p in params}
        node_keys = [k for k in changes if k in TELEOP_NODE_PARAMS]
        cfg_changes = {k: v for k, v in changes.items() if k in TELEOP_CONFIG_PARAMS or k in TELEOP_OPTIONAL_LISTS}
        configured = self.ctl is not None
        fixed = [k for k in node_keys if k not in ("heartbeat_button", "autostart")]
        if configured and fixed:
            return SetParametersResult(successful=False,
                                       reason=f"{fixed} take effect only when configured again (cleanup, configure)")
        if configured:
            ok, why = self.ctl.reconfigure(cfg_changes)
        else:
            try:
                self._config(cfg_changes).validate()
                ok, why = True, ""
            except MocapError as e:
                ok, why = False, str(e)
        if not ok:
            self.get_logger().warning(f"parameter change refused: {why}")
        elif cfg_changes:
            self.get_logger().info(f"parameters changed: {cfg_changes}")
        return SetParametersResult(successful=ok, reason=why)

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        p = {k: self._value(k) for k in TELEOP_NODE_PARAMS}
        try:
            self.ctl = TeleopController(self._config())
        except (MocapError, FileNotFoundError, ImportError) as e:
            self.get_logger().error(f"configure failed: {e}")
            return TransitionCallbackReturn.FAILURE
        self.p = p
        self.pub_traj = self.create_lifecycle_publisher(JointTrajectory, p["trajectory_topic"], 10)
        self.pub_state = self.create_publisher(String, "~/state", LATCHED)
        self.pub_target = self.create_lifecycle_publisher(PoseStamped, "~/target", 10)
        self.pub_gripper = self.create_lifecycle_publisher(Float64, "~/gripper", 10)
        self.subs = [
            self.create_subscription(JointState, p["robot_state_topic"], self._on_joint_state, 10),
            self.create_subscription(SkeletonArray, p["skeletons_topic"], self._on_skeletons, 10),
            self.create_subscription(SkeletonDescriptionMsg, p["description_topic"], self._on_description, LATCHED),
            self.create_subscription(Joy, "~/heartbeat", self._on_heartbeat, 10),
            self.create_subscription(Bool, "~/estop", self._on_estop, LATCHED),
        ]
        self.srvs = [self.create_service(Trigger, "~/arm", self._on_arm),
                     self.create_service(Trigger, "~/disarm", self._on_disarm)]
        self.timer = self.create_timer(1.0 / max(1.0, float(p["control_rate"])), self._tick)
        self.state_timer = self.create_timer(1.0, lambda: self._publish_state(force=True))
        self.get_logger().info(
            f"teleop configured: {self.ctl.robot.urdf.name} joints {self.ctl.joint_names}; {self.ctl.cfg.arm} arm; "
            f"robot state {p['robot_state_topic']}, trajectories {p['trajectory_topic']}; ~/arm ~/disarm ~/heartbeat "
            f"~/estop ~/state")
        self._publish_state(force=True)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = True
        self.get_logger().info("teleop active: call ~/arm to drive the robot")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._emit(self.ctl.disarm(self._now()))
        self._publish_state(force=True)
        self.active = False
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for s in self.subs:
            self.destroy_subscription(s)
        for s in self.srvs:
            self.destroy_service(s)
        self.destroy_timer(self.timer)
        self.destroy_timer(self.state_timer)
        self.destroy_lifecycle_publisher(self.pub_traj)
        self.destroy_lifecycle_publisher(self.pub_target)
        self.destroy_lifecycle_publisher(self.pub_gripper)
        self.destroy_publisher(self.pub_state)
        self.ctl = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.ctl is not None and self.active:
            self._emit(self.ctl.disarm(self._now()))
        return TransitionCallbackReturn.SUCCESS

    # ------------------------------------------------------------------ callbacks
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _emit(self, cmd: TrajectoryCommand | None) -> None:
        if cmd is None or not self.active:
            return
        self.pub_traj.publish(trajectory_msg(cmd))
        if cmd.kind == "stop":
            self.get_logger().warning(f"teleop stop: {cmd.reason}")
        if cmd.target is not None:
            m = PoseStamped()
            m.header.stamp = convert.sec_to_stamp(cmd.start_time)
            m.header.frame_id = self.p["base_frame"]
            m.pose.position.x, m.pose.position.y, m.pose.position.z = (float(x) for x in cmd.target.position)
            q = matrix_to_quat_xyzw(cmd.target.rotation)
            m.pose.orientation.x, m.pose.orientation.y, m.pose.orientation.z, m.pose.orientation.w = \
                (float(x) for x in q)
            self.pub_target.publish(m)
        if cmd.gripper is not None:
            self.pub_gripper.publish(Float64(data=float(cmd.gripper.opening)))
        self._publish_state()

    def _publish_state(self, force: bool = False) -> None:
        if self.ctl is None:
            return
        text = self.ctl.status.text() if self.active else f"inactive ({self.ctl.status.text()})"
        if force or text != self.last_state_text:
            self.pub_state.publish(String(data=text))
            self.last_state_text = text

    def _on_joint_state(self, msg: JointState) -> None:
        now = self._now()
        stamp = convert.stamp_to_sec(msg.header.stamp)
        if not 0 <= now - stamp < 1.0:  # unstamped, or another clock: the receive time
            if stamp:
                self.get_logger().warning(f"joint state stamps {now - stamp:.2f} s from this clock: using the "
                                          "receive time", throttle_duration_sec=10.0)
            stamp = now
        try:
            self.ctl.on_robot_state(now, list(msg.name), list(msg.position),
                                    list(msg.velocity) if len(msg.velocity) == len(msg.name) else None, stamp)
        except MocapError as e:
            self.get_logger().warning(f"robot state ignored: {e}", throttle_duration_sec=2.0)

    def _on_description(self, msg: SkeletonDescriptionMsg) -> None:
        self._describe(convert.msg_to_description(msg))

    def _describe(self, d: SkeletonDescription) -> bool:
        if self.ctl.description is not None and self.ctl.description.joint_names == d.joint_names:
            return True
        try:
            self.ctl.describe(d)
            return True
        except MocapError as e:
            self.get_logger().error(f"skeleton description {d.joint_set!r} unusable: {e}", throttle_duration_sec=5.0)
            return False

    def _on_skeletons(self, msg: SkeletonArray) -> None:
        if self.ctl.description is None:
            d = description_from_skeleton(msg)
            if d is None or not self._describe(d):
                return
        frame = convert.msg_to_frame(msg)
        if any(p.n_joints not in (0, self.ctl.description.n_joints) for p in frame.people):
            return
        self._emit(self.ctl.on_skeleton(frame, self._now()))
        self._publish_state()

    def _on_heartbeat(self, msg: Joy) -> None:
        b = int(self.get_parameter("heartbeat_button").value)
        if b < 0 or (b < len(msg.buttons) and msg.buttons[b] == 1):
            self.ctl.on_heartbeat(self._now())

    def _on_estop(self, msg: Bool) -> None:
        self._emit(self.ctl.set_estop(bool(msg.data), self._now()))
        self.get_logger().warning("e-stop " + ("SET" if msg.data else "released: re-arm to move"))
        self._publish_state()

    def _on_arm(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if not self.active:
            response.success, response.message = False, "teleop node is not active (lifecycle)"
        else:
            response.success, response.message = self.ctl.arm(self._now())
        self.get_logger().info(f"arm: {response.message}")
        self._publish_state()
        return response

    def _on_disarm(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._emit(self.ctl.disarm(self._now()))
        response.success, response.message = True, self.ctl.status.text()
        self._publish_state()
        return response

    def _tick(self) -> None:
        if self.active:
            self._emit(self.ctl.tick(self._now()))
            self._publish_state()


def main(argv: list[str] | None = None) -> int:
    return run_node(TeleopNode, "teleop", argv, user_errors=(ValueError, FileNotFoundError, ImportError))


if __name__ == "__main__":
    sys.exit(main())

