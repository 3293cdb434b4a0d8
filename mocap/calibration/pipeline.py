"""Calibrate a rig end to end from videos or image folders: detection -> intrinsics -> extrinsics -> file."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mocap.calibration.boards import Board, load_board
from mocap.calibration.detection import (
    IMAGE_EXTS,
    REALSENSE_EXTS,
    VIDEO_EXTS,
    BoardDetection,
    detect_in_source,
    iter_frames,
    select_views,
)
from mocap.calibration.diagnostics import guidance, no_board_message
from mocap.calibration.extrinsics import ExtrinsicsResult, calibrate_extrinsics
from mocap.calibration.given_intrinsics import IntrinsicsInput, check_size, given_intrinsics_result, resolve_intrinsics
from mocap.calibration.intrinsics import IntrinsicsResult, calibrate_intrinsics, single_camera_uncertainty
from mocap.calibration.uncertainty import CameraUncertainty, uncertainty_warnings
from mocap.cameras.rig import CameraRig
from mocap.errors import CalibrationError, DataError

log = logging.getLogger(__name__)


@dataclass
class RigCalibration:
    """Everything a rig calibration produced (for the file, the report and the wizard)."""

    rig: CameraRig
    board: Board
    detections: dict[str, list[BoardDetection]]
    intrinsics: dict[str, IntrinsicsResult]
    extrinsics: ExtrinsicsResult | None
    image_sizes: dict[str, tuple[int, int]]
    sources: dict[str, str]
    seconds: float = 0.0
    advice: list[str] = field(default_factory=list)
    intrinsics_from: dict[str, str] = field(default_factory=dict)
    uncertainty: dict[str, CameraUncertainty] = field(default_factory=dict)
    uncertainty_warnings: list[str] = field(default_factory=list)

    @property
    def rms(self) -> float:
        """Final RMS reprojection error, pixels (bundle adjustment if run, else the worst intrinsic RMS)."""
        if self.extrinsics is not None and self.extrinsics.bundle is not None:
            return self.extrinsics.bundle.final_rms
        return max(r.rms for r in self.intrinsics.values())


def resolve_sources(videos: list[str | Path]) -> dict[str, str]:
    """Camera name -> source from a list of video files / image folders, or one folder holding them."""
    items = [Path(v) for v in videos]
    if len(items) == 1 and items[0].is_dir():
        d = items[0]
        vids = sorted(p for p in d.iterdir() if p.suffix.lower() in VIDEO_EXTS + REALSENSE_EXTS)
        if vids:
            items = vids
        else:
            subdirs = sorted(p for p in d.iterdir() if p.is_dir() and any(q.suffix.lower() in IMAGE_EXTS
                                                                           for q in p.iterdir()))
            items = subdirs or [d]
    out: dict[str, str] = {}
    for p in items:
        if not p.exists():
            raise DataError(f"calibration source '{p}' does not exist")
        name = p.stem
        out[name] = str(p)
    if not out:
        raise DataError(f"no videos or image folders found in {', '.join(map(str, videos))}")
    return out


def _first_frames(source: str, n: int = 3) -> list[np.ndarray]:
    frames = [img for _, img in iter_frames(source, step=1, max_frames=60)]
    return frames[:: max(1, len(frames) // n)][:n]


def calibrate_rig(sources: dict[str, str], board: Board | str, model: str = "pinhole", step: int = 1,
                  max_views: int = 40, reference: str | None = None, world: str = "camera",
                  refine_intrinsics: bool | None = None, progress: bool = False,
                  intrinsics: IntrinsicsInput = None) -> RigCalibration:
    """Calibrate intrinsics of every camera (or take them as given) and, with 2+ cameras, the rig's extrinsics.

    Args:
        sources: camera name -> video file / image folder (frames synchronised across cameras).
        board: a :class:`Board` or a board file / shipped name.
        model: intrinsic model (``pinhole``, ``rational``, ``fisheye``).
        step: use every ``step``-th frame.
        max_views: views per camera for intrinsics (chosen for spread by :func:`select_views`).
        reference: world camera; world: ``"camera"`` or ``"board"``.
        refine_intrinsics: refine intrinsics in the bundle adjustment: ``None`` (default) refines the estimated
            ones and keeps supplied ones fixed; ``True`` refines all, ``False`` none.
        intrinsics: supplied intrinsics (a rig, a calibration file in any format
            :func:`mocap.cameras.formats.read_calibration` reads, or ``{name: Camera}``), matched to the sources
            by name, else by order (see :func:`resolve_intrinsics`); those cameras skip intrinsic estimation.
            RealSense recordings (``.bag``/``.db3``) use their factory intrinsics unless the file covers them.

    Raises:
        CalibrationError: a board is never detected (the message says which board the images contain), too
            few views, cameras that share no views, or supplied intrinsics for another image size.
    """
    t0 = time.perf_counter()
    board = load_board(board)
    fixed = resolve_intrinsics(sources, intrinsics)
    dets: dict[str, list[BoardDetection]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for name, src in sources.items():
        d, size, n = detect_in_source(src, board, step=step, progress=f"detect {name}" if progress else None)
        if n == 0:
            raise DataError(f"camera '{name}': no frames could be read from '{src}'")
        if not d:
            raise CalibrationError(f"camera '{name}' ({n} frames): " + no_board_message(board, _first_frames(src),
                                                                                          src))
        if name in fixed:
            check_size(name, fixed[name], size, src)
        log.info("camera '%s': board in %d of %d frames", name, len(d), n)
        dets[name], sizes[name] = d, size
    return solve_rig(dets, sizes, board, sources, model=model, max_views=max_views, reference=reference,
                     world=world, refine_intrinsics=refine_intrinsics, t0=t0, intrinsics=fixed)


def solve_rig(dets: dict[str, list[BoardDetection]], sizes: dict[str, tuple[int, int]], board: Board,
              sources: dict[str, str], model: str = "pinhole", max_views: int = 40, reference: str | None = None,
              world: str = "camera", refine_intrinsics: bool | None = None, t0: float | None = None,
              intrinsics: IntrinsicsInput = None) -> RigCalibration:
    """Intrinsics per camera (estimated from views chosen for spread, or supplied), then extrinsics + bundle
    adjustment, from detections.

    Args:
        dets: camera name -> detections (synchronised frame indices); sizes: camera name -> ``(w, h)``.
        refine_intrinsics, intrinsics: see :func:`calibrate_rig`.
    """
    t0 = time.perf_counter() if t0 is None else t0
    fixed = resolve_intrinsics(sources, intrinsics)
    intr = {}
    origin = {}
    for name in dets:
        if name in fixed:
            check_size(name, fixed[name], sizes[name], sources.get(name, ""))
            intr[name] = given_intrinsics_result(fixed[name], dets[name], camera=name)
            origin[name] = intr[name].given
        else:
            views = select_views(dets[name], max_views)
            intr[name] = calibrate_intrinsics(views, sizes[name], model=model, camera=name)
            origin[name] = "estimated from the board views"
    if refine_intrinsics is None:
        refine: bool | dict[str, bool] = {n: n not in fixed for n in dets}
    else:
        refine = bool(refine_intrinsics)
    ext = None
    rig = None
    if len(dets) >= 2:
        ext = calibrate_extrinsics(dets, intr, reference=reference, world=world, refine_intrinsics=refine)
        rig = ext.rig
    else:
        from mocap.cameras.camera import Camera

        name = next(iter(dets))
        it = intr[name]
        rig = CameraRig([Camera(name, it.image_size, it.K, it.dist, model=it.model)])
    if ext is not None and ext.bundle is not None:
        unc = dict(ext.bundle.uncertainty)
    else:
        u1 = single_camera_uncertainty(intr[name], name)
        unc = {name: u1} if u1 is not None else {}
    unc_warn = []
    for n, u in unc.items():
        rig[n].meta["uncertainty"] = u.as_meta()
        unc_warn += uncertainty_warnings(u, sizes[n], dets[n])
        intr[n].uncertainty = u
    if unc:
        ref_cam = next((u.relative_to for u in unc.values() if u.relative_to), "")
        rig.meta["uncertainty"] = ("one standard deviation from the bundle adjustment's Jacobian (residual-scaled, "
                                   "per board pose robust; focal lengths include the spread of the intrinsic models "
                                   "the data cannot tell apart)"
                                   + (f"; positions and rotations relative to camera '{ref_cam}'" if ref_cam else ""))
    rig.meta["board"] = board.describe()
    rig.meta["rms_px"] = round(float(ext.bundle.final_rms if ext else intr[name].rms), 4)
    rig.meta["distortion"] = "; ".join(f"{n}: {it.dist_reason or it.dist_model}" for n, it in intr.items())
    if fixed:
        rig.meta["intrinsics"] = "; ".join(f"{n}: {o}" for n, o in origin.items())
    advice = []
    for name in dets:
        advice += guidance(name, None if name in fixed else intr[name], dets[name], sizes[name])
    return RigCalibration(rig, board, dets, intr, ext, sizes, dict(sources), time.perf_counter() - t0, advice,
                          origin, unc, unc_warn)


def write_rig(rig: CameraRig, path: str | Path) -> Path:
    """Write the rig with :func:`mocap.cameras.formats.write_calibration` (format from the extension)."""
    from mocap.cameras.formats import write_calibration

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_calibration(rig, path)
    return path
