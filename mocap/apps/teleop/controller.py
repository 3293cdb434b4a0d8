"""Teleoperation controller: skeleton stream + robot state + dead-man + e-stop -> joint trajectories a stock
ros2_control JointTrajectoryController accepts. No ROS; the ROS node is a thin adapter.

Per skeleton frame while armed (:meth:`TeleopController.on_skeleton`):

1. the safety supervisor reads ONLY the locked operator (:mod:`mocap.apps.teleop.safety`); a missing or lost
   operator stops the robot in this very call;
2. the operator's arm -> end-effector pose, clamped to the workspace (:mod:`mocap.apps.teleop.retarget`);
   the hand opening -> gripper command (:mod:`mocap.apps.teleop.gripper`);
3. pose IK from the previous solution (:meth:`RobotModel.solve_ik`), goal kept ``position_margin`` inside the
   position limits, refused when in self-collision (the robot then finishes its current plan, at rest);
4. a minimum-jerk plan from the commanded state at the trajectory's start (checked against the MEASURED state:
   a robot that does not follow stops the teleop) to rest at the goal, within velocity, acceleration and jerk
   limits, its displacement bounded so that every plan ends within about ``horizon_s``
   (:mod:`mocap.apps.teleop.trajectory`);
5. a :class:`TrajectoryCommand`: the start state at ``time_from_start`` 0, then points every ``point_dt`` s, the
   last at rest, stamped ``lead_s`` in the future; a controller receiving it before its stamp blends from its
   current state into exactly the previous plan (one quintic), so replanning adds no acceleration.

A stop (any transition out of ``armed``) returns one trajectory that decelerates from the MEASURED joint state
within the acceleration and jerk limits, then nothing until re-armed. Times (``now``) are seconds on the caller's
clock, the same clock as the robot state stamps.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from mocap.apps.teleop.gripper import GripperCommand, GripperConfig, GripperFromHand
from mocap.apps.teleop.retarget import ArmRetarget, EETarget, RetargetConfig
from mocap.apps.teleop.robot import ROBOTS, RobotModel
from mocap.apps.teleop.safety import SafetyConfig, SafetyStatus, SafetySupervisor
from mocap.apps.teleop.trajectory import JointLimits, Quintic, plan_stop, plan_to_rest
from mocap.errors import MocapError
from mocap.live.stream import SkeletonDescription, SkeletonFrame

#: parameters that only take effect when the controller is rebuilt (the node's configure step)
STRUCTURAL = ("robot", "urdf", "srdf", "ee_frame", "home", "acceleration", "jerk", "arm", "orientation", "gripper")


@dataclass
class TeleopConfig:
    """Every parameter of :class:`TeleopController` (the teleop node's parameters; metres, seconds, radians)."""

    # robot
    robot: str = "ur5"                        # ur5 | panda (example-robot-data); ignored when urdf is set
    urdf: str = ""
    srdf: str = ""                            # disable_collisions pairs for the self-collision check
    ee_frame: str = ""                        # "" = the robot's default
    home: list = field(default_factory=list)  # [] = the robot's default
    acceleration: list = field(default_factory=list)  # rad/s^2 per joint; [] = the robot's default
    jerk: list = field(default_factory=list)          # rad/s^3 per joint; [] = the robot's default
    velocity_scale: float = 0.5               # fractions of the limits used by teleoperation
    acceleration_scale: float = 1.0
    jerk_scale: float = 1.0
    position_margin: float = 0.05             # rad kept from each position limit
    collision_check: bool = True
    # retargeting
    arm: str = "right"
    mode: str = "relative"
    orientation: str = "hand"                 # hand | body | none
    scale: list = field(default_factory=lambda: [1.0, 1.0, 1.0])
    offset: list = field(default_factory=lambda: [0.4, 0.0, 0.4])
    reach: float = 0.0
    workspace_min: list = field(default_factory=lambda: [0.1, -0.6, 0.05])
    workspace_max: list = field(default_factory=lambda: [0.8, 0.6, 0.9])
    min_confidence: float = 0.3
    rotation_weight: float = 0.3              # m per rad in the IK's pose error
    ik_iterations: int = 60
    # gripper
    gripper: bool = False                     # needs hand keypoints
    gripper_close_below: float = 1.3
    gripper_open_above: float = 1.55
    # safety
    heartbeat_timeout_s: float = 0.3
    require_heartbeat: bool = True
    state_timeout_s: float = 0.1
    operator_timeout_s: float = 0.5
    operator_id: int = -1
    tracking_tolerance: float = 0.15          # rad: commanded vs measured before the teleop stops
    # trajectories
    point_dt: float = 0.02                    # s between trajectory points
    lead_s: float = 0.03                      # s: trajectories start this far in the future (transport latency)
    horizon_s: float = 0.5                    # s: about the longest plan (bounds the motion after a silent stop)

    @staticmethod
    def from_dict(d: dict) -> TeleopConfig:
        """Known keys of ``d`` (others ignored)."""
        return TeleopConfig(**{k: v for k, v in d.items() if k in TeleopConfig.__dataclass_fields__})

    def retarget(self) -> RetargetConfig:
        return RetargetConfig(self.arm, self.mode, self.orientation, list(self.scale), list(self.offset), self.reach,
                              list(self.workspace_min), list(self.workspace_max), self.min_confidence)

    def safety(self) -> SafetyConfig:
        return SafetyConfig(self.heartbeat_timeout_s, self.require_heartbeat, self.state_timeout_s,
                            self.operator_timeout_s, self.operator_id)

    def gripper_config(self) -> GripperConfig:
        return GripperConfig(close_below=self.gripper_close_below, open_above=self.gripper_open_above,
                             min_confidence=self.min_confidence)

    def validate(self) -> None:
        """Raise :class:`~mocap.errors.MocapError` naming the first invalid parameter."""
        self.retarget().validate()
        self.safety().validate()
        self.gripper_config().validate()
        for k in ("velocity_scale", "acceleration_scale", "jerk_scale"):
            v = getattr(self, k)
            if not 0 < v <= 1:
                raise MocapError(f"{k} must be in (0, 1], got {v}")
        for k, lo in (("point_dt", 1e-3), ("lead_s", 0.0), ("horizon_s", 0.05), ("tracking_tolerance", 1e-3),
                      ("position_margin", 0.0), ("rotation_weight", 0.0)):
            v = getattr(self, k)
            if not (np.isfinite(v) and v >= lo):
                raise MocapError(f"{k} must be >= {lo}, got {v}")
        if self.ik_iterations < 1:
            raise MocapError(f"ik_iterations must be >= 1, got {self.ik_iterations}")
        if not self.urdf and self.robot not in ROBOTS:
            raise MocapError(f"robot must be one of {sorted(ROBOTS)} (or set urdf), not {self.robot!r}")
        if self.urdf and not self.ee_frame:
            raise MocapError("ee_frame must be set with a urdf (the end-effector frame's name)")


@dataclass
class TrajectoryCommand:
    """A joint trajectory to send (``trajectory_msgs/JointTrajectory``).

    Attributes:
        joint_names: ``n`` names.
        start_time: the header stamp: time (caller's clock, s) ``time_from_start`` counts from; in the future.
        times: ``(m,)`` strictly increasing ``time_from_start`` (s) from 0 (the first point is the start state).
        positions, velocities, accelerations: ``(m, n)``; the last velocities and accelerations are exactly 0.
        kind: ``"track"`` or ``"stop"``.
        reason: why a stop was sent.
        gripper: the gripper command of this frame, when the gripper is enabled.
        target: the end-effector target it tracks (track only).
    """

    joint_names: list[str]
    start_time: float
    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    accelerations: np.ndarray
    kind: str
    reason: str = ""
    gripper: GripperCommand | None = None
    target: EETarget | None = None

    @property
    def end_time(self) -> float:
        return self.start_time + float(self.times[-1])


@dataclass
class RobotState:
    """The measured joint state (controller order): stamp (s), positions ``(n,)``, velocities ``(n,)`` (None when
    the robot does not publish them)."""

    stamp: float
    q: np.ndarray
    v: np.ndarray | None


class TeleopController:
    """See the module docstring.

    Args:
        cfg: parameters (validated here).
        description: skeleton description of the stream (can come later with :meth:`describe`).
        robot: a ready :class:`RobotModel` (else built from ``cfg``).
    """

    def __init__(self, cfg: TeleopConfig, description: SkeletonDescription | None = None,
                 robot: RobotModel | None = None) -> None:
        cfg.validate()
        self.cfg = cfg
        if robot is None:
            kw = {"ee_frame": cfg.ee_frame or None, "home": cfg.home or None,
                  "acceleration": cfg.acceleration or None, "jerk": cfg.jerk or None,
                  "collision": cfg.collision_check}
            if cfg.urdf:
                kw = {k: v for k, v in kw.items() if v is not None}
                robot = RobotModel(cfg.urdf, srdf=cfg.srdf or None, **kw)
            else:
                robot = RobotModel.from_name(cfg.robot, **kw)
        self.robot = robot
        self.supervisor = SafetySupervisor(cfg.safety())
        self.description: SkeletonDescription | None = None
        self.retarget: ArmRetarget | None = None
        self.gripper: GripperFromHand | None = None
        self.robot_state: RobotState | None = None
        self.frame: SkeletonFrame | None = None
        self.frame_time: float | None = None
        self.plan: Quintic | None = None
        self.plan_t0 = 0.0
        self.q_ik: np.ndarray | None = None
        self.last_hold_reason = ""
        self.stats = {"tracks": 0, "stops": 0, "ik_refused_collision": 0, "plans_failed": 0}
        if description is not None:
            self.describe(description)

    # ------------------------------------------------------------------ configuration
    @property
    def joint_names(self) -> list[str]:
        return self.robot.joint_names

    @property
    def limits(self) -> JointLimits:
        """The limits teleoperation stays within (the robot's, scaled)."""
        c = self.cfg
        return self.robot.limits.scaled(c.velocity_scale, c.acceleration_scale, c.jerk_scale)

    def describe(self, description: SkeletonDescription) -> None:
        """(Re)build the retargeting and the gripper for a skeleton description (disarms when it changes)."""
        if self.description is not None and description.joint_names != self.description.joint_names:
            self._leave_armed("skeleton description changed", disarm=True)
        self.retarget = ArmRetarget(self.cfg.retarget(), description)
        self.gripper = GripperFromHand(description, self.cfg.arm, self.cfg.gripper_config()) if self.cfg.gripper \
            else None
        self.description = description

    def reconfigure(self, changes: dict) -> tuple[bool, str]:
        """Apply parameter changes at run time; ``(ok, reason)``. Invalid values and structural parameters
        (:data:`STRUCTURAL`: they rebuild the robot or retargeting) are refused and nothing changes."""
        unknown = [k for k in changes if k not in TeleopConfig.__dataclass_fields__]
        if unknown:
            return False, f"unknown parameters {unknown}"
        structural = [k for k in changes if k in STRUCTURAL and changes[k] != getattr(self.cfg, k)]
        if structural:
            return False, f"{structural} take effect only when the node is configured again (deactivate, cleanup)"
        new = dataclasses.replace(self.cfg, **changes)
        try:
            new.validate()
            if self.description is not None:
                ArmRetarget(new.retarget(), self.description)
        except MocapError as e:
            return False, str(e)
        self.cfg = new
        sup = self.supervisor
        sup.cfg = new.safety()
        if self.retarget is not None:
            self.retarget.cfg = new.retarget()
            self.retarget.lo = np.asarray(new.workspace_min, float)
            self.retarget.hi = np.asarray(new.workspace_max, float)
        if self.gripper is not None:
            self.gripper.cfg = new.gripper_config()
        return True, ""

    # ------------------------------------------------------------------ inputs
    @property
    def status(self) -> SafetyStatus:
        return self.supervisor.status

    def on_robot_state(self, now: float, names: list[str], q, v=None, stamp: float | None = None) -> None:
        """A measured joint state (any joint order; extra joints ignored) received at ``now`` and measured at
        ``stamp`` (the message's time on the same clock; default ``now``; never later than ``now``). Staleness
        and the extrapolation to a trajectory's start count from the measurement. Without velocities, they are
        estimated from consecutive positions.

        Raises:
            MocapError: a joint of the controller is missing, or a value is not finite.
        """
        names = list(names)
        try:
            idx = [names.index(j) for j in self.joint_names]
        except ValueError:
            missing = [j for j in self.joint_names if j not in names]
            raise MocapError(f"robot state lacks joints {missing} (has {names})",
                             hint="check the robot-state topic and the URDF") from None
        q = np.asarray(q, float)[idx]
        vel = None
        if v is not None and len(v) == len(names):
            vel = np.asarray(v, float)[idx]
        if not np.all(np.isfinite(q)) or (vel is not None and not np.all(np.isfinite(vel))):
            raise MocapError(f"robot state has non-finite values: q={q.tolist()}")
        t = now if stamp is None else min(float(stamp), now)
        prev = self.robot_state
        if vel is None and prev is not None and 0 < t - prev.stamp < 0.5:  # positions only: difference them
            vel = (q - prev.q) / (t - prev.stamp)
        self.robot_state = RobotState(t, q, vel)
        self.supervisor.robot_state(t)

    def on_heartbeat(self, now: float) -> None:
        self.supervisor.heartbeat(now)

    def set_estop(self, on: bool, now: float) -> TrajectoryCommand | None:
        """Latch or release the e-stop; a stop trajectory when this stopped a moving robot."""
        if self.supervisor.set_estop(on, now):
            return self._stop_command(now, "e-stop")
        return None

    def arm(self, now: float) -> tuple[bool, str]:
        """Arm (lock onto an operator); ``(ok, message)``."""
        if self.supervisor.armed:
            return True, f"already armed (operator {self.supervisor.operator_id})"
        if self.retarget is None:
            return False, "no skeleton description received yet"
        ok, msg = self.supervisor.arm(now, self.frame, self.description, self.frame_time)
        if not ok:
            return ok, msg
        person = self.frame.person(self.supervisor.operator_id)
        arm_pose, why = self.retarget.arm_pose(person)
        if arm_pose is None:
            self.supervisor.disarm("")
            return False, f"operator {person.person_id}: {why}"
        st = self.robot_state
        p, R = self.robot.fk(st.q)
        self.retarget.engage(arm_pose, p, R)
        self.plan, self.q_ik = None, st.q.copy()
        return True, msg

    def disarm(self, now: float) -> TrajectoryCommand | None:
        """Disarm; a stop trajectory when the robot was being driven."""
        return self._leave_armed("disarmed by request", now=now, disarm=True)

    def tick(self, now: float) -> TrajectoryCommand | None:
        """Check the timeouts (call at a fixed rate); a stop trajectory when one fired."""
        if self.supervisor.check(now):
            return self._stop_command(now, self.supervisor.reason)
        return None

    def on_skeleton(self, frame: SkeletonFrame, now: float) -> TrajectoryCommand | None:
        """One skeleton frame received at ``now``: a trajectory to send, or None (not armed / nothing new)."""
        self.frame, self.frame_time = frame, now
        person, stopped = self.supervisor.observe(frame, now)
        if stopped:
            return self._stop_command(now, self.supervisor.reason)
        if person is None or not self.supervisor.armed:
            return None
        arm_pose, why = self.retarget.arm_pose(person)
        if arm_pose is None:
            self.last_hold_reason = why
            return None
        target = self.retarget.target(arm_pose)
        gripper = self.gripper.update(person) if self.gripper is not None else None
        return self._track(now, target, gripper)

    # ------------------------------------------------------------------ planning
    def _start_state(self, t_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | str:
        """Commanded state at ``t_s`` (the previous plan), or the measured one; a string when they disagree."""
        st = self.robot_state
        v_meas = st.v if st.v is not None else np.zeros_like(st.q)
        q_meas = st.q + v_meas * max(0.0, t_s - st.stamp)
        if self.plan is None:
            return q_meas, v_meas, np.zeros_like(q_meas)
        q, v, a = self.plan.sample(t_s - self.plan_t0)
        err = float(np.max(np.abs(q - q_meas)))
        if err > self.cfg.tracking_tolerance:
            return f"robot not following the commands ({err:.3f} rad > {self.cfg.tracking_tolerance} rad)"
        return q, v, a

    def _track(self, now: float, target: EETarget, gripper: GripperCommand | None) -> TrajectoryCommand | None:
        c, lim = self.cfg, self.limits
        t_s = now + c.lead_s
        start = self._start_state(t_s)
        if isinstance(start, str):
            self.supervisor.stop(start)
            return self._stop_command(now, self.supervisor.reason)
        q0, v0, a0 = start
        if np.any(np.abs(v0) > lim.velocity * (1 + 1e-6)) or np.any(np.abs(a0) > lim.acceleration * (1 + 1e-6)):
            # over limits lowered at run time: slow down first, within the new acceleration and jerk limits
            plan = plan_stop(q0, v0, a0, lim)
            self.plan, self.plan_t0 = plan, t_s
            return self._command(plan, t_s, "track", "slowing down to new limits")
        ik = self.robot.solve_ik(target.position, None if c.orientation == "none" and c.rotation_weight == 0
                                 else target.rotation, self.q_ik if self.q_ik is not None else q0,
                                 rotation_weight=c.rotation_weight, iterations=c.ik_iterations,
                                 margin=c.position_margin)
        goal = ik.q
        if c.collision_check and self.robot.in_self_collision(goal):
            self.stats["ik_refused_collision"] += 1
            self.last_hold_reason = "IK goal in self-collision"
            return None
        self.q_ik = goal
        dmax = lim.velocity * c.horizon_s / 2  # a rest-to-rest quintic covers this in about horizon_s
        goal = lim.clip_positions(q0 + np.clip(goal - q0, -dmax, dmax), c.position_margin)
        plan = plan_to_rest(q0, v0, a0, goal, lim)
        if plan is None:
            self.stats["plans_failed"] += 1
            return None
        self.plan, self.plan_t0 = plan, t_s
        self.stats["tracks"] += 1
        cmd = self._command(plan, t_s, "track")
        cmd.gripper, cmd.target = gripper, target
        return cmd

    def _command(self, plan: Quintic, t_s: float, kind: str, reason: str = "") -> TrajectoryCommand:
        pts = plan.points(self.cfg.point_dt, include_start=True)
        times = np.array([p[0] for p in pts])
        Q, V, A = (np.stack([p[i] for p in pts]) for i in (1, 2, 3))
        V[-1] = 0.0
        A[-1] = 0.0
        return TrajectoryCommand(list(self.joint_names), t_s, times, Q, V, A, kind, reason)

    def _stop_command(self, now: float, reason: str) -> TrajectoryCommand | None:
        """Decelerate from the MEASURED state (positions and velocities) within the limits."""
        self.stats["stops"] += 1
        if self.retarget is not None:
            self.retarget.release()
        prev, self.plan, self.q_ik = self.plan, None, None
        st = self.robot_state
        if st is None:
            return None
        t_s = now + self.cfg.lead_s
        stale = now - st.stamp > self.cfg.state_timeout_s
        if stale and prev is None:
            return None  # nothing commanded since arming and no trustworthy measurement: the robot is at rest
        if stale:  # the measurement is too old to extrapolate: stop the commanded motion instead
            q0, v0, _ = prev.sample(t_s - self.plan_t0)
        else:
            v0 = st.v if st.v is not None else np.zeros_like(st.q)
            q0 = st.q + v0 * max(0.0, t_s - st.stamp)
        v0 = np.clip(v0, -self.limits.velocity, self.limits.velocity)
        plan = plan_stop(q0, v0, np.zeros_like(q0), self.limits)
        return self._command(plan, t_s, "stop", reason)

    def _leave_armed(self, reason: str, now: float | None = None, disarm: bool = False) -> TrajectoryCommand | None:
        was = self.supervisor.disarm(reason) if disarm else self.supervisor.stop(reason)
        if was and now is not None:
            return self._stop_command(now, reason)
        if self.retarget is not None:
            self.retarget.release()
        self.plan = None
        return None
