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


#: below this many points, OpenCV's per-point solver has less overhead than the vectorised iteration
_SMALL_BATCH = 512
#: points per block of the vectorised iteration (arrays stay in the CPU cache)
_BLOCK = 8192
_CV_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)


def _cv_undistort(pts: np.ndarray, K: np.ndarray, d: np.ndarray, model: str) -> np.ndarray:
    """OpenCV's undistortion of finite pixels ``(n, 2)`` -> ``(n, 2)``, with a skewed K handled exactly.

    OpenCV ignores ``K[0, 1]``; :func:`project_points` applies it, so the skew is removed from the pixels first
    (``u' = u - s (v - cy) / fy``) and OpenCV is given K without it.
    """
    s = K[0, 1]
    if s != 0.0:
        pts = pts.copy()
        pts[:, 0] -= s * (pts[:, 1] - K[1, 2]) / K[1, 1]
        K = K.copy()
        K[0, 1] = 0.0
    p = np.ascontiguousarray(pts).reshape(-1, 1, 2)
    if model == FISHEYE:
        res = cv2.fisheye.undistortPoints(p, K, _pad_dist(d, FISHEYE), criteria=_CV_CRITERIA)
    else:
        res = cv2.undistortPointsIter(p, K, d, None, None, _CV_CRITERIA)
    return res.reshape(-1, 2)


