"""Pinhole and fisheye projection with OpenCV's distortion models, in plain numpy.

Conventions: camera frame is OpenCV's (x right, y down, z forward); world-to-camera ``x_cam = R @ X + t``;
pixels are raw (distorted) image coordinates with the origin at the top-left pixel's centre, as OpenCV uses.

Distortion vectors follow OpenCV:
- ``pinhole``: ``(k1, k2, p1, p2[, k3[, k4, k5, k6[, s1, s2, s3, s4]]])`` (0, 4, 5, 8 or 12 coefficients);
- ``fisheye``: ``(k1, k2, k3, k4)`` (the equidistant model of ``cv2.fisheye``).
"""

from __future__ import annotations

import cv2
import numpy as np

PINHOLE = "pinhole"
FISHEYE = "fisheye"
CAMERA_MODELS = (PINHOLE, FISHEYE)
VALID_DIST_LENGTHS = {PINHOLE: (0, 4, 5, 8, 12), FISHEYE: (0, 4)}


def _pad_dist(dist: np.ndarray, model: str) -> np.ndarray:
    d = np.asarray(dist, dtype=float).ravel()
    n = 12 if model == PINHOLE else 4
    out = np.zeros(n)
    out[: min(len(d), n)] = d[:n]
    return out


def distort_normalized(xy: np.ndarray, dist: np.ndarray, model: str = PINHOLE) -> np.ndarray:
    """Apply lens distortion to normalised image coordinates.

    Args:
        xy: ``(..., 2)`` undistorted normalised coordinates ``(x/z, y/z)``.
        dist: distortion coefficients (see module docstring).
        model: ``"pinhole"`` or ``"fisheye"``.

    Returns:
        ``(..., 2)`` distorted normalised coordinates (multiply by K to get pixels).
    """
    xy = np.asarray(xy, dtype=float)
    x, y = xy[..., 0], xy[..., 1]
    d = _pad_dist(dist, model)
    if model == FISHEYE:
        r = np.sqrt(x * x + y * y)
        th = np.arctan(r)
        th2 = th * th
        thd = th * (1 + th2 * (d[0] + th2 * (d[1] + th2 * (d[2] + th2 * d[3]))))
        scale = np.where(r > 1e-12, thd / np.maximum(r, 1e-12), 1.0)
        return xy * scale[..., None]
    k1, k2, p1, p2, k3, k4, k5, k6, s1, s2, s3, s4 = d
    r2 = x * x + y * y
    radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x) + s1 * r2 + s2 * r2 * r2
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y + s3 * r2 + s4 * r2 * r2
    return np.stack([xd, yd], axis=-1)


def project_points(
    X: np.ndarray, K: np.ndarray, dist: np.ndarray, R: np.ndarray, t: np.ndarray, model: str = PINHOLE
) -> tuple[np.ndarray, np.ndarray]:
    """Project world points into one camera.

    Args:
        X: ``(..., 3)`` world points, metres.
        K: ``(3, 3)`` intrinsic matrix (pixels).
        dist: distortion coefficients.
        R: ``(3, 3)`` world-to-camera rotation; t: ``(3,)`` translation, metres.
        model: ``"pinhole"`` or ``"fisheye"``.

    Returns:
        ``uv`` ``(..., 2)`` raw pixel coordinates and ``depth`` ``(...)`` (camera z, metres; <= 0 is behind).
    """
    X = np.asarray(X, dtype=float)
    xc = X @ np.asarray(R, dtype=float).T + np.asarray(t, dtype=float)
    z = xc[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = xc[..., :2] / z[..., None]
    xy = distort_normalized(xy, dist, model)
    K = np.asarray(K, dtype=float)
    u = K[0, 0] * xy[..., 0] + K[0, 1] * xy[..., 1] + K[0, 2]
    v = K[1, 1] * xy[..., 1] + K[1, 2]
    return np.stack([u, v], axis=-1), z


def undistort_to_normalized(uv: np.ndarray, K: np.ndarray, dist: np.ndarray, model: str = PINHOLE) -> np.ndarray:
    """Remove distortion from raw pixels, giving normalised coordinates ``(x/z, y/z)``.

    Uses OpenCV's iterative solver with a tight stopping criterion. NaN inputs stay NaN.

    Args:
        uv: ``(..., 2)`` raw pixel coordinates.
        K, dist, model: the camera's intrinsics.

    Returns:
        ``(..., 2)`` normalised undistorted coordinates.
    """
    uv = np.asarray(uv, dtype=float)
    shape = uv.shape
    flat = uv.reshape(-1, 2)
    out = np.full_like(flat, np.nan)
    ok = np.isfinite(flat).all(axis=1)
    if ok.any():
        pts = flat[ok].reshape(-1, 1, 2)
        K = np.asarray(K, dtype=np.float64)
        d = np.asarray(dist, dtype=np.float64).ravel()
        if model == FISHEYE:
            res = cv2.fisheye.undistortPoints(pts, K, _pad_dist(d, FISHEYE),
                                              criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12))
        elif d.size == 0 or not np.any(d):
            res = np.empty_like(pts)
            res[..., 1] = (pts[..., 1] - K[1, 2]) / K[1, 1]
            res[..., 0] = (pts[..., 0] - K[0, 2] - K[0, 1] * res[..., 1]) / K[0, 0]
        else:
            res = cv2.undistortPointsIter(
                pts, K, d, None, None, (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)
            )
        out[ok] = res.reshape(-1, 2)
    return out.reshape(shape)
