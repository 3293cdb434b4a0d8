"""Keypoint skeletons -> the IK rig's standard skeleton, frame by frame (for avatars and humanoid consumers).

A keypoint skeleton of the stream (COCO-17, Halpe-26, MediaPipe-33, ... with swing-only orientations) has no spine,
and its rest pose is not a T-pose, so it cannot drive a humanoid avatar directly. :class:`KeypointRig` runs the same
inverse-kinematics step as the exporters (:func:`mocap.export.ik.fit_standard_skeleton`: SMPL-X's first 22 joints,
T-pose rest facing -Y) on each frame, with bone lengths measured once over a calibration window (the person
standing, ideally in a T-pose: arms straight give the best arm lengths). Before the window is full
:meth:`KeypointRig.solve` returns None.
"""

from __future__ import annotations

import numpy as np

from mocap.errors import KeypointsError, MocapError
from mocap.export.ik import STANDARD_JOINTS, STANDARD_PARENTS, fit_standard_skeleton, standard_targets
from mocap.geometry.rotations import matrix_to_quat_xyzw
from mocap.live.stream import SkeletonDescription

#: Joint-set name of the rig's skeleton in a :class:`SkeletonDescription`.
RIG_JOINT_SET = "smplx22"


class KeypointRig:
    """Per-frame IK from one person's keypoints to the standard skeleton.

    Args:
        joint_set: joint-set name of the keypoints (any registered set with hips and shoulders).
        calib_frames: frames (with hips and shoulders seen) measured before the rig is ready.
        min_conf: joints with a lower confidence count as missing.
    """

    def __init__(self, joint_set: str, calib_frames: int = 30, min_conf: float = 0.05) -> None:
        self.joint_set = str(joint_set)
        self.calib_frames = max(int(calib_frames), 1)
        self.min_conf = float(min_conf)
        self.offsets: np.ndarray | None = None
        self._window: list[np.ndarray] = []
        self._check_joint_set()

    def _check_joint_set(self) -> None:
        try:
            standard_targets(np.full((1, self._n_joints(), 3), np.nan), self.joint_set)
        except MocapError as e:
            raise MocapError(f"keypoints of joint set {self.joint_set!r} cannot drive the IK rig: {e}") from None

    def _n_joints(self) -> int:
        from mocap.skeletons import get_joint_set

        return len(get_joint_set(self.joint_set).joints)

    @property
    def ready(self) -> bool:
        """True once the bone lengths are measured."""
        return self.offsets is not None

    @property
    def progress(self) -> float:
        """Fraction of the calibration window filled, in [0, 1]."""
        return 1.0 if self.ready else len(self._window) / self.calib_frames

    def reset(self) -> None:
        """Start a new calibration window (e.g. when the user stands in a T-pose on request)."""
        self.offsets = None
        self._window.clear()

    def _targets(self, positions: np.ndarray, confidence: np.ndarray | None) -> np.ndarray:
        X = np.asarray(positions, float).copy()
        if confidence is not None:
            X[~(np.asarray(confidence, float) >= self.min_conf)] = np.nan
        return standard_targets(X[None], self.joint_set)[0]

    def calibrate(self, positions: np.ndarray) -> None:
        """Measure the bone lengths from ``(T, J, 3)`` keypoints at once (metres; NaN = missing)."""
        T = standard_targets(np.asarray(positions, float), self.joint_set)
        try:
            anim = fit_standard_skeleton(T, fps=30.0)
        except KeypointsError as e:
            raise MocapError(f"rig calibration failed: {e}") from None
        self.offsets = anim.offsets.copy()

    def add(self, positions: np.ndarray, confidence: np.ndarray | None = None) -> bool:
        """Add one frame ``(J, 3)`` to the calibration window; returns :attr:`ready`."""
        if self.ready:
            return True
        t = self._targets(positions, confidence)
        core = [STANDARD_JOINTS.index(n) for n in ("pelvis", "left_hip", "right_hip", "neck")]
        if np.isfinite(t[core]).all():
            self._window.append(t)
        if len(self._window) >= self.calib_frames:
            self.offsets = fit_standard_skeleton(np.stack(self._window), fps=30.0).offsets.copy()
            self._window.clear()
        return self.ready

    def description(self, person_id: int = -1, frame_id: str = "world") -> SkeletonDescription:
        """The standard skeleton with the measured rest offsets (T-pose, facing -Y)."""
        if self.offsets is None:
            raise MocapError("the keypoint rig is not calibrated yet")
        return SkeletonDescription(RIG_JOINT_SET, list(STANDARD_JOINTS), np.array(STANDARD_PARENTS), self.offsets,
                                   frame_id=frame_id, person_id=person_id)

    def solve(self, positions: np.ndarray, confidence: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Pose one frame.

        Args:
            positions: ``(J, 3)`` keypoints, metres, NaN = missing.
            confidence: ``(J,)`` or None.

        Returns:
            ``(positions (22, 3), global_quat_xyzw (22, 4), local_quat_xyzw (22, 4))`` of the standard skeleton, or
            None before calibration or when the hips/shoulders are missing.
        """
        if self.offsets is None:
            return None
        t = self._targets(positions, confidence)
        try:
            anim = fit_standard_skeleton(t[None], fps=30.0, offsets=self.offsets)
        except KeypointsError:
            return None
        P, G = anim.world_transforms()
        return P[0], matrix_to_quat_xyzw(G[0]), anim.local_rotations[0]