def _undistort_pinhole_block(xd: np.ndarray, yd: np.ndarray, k: np.ndarray, tol: float,
                             max_iter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's fixed-point undistortion, vectorised over one block of distorted normalised points.

    Same update as ``cv2.undistortPointsIter`` (``x = (x0 - tangential(x)) / radial(x)``) so it converges to the
    same point; a point stops once its update is below ``tol`` (checked every 3 updates; converged points leave
    the working set). Returns ``x, y`` and a mask of the points that need OpenCV instead (no convergence within
    ``max_iter`` updates, or OpenCV's own bail-out where the radial factor turns negative).
    """
    k1, k2, p1, p2, k3, k4, k5, k6, s1, s2, s3, s4 = k
    rational = bool(k4 or k5 or k6)
    prism = bool(s1 or s2 or s3 or s4)
    x_out, y_out = xd.copy(), yd.copy()
    bad = np.zeros(xd.shape, dtype=bool)
    act = None  # indices of the working set (None: all points)
    x, y, x0, y0 = xd, yd, xd, yd
    for it in range(max_iter):
        r2 = x * x + y * y
        icdist = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        if rational:
            icdist = (1.0 + r2 * (k4 + r2 * (k5 + r2 * k6))) / icdist
        else:
            icdist = 1.0 / icdist
        xy2 = 2.0 * x * y
        dx = p1 * xy2 + p2 * (r2 + 2.0 * x * x)
        dy = p1 * (r2 + 2.0 * y * y) + p2 * xy2
        if prism:
            r4 = r2 * r2
            dx += s1 * r2 + s2 * r4
            dy += s3 * r2 + s4 * r4
        xn = (x0 - dx) * icdist
        yn = (y0 - dy) * icdist
        if it % 3 == 2 or it == max_iter - 1:
            neg = icdist < 0
            step = np.abs(xn - x) + np.abs(yn - y)
            go = step > tol  # NaN (non-finite input) stops, caught by the caller's finite check
            go &= ~neg
            if act is None:
                x_out[:], y_out[:] = xn, yn
                bad |= neg
                act = np.flatnonzero(go)
            else:
                x_out[act], y_out[act] = xn, yn
                bad[act[neg]] = True
                act = act[go]
            if not act.size:
                return x_out, y_out, bad
            x, y, x0, y0 = x_out[act], y_out[act], xd[act], yd[act]
        else:
            x, y = xn, yn
    bad[act] = True
    return x_out, y_out, bad


def undistort_pinhole(uv: np.ndarray, K: np.ndarray, dist: np.ndarray, tol: float = 1e-14,
                      max_iter: int = 60) -> np.ndarray:
    """Vectorised pinhole undistortion: raw pixels ``(N, 2)`` -> normalised ``(N, 2)``; rows must be finite.

    The same fixed-point scheme as ``cv2.undistortPointsIter`` (all 12 OpenCV coefficients), run on blocks of
    points at once; a point that does not converge within ``max_iter`` updates (or where OpenCV would bail out)
    is handed to OpenCV, so the result equals OpenCV's to ~1e-12 everywhere. Unlike OpenCV, a skewed K
    (``K[0, 1] != 0``) is inverted consistently with :func:`project_points`.
    """
    K = np.asarray(K, dtype=np.float64)
    d = np.asarray(dist, dtype=np.float64).ravel()
    k = _pad_dist(d, PINHOLE)
    n = uv.shape[0]
    out = np.empty((n, 2))
    fx, fy, cx, cy, s = K[0, 0], K[1, 1], K[0, 2], K[1, 2], K[0, 1]
    for b in range(0, n, _BLOCK):
        blk = uv[b:b + _BLOCK]
        yd = (blk[:, 1] - cy) * (1.0 / fy)
        xd = (blk[:, 0] - cx - s * yd) * (1.0 / fx)
        if not np.any(k):
            out[b:b + _BLOCK, 0], out[b:b + _BLOCK, 1] = xd, yd
            continue
        x, y, bad = _undistort_pinhole_block(xd, yd, k, tol, max_iter)
        out[b:b + _BLOCK, 0], out[b:b + _BLOCK, 1] = x, y
        if bad.any():
            i = np.flatnonzero(bad)
            out[b + i] = _cv_undistort(blk[i], K, d, PINHOLE)
    return out


def undistort_to_normalized(uv: np.ndarray, K: np.ndarray, dist: np.ndarray, model: str = PINHOLE) -> np.ndarray:
    """Remove distortion from raw pixels, giving normalised coordinates ``(x/z, y/z)``.

    Pinhole: OpenCV's iterative scheme (``cv2.undistortPointsIter`` with 50 iterations / 1e-12 px), vectorised
    in numpy for large batches (:func:`undistort_pinhole`, same result to ~1e-12) and through OpenCV for small
    ones. Fisheye: ``cv2.fisheye.undistortPoints``. NaN inputs stay NaN. A skewed K is handled consistently with
    :func:`project_points` (OpenCV itself ignores ``K[0, 1]``).

    Args:
        uv: ``(..., 2)`` raw pixel coordinates.
        K, dist, model: the camera's intrinsics.

    Returns:
        ``(..., 2)`` normalised undistorted coordinates.
    """
    uv = np.asarray(uv, dtype=float)
    shape = uv.shape
    flat = uv.reshape(-1, 2)
    K = np.asarray(K, dtype=np.float64)
    d = np.asarray(dist, dtype=np.float64).ravel()
    if model != FISHEYE and not np.any(d):  # no distortion: closed form (NaN stays NaN)
        out = np.empty_like(flat)
        out[:, 1] = (flat[:, 1] - K[1, 2]) / K[1, 1]
        out[:, 0] = (flat[:, 0] - K[0, 2] - K[0, 1] * out[:, 1]) / K[0, 0]
        out[~(np.isfinite(flat[:, 0]) & np.isfinite(flat[:, 1]))] = np.nan
        return out.reshape(shape)
    ok = np.isfinite(flat[:, 0]) & np.isfinite(flat[:, 1])
    all_ok = bool(ok.all())
    pts = flat if all_ok else flat[ok]
    if pts.shape[0] == 0:
        return np.full(shape, np.nan)
    if model == FISHEYE or pts.shape[0] < _SMALL_BATCH:
        res = _cv_undistort(pts, K, d, model)
    else:
        res = undistort_pinhole(pts, K, d)
    if all_ok:
        return res.reshape(shape)
    out = np.full_like(flat, np.nan)
    out[ok] = res
    return out.reshape(shape)
