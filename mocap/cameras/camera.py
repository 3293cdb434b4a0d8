"""The camera model: intrinsics, OpenCV distortion, and a world-to-camera pose.

``Camera(name, size, K, dist, R, t)`` with ``x_cam = R @ X + t``; metres; camera frame OpenCV
(x right, y down, z forward); ``size`` is ``(width, height)`` in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mocap.errors import CalibrationError
from mocap.geometry.projection import (
    CAMERA_MODELS,
    FISHEYE,
    PINHOLE,
    VALID_DIST_LENGTHS,
    project_points,
    undistort_to_normalized,
)
from mocap.geometry.rotations import matrix_to_rotvec, rotvec_to_matrix


@dataclass
class Camera:
    """One calibrated camera.

    Attributes:
        name: unique camera name (e.g. ``"cam0"``).
        size: ``(width, height)`` in pixels.
        K: ``(3, 3)`` intrinsic matrix, pixels.
        dist: distortion coefficients: pinhole 0/4/5/8/12 (OpenCV order), fisheye 4.
        R: ``(3, 3)`` world-to-camera rotation.
        t: ``(3,)`` world-to-camera translation, metres.
        model: ``"pinhole"`` or ``"fisheye"``.
        meta: free-form extra fields kept through format round trips (e.g. serial number).
    """

    name: str
    size: tuple[int, int]
    K: np.ndarray
    dist: np.ndarray = field(default_factory=lambda: np.zeros(5))
    R: np.ndarray = field(default_factory=lambda: np.eye(3))
    t: np.ndarray = field(default_factory=lambda: np.zeros(3))
    model: str = PINHOLE
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.name = str(self.name)
        self.size = (int(self.size[0]), int(self.size[1]))
        self.K = np.asarray(self.K, dtype=float)
        self.dist = np.asarray(self.dist, dtype=float).ravel()
        self.R = np.asarray(self.R, dtype=float)
        self.t = np.asarray(self.t, dtype=float).ravel()

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_rvec(cls, name: str, size: tuple[int, int], K: np.ndarray, dist: np.ndarray,
                  rvec: np.ndarray, tvec: np.ndarray, model: str = PINHOLE) -> Camera:
        """Build from an OpenCV rotation vector ``(3,)`` and translation ``(3,)`` (world-to-camera)."""
        return cls(name, size, K, dist, rotvec_to_matrix(np.asarray(rvec, float).ravel()), tvec, model)

    @classmethod
    def from_center(cls, name: str, size: tuple[int, int], K: np.ndarray, R: np.ndarray, center: np.ndarray,
                    dist: np.ndarray | None = None, model: str = PINHOLE) -> Camera:
        """Build from a world-to-camera rotation ``(3, 3)`` and the camera centre ``(3,)`` in the world, metres."""
        R = np.asarray(R, float)
        return cls(name, size, K, np.zeros(5) if dist is None else dist, R, -R @ np.asarray(center, float), model)

    # ----------------------------------------------------------------- derived
    @property
    def rvec(self) -> np.ndarray:
        """OpenCV rotation vector ``(3,)`` of ``R``."""
        return matrix_to_rotvec(self.R)

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates ``(3,)``, metres: ``-R.T @ t``."""
        return -self.R.T @ self.t

    @property
    def P(self) -> np.ndarray:
        """``(3, 4)`` projection matrix ``K [R | t]`` (for undistorted pixels)."""
        return self.K @ np.hstack([self.R, self.t[:, None]])

    @property
    def Rt(self) -> np.ndarray:
        """``(3, 4)`` extrinsic matrix ``[R | t]`` (for normalised coordinates)."""
        return np.hstack([self.R, self.t[:, None]])

    def copy(self) -> Camera:
        """A deep copy."""
        return Camera(self.name, self.size, self.K.copy(), self.dist.copy(), self.R.copy(), self.t.copy(),
                      self.model, dict(self.meta))

    # ----------------------------------------------------------------- projection
    def project(self, X: np.ndarray) -> np.ndarray:
        """Project world points ``(..., 3)`` (metres) to raw pixels ``(..., 2)``; points behind give NaN."""
        uv, z = project_points(X, self.K, self.dist, self.R, self.t, self.model)
        uv[z <= 0] = np.nan
        return uv

    def undistort_normalized(self, uv: np.ndarray) -> np.ndarray:
        """Raw pixels ``(..., 2)`` -> undistorted normalised coordinates ``(..., 2)``; NaN stays NaN."""
        return undistort_to_normalized(uv, self.K, self.dist, self.model)

    def undistort_pixels(self, uv: np.ndarray) -> np.ndarray:
        """Raw pixels ``(..., 2)`` -> undistorted pixels ``(..., 2)`` (same K, no distortion)."""
        xy = self.undistort_normalized(uv)
        K = self.K
        return np.stack([K[0, 0] * xy[..., 0] + K[0, 1] * xy[..., 1] + K[0, 2], K[1, 1] * xy[..., 1] + K[1, 2]], -1)

    def world_to_camera(self, X: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` -> camera-frame points ``(..., 3)``, metres."""
        return np.asarray(X, float) @ self.R.T + self.t

    def rays(self, uv: np.ndarray) -> np.ndarray:
        """Unit ray directions in world coordinates ``(..., 3)`` through raw pixels ``(..., 2)``."""
        xy = self.undistort_normalized(uv)
        d = np.concatenate([xy, np.ones(xy.shape[:-1] + (1,))], axis=-1) @ self.R  # R.T @ d
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    # ----------------------------------------------------------------- validation
    def validate(self, source: str = "") -> None:
        """Check shapes, finiteness and plausibility; raise :class:`CalibrationError` naming the field.

        Args:
            source: the file the camera came from, for the message.
        """
        where = f"{source}: camera '{self.name}'" if source else f"camera '{self.name}'"

        def fail(fld: str, msg: str, hint: str | None = None) -> None:
            raise CalibrationError(f"{where}: field '{fld}' {msg}", hint=hint)

        if self.model not in CAMERA_MODELS:
            fail("model", f"is {self.model!r}; expected one of {CAMERA_MODELS}")
        if self.K.shape != (3, 3):
            fail("K", f"has shape {self.K.shape}, expected (3, 3)")
        if self.R.shape != (3, 3):
            fail("R", f"has shape {self.R.shape}, expected (3, 3) (or a rotation vector of 3)")
        if self.t.shape != (3,):
            fail("t", f"has shape {self.t.shape}, expected (3,)")
        if self.dist.size not in VALID_DIST_LENGTHS[self.model]:
            fail("dist", f"has {self.dist.size} coefficients; a {self.model} camera takes "
                 f"{' or '.join(map(str, VALID_DIST_LENGTHS[self.model]))}")
        for fld, arr in (("K", self.K), ("dist", self.dist), ("R", self.R), ("t", self.t)):
            if not np.all(np.isfinite(arr)):
                fail(fld, "contains NaN or infinite values", "re-run calibration or fix the file")
        if self.size[0] <= 0 or self.size[1] <= 0:
            fail("size", f"is {self.size}; expected positive (width, height) in pixels")
        if self.K[0, 0] <= 0 or self.K[1, 1] <= 0:
            fail("K", f"has non-positive focal lengths fx={self.K[0, 0]:g}, fy={self.K[1, 1]:g}")
        if abs(self.K[2, 2] - 1) > 1e-6 or np.any(np.abs(self.K[2, :2]) > 1e-9) or abs(self.K[1, 0]) > 1e-9:
            fail("K", f"is not an intrinsic matrix (last row {self.K[2].tolist()}, expected [0, 0, 1])")
        orth = np.abs(self.R @ self.R.T - np.eye(3)).max()
        if orth > 1e-5 or np.linalg.det(self.R) < 0:
            fail("R", f"is not a rotation (|R R^T - I| = {orth:.2g}, det = {np.linalg.det(self.R):.3g})")
        w, h = self.size
        cx, cy = self.K[0, 2], self.K[1, 2]
        if not (-0.5 * w < cx < 1.5 * w and -0.5 * h < cy < 1.5 * h):
            fail("K", f"has principal point ({cx:.1f}, {cy:.1f}) far outside the {w}x{h} image",
                 "check that 'size' is (width, height) and K is in pixels")

    def __repr__(self) -> str:
        c = self.center
        return (f"Camera({self.name!r}, {self.size[0]}x{self.size[1]}, f=({self.K[0, 0]:.1f}, {self.K[1, 1]:.1f}), "
                f"model={self.model}, centre=({c[0]:.3f}, {c[1]:.3f}, {c[2]:.3f}) m)")


__all__ = ["Camera", "PINHOLE", "FISHEYE"]
