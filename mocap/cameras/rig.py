"""A rig of calibrated cameras: vectorised projection/undistortion and rig-wide transforms."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np

from mocap.cameras.camera import Camera
from mocap.errors import CalibrationError, MocapWarning
from mocap.geometry.checks import check_shape

# Camera centres further apart than this are almost surely millimetres read as metres.
SUSPICIOUS_RIG_SIZE_M = 50.0


class CameraRig:
    """An ordered collection of :class:`Camera` sharing one world frame (metres, Z up by convention)."""

    def __init__(self, cameras: Iterable[Camera], meta: dict | None = None) -> None:
        self.cameras: list[Camera] = list(cameras)
        self.meta: dict = dict(meta or {})

    # ----------------------------------------------------------------- container protocol
    def __len__(self) -> int:
        return len(self.cameras)

    def __iter__(self):
        return iter(self.cameras)

    def __getitem__(self, key: int | str) -> Camera:
        if isinstance(key, str):
            for c in self.cameras:
                if c.name == key:
                    return c
            raise KeyError(f"no camera named {key!r}; cameras are {self.names}")
        return self.cameras[key]

    def __repr__(self) -> str:
        return f"CameraRig({len(self)} cameras: {', '.join(self.names)})"

    @property
    def names(self) -> list[str]:
        """Camera names in rig order."""
        return [c.name for c in self.cameras]

    @property
    def centers(self) -> np.ndarray:
        """Camera centres ``(C, 3)`` in world coordinates, metres."""
        return np.stack([c.center for c in self.cameras]) if self.cameras else np.zeros((0, 3))

    @property
    def projection_matrices(self) -> np.ndarray:
        """``(C, 3, 4)`` matrices ``K [R | t]``."""
        return np.stack([c.P for c in self.cameras])

    @property
    def extrinsics(self) -> np.ndarray:
        """``(C, 3, 4)`` matrices ``[R | t]`` (act on normalised coordinates)."""
        return np.stack([c.Rt for c in self.cameras])

    def subset(self, names: Sequence[str]) -> CameraRig:
        """A rig of the named cameras, in the order given."""
        return CameraRig([self[n] for n in names], self.meta)

    def copy(self) -> CameraRig:
        """A deep copy."""
        return CameraRig([c.copy() for c in self.cameras], dict(self.meta))

    # ----------------------------------------------------------------- vectorised projection
    def project(self, X: np.ndarray) -> np.ndarray:
        """Project world points ``(..., 3)`` (metres) into every camera: ``(C, ..., 2)`` raw pixels.

        Points behind a camera are NaN in that camera.
        """
        X = check_shape(X, ("*", 3), "points")
        return np.stack([c.project(X) for c in self.cameras])

    def undistort_normalized(self, uv: np.ndarray) -> np.ndarray:
        """Raw pixels ``(C, ..., 2)`` -> undistorted normalised coordinates ``(C, ..., 2)``; NaN kept."""
        uv = np.asarray(uv, dtype=float)
        if uv.shape[0] != len(self) or uv.shape[-1] != 2:
            raise CalibrationError(
                f"points of shape {uv.shape} do not match a rig of {len(self)} cameras; expected ({len(self)}, ..., 2)"
            )
        return np.stack([c.undistort_normalized(uv[i]) for i, c in enumerate(self.cameras)])

    def undistort_pixels(self, uv: np.ndarray) -> np.ndarray:
        """Raw pixels ``(C, ..., 2)`` -> undistorted pixels ``(C, ..., 2)``; NaN kept."""
        uv = np.asarray(uv, dtype=float)
        if uv.shape[0] != len(self):
            raise CalibrationError(f"points of shape {uv.shape} do not match a rig of {len(self)} cameras")
        return np.stack([c.undistort_pixels(uv[i]) for i, c in enumerate(self.cameras)])

    # ----------------------------------------------------------------- rig transforms
    def transformed(self, R: np.ndarray | None = None, t: np.ndarray | None = None, scale: float = 1.0) -> CameraRig:
        """Move the world frame: new world points are ``X' = scale * (R @ X + t)``.

        Args:
            R: ``(3, 3)`` rotation (default identity).
            t: ``(3,)`` translation in old world units (default zero).
            scale: uniform scale, e.g. ``0.001`` to turn millimetres into metres.

        Returns:
            A new rig whose cameras see the same images of the correspondingly moved points.
        """
        R = np.eye(3) if R is None else check_shape(R, (3, 3), "R")
        t = np.zeros(3) if t is None else check_shape(np.ravel(t), (3,), "t")
        if not scale > 0:
            raise CalibrationError(f"rig scale must be positive, got {scale}")
        cams = []
        for c in self.cameras:
            nc = c.copy()
            nc.R = c.R @ R.T
            nc.t = scale * (c.t - nc.R @ t)
            cams.append(nc)
        return CameraRig(cams, dict(self.meta))

    def reoriginated(self, origin: np.ndarray) -> CameraRig:
        """Translate the world so that ``origin`` ``(3,)`` (old coordinates) becomes ``(0, 0, 0)``."""
        return self.transformed(t=-np.asarray(origin, float))

    def scaled(self, scale: float) -> CameraRig:
        """Scale the world about its origin (e.g. ``0.001`` for mm -> m)."""
        return self.transformed(scale=scale)

    def aligned_to_floor(self, floor_points: np.ndarray, origin: np.ndarray | None = None) -> CameraRig:
        """Rotate and translate the world so the floor is the plane ``z = 0`` with +Z towards the cameras.

        Args:
            floor_points: ``(N, 3)`` points on the floor (N >= 3, not collinear), e.g. ankle positions or
                board corners lying on the ground.
            origin: ``(3,)`` point (old coordinates) to become the origin after projecting onto the floor;
                default the centroid of ``floor_points``.

        Returns:
            The aligned rig. The old x axis is kept as close as possible to the new x axis.
        """
        P = check_shape(floor_points, (None, 3), "floor_points")
        P = P[np.isfinite(P).all(axis=1)]
        if len(P) < 3:
            raise CalibrationError(f"need at least 3 finite floor points to fit a plane, got {len(P)}")
        c = P.mean(axis=0)
        _, s, vt = np.linalg.svd(P - c)
        if s[1] < 1e-6 * max(s[0], 1e-12):
            raise CalibrationError("floor points are collinear; cannot fit a floor plane")
        n = vt[2]
        if np.mean((self.centers - c) @ n) < 0:
            n = -n
        x = np.array([1.0, 0, 0]) - n * n[0]
        if np.linalg.norm(x) < 1e-6:
            x = np.array([0, 1.0, 0]) - n * n[1]
        x /= np.linalg.norm(x)
        y = np.cross(n, x)
        R = np.stack([x, y, n])
        o = c if origin is None else np.asarray(origin, float)
        o = o - n * ((o - c) @ n)
        return self.transformed(R=R, t=-R @ o)

    # ----------------------------------------------------------------- checks
    def validate(self, source: str = "", expected_cameras: int | Sequence[str] | None = None) -> None:
        """Validate every camera, name uniqueness, camera count and the rig's scale.

        Args:
            source: file name for messages.
            expected_cameras: a camera count or a list of names the data needs.

        Raises:
            CalibrationError: naming the file, camera and field.

        Warns:
            MocapWarning: when camera centres are tens of metres apart (likely millimetres).
        """
        src = f"{source}: " if source else ""
        if not self.cameras:
            raise CalibrationError(f"{src}the calibration contains no cameras")
        seen: set[str] = set()
        for c in self.cameras:
            if c.name in seen:
                raise CalibrationError(f"{src}camera name '{c.name}' appears twice",
                                       hint="give every camera a unique name")
            seen.add(c.name)
            c.validate(source)
        if expected_cameras is not None:
            if isinstance(expected_cameras, int):
                if expected_cameras != len(self):
                    raise CalibrationError(
                        f"{src}the calibration has {len(self)} cameras ({', '.join(self.names)}) but the data has "
                        f"{expected_cameras}", hint="pass the calibration of the same rig, or select matching cameras"
                    )
            else:
                missing = [n for n in expected_cameras if n not in seen]
                if missing:
                    raise CalibrationError(
                        f"{src}cameras {missing} of the data are not in the calibration (it has {self.names})",
                        hint="rename the cameras or pass the calibration of the same rig",
                    )
        self.check_scale(source)

    def check_scale(self, source: str = "") -> None:
        """Warn when the rig's size suggests millimetres were read as metres."""
        if len(self) < 2:
            t_norm = float(np.linalg.norm(self.cameras[0].t)) if self.cameras else 0.0
            extent, cam, what = t_norm, self.cameras[0].name if self.cameras else "?", "|t|"
        else:
            C = self.centers
            d = np.linalg.norm(C[:, None] - C[None], axis=-1)
            i, j = np.unravel_index(np.argmax(d), d.shape)
            extent, cam, what = float(d[i, j]), self.cameras[j].name, f"distance to '{self.cameras[i].name}'"
        if extent > SUSPICIOUS_RIG_SIZE_M:
            src = f"{source}: " if source else ""
            warnings.warn(
                f"{src}camera '{cam}' field 't': {what} is {extent:.1f} m; translations look like millimetres. "
                f"Convert with `mocap calibrate convert --scale 0.001` (or CameraRig.scaled(0.001)).",
                MocapWarning,
                stacklevel=2,
            )
