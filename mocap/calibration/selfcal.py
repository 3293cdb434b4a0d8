"""Board-free start: calibrate a rig that has no calibration at all from a person walking through the volume.

LOWER ACCURACY than a board calibration, and documented as such: the intrinsics are a guess (a field of view, a
focal length in pixels, or a lens focal length and sensor width e.g. from EXIF; principal point at the image
centre, no distortion), the camera poses come from the person's 2D keypoints alone, and the metric scale from the
person's stated height through an anthropometric ratio (a few per cent).

Steps: pairwise essential matrices (RANSAC on normalised keypoints) give the best-connected pair's relative pose;
the keypoints it sees are triangulated and every other camera is registered by PnP (RANSAC) against them, more
points being triangulated as cameras join; then the people-based bundle adjustment of
:func:`mocap.calibration.refine.refine_from_keypoints` (robust, view re-selection; optionally focal lengths),
scaled to the stated height. The world frame is put on the floor: Z up along the person's standing direction,
origin under the person's mean position, X along the reference camera's image rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mocap.calibration.refine import (
    RefineRefused,
    RefineResult,
    body_joint_indices,
    person_height_m,
    refine_from_keypoints,
)
from mocap.cameras.camera import Camera
from mocap.cameras.rig import CameraRig
from mocap.errors import CalibrationError

log = logging.getLogger(__name__)

LOWER_ACCURACY_NOTE = ("board-free self-calibration from people is LOWER ACCURACY than a board calibration: the "
                       "intrinsics are a guess (no lens distortion), the scale comes from the stated height (a few "
                       "per cent), camera positions are good to centimetres at best; use it to get started, then "
                       "calibrate with a board (`mocap calibrate wizard`)")

#: ankle height / stature (the floor is this far below the ankle joints).
ANKLE_HEIGHT_FRACTION = 0.039


def focal_from_fov(width: int, hfov_deg: float) -> float:
    """Focal length in pixels of a pinhole camera ``width`` pixels wide with a horizontal field of view."""
    if not 1.0 < hfov_deg < 179.0:
        raise CalibrationError(f"horizontal field of view {hfov_deg} deg is not plausible; expected 1-179")
    return 0.5 * width / np.tan(np.radians(hfov_deg) / 2)


def focal_from_mm(width: int, focal_mm: float, sensor_width_mm: float) -> float:
    """Focal length in pixels from the lens focal length and the sensor width, millimetres (EXIF)."""
    if focal_mm <= 0 or sensor_width_mm <= 0:
        raise CalibrationError(f"focal length {focal_mm} mm / sensor width {sensor_width_mm} mm must be positive")
    return width * focal_mm / sensor_width_mm


def video_sizes(folder: str | Path, names: list[str]) -> dict[str, tuple[int, int]]:
    """Image size ``(w, h)`` of each camera's video ``folder/<name>.*`` (read from the file)."""
    out = {}
    for n in names:
        hits = sorted(Path(folder).glob(f"{n}.*"))
        if not hits:
            raise CalibrationError(f"no video named {n}.* in {folder}", hint="name the videos after the cameras")
        cap = cv2.VideoCapture(str(hits[0]))
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        cap.release()
        if w <= 0 or h <= 0:
            raise CalibrationError(f"{hits[0]}: cannot read the image size")
        out[n] = (w, h)
    return out


