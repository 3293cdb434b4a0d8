"""The keypoint containers exchanged between stages.

- :class:`Keypoints2D`: ``data`` ``(T, C, P, J, 3)`` = frames, cameras, people, joints, ``(u, v, confidence)``
  in raw (distorted) pixels; missing = NaN.
- :class:`Keypoints3D`: ``data`` ``(T, P, J, 4)`` = frames, people, joints, world ``(x, y, z)`` metres + confidence;
  missing = NaN; person index ``p`` carries the stable id ``person_ids[p]``.

Both carry their joint-set name (see :mod:`mocap.skeletons`) and per-frame timestamps in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mocap.errors import KeypointsError


def _default_timestamps(n: int, fps: float) -> np.ndarray:
    return np.arange(n, dtype=float) / float(fps)


@dataclass
class Keypoints2D:
    """2D keypoints of several cameras.

    Attributes:
        data: ``(T, C, P, J, 3)`` float array ``(u, v, confidence)``, raw pixels; NaN where missing.
        joint_set: joint-set name, e.g. ``"coco17"``, ``"body25"``, ``"mediapipe33"``.
        camera_names: ``C`` camera names, matching the calibration's.
        timestamps: ``(T,)`` seconds (default ``arange(T) / fps``).
        fps: nominal frame rate, Hz.
        meta: free-form provenance (detector, source files).
    """

    data: np.ndarray
    joint_set: str
    camera_names: list[str]
    timestamps: np.ndarray | None = None
    fps: float = 30.0
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=float)
        if self.data.ndim != 5 or self.data.shape[-1] != 3:
            raise KeypointsError(
                f"2D keypoints have shape {self.data.shape}; expected (frames, cameras, people, joints, 3)"
            )
        self.camera_names = [str(c) for c in self.camera_names]
        if len(self.camera_names) != self.data.shape[1]:
            raise KeypointsError(
                f"2D keypoints have {self.data.shape[1]} cameras but {len(self.camera_names)} camera names "
                f"({self.camera_names})"
            )
        if self.timestamps is None:
            self.timestamps = _default_timestamps(self.data.shape[0], self.fps)
        self.timestamps = np.asarray(self.timestamps, dtype=float).ravel()
        if self.timestamps.shape != (self.data.shape[0],):
            raise KeypointsError(
                f"2D keypoints have {self.data.shape[0]} frames but {self.timestamps.size} timestamps"
            )

    @property
    def n_frames(self) -> int:
        return self.data.shape[0]

    @property
    def n_cameras(self) -> int:
        return self.data.shape[1]

    @property
    def n_people(self) -> int:
        return self.data.shape[2]

    @property
    def n_joints(self) -> int:
        return self.data.shape[3]

    @property
    def uv(self) -> np.ndarray:
        """``(T, C, P, J, 2)`` pixel coordinates."""
        return self.data[..., :2]

    @property
    def confidence(self) -> np.ndarray:
        """``(T, C, P, J)`` confidences (NaN where missing)."""
        return self.data[..., 2]

    def camera(self, name: str) -> np.ndarray:
        """``(T, P, J, 3)`` data of one camera by name."""
        try:
            return self.data[:, self.camera_names.index(name)]
        except ValueError:
            raise KeypointsError(f"no camera {name!r} in the keypoints (cameras: {self.camera_names})") from None

    def select_cameras(self, names: list[str]) -> Keypoints2D:
        """A copy restricted to (and reordered as) ``names``."""
        idx = []
        for n in names:
            if n not in self.camera_names:
                raise KeypointsError(f"no camera {n!r} in the keypoints (cameras: {self.camera_names})")
            idx.append(self.camera_names.index(n))
        return Keypoints2D(self.data[:, idx].copy(), self.joint_set, list(names), self.timestamps.copy(), self.fps,
                           dict(self.meta))

    def frames(self, sl: slice) -> Keypoints2D:
        """A copy of a frame range."""
        return Keypoints2D(self.data[sl].copy(), self.joint_set, list(self.camera_names), self.timestamps[sl].copy(),
                           self.fps, dict(self.meta))


@dataclass
class Keypoints3D:
    """3D keypoints of several people.

    Attributes:
        data: ``(T, P, J, 4)`` float array, world ``(x, y, z)`` metres + confidence in [0, 1]; NaN where missing.
        joint_set: joint-set name.
        timestamps: ``(T,)`` seconds (default ``arange(T) / fps``).
        fps: nominal frame rate, Hz.
        person_ids: ``(P,)`` stable integer ids (default ``0..P-1``).
        quality: per-point quality fields, each ``(T, P, J)``: e.g. ``"reproj_error_px"`` (mean reprojection
            error over the views used, pixels) and ``"n_views"`` (views used).
        meta: free-form provenance.
    """

    data: np.ndarray
    joint_set: str
    timestamps: np.ndarray | None = None
    fps: float = 30.0
    person_ids: np.ndarray | None = None
    quality: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=float)
        if self.data.ndim == 3 and self.data.shape[-1] in (3, 4):  # (T, J, 3|4): one person
            self.data = self.data[:, None]
        if self.data.ndim == 4 and self.data.shape[-1] == 3:  # no confidence: 1 where finite
            conf = np.where(np.isfinite(self.data).all(-1, keepdims=True), 1.0, np.nan)
            self.data = np.concatenate([self.data, conf], axis=-1)
        if self.data.ndim != 4 or self.data.shape[-1] != 4:
            raise KeypointsError(f"3D keypoints have shape {self.data.shape}; expected (frames, people, joints, 4)")
        T, P = self.data.shape[:2]
        if self.timestamps is None:
            self.timestamps = _default_timestamps(T, self.fps)
        self.timestamps = np.asarray(self.timestamps, dtype=float).ravel()
        if self.timestamps.shape != (T,):
            raise KeypointsError(f"3D keypoints have {T} frames but {self.timestamps.size} timestamps")
        self.person_ids = np.arange(P) if self.person_ids is None else np.asarray(self.person_ids, dtype=int).ravel()
        if self.person_ids.shape != (P,):
            raise KeypointsError(f"3D keypoints have {P} people but {self.person_ids.size} person ids")
        for k, v in list(self.quality.items()):
            v = np.asarray(v)
            if v.shape != self.data.shape[:3]:
                raise KeypointsError(f"quality field {k!r} has shape {v.shape}; expected {self.data.shape[:3]}")
            self.quality[k] = v

    @property
    def n_frames(self) -> int:
        return self.data.shape[0]

    @property
    def n_people(self) -> int:
        return self.data.shape[1]

    @property
    def n_joints(self) -> int:
        return self.data.shape[2]

    @property
    def xyz(self) -> np.ndarray:
        """``(T, P, J, 3)`` positions, metres."""
        return self.data[..., :3]

    @property
    def confidence(self) -> np.ndarray:
        """``(T, P, J)`` confidences."""
        return self.data[..., 3]

    def person(self, pid: int) -> np.ndarray:
        """``(T, J, 4)`` data of the person with stable id ``pid``."""
        hits = np.flatnonzero(self.person_ids == pid)
        if hits.size == 0:
            raise KeypointsError(f"no person with id {pid} (ids: {self.person_ids.tolist()})")
        return self.data[:, hits[0]]
