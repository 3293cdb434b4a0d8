"""A simulated arm behind a JointTrajectoryController, for tests. NOT a controller for real robots.

:class:`SimulatedJTC` accepts or rejects ``JointTrajectory`` messages with the rules of ros2_control's
``joint_trajectory_controller`` (``validate_trajectory_msg``, Jazzy and later, default parameters):

- the message names every controller joint (``allow_partial_joints_goal`` false) and only controller joints;
- it has joint names and at least one point;
- the last point's velocities are zero (``|v| <= float epsilon``) unless ``allow_nonzero_velocity_at_trajectory_end``;
- with a non-zero header stamp, the trajectory must not end in the past;
- ``time_from_start`` strictly increases; positions have one value per joint; velocities and accelerations are
  empty or one per joint; no efforts (a position-commanded arm);

plus, where the stock controller leaves it to the hardware's joint limits: every point within the position,
velocity and acceleration limits (``check_limits``). An accepted trajectory replaces the current one, as the
controller does: from the state at reception to the first point, then point to point, interpolated with quintic
splines when points carry accelerations, cubic with velocities, linear with positions only, holding the last point
afterwards. :meth:`SimulatedJTC.advance` integrates it into the joint state (positions, velocities, accelerations),
which a test publishes as ``/joint_states``. It starts wherever the test puts it (``q0``), not necessarily at home.

Times are seconds on the caller's clock (the ROS clock in the sim-robot node).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mocap.apps.teleop.trajectory import JointLimits
from mocap.errors import MocapError
from mocap.geometry.checks import check_shape

FLOAT_EPS = float(np.finfo(np.float32).eps)  # what the controller compares the final velocities with


@dataclass
class TrajectoryPoint:
    """One ``trajectory_msgs/JointTrajectoryPoint``: ``time_from_start`` (s) and per-joint lists (may be empty)."""

    time_from_start: float
    positions: list | np.ndarray = field(default_factory=list)
    velocities: list | np.ndarray = field(default_factory=list)
    accelerations: list | np.ndarray = field(default_factory=list)
    effort: list | np.ndarray = field(default_factory=list)


@dataclass
class Trajectory:
    """One ``trajectory_msgs/JointTrajectory``: ``stamp`` (s; 0 = start now), joint names, points."""

    stamp: float
    joint_names: list[str]
    points: list[TrajectoryPoint]


def _interp(t0: float, s0: tuple, t1: float, s1: tuple, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spline between states ``(q, v|None, a|None)`` at ``t0`` and ``t1``, sampled at ``t`` (JTC's rule for the
    degree: quintic with accelerations at both ends, cubic with velocities, else linear)."""
    T = t1 - t0
    q0, v0, a0 = s0
    q1, v1, a1 = s1
    if T <= 0:
        return q1.copy(), np.zeros_like(q1) if v1 is None else v1.copy(), np.zeros_like(q1) if a1 is None else a1.copy()
    s = float(np.clip(t - t0, 0.0, T))
    if v0 is not None and v1 is not None and a0 is not None and a1 is not None:
        d = q1 - q0
        c3 = (20 * d - (8 * v1 + 12 * v0) * T - (3 * a0 - a1) * T**2) / (2 * T**3)
        c4 = (-30 * d + (14 * v1 + 16 * v0) * T + (3 * a0 - 2 * a1) * T**2) / (2 * T**4)
        c5 = (12 * d - 6 * (v1 + v0) * T + (a1 - a0) * T**2) / (2 * T**5)
        q = q0 + v0 * s + a0 / 2 * s**2 + c3 * s**3 + c4 * s**4 + c5 * s**5
        v = v0 + a0 * s + 3 * c3 * s**2 + 4 * c4 * s**3 + 5 * c5 * s**4
        a = a0 + 6 * c3 * s + 12 * c4 * s**2 + 20 * c5 * s**3
        return q, v, a
    if v0 is not None and v1 is not None:
        d = q1 - q0
        c2 = (3 * d - (2 * v0 + v1) * T) / T**2
        c3 = (-2 * d + (v0 + v1) * T) / T**3
        return (q0 + v0 * s + c2 * s**2 + c3 * s**3, v0 + 2 * c2 * s + 3 * c3 * s**2, 2 * c2 + 6 * c3 * s)
    v = (q1 - q0) / T
    return q0 + v * s, v, np.zeros_like(q0)


