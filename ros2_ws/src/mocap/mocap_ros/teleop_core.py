"""Teleoperation core (no ROS): a person's arm -> end-effector target -> IK -> safe joint commands.

Pipeline per skeleton message (:meth:`TeleopController.update`):

1. pick the tracked person and read its shoulder, elbow and wrist (world frame, metres);
2. dead-man: the person must be present, the arm joints finite and confident, else **stop**;
3. target = ``offset + scale * v`` with ``v`` the shoulder->wrist vector in the person's heading frame (x forward,
   y left, z up; optional) rescaled to ``reach`` metres per full arm length (optional);
4. clamp the target into the workspace box (robot base frame), low-pass it (``smoothing``);
5. position IK (damped least squares with :mod:`pinocchio`, null-space pull to the home pose, joint limits);
6. scale the joint step so no joint moves more than ``max_velocity * dt`` (never exceeded), where ``dt`` is the
   message period capped at ``max_dt``.

A stop holds the last commanded joint positions with zero velocity and resets the smoothing, so motion restarts
from where the robot is. The e-stop latches until released. Units: metres, seconds, radians.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: robots of example-robot-data: urdf (relative to its robots/ folder), end-effector frame, home pose (rad),
#: joints to lock (fingers)
ROBOTS: dict[str, dict] = {
    "ur5": {"urdf": "ur_description/urdf/ur5_robot.urdf", "ee_frame": "tool0",
            "home": [0.0, -1.2, 1.6, -1.97, -1.57, 0.0], "lock": []},
    "panda": {"urdf": "panda_description/urdf/panda.urdf", "ee_frame": "panda_hand_tcp",
              "home": [0.0, -0.5, 0.0, -2.2, 0.0, 1.7, 0.8], "lock": ["panda_finger_joint1", "panda_finger_joint2"]},
}


def example_robot_urdf(robot: str) -> Path:
    """Path of a URDF shipped by the ``example-robot-data`` wheel (``ur5`` or ``panda``).

    Raises:
        FileNotFoundError: the wheel is not installed (``pip install example-robot-data``).
    """
    if robot not in ROBOTS:
        raise ValueError(f"robot must be one of {sorted(ROBOTS)} or a URDF path, not {robot!r}")
    import pinocchio

    roots = [Path(pinocchio.__file__).resolve().parents[4] / "share" / "example-robot-data" / "robots",
             Path("/opt/openrobots/share/example-robot-data/robots")]
    for r in roots:
        if (r / ROBOTS[robot]["urdf"]).is_file():
            return r / ROBOTS[robot]["urdf"]
    raise FileNotFoundError(f"URDF of {robot!r} not found under {[str(r) for r in roots]}: pip install "
                            "example-robot-data, or set the 'urdf' parameter to a URDF file")


class ArmIK:
    """Position inverse kinematics of a serial arm from a URDF (pinocchio).

    Args:
        urdf: URDF file.
        ee_frame: frame whose origin tracks the target.
        home: (n,) joint positions the null space is pulled to (radians; default: mid-range).
        lock: joint names to lock at zero (e.g. gripper fingers).
    """

    def __init__(self, urdf: str | Path, ee_frame: str, home=None, lock: list[str] | tuple = ()) -> None:
        import pinocchio as pin

        self.pin = pin
        model = pin.buildModelFromUrdf(str(urdf))
        if lock:
            ids = [model.getJointId(n) for n in lock if model.existJointName(n)]
            model = pin.buildReducedModel(model, ids, pin.neutral(model))
        if not model.existFrame(ee_frame):
            raise ValueError(f"frame {ee_frame!r} is not in {urdf}; frames: {[f.name for f in model.frames][-8:]}")
        self.model, self.data = model, model.createData()
        self.fid = model.getFrameId(ee_frame)
        self.joint_names = [str(n) for n in list(model.names)[1:]]
        self.lower = np.asarray(model.lowerPositionLimit, float)
        self.upper = np.asarray(model.upperPositionLimit, float)
        self.velocity_limit = np.asarray(model.velocityLimit, float)
        self.home = np.clip(np.asarray(home, float), self.lower, self.upper) if home is not None \
            else (self.lower + self.upper) / 2

    @property
    def n(self) -> int:
        return self.model.nq

    def fk(self, q: np.ndarray) -> np.ndarray:
        """End-effector position (3,) in the base frame, metres."""
        self.pin.framesForwardKinematics(self.model, self.data, np.asarray(q, float))
        return np.array(self.data.oMf[self.fid].translation)

    def solve(self, target: np.ndarray, q0: np.ndarray, iters: int = 100, tol: float = 1e-4,
              damping: float = 1e-6, null_gain: float = 0.05) -> tuple[np.ndarray, float]:
        """Joint positions (n,) whose end effector reaches ``target`` (3,), starting at ``q0``.

        Returns the solution and its position error (m). Joint limits are respected; an unreachable target
        gives the closest reachable pose found (check the error).
        """
        pin = self.pin
        q = np.clip(np.asarray(q0, float).copy(), self.lower, self.upper)
        target = np.asarray(target, float)
        err = np.inf
        for _ in range(iters):
            p = self.fk(q)
            e = target - p
            err = float(np.linalg.norm(e))
            if err < tol:
                break
            J = pin.computeFrameJacobian(self.model, self.data, q, self.fid, pin.LOCAL_WORLD_ALIGNED)[:3]
            JJt = J @ J.T + damping * np.eye(3)
            Jpinv = J.T @ np.linalg.inv(JJt)
            step = Jpinv @ e + (np.eye(self.n) - Jpinv @ J) @ (null_gain * (self.home - q))
            scale = min(1.0, 0.5 / max(np.abs(step).max(), 1e-12))  # at most 0.5 rad per iteration
            q = np.clip(q + scale * step, self.lower, self.upper)
        else:
            err = float(np.linalg.norm(target - self.fk(q)))
        return q, err


@dataclass
class TeleopConfig:
    """Parameters of :class:`TeleopController` (the node's ``ros__parameters``; metres, seconds, radians)."""

    robot: str = "ur5"                      # ur5 | panda (example-robot-data), or set urdf
    urdf: str = ""                          # URDF file (overrides robot)
    ee_frame: str = ""                      # "" = the robot's default
    home: list = field(default_factory=list)  # [] = the robot's default
    person_id: int = -1                     # -1 = lock on the lowest id present
    arm: str = "right"                      # right | left: joint names <arm>_shoulder/_elbow/_wrist (coco17)
    shoulder_joint: str = ""                # "" = <arm>_shoulder
    elbow_joint: str = ""
    wrist_joint: str = ""
    body_frame: bool = True                 # express the arm in the person's heading frame (needs both shoulders)
    reach: float = 0.0                      # > 0: a fully stretched arm maps to this length (m)
    scale: list = field(default_factory=lambda: [1.0, 1.0, 1.0])
    offset: list = field(default_factory=lambda: [0.0, 0.0, 0.0])  # target of the shoulder, base frame (m)
    workspace_min: list = field(default_factory=lambda: [-0.8, -0.8, 0.05])
    workspace_max: list = field(default_factory=lambda: [0.8, 0.8, 1.0])
    max_velocity: float = 1.0               # rad/s, all joints (also capped by the URDF limits)
    max_dt: float = 0.1                     # s: longest step a message period may allow
    smoothing: float = 0.5                  # 0 < alpha <= 1: target low-pass weight of the newest sample
    min_confidence: float = 0.3
    ik_iterations: int = 100
    ik_tolerance: float = 1e-4

    @staticmethod
    def from_dict(d: dict) -> TeleopConfig:
        known = {k: v for k, v in d.items() if k in TeleopConfig.__dataclass_fields__}
        return TeleopConfig(**known)


@dataclass
class Command:
    """One controller output: joint positions (n,) rad, velocities (n,) rad/s, the period it spans (s)."""

    positions: np.ndarray
    velocities: np.ndarray
    duration: float
    active: bool
    reason: str = ""
    target: np.ndarray | None = None        # (3,) clamped, smoothed target (base frame), None when stopped
    raw_target: np.ndarray | None = None    # (3,) before clamping
    ik_error: float = float("nan")          # m, IK residual of the target
    ik_positions: np.ndarray | None = None  # (n,) IK solution before the velocity limit


def heading_frame(left_shoulder: np.ndarray, right_shoulder: np.ndarray) -> np.ndarray | None:
    """Rotation (3, 3) whose columns are the person's forward, left, up axes (world Z up); None if degenerate."""
    y = np.asarray(left_shoulder, float) - np.asarray(right_shoulder, float)
    y[2] = 0.0
    n = np.linalg.norm(y)
    if not np.isfinite(n) or n < 1e-6:
        return None
    y /= n
    z = np.array([0.0, 0.0, 1.0])
    return np.column_stack([np.cross(y, z), y, z])


class TeleopController:
    """Arm of a tracked person -> safe joint commands (see the module docstring)."""

    def __init__(self, cfg: TeleopConfig, ik: ArmIK | None = None) -> None:
        self.cfg = cfg
        if ik is None:
            spec = ROBOTS.get(cfg.robot, {})
            urdf = cfg.urdf or example_robot_urdf(cfg.robot)
            ik = ArmIK(urdf, cfg.ee_frame or spec.get("ee_frame", ""), cfg.home or spec.get("home"),
                       spec.get("lock", []) if not cfg.urdf else [])
        self.ik = ik
        self.vmax = np.minimum(cfg.max_velocity, ik.velocity_limit)
        side, other = (cfg.arm, "left" if cfg.arm == "right" else "right")
        if side not in ("left", "right"):
            raise ValueError(f"arm must be 'left' or 'right', not {cfg.arm!r}")
        self.names = {"shoulder": cfg.shoulder_joint or f"{side}_shoulder", "elbow": cfg.elbow_joint or f"{side}_elbow",
                      "wrist": cfg.wrist_joint or f"{side}_wrist", "other": f"{other}_shoulder"}
        self.lo, self.hi = np.asarray(cfg.workspace_min, float), np.asarray(cfg.workspace_max, float)
        if not np.all(self.lo < self.hi):
            raise ValueError(f"workspace_min {cfg.workspace_min} must be below workspace_max {cfg.workspace_max}")
        self.q = ik.home.copy()
        self.estop = False
        self.locked_id: int | None = None
        self.filt: np.ndarray | None = None
        self.last_stamp: float | None = None
        self.active = False

    @property
    def joint_names(self) -> list[str]:
        return self.ik.joint_names

    def set_estop(self, on: bool) -> None:
        """Latch (True) or release (False) the emergency stop."""
        self.estop = bool(on)
        if on:
            self._disengage()

    def _disengage(self) -> None:
        self.active = False
        self.filt = None
        self.locked_id = None

    def stop(self, reason: str) -> Command:
        """Hold the last commanded positions with zero velocity."""
        self._disengage()
        return Command(self.q.copy(), np.zeros_like(self.q), 0.0, False, reason)

    def arm_target(self, joints: dict[str, np.ndarray]) -> np.ndarray:
        """Unclamped end-effector target (3,) from world joint positions ``{name: (3,)}``."""
        c = self.cfg
        s, e, w = (np.asarray(joints[self.names[k]], float) for k in ("shoulder", "elbow", "wrist"))
        v = w - s
        if c.reach > 0:
            length = np.linalg.norm(e - s) + np.linalg.norm(w - e)
            v = v * (c.reach / max(length, 1e-6))
        if c.body_frame and self.names["other"] in joints:
            left, right = (s, joints[self.names["other"]]) if c.arm == "left" else (joints[self.names["other"]], s)
            R = heading_frame(left, right)
            if R is not None:
                v = R.T @ v
        return np.asarray(c.offset, float) + np.asarray(c.scale, float) * v

    def update(self, stamp: float, people: dict[int, tuple[dict[str, np.ndarray], dict[str, float]]]) -> Command:
        """One skeleton message: ``people = {person_id: ({joint: (3,) m}, {joint: confidence})}``, ``stamp`` in s."""
        dt = self.cfg.max_dt if self.last_stamp is None else float(np.clip(stamp - self.last_stamp, 0.0,
                                                                             self.cfg.max_dt))
        self.last_stamp = stamp
        if self.estop:
            return self.stop("e-stop")
        pid = self.cfg.person_id if self.cfg.person_id >= 0 else self.locked_id
        if pid is None and people:
            pid = min(people)
        if pid is None or pid not in people:
            return self.stop("person lost" if self.active or pid is not None else "no person")
        pos, conf = people[pid]
        need = [self.names[k] for k in ("shoulder", "elbow", "wrist")]
        missing = [n for n in need if n not in pos or not np.all(np.isfinite(pos[n]))
                   or not conf.get(n, 0.0) >= self.cfg.min_confidence]
        if missing:
            return self.stop(f"person {pid}: {', '.join(missing)} not tracked confidently")
        self.locked_id = pid
        raw = self.arm_target(pos)
        tgt = np.clip(raw, self.lo, self.hi)
        a = float(np.clip(self.cfg.smoothing, 1e-3, 1.0))
        self.filt = tgt if self.filt is None else self.filt + a * (tgt - self.filt)
        q_ik, err = self.ik.solve(self.filt, self.q, self.cfg.ik_iterations, self.cfg.ik_tolerance)
        step = q_ik - self.q
        ratio = float(np.max(np.abs(step) / (self.vmax * dt))) if dt > 0 else np.inf
        if ratio > 1.0:  # scale the whole step (keeps its direction), then clip against rounding
            step = np.clip(step / ratio, -self.vmax * dt, self.vmax * dt) if np.isfinite(ratio) else 0.0 * step
        self.q = self.q + step
        self.active = True
        vel = step / dt if dt > 0 else np.zeros_like(step)
        return Command(self.q.copy(), vel, dt, True, "", self.filt.copy(), raw, err, q_ik)