@dataclass
class SelfCalResult:
    """A board-free calibration and how it was found."""

    rig: CameraRig
    refine: RefineResult
    focal_from: str
    registered: list[str]
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human summary (with the lower-accuracy note)."""
        out = [f"intrinsics: {self.focal_from}; principal point at the image centre; no lens distortion",
               f"cameras registered in this order: {', '.join(self.registered)}"]
        out += self.refine.lines()
        out += self.notes
        return out


def _initial_poses(xy: np.ndarray, ok: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Camera poses (up to scale) from normalised points ``xy`` ``(C, N, 2)`` seen where ``ok`` ``(C, N)``."""
    C = len(names)
    shared = (ok[:, None] & ok[None]).sum(-1)
    np.fill_diagonal(shared, 0)
    a, b = np.unravel_index(np.argmax(shared), shared.shape)
    if shared[a, b] < 30:
        raise RefineRefused(f"no two cameras see the person together often enough (best pair {names[a]}-{names[b]}: "
                            f"{shared[a, b]} shared keypoints; need >= 30)",
                            hint="record the person walking where several cameras see them at once")
    m = ok[a] & ok[b]
    E, inl = cv2.findEssentialMat(xy[a, m], xy[b, m], np.eye(3), method=cv2.RANSAC, prob=0.999, threshold=3e-3)
    if E is None:
        raise RefineRefused(f"no essential matrix between {names[a]} and {names[b]}: the person's motion is too "
                            "small or too planar", hint="walk through the whole volume, also towards the cameras")
    _, R, t, _ = cv2.recoverPose(E[:3], xy[a, m], xy[b, m], np.eye(3), mask=inl)
    Rs, ts = np.full((C, 3, 3), np.nan), np.full((C, 3), np.nan)
    Rs[a], ts[a] = np.eye(3), np.zeros(3)
    Rs[b], ts[b] = R, t.ravel()
    order = [int(a), int(b)]
    while len(order) < C:
        X = _triangulate(xy, ok, Rs, ts, order)
        best, best_n = None, 0
        for c in range(C):
            if c in order:
                continue
            n = int((ok[c] & np.isfinite(X).all(1)).sum())
            if n > best_n:
                best, best_n = c, n
        if best is None or best_n < 12:
            missing = [names[c] for c in range(C) if c not in order]
            raise RefineRefused(f"camera(s) {missing} see too few of the points the others triangulated",
                                hint="walk where these cameras and the others see the person together")
        mm = ok[best] & np.isfinite(X).all(1)
        good, rv, tv, inl = cv2.solvePnPRansac(X[mm], xy[best, mm], np.eye(3), None, reprojectionError=5e-3,
                                               iterationsCount=500, flags=cv2.SOLVEPNP_EPNP)
        if not good:
            raise RefineRefused(f"camera {names[best]} could not be placed against the others' points")
        Rs[best], ts[best] = cv2.Rodrigues(rv)[0], tv.ravel()
        order.append(best)
    return Rs, ts, order


def _triangulate(xy: np.ndarray, ok: np.ndarray, Rs: np.ndarray, ts: np.ndarray, cams: list[int]) -> np.ndarray:
    from mocap.reconstruct.triangulation import triangulate_weighted_dlt

    Rt = np.concatenate([Rs[cams], ts[cams][..., None]], -1)
    w = ok[cams].astype(float)
    X = triangulate_weighted_dlt(Rt, np.where(ok[cams][..., None], xy[cams], np.nan), w)
    z = np.einsum("cij,nj->cni", Rs[cams], X)[..., 2] + ts[cams][:, None, 2]
    X[~(((z > 0) | ~ok[cams]).all(0))] = np.nan
    return X


def _floor_frame(rig: CameraRig, X: np.ndarray, names: list[str], height: float) -> CameraRig:
    """Move the world so Z is up along the person, the origin on the floor under their mean position."""
    idx = {n: i for i, n in enumerate(names)}
    feet = [idx[k] for k in ("left_ankle", "right_ankle") if k in idx]
    top = [idx[k] for k in ("left_shoulder", "right_shoulder", "nose") if k in idx]
    if not feet or not top:
        return rig
    with np.errstate(all="ignore"):
        f = np.nanmean(X[:, feet], axis=1)
        h = np.nanmean(X[:, top], axis=1)
    up = np.nanmedian(h - f, axis=0)
    if not np.isfinite(up).all() or np.linalg.norm(up) < 1e-9:
        return rig
    z = up / np.linalg.norm(up)
    x0 = rig[0].R[0]
    x = x0 - z * (x0 @ z)
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])  # old world -> new world
    foot = np.nanmedian(f, axis=0)
    ground = foot - z * ANKLE_HEIGHT_FRACTION * height
    return rig.transformed(R, -R @ ground)


