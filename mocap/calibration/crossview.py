"""Judge a calibration across views, on detections it may not have been fitted to.

Two measures; both expose what a bundle adjustment's own RMS hides (a rig can fit its own corners well and
still be wrong):

- :func:`board_transfer_errors` ("cross-view"): the board's pose found by PnP in one camera (its intrinsics alone)
  is carried through the rig into every other camera that saw the same frame, and the board's corners are
  compared with that camera's detections. A wrong focal length puts the board at the wrong depth, so this is
  sensitive to intrinsics as well as poses.
- :func:`cross_view_errors` (leave one camera out): every point seen by three or more cameras is triangulated
  from the other cameras and projected into the one left out.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from mocap.calibration.detection import BoardDetection
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


def _pnp(det: BoardDetection, cam) -> np.ndarray | None:  # noqa: ANN001
    """Board-to-camera ``(4, 4)`` of one view by planar PnP (IPPE + LM) with the camera's own intrinsics."""
    if det.n < 4:
        return None
    obj = np.ascontiguousarray(det.object_points, dtype=np.float64)
    img = np.ascontiguousarray(det.image_points, dtype=np.float64)
    if cam.model == "fisheye":
        img = cv2.fisheye.undistortPoints(img.reshape(-1, 1, 2), cam.K, cam.dist).reshape(-1, 2)
        K, d = np.eye(3), np.zeros(5)
    else:
        K, d = cam.K, cam.dist
    ok, rv, tv = cv2.solvePnP(obj, img, K, d, flags=cv2.SOLVEPNP_IPPE)
    if not ok:
        return None
    rv, tv = cv2.solvePnPRefineLM(obj, img, K, d, rv, tv)
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = cv2.Rodrigues(rv)[0], tv.ravel()
    return T if T[2, 3] > 0 else None


def board_transfer_errors(rig: CameraRig, detections: dict[str, list[BoardDetection]], min_corners: int = 6
                          ) -> dict[str, np.ndarray]:
    """Cross-view error: board poses from one camera, checked in the others.

    Args:
        rig: the calibration (cameras looked up by the detections' camera names).
        detections: camera name -> board detections; ``frame`` indices synchronised across cameras.
        min_corners: corners a view needs to give a board pose.

    Returns:
        camera name -> pixel distances ``(n,)`` of its detected corners from the corners predicted by every other
        camera's board pose of the same frame.
    """
    by_frame = {n: {d.frame: d for d in ds} for n, ds in detections.items()}
    out: dict[str, list[float]] = {n: [] for n in detections}
    for a, ds in detections.items():
        ca = rig[a]
        for d in ds:
            if d.n < min_corners:
                continue
            T = _pnp(d, ca)
            if T is None:
                continue
            for b in detections:
                db = by_frame[b].get(d.frame)
                if b == a or db is None:
                    continue
                Xc = db.object_points @ T[:3, :3].T + T[:3, 3]
                Xw = (Xc - ca.t) @ ca.R
                out[b] += list(np.linalg.norm(rig[b].project(Xw) - db.image_points, axis=1))
    return {n: np.asarray(v, float) for n, v in out.items()}


def detections_to_points(detections: dict[str, list[BoardDetection]], names: list[str] | None = None) -> np.ndarray:
    """``(C, N, 2)`` point table (one column per ``(frame, corner id)``, NaN = not seen) for
    :func:`cross_view_errors`."""
    names = list(detections) if names is None else names
    keys = sorted({(d.frame, int(i)) for n in names for d in detections[n] for i in d.ids})
    col = {k: i for i, k in enumerate(keys)}
    uv = np.full((len(names), len(keys), 2), np.nan)
    for c, n in enumerate(names):
        for d in detections[n]:
            uv[c, [col[(d.frame, int(i))] for i in d.ids]] = d.image_points
    return uv


def read_caliscope_xy(path: str | Path, image_size: tuple[int, int] = (0, 0)) -> dict[str, list[BoardDetection]]:
    """A caliscope ``xy.csv`` (its board-corner detections) as detections per camera ``"port_N"``.

    Args:
        path: CSV with columns ``sync_index, port, point_id, img_loc_x, img_loc_y, obj_loc_x, obj_loc_y``.
        image_size: stored in the detections (caliscope's file does not say).

    Returns:
        ``"port_<port>"`` -> detections; ``frame`` is the sync index (synchronised across ports).

    Raises:
        DataError: the file is missing or lacks a column.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    with p.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    need = ("sync_index", "port", "point_id", "img_loc_x", "img_loc_y", "obj_loc_x", "obj_loc_y")
    if not rows or any(k not in rows[0] for k in need):
        raise DataError(f"{p}: expected the columns {', '.join(need)} (a caliscope xy.csv)")
    groups: dict[tuple[int, int], list[dict]] = {}
    for r in rows:
        groups.setdefault((int(r["port"]), int(r["sync_index"])), []).append(r)
    out: dict[str, list[BoardDetection]] = {f"port_{p}": [] for p in sorted({k[0] for k in groups})}
    for (port, sync), rs in sorted(groups.items()):
        ids = np.array([int(r["point_id"]) for r in rs])
        img = np.array([[float(r["img_loc_x"]), float(r["img_loc_y"])] for r in rs])
        obj = np.array([[float(r["obj_loc_x"]), float(r["obj_loc_y"]), 0.0] for r in rs])
        out[f"port_{port}"].append(BoardDetection(sync, ids, img, obj, tuple(image_size)))
    return out
