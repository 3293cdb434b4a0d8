"""Intrinsics supplied instead of estimated: from a calibration file, or a RealSense's factory calibration.

The usual workflow calibrates intrinsics once per camera (a dedicated recording, or the factory) and only the
extrinsics per session. :func:`resolve_intrinsics` decides, per camera of a session, where its intrinsics come
from; :func:`given_intrinsics_result` turns a supplied camera into the :class:`IntrinsicsResult` the extrinsic
solver consumes (board poses by PnP, per-view errors for the report).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from mocap.calibration.detection import REALSENSE_EXTS, BoardDetection
from mocap.calibration.intrinsics import IntrinsicsResult, view_errors
from mocap.cameras.camera import Camera
from mocap.cameras.rig import CameraRig
from mocap.errors import CalibrationError

log = logging.getLogger(__name__)

IntrinsicsInput = CameraRig | str | Path | dict[str, Camera] | None


def is_realsense_source(source: str | Path) -> bool:
    """True for a RealSense recording (``.bag`` / ``.db3``)."""
    return Path(str(source)).suffix.lower() in REALSENSE_EXTS


def realsense_camera(source: str | Path, name: str) -> Camera:
    """The factory colour intrinsics of a RealSense recording, as a :class:`Camera` (identity pose).

    Raises:
        DataError: the recording cannot be opened or has no colour stream.
    """
    from mocap.sources.realsense import RealSenseSource

    src = RealSenseSource(file=source, name=name, depth=False)
    try:
        cam = src.camera.copy()
    finally:
        src.close()
    cam.name = name
    cam.meta["intrinsics_from"] = f"RealSense factory calibration ({Path(str(source)).name})"
    return cam


def _load(intrinsics: CameraRig | str | Path) -> tuple[CameraRig, str]:
    if isinstance(intrinsics, CameraRig):
        return intrinsics, "the given rig"
    from mocap.cameras.formats import read_calibration

    return read_calibration(intrinsics), str(intrinsics)


def resolve_intrinsics(sources: dict[str, str], intrinsics: IntrinsicsInput = None,
                       say: Callable[[str], None] | None = None) -> dict[str, Camera]:
    """Which cameras get supplied (fixed) intrinsics, and which ones.

    Cameras are matched to the file's cameras by name; when no name matches but the counts agree, by order (a
    notice names the pairs). A file that names only some of the cameras supplies those; the rest are estimated
    (with a notice). RealSense recordings (``.bag``/``.db3``) not covered by the file use their factory intrinsics.

    Args:
        sources: camera name -> video / image folder / RealSense recording.
        intrinsics: a rig, a calibration file (any format :func:`read_calibration` reads), an already resolved
            ``{name: Camera}``, or ``None`` (RealSense factory intrinsics only).
        say: where notices go (default: the log, level INFO).

    Returns:
        camera name -> :class:`Camera` whose ``K``, ``dist``, ``model`` and ``size`` are to be used;
        ``meta["intrinsics_from"]`` says where they came from.

    Raises:
        CalibrationError: the file matches none of the cameras by name and holds a different number of cameras.
    """
    say = say or log.info
    names = list(sources)
    out: dict[str, Camera] = {}
    if isinstance(intrinsics, dict):
        out = {n: c for n, c in intrinsics.items() if n in sources}
    elif intrinsics is not None:
        rig, label = _load(intrinsics)
        file_names = rig.names
        by_name = [n for n in names if n in file_names]
        if by_name:
            pairs = [(n, n) for n in by_name]
            rest = [n for n in names if n not in file_names]
            if rest:
                say(f"intrinsics: {label} has no camera named {', '.join(rest)} (it has {', '.join(file_names)}); "
                    "estimating those from the board views")
        elif len(file_names) == len(names):
            pairs = list(zip(names, file_names))
            say(f"intrinsics: camera names differ from {label}; matched by order: "
                + ", ".join(f"{n} <- {f}" for n, f in pairs))
        else:
            raise CalibrationError(
                f"intrinsics file {label} has {len(file_names)} camera(s) ({', '.join(file_names)}) and none is named "
                f"like the {len(names)} camera(s) of this session ({', '.join(names)})",
                hint="rename the cameras (video file names) to match the file, or give a file with one camera per "
                     "video in the same order")
        for n, f in pairs:
            cam = rig[f].copy()
            cam.name = n
            cam.meta["intrinsics_from"] = f"{label} (camera '{f}')"
            out[n] = cam
    for n in names:
        if n not in out and is_realsense_source(sources[n]):
            out[n] = realsense_camera(sources[n], n)
            say(f"intrinsics: {n}: using the RealSense factory intrinsics of {Path(sources[n]).name}")
    return out


def check_size(name: str, cam: Camera, size: tuple[int, int], source: str = "") -> None:
    """Raise when supplied intrinsics were made for another image size than the camera's frames.

    Raises:
        CalibrationError: names the camera, where the intrinsics came from and both sizes.
    """
    if tuple(int(v) for v in cam.size) != tuple(int(v) for v in size):
        origin = cam.meta.get("intrinsics_from", "the supplied intrinsics")
        w, h = cam.size
        raise CalibrationError(
            f"camera '{name}': intrinsics from {origin} are for {w}x{h} images but the frames of "
            f"'{source or name}' are {size[0]}x{size[1]}",
            hint="give intrinsics calibrated at this resolution, or record at the resolution of the file")


def given_intrinsics_result(cam: Camera, views: list[BoardDetection], camera: str = "") -> IntrinsicsResult:
    """An :class:`IntrinsicsResult` for supplied intrinsics: board poses by PnP, RMS over the views.

    Args:
        cam: supplied intrinsics (``K`` ``(3, 3)`` pixels, ``dist``, ``model``, ``size``).
        views: board detections of this camera (used for the per-view errors and the report).

    Returns:
        The result with ``dist_model="given"`` (``dist_free`` all True, so ``refine`` may still free them).
    """
    K, dist = np.asarray(cam.K, float), np.asarray(cam.dist, float)
    used, rvecs, tvecs = [], [], []
    for v in views:
        if v.n < 6 or v.collinear:
            continue
        obj = v.object_points.astype(np.float64)
        if cam.model == "fisheye":
            img = cv2.fisheye.undistortPoints(v.image_points.reshape(-1, 1, 2).astype(np.float64), K, dist)
            ok, rv, tv = cv2.solvePnP(obj, img.reshape(-1, 2), np.eye(3), np.zeros(5), flags=cv2.SOLVEPNP_IPPE)
        else:
            ok, rv, tv = cv2.solvePnP(obj, v.image_points.astype(np.float64), K, dist, flags=cv2.SOLVEPNP_IPPE)
            if ok:
                rv, tv = cv2.solvePnPRefineLM(obj, v.image_points.astype(np.float64), K, dist, rv, tv)
        if ok and tv.ravel()[2] > 0:
            used.append(v)
            rvecs.append(rv.ravel())
            tvecs.append(tv.ravel())
    rv = np.array(rvecs).reshape(-1, 3)
    tv = np.array(tvecs).reshape(-1, 3)
    errs = view_errors(used, K, dist, cam.model, rv, tv) if used else np.zeros(0)
    rms = float(np.sqrt(np.mean(errs ** 2))) if len(errs) else float("nan")
    origin = cam.meta.get("intrinsics_from", "supplied")
    return IntrinsicsResult(K.copy(), dist.copy(), cam.model, tuple(cam.size), rms, used, errs, rv, tv,
                            dist_model="given", dist_reason="", given=origin)


__all__ = ["REALSENSE_EXTS", "check_size", "given_intrinsics_result", "is_realsense_source", "realsense_camera",
           "resolve_intrinsics"]