def self_calibrate(keypoints, height: float,  # noqa: ANN001
                   image_size: tuple[int, int] | dict[str, tuple[int, int]] = (1920, 1080), *,
                   hfov_deg: float = 60.0, focal_px: float | None = None,
                   focal_mm: tuple[float, float] | None = None, refine_focal: bool = False,
                   min_conf: float = 0.5) -> SelfCalResult:
    """Calibrate a rig from one person's 2D keypoints, without a board (lower accuracy; see the module doc).

    Args:
        keypoints: :class:`~mocap.keypoints.Keypoints2D` ``(T, C, P, J, 3)`` (person 0 is used; a named joint set
            with shoulders, hips, knees and ankles is needed for the scale).
        height: the person's standing height, metres.
        image_size: ``(width, height)`` pixels, for every camera or per camera name.
        hfov_deg: assumed horizontal field of view (used without ``focal_px``/``focal_mm``).
        focal_px: focal length in pixels; focal_mm: ``(lens focal length, sensor width)`` millimetres.
        refine_focal: also refine the focal lengths in the bundle adjustment.

    Raises:
        RefineRefused: the person's motion cannot place the cameras (the message says what to record).
    """
    from mocap.keypoints import Keypoints2D
    from mocap.keypoints._common import joint_names

    if not isinstance(keypoints, Keypoints2D):
        raise CalibrationError("self-calibration needs Keypoints2D (with camera names and a joint set)")
    names = keypoints.camera_names
    sizes = image_size if isinstance(image_size, dict) else dict.fromkeys(names, tuple(image_size))
    cams = []
    for n in names:
        w, h = sizes[n]
        if focal_px is not None:
            f, how = float(focal_px), f"focal length {focal_px:.0f} px (given)"
        elif focal_mm is not None:
            f, how = focal_from_mm(w, *focal_mm), f"focal length {focal_mm[0]} mm on a {focal_mm[1]} mm sensor"
        else:
            f, how = focal_from_fov(w, hfov_deg), f"horizontal field of view {hfov_deg:.0f} deg (a guess)"
        cams.append(Camera(n, (w, h), np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1.0]])))
    sel = body_joint_indices(keypoints.joint_set, keypoints.n_joints)
    data = keypoints.data[:, :, 0][:, :, sel]  # (T, C, J, 3)
    jnames = [joint_names(keypoints.joint_set, keypoints.n_joints)[i] for i in sel]
    C = len(names)
    uv = np.moveaxis(data[..., :2], 1, 0).reshape(C, -1, 2)
    ok = np.isfinite(uv).all(-1) & (np.moveaxis(np.nan_to_num(data[..., 2]), 1, 0).reshape(C, -1) >= min_conf)
    xy = np.stack([c.undistort_normalized(uv[i]) for i, c in enumerate(cams)])
    Rs, ts, order = _initial_poses(xy, ok, names)
    for i, c in enumerate(cams):
        c.R, c.t = Rs[i], ts[i]
    rig = CameraRig(cams, {"calibration": "board-free self-calibration from people (lower accuracy)"})
    # metric scale first (so the refinement's thresholds are in metres), then the floor frame
    X = _triangulate(xy, ok, Rs, ts, order).reshape(data.shape[0], len(sel), 3)
    s = height / person_height_m(X, jnames)
    if not np.isfinite(s) or s <= 0:
        raise RefineRefused("the person's height could not be measured from the keypoints (legs or trunk never "
                            "triangulated)", hint="record the whole body in view of several cameras")
    rig = rig.transformed(scale=s)
    rig = _floor_frame(rig, X * s, jnames, height)
    res = refine_from_keypoints(rig, keypoints.data[:, :, :1][:, :, :, sel], min_conf=min_conf,
                                refine_focal=refine_focal, holdout=False, joints="all", min_travel_m=0.3)
    # scale from the height after the bundle adjustment, floor frame again
    from mocap.reconstruct.triangulation import triangulate

    Xr = triangulate(res.rig, np.moveaxis(data[..., :2], 1, 0), np.moveaxis(data[..., 2], 1, 0),
                     min_conf=min_conf, refine=True).X
    s2 = height / person_height_m(Xr, jnames)
    out = _floor_frame(res.rig.transformed(scale=s2), Xr * s2, jnames, height)
    out.meta = {"calibration": "board-free self-calibration from people (lower accuracy)",
                "scale": f"from the stated person height {height:.2f} m", "world": "Z up along the person, origin on "
                "the floor under their mean position"}
    res.rig = out
    res.scale = f"from the stated height {height:.2f} m"
    return SelfCalResult(out, res, how, [names[i] for i in order],
                         [f"note: {LOWER_ACCURACY_NOTE}"])


__all__ = ["LOWER_ACCURACY_NOTE", "SelfCalResult", "focal_from_fov", "focal_from_mm", "self_calibrate",
           "video_sizes"]