class SimulatedJTC:
    """A position-controlled arm that executes trajectories like ros2_control's JointTrajectoryController.

    Args:
        limits: joint names and limits (e.g. ``RobotModel.limits``).
        q0: ``(n,)`` initial positions (rad).
        allow_nonzero_velocity_at_trajectory_end: the controller parameter (default false).
        check_limits: also reject points outside the position/velocity/acceleration limits.
        limit_tolerance: relative slack of that check.
    """

    def __init__(self, limits: JointLimits, q0, *, allow_nonzero_velocity_at_trajectory_end: bool = False,
                 check_limits: bool = True, limit_tolerance: float = 1e-6) -> None:
        self.limits = limits
        self.joint_names = list(limits.names)
        n = len(self.joint_names)
        self.q = check_shape(np.asarray(q0, float), (n,), "q0", "SimulatedJTC").copy()
        self.v = np.zeros(n)
        self.a = np.zeros(n)
        self.allow_nonzero_end = allow_nonzero_velocity_at_trajectory_end
        self.check_limits = check_limits
        self.tol = limit_tolerance
        self.active: tuple | None = None  # (t_before, state_before, start, times, states)
        self.accepted = 0
        self.rejected: list[str] = []
        self.time: float | None = None

    @property
    def n(self) -> int:
        return len(self.joint_names)

    # ------------------------------------------------------------------ acceptance
    def validate(self, traj: Trajectory, now: float) -> str:
        """Why the controller would reject ``traj`` at ``now``; ``""`` when it accepts it."""
        names = list(traj.joint_names)
        if len(names) != self.n:
            return "Joints on incoming trajectory don't match the controller joints."
        if not names:
            return "Empty joint names on incoming trajectory."
        if not traj.points:
            return "Empty trajectory received."
        for j in names:
            if j not in self.joint_names:
                return f"Incoming joint {j} doesn't match the controller's joints."
        if len(set(names)) != len(names):
            return f"Incoming joint names repeat: {names}"
        last = traj.points[-1]
        if not self.allow_nonzero_end:
            for j, v in zip(names, last.velocities):
                if abs(v) > FLOAT_EPS:
                    return f"Velocity of last trajectory point of joint {j} is not zero: {v:.15f}"
        if traj.stamp != 0.0 and traj.stamp + last.time_from_start < now:
            return (f"Received trajectory with non-zero start time ({traj.stamp:f}) that ends in the past "
                    f"({traj.stamp + last.time_from_start:f})")
        prev = 0.0
        for i, p in enumerate(traj.points):
            if i > 0 and p.time_from_start <= prev:
                return (f"Time between points {i - 1} and {i} is not strictly increasing, it is {prev:f} and "
                        f"{p.time_from_start:f} respectively")
            prev = p.time_from_start
            if len(p.positions) != len(names):
                return (f"Mismatch between joint_names size ({len(names)}) and positions ({len(p.positions)}) "
                        f"at point #{i}.")
            for key in ("velocities", "accelerations"):
                f = getattr(p, key)
                if len(f) and len(f) != len(names):
                    return f"Mismatch between joint_names size ({len(names)}) and {key} ({len(f)}) at point #{i}."
            if len(p.effort):
                return ("Trajectories with effort fields are only supported for controllers using the 'effort' "
                        "command interface.")
        if self.check_limits:
            return self._check_limits(traj)
        return ""

    def _check_limits(self, traj: Trajectory) -> str:
        lim, order = self.limits, [list(traj.joint_names).index(j) for j in self.joint_names]
        tol = 1 + self.tol
        for i, p in enumerate(traj.points):
            q = np.asarray(p.positions, float)[order]
            if not np.all(np.isfinite(q)):
                return f"point #{i}: non-finite positions"
            bad = np.flatnonzero((q < lim.lower - 1e-9) | (q > lim.upper + 1e-9))
            if len(bad):
                return f"point #{i}: joint {self.joint_names[bad[0]]} position {q[bad[0]]:.4f} outside its limits"
            for key, lv in (("velocities", lim.velocity), ("accelerations", lim.acceleration)):
                f = getattr(p, key)
                if len(f):
                    x = np.abs(np.asarray(f, float)[order])
                    bad = np.flatnonzero(~(x <= lv * tol))
                    if len(bad):
                        return (f"point #{i}: joint {self.joint_names[bad[0]]} {key[:-3]}y {x[bad[0]]:.4f} over its "
                                f"limit {lv[bad[0]]:.4f}")
        return ""

    def receive(self, traj: Trajectory, now: float) -> tuple[bool, str]:
        """Validate and (when accepted) start executing ``traj`` at ``now``; ``(accepted, reason)``."""
        self.advance(now)
        why = self.validate(traj, now)
        if why:
            self.rejected.append(why)
            return False, why
        order = [list(traj.joint_names).index(j) for j in self.joint_names]

        def field_(p: TrajectoryPoint, key: str):
            f = getattr(p, key)
            return np.asarray(f, float)[order] if len(f) else None

        states = [(np.asarray(p.positions, float)[order], field_(p, "velocities"), field_(p, "accelerations"))
                  for p in traj.points]
        times = np.array([p.time_from_start for p in traj.points], float)
        start = now if traj.stamp == 0.0 else traj.stamp
        self.active = (now, (self.q.copy(), self.v.copy(), self.a.copy()), start, times, states)
        self.accepted += 1
        return True, ""

    # ------------------------------------------------------------------ execution
    def state_at(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Commanded state ``(q, v, a)`` at ``t`` of the active trajectory (the current state when none)."""
        if self.active is None:
            return self.q.copy(), self.v.copy(), self.a.copy()
        t_before, s_before, start, times, states = self.active
        abs_t = start + times
        if t <= t_before:
            return tuple(x.copy() for x in s_before)
        if t < abs_t[0]:
            return _interp(t_before, s_before, abs_t[0], states[0], t)
        if t >= abs_t[-1]:
            q, v, a = states[-1]
            return (q.copy(), np.zeros(self.n) if v is None else v.copy(), np.zeros(self.n) if a is None else a.copy())
        k = int(np.searchsorted(abs_t, t, side="right")) - 1
        return _interp(abs_t[k], states[k], abs_t[k + 1], states[k + 1], t)

    def advance(self, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Move the arm to ``now`` along the active trajectory (a perfect position-controlled arm); returns
        ``(q, v, a)``. Time never runs backwards."""
        if self.time is not None and now < self.time:
            raise MocapError(f"SimulatedJTC.advance: time went backwards ({now} < {self.time})")
        self.time = now
        self.q, self.v, self.a = self.state_at(now)
        return self.q.copy(), self.v.copy(), self.a.copy()
