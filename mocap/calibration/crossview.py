"""Judge a calibration on points it was not fitted to: leave-one-camera-out ("cross-view") reprojection error.

For every point seen by three or more cameras, and every camera ``c`` that saw it, the point is triangulated from
the OTHER cameras only and projected into ``c``; the distance to ``c``'s own detection is the cross-view error.
Unlike the bundle adjustment's RMS (which the calibration minimised on the same detections), it exposes wrong
focal lengths and poses: a rig that fits its own corners well but is wrong disagrees with itself across views.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from mocap.cameras.rig import CameraRig
from mocap.errors import DataError
from mocap.geometry.checks import check_shape
from mocap.reconstruct.triangulation import refine_points, triangulate_weighted_dlt


def triangulate_views(rig: CameraRig, uv: np.ndarray, use: np.ndarray | None = None) -> np.ndarray:
    """Least-squares triangulation (DLT then Gauss-Newton on the pixel error) of raw pixel detections.

    Args:
        rig: ``C`` cameras.
        uv: ``(C, N, 2)`` raw pixels, NaN = not seen.
        use: ``(C, N)`` bool, which views to use (default: every finite one).

    Returns:
        ``(N, 3)`` world points, metres; NaN where fewer than 2 views are used.
    """
    uv = check_shape(np.asarray(uv, float), (len(rig), "N", 2), "uv")
    xy = rig.undistort_normalized(uv)
    ok = np.isfinite(xy).all(-1) if use is None else (np.asarray(use, bool) & np.isfinite(xy).all(-1))
    w = ok.astype(float)
    X = triangulate_weighted_dlt(rig.extrinsics, np.where(ok[..., None], xy, np.nan), w)
    f = np.array([0.5 * (c.K[0, 0] + c.K[1, 1]) for c in rig])
    return refine_points(rig.extrinsics, f, np.where(ok[..., None], xy, np.nan), w, X, iterations=3)


def cross_view_errors(rig: CameraRig, uv: np.ndarray, min_other: int = 2) -> np.ndarray:
    """Leave-one-camera-out reprojection errors.

    Args:
        rig: ``C`` cameras (order = first axis of ``uv``).
        uv: ``(C, N, 2)`` raw pixel detections of ``N`` points, NaN = not seen.
        min_other: views needed among the other cameras to triangulate a point.

    Returns:
        ``(C, N)`` pixel distance between camera ``c``'s detection and the point triangulated without ``c``,
        projected into ``c``; NaN where ``c`` did not see the point or fewer than ``min_other`` others did.
    """
    uv = check_shape(np.asarray(uv, float), (len(rig), "N", 2), "uv")
    seen = np.isfinite(uv).all(-1)
    out = np.full(seen.shape, np.nan)
    for c, cam in enumerate(rig):
        use = seen.copy()
        use[c] = False
        pts = seen[c] & (use.sum(0) >= min_other)
        if not pts.any():
            continue
        X = triangulate_views(rig, uv[:, pts], use[:, pts])
        out[c, pts] = np.linalg.norm(cam.project(X) - uv[c, pts], axis=-1)
    return out


def rms(errors: np.ndarray) -> float:
    """Root mean square of the finite entries (NaN when there are none)."""
    e = np.asarray(errors, float)
    e = e[np.isfinite(e)]
    return float(np.sqrt(np.mean(e ** 2))) if e.size else float("nan")


def read_caliscope_points(path: str | Path) -> tuple[list[int], np.ndarray]:
    """A caliscope ``xy.csv`` (board corner detections) as a point table.

    Args:
        path: CSV with columns ``sync_index, port, point_id, img_loc_x, img_loc_y`` (pixels).

    Returns:
        ``ports`` (sorted camera ports) and ``uv`` ``(C, N, 2)``: one column per ``(sync_index, point_id)``,
        NaN where a port did not detect it.

    Raises:
        DataError: the file is missing or lacks a column.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    with p.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    need = ("sync_index", "port", "point_id", "img_loc_x", "img_loc_y")
    if not rows or any(k not in rows[0] for k in need):
        raise DataError(f"{p}: expected the columns {', '.join(need)} (a caliscope xy.csv)")
    ports = sorted({int(r["port"]) for r in rows})
    keys = sorted({(int(r["sync_index"]), int(r["point_id"])) for r in rows})
    col = {k: i for i, k in enumerate(keys)}
    uv = np.full((len(ports), len(keys), 2), np.nan)
    for r in rows:
        uv[ports.index(int(r["port"])), col[(int(r["sync_index"]), int(r["point_id"]))]] = (
            float(r["img_loc_x"]), float(r["img_loc_y"]))
    return ports, uv
