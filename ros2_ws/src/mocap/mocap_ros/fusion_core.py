"""The fusion node's logic without ROS: synchronised 2D groups -> filtered 3D skeletons (+ optional body fit).

Thin over the library: :class:`mocap.reconstruct.OnlineTriangulator` (triangulate + filter, the same math as the
offline path) and, optionally, :class:`mocap.body.fit.OnlineFitter`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from mocap.geometry.rotations import matrix_to_rotvec, quat_xyzw_to_matrix
from mocap.reconstruct import OnlineTriangulator
from mocap.skeletons import get_joint_set
from mocap_ros.skeleton import global_from_local, joint_orientations


@dataclass
class SkeletonResult:
    """One person's skeleton of one synchronised frame (arrays in the world frame, metres, xyzw)."""

    person_id: int
    joint_names: list[str]
    parents: np.ndarray
    X: np.ndarray  # (J, 3)
    conf: np.ndarray  # (J,)
    global_q: np.ndarray  # (J, 4)
    local_q: np.ndarray  # (J, 4)
    body_model: str = ""
    shape: np.ndarray | None = None
    root_translation: np.ndarray | None = None

    @property
    def local_rotvec(self) -> np.ndarray:
        """``(J, 3)`` local rotations as rotation vectors, radians."""
        return matrix_to_rotvec(quat_xyzw_to_matrix(self.local_q))


@dataclass
class FrameResult:
    stamp: float
    joint_set: str
    skeletons: list[SkeletonResult]
    warnings: list[str] = field(default_factory=list)
    process_s: float = 0.0


class FusionCore:
    """Triangulate and filter one person from synchronised per-camera ``(P, J, 3)`` arrays.

    Args:
        rig: calibrated :class:`~mocap.cameras.CameraRig`; its camera names are the cameras used.
        joint_set: expected joint-set name of the 2D keypoints (its joint count is enforced).
        filter: ``"one_euro"``, ``"kalman"`` or ``"none"``.
        filter_opts: options of the filter class.
        triangulate_opts: options of :func:`mocap.reconstruct.triangulate` (``min_conf``, ``reproj_threshold_px``,
            ``refine``, ``min_views``).
        use_prior: use the previous output as the triangulation prior.
        fitter: optional :class:`mocap.body.fit.OnlineFitter` (its model's skeleton replaces the keypoints').
        min_joints: fewer reconstructed joints than this -> no skeleton in the frame.
    """

    def __init__(self, rig, joint_set: str, filter: str = "one_euro", filter_opts: dict | None = None,
                 triangulate_opts: dict | None = None, use_prior: bool = True, fitter=None,
                 min_joints: int = 3) -> None:
        self.rig = rig
        self.cameras = list(rig.names)
        self.joint_set = get_joint_set(joint_set)
        self.J = len(self.joint_set.joints)
        self.parents = np.asarray(self.joint_set.parents, int)
        self.bones = [(p, c) for c, p in enumerate(self.parents) if p >= 0]
        self.tri = OnlineTriangulator(rig, self.joint_set.name, filter=None if filter in ("none", "", None) else filter,
                                      filter_opts=filter_opts or {}, use_prior=use_prior, **(triangulate_opts or {}))
        self.fitter = fitter
        self.min_joints = int(min_joints)

    def reset(self) -> None:
        """Forget filter state (after a clock jump or a long gap)."""
        self.tri.reset()
        if self.fitter is not None:
            self.fitter.reset()

    def check_frame(self, camera: str, kp: np.ndarray) -> str | None:
        """A warning if one camera's ``(P, J, 3)`` array cannot be used (wrong joint count), else None."""
        if kp.ndim != 3 or kp.shape[1] != self.J:
            return (f"camera {camera!r}: keypoints have {kp.shape[1] if kp.ndim == 3 else '?'} joints but joint set "
                    f"{self.joint_set.name} has {self.J}; check the camera node's detector/joint_set; camera ignored")
        return None

    def process(self, stamp: float, frames: dict[str, np.ndarray | None]) -> FrameResult:
        """Reconstruct one synchronised frame. ``frames``: camera -> ``(P, J, 3)`` or None (missing)."""
        t0 = time.perf_counter()
        warnings: list[str] = []
        C = len(self.cameras)
        uvc = np.full((C, self.J, 3), np.nan)
        for c, name in enumerate(self.cameras):
            kp = frames.get(name)
            if kp is None or len(kp) == 0:
                continue
            if kp.shape[0] > 1:  # single-person fusion: the most confident detection
                kp = kp[[int(np.argmax(np.nan_to_num(kp[:, :, 2]).sum(1)))]]
            uvc[c] = kp[0]
        xyzc = self.tri.step(uvc[..., :2], uvc[..., 2], stamp)
        skeletons = []
        ok = np.isfinite(xyzc[:, :3]).all(-1)
        if ok.sum() >= self.min_joints:
            skeletons.append(self._skeleton(xyzc, stamp))
        return FrameResult(stamp, self._out_joint_set, skeletons, warnings, time.perf_counter() - t0)

    @property
    def _out_joint_set(self) -> str:
        return self.fitter.model.name if self.fitter is not None and hasattr(self.fitter.model, "name") \
            else self.joint_set.name

    def _skeleton(self, xyzc: np.ndarray, stamp: float) -> SkeletonResult:
        X, conf = xyzc[:, :3], xyzc[:, 3]
        if self.fitter is None:
            g, loc = joint_orientations(X, self.parents)
            return SkeletonResult(0, list(self.joint_set.joints), self.parents, X, conf, g, loc)
        motion = self.fitter.step(xyzc)
        loc = np.asarray(motion.local_rotations[0], float)
        par = np.asarray(motion.parents, int)
        Xb = motion.world_joints()[0]
        return SkeletonResult(0, list(motion.joint_names), par, Xb, np.ones(len(par)),
                              global_from_local(loc, par), loc, body_model=str(motion.model),
                              shape=np.asarray(motion.shape, float), root_translation=motion.root_translation[0])
