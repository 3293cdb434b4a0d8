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
    VIDEO_EXTS,
    BoardDetection,
    detect_in_source,
    iter_frames,
    select_views,
)
from mocap.calibration.diagnostics import guidance, no_board_message
from mocap.calibration.extrinsics import ExtrinsicsResult, calibrate_extrinsics
from mocap.calibration.intrinsics import IntrinsicsResult, calibrate_intrinsics
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
        vids = sorted(p for p in d.iterdir() if p.suffix.lower() in VIDEO_EXTS)
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
                  refine_intrinsics: bool = True, progress: bool = False) -> RigCalibration:
    """Calibrate intrinsics of every camera and, with 2+ cameras, the extrinsics of the rig.

    Args:
        sources: camera name -> video file / image folder (frames synchronised across cameras).
        board: a :class:`Board` or a board file / shipped name.
        model: intrinsic model (``pinhole``, ``rational``, ``fisheye``).
        step: use every ``step``-th frame.
        max_views: views per camera for intrinsics (chosen for spread by :func:`select_views`).
        reference: world camera; world: ``"camera"`` or ``"board"``.
        refine_intrinsics: refine intrinsics in the bundle adjustment.

    Raises:
        CalibrationError: a board is never detected (the message says which board the images contain), too
            few views, or cameras that share no views.
    """
    t0 = time.perf_counter()
    board = load_board(board)
    dets: dict[str, list[BoardDetection]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for name, src in sources.items():
        d, size, n = detect_in_source(src, board, step=step, progress=f"detect {name}" if progress else None)
        if n == 0:
            raise DataError(f"camera '{name}': no frames could be read from '{src}'")
        if not d:
            raise CalibrationError(f"camera '{name}' ({n} frames): " + no_board_message(board, _first_frames(src),
                                                                                          src))
        log.info("camera '%s': board in %d of %d frames", name, len(d), n)
        dets[name], sizes[name] = d, size
    return solve_rig(dets, sizes, board, sources, model=model, max_views=max_views, reference=reference,
                     world=world, refine_intrinsics=refine_intrinsics, t0=t0)


def solve_rig(dets: dict[str, list[BoardDetection]], sizes: dict[str, tuple[int, int]], board: Board,
              sources: dict[str, str], model: str = "pinhole", max_views: int = 40, reference: str | None = None,
              world: str = "camera", refine_intrinsics: bool = True, t0: float | None = None) -> RigCalibration:
    """Intrinsics per camera (views chosen for spread), then extrinsics + bundle adjustment, from detections.

    Args:
        dets: camera name -> detections (synchronised frame indices); sizes: camera name -> ``(w, h)``.
    """
    t0 = time.perf_counter() if t0 is None else t0
    intr = {}
    for name in dets:
        views = select_views(dets[name], max_views)
        intr[name] = calibrate_intrinsics(views, sizes[name], model=model, camera=name)
    ext = None
    rig = None
    if len(dets) >= 2:
        ext = calibrate_extrinsics(dets, intr, reference=reference, world=world,
                                   refine_intrinsics=refine_intrinsics)
        rig = ext.rig
    else:
        from mocap.cameras.camera import Camera

        name = next(iter(dets))
        it = intr[name]
        rig = CameraRig([Camera(name, it.image_size, it.K, it.dist, model=it.model)])
    rig.meta["board"] = board.describe()
    rig.meta["rms_px"] = round(float(ext.bundle.final_rms if ext else intr[name].rms), 4)
    rig.meta["distortion"] = "; ".join(f"{n}: {it.dist_reason or it.dist_model}" for n, it in intr.items())
    advice = []
    for name in dets:
        advice += guidance(name, intr[name], dets[name], sizes[name])
    return RigCalibration(rig, board, dets, intr, ext, sizes, dict(sources), time.perf_counter() - t0, advice)


def write_rig(rig: CameraRig, path: str | Path) -> Path:
    """Write the rig with :func:`mocap.cameras.formats.write_calibration` (format from the extension)."""
    from mocap.cameras.formats import write_calibration

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_calibration(rig, path)
    return path
