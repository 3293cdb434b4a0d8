"""A serial arm from any URDF (pinocchio): joint limits, forward kinematics, pose IK, self-collision check.

UR5 and Panda from ``example-robot-data`` are the tested robots (:data:`ROBOTS`, :func:`example_robot_urdf`); any
other URDF works with its end-effector frame named. URDFs carry position and velocity limits but no acceleration
or jerk limits: those come from :data:`ROBOTS` or the caller. Self-collision uses the URDF's collision geometry
(hpp-fcl through pinocchio) with the adjacent pairs an SRDF disables removed; a URDF without collision geometry
has no self-collision check (:attr:`RobotModel.has_collision` is False).

Units: metres, radians, seconds. Poses are in the robot's base frame (the URDF root).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mocap.apps.teleop.trajectory import JointLimits
from mocap.errors import DataError, MocapError
from mocap.geometry.checks import check_shape

#: Robots of example-robot-data: URDF and SRDF (relative to its robots/ folder), end-effector frame, home pose
#: (rad), joints to lock (fingers), acceleration (rad/s^2) and jerk (rad/s^3) limits. Panda: Franka's published
#: joint limits (acceleration 15/7.5/10/12.5/15/20/20, jerk 7500/3750/5000/6250/7500/10000/10000) divided by 3 and
#: 100 for teleoperation. UR5: not published in the URDF or by the ROS 2 driver; conservative values.
ROBOTS: dict[str, dict] = {
    "ur5": {"urdf": "ur_description/urdf/ur5_robot.urdf", "srdf": "ur_description/srdf/ur5.srdf",
            "ee_frame": "tool0", "home": [0.0, -1.2, 1.6, -1.97, -1.57, 0.0], "lock": [],
            "acceleration": [4.0] * 6, "jerk": [40.0] * 6},
    "panda": {"urdf": "panda_description/urdf/panda.urdf", "srdf": "panda_description/srdf/panda.srdf",
              "ee_frame": "panda_hand_tcp", "home": [0.0, -0.5, 0.0, -2.2, 0.0, 1.7, 0.8],
              "lock": ["panda_finger_joint1", "panda_finger_joint2"],
              "acceleration": [5.0, 2.5, 3.3, 4.2, 5.0, 6.7, 6.7],
              "jerk": [75.0, 37.5, 50.0, 62.5, 75.0, 100.0, 100.0]},
}


def example_robot_dir() -> Path:
    """The ``robots/`` folder of the ``example-robot-data`` wheel.

    Raises:
        DataError: the wheel is not installed.
    """
    try:
        import pinocchio
    except ImportError as e:
        raise DataError("pinocchio is not installed", hint="pip install pin==2.7.0 example-robot-data==6.0.0") from e
    roots = [Path(pinocchio.__file__).resolve().parents[4] / "share" / "example-robot-data" / "robots",
             Path("/opt/openrobots/share/example-robot-data/robots")]
    for r in roots:
        if (r / ROBOTS["ur5"]["urdf"]).is_file():
            return r
    raise DataError(f"example-robot-data not found under {[str(r) for r in roots]}",
                    hint="pip install example-robot-data==6.0.0, or give a URDF file")


def example_robot_urdf(robot: str) -> Path:
    """Path of a URDF shipped by ``example-robot-data`` (``ur5`` or ``panda``)."""
    if robot not in ROBOTS:
        raise MocapError(f"robot must be one of {sorted(ROBOTS)} or a URDF path, not {robot!r}")
    return example_robot_dir() / ROBOTS[robot]["urdf"]


@dataclass
class IKResult:
    """Result of :meth:`RobotModel.solve_ik`: joint positions ``(n,)``, position error (m), orientation error
    (rad), iterations used."""

    q: np.ndarray
    position_error: float
    orientation_error: float
    iterations: int


class RobotModel:
    """A serial arm: kinematics, limits and self-collision from a URDF.

    Args:
        urdf: URDF file.
        ee_frame: end-effector frame (its origin and axes are the pose IK controls); "" = the URDF's last frame.
        home: ``(n,)`` rest pose the IK null space is pulled to (default: mid-range).
        lock: joint names to lock at their neutral position (gripper fingers).
        acceleration, jerk: ``(n,)`` or scalar limits (rad/s^2, rad/s^3); URDFs do not carry them.
        srdf: SRDF whose ``disable_collisions`` pairs are removed from the self-collision check.
        package_dirs: folders holding the packages that ``package://`` mesh paths name.
        collision: load collision geometry when the URDF has some.
    """

    def __init__(self, urdf: str | Path, ee_frame: str, home=None, lock=(), acceleration=4.0, jerk=40.0,
                 srdf: str | Path | None = None, package_dirs=(), collision: bool = True) -> None:
        import pinocchio as pin

        self.pin = pin
        urdf = Path(urdf)
        if not urdf.is_file():
            raise DataError(f"URDF {urdf} not found")
        full = pin.buildModelFromUrdf(str(urdf))
        lock_ids = [full.getJointId(n) for n in lock if full.existJointName(n)]
        model = pin.buildReducedModel(full, lock_ids, pin.neutral(full)) if lock_ids else full
        ee_frame = ee_frame or model.frames[len(model.frames) - 1].name  # default: the URDF's last frame
        if not model.existFrame(ee_frame):
            raise MocapError(f"frame {ee_frame!r} is not in {urdf}",
                             hint=f"choose one of {[f.name for f in model.frames][-8:]} (last frames)")
        if model.nq != model.nv:
            raise MocapError(f"{urdf}: continuous or multi-dof joints are not supported (nq={model.nq}, "
                             f"nv={model.nv})")
        self.urdf = urdf
        self.model, self.data = model, model.createData()
        self.ee_frame = ee_frame
        self.fid = model.getFrameId(ee_frame)
        self.joint_names = [str(n) for n in list(model.names)[1:]]
        n = model.nq
        vel = np.asarray(model.velocityLimit, float)
        if not np.all(vel > 0):
            raise MocapError(f"{urdf}: joints {[j for j, v in zip(self.joint_names, vel) if v <= 0]} have no "
                             "velocity limit", hint="add <limit velocity=...> to the URDF")
        self.limits = JointLimits.make(self.joint_names, model.lowerPositionLimit, model.upperPositionLimit, vel,
                                       acceleration, jerk)
        self.home = (self.limits.clip_positions(check_shape(np.asarray(home, float), (n,), "home", str(urdf)))
                     if home is not None and len(home) else (self.limits.lower + self.limits.upper) / 2)
        self.geom = self.geom_data = None
        if collision:
            self._load_collision(full, lock_ids, srdf, package_dirs)

    @classmethod
    def from_name(cls, robot: str, **overrides) -> RobotModel:
        """One of :data:`ROBOTS` (``ur5``, ``panda``) from example-robot-data; keyword arguments override."""
        spec = ROBOTS.get(robot)
        if spec is None:
            raise MocapError(f"robot must be one of {sorted(ROBOTS)}, not {robot!r}")
        root = example_robot_dir()
        kw = {"ee_frame": spec["ee_frame"], "home": spec["home"], "lock": spec["lock"],
              "acceleration": spec["acceleration"], "jerk": spec["jerk"], "srdf": root / spec["srdf"],
              "package_dirs": [str(root.parents[1])]}
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(root / spec["urdf"], **kw)

    # ------------------------------------------------------------------ collision
    def _load_collision(self, full, lock_ids, srdf, package_dirs) -> None:
        pin = self.pin
        if "<collision" not in self.urdf.read_text(errors="replace"):
            return
        dirs = [str(p) for p in package_dirs] or [str(self.urdf.parent)]
        try:
            geom = pin.buildGeomFromUrdf(full, str(self.urdf), pin.COLLISION, package_dirs=dirs)
        except (ValueError, RuntimeError) as e:
            raise DataError(f"{self.urdf}: cannot load its collision geometry ({e})",
                            hint="pass package_dirs (the folder holding the URDF's package:// packages), or "
                                 "collision=False") from e
        if lock_ids:
            _, geom = pin.buildReducedModel(full, geom, lock_ids, pin.neutral(full))
        geom.addAllCollisionPairs()
        if srdf is not None and Path(srdf).is_file():
            pin.removeCollisionPairs(self.model, geom, str(srdf))
        # pairs on the same or neighbouring bodies are always in contact through their joint: not collisions
        parents = {g: geom.geometryObjects[g].parentJoint for g in range(len(geom.geometryObjects))}
        keep = []
        for cp in geom.collisionPairs:
            a, b = parents[cp.first], parents[cp.second]
            if a == b or self.model.parents[a] == b or self.model.parents[b] == a:
                continue
            keep.append(cp)
        geom.removeAllCollisionPairs()
        for cp in keep:
            geom.addCollisionPair(cp)
        self.geom, self.geom_data = geom, pin.GeometryData(geom)

    @property
    def has_collision(self) -> bool:
        """True when the URDF had collision geometry (self-collision is checked)."""
        return self.geom is not None and len(self.geom.collisionPairs) > 0

    def in_self_collision(self, q: np.ndarray) -> list[tuple[str, str]]:
        """Colliding pairs of link geometries at ``q`` (empty: free, or no collision geometry)."""
        if not self.has_collision:
            return []
        pin = self.pin
        q = check_shape(np.asarray(q, float), (self.n,), "q", "self-collision check")
        pin.computeCollisions(self.model, self.data, self.geom, self.geom_data, q, False)
        out = []
        for k, res in enumerate(self.geom_data.collisionResults):
            if res.isCollision():
                cp = self.geom.collisionPairs[k]
                out.append((self.geom.geometryObjects[cp.first].name, self.geom.geometryObjects[cp.second].name))
        return out

    # ------------------------------------------------------------------ kinematics
    @property
    def n(self) -> int:
        """Number of (unlocked) joints."""
        return self.model.nq

    def fk(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """End-effector pose at ``q`` ``(n,)``: position ``(3,)`` m and rotation matrix ``(3, 3)``, base frame."""
        q = check_shape(np.asarray(q, float), (self.n,), "q", "forward kinematics")
        self.pin.framesForwardKinematics(self.model, self.data, q)
        M = self.data.oMf[self.fid]
        return np.array(M.translation), np.array(M.rotation)

    def solve_ik(self, position: np.ndarray, rotation: np.ndarray | None, q0: np.ndarray, *,
                 rotation_weight: float = 0.3, iterations: int = 60, tolerance: float = 1e-4,
                 damping: float = 1e-4, null_gain: float = 0.02, margin: float = 0.02) -> IKResult:
        """Joint positions whose end effector reaches a pose, starting from ``q0`` (damped least squares).

        Args:
            position: ``(3,)`` target position, base frame, m.
            rotation: ``(3, 3)`` target orientation, or None (position only).
            q0: ``(n,)`` start (the current command), so consecutive solutions stay on one branch.
            rotation_weight: metres per radian of orientation error in the combined error.
            iterations, tolerance: stop after this many steps or below this weighted error.
            damping: Levenberg damping of the least-squares step.
            null_gain: pull towards the home pose in the task's null space.
            margin: radians kept from each position limit.
        Returns:
            the solution (within the position limits minus ``margin``) and its errors; an unreachable pose gives
            the closest pose found: check the errors.
        """
        pin = self.pin
        p_t = check_shape(np.asarray(position, float), (3,), "position", "IK")
        R_t = None if rotation is None else check_shape(np.asarray(rotation, float), (3, 3), "rotation", "IK")
        q = self.limits.clip_positions(check_shape(np.asarray(q0, float), (self.n,), "q0", "IK"), margin)
        rows = 3 if R_t is None else 6
        W = np.ones(rows)
        if rows == 6:
            W[3:] = rotation_weight
        it = 0
        for it in range(1, iterations + 1):  # noqa: B007 - the count is reported
            p, R = self.fk(q)
            e = p_t - p
            if R_t is not None:
                e = np.concatenate([e, pin.log3(R_t @ R.T)])  # world-frame angular error
            we = W * e
            if float(np.linalg.norm(we)) < tolerance:
                break
            J = pin.computeFrameJacobian(self.model, self.data, q, self.fid, pin.LOCAL_WORLD_ALIGNED)[:rows]
            WJ = W[:, None] * J
            A = WJ @ WJ.T + damping * np.eye(rows)
            Jp = WJ.T @ np.linalg.solve(A, np.eye(rows))
            step = Jp @ we + (np.eye(self.n) - Jp @ WJ) @ (null_gain * (self.home - q))
            scale = min(1.0, 0.3 / max(float(np.abs(step).max()), 1e-12))  # at most 0.3 rad per iteration
            q = self.limits.clip_positions(q + scale * step, margin)
        p, R = self.fk(q)
        rot_err = 0.0 if R_t is None else float(np.linalg.norm(pin.log3(R_t @ R.T)))
        return IKResult(q, float(np.linalg.norm(p_t - p)), rot_err, it)
