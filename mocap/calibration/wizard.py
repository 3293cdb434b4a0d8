"""Guided calibration: read all cameras frame by frame, stop as soon as the quality is enough, explain why.

The wizard reads synchronised frames from every source in chunks, detects the board, and once every camera has
enough views and image coverage it calibrates; when the reprojection RMS is also under the target it stops
reading (early stop) and reports the numbers behind the decision. Interactive mode shows the live detections and
the coverage map in an OpenCV window when a display exists.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from mocap.calibration.boards import Board, load_board
from mocap.calibration.detection import BoardDetection, BoardDetector, iter_frames
from mocap.calibration.diagnostics import no_board_message
from mocap.calibration.given_intrinsics import IntrinsicsInput, check_size, resolve_intrinsics
from mocap.calibration.intrinsics import coverage_fraction, coverage_image
from mocap.calibration.pipeline import RigCalibration, solve_rig
from mocap.errors import CalibrationError, DataError

log = logging.getLogger(__name__)


@dataclass
class QualityTargets:
    """When the wizard may stop reading frames.

    Attributes:
        max_rms: bundle-adjustment RMS reprojection error target, pixels.
        min_coverage: fraction of the image (8 x 6 cells) each camera must have seen corners in (0..1).
        min_views: board views each camera needs.
        chunk: frames read between two quality checks.
        max_focal_rel: largest focal-length standard deviation (fraction) every camera must reach.
        max_position_m: largest camera-position standard deviation (any axis, relative to the reference camera).
    """

    max_rms: float = 1.0
    min_coverage: float = 0.5
    min_views: int = 12
    chunk: int = 12
    max_focal_rel: float = 0.02
    max_position_m: float = 0.02


def uncertainty_shortfalls(cal: RigCalibration, targets: QualityTargets) -> list[str]:
    """Cameras whose focal length or position is more uncertain than the targets, as readable phrases."""
    out = []
    for n, u in cal.uncertainty.items():
        if "fx" not in u.fixed and u.focal_rel > targets.max_focal_rel:
            out.append(f"{n} focal length +-{100 * u.focal_rel:.1f} % (target {100 * targets.max_focal_rel:.1f} %)")
        if u.relative_to and u.relative_to != n and float(u.center_m.max()) > targets.max_position_m:
            out.append(f"{n} position +-{100 * float(u.center_m.max()):.1f} cm (target "
                       f"{100 * targets.max_position_m:.1f} cm)")
    return out


@dataclass
class WizardResult:
    """The calibration plus how the wizard got there."""

    calibration: RigCalibration
    frames_read: int
    stopped_early: bool
    coverage: dict[str, float]
    quality_ok: bool
    log: list[str] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)


def display_available() -> bool:
    """True when an OpenCV window can be opened (a desktop session)."""
    return sys.platform in ("win32", "darwin") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _status(dets: dict[str, list[BoardDetection]], sizes: dict[str, tuple[int, int]]) -> dict[str, float]:
    return {n: coverage_fraction(d, sizes[n]) if n in sizes else 0.0 for n, d in dets.items()}


def _show(frames: dict[str, np.ndarray], found: dict[str, BoardDetection | None],
          dets: dict[str, list[BoardDetection]], sizes: dict[str, tuple[int, int]]) -> bool:
    """Draw the live detections and coverage maps; returns False when the user pressed q / Esc."""
    tiles = []
    for n, img in frames.items():
        live = img.copy() if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        d = found.get(n)
        if d is not None:
            for p in d.image_points:
                cv2.circle(live, (int(p[0]), int(p[1])), 4, (0, 255, 0), -1)
        cov = coverage_image(dets[n], sizes[n], scale=1.0, background=live)
        cv2.putText(cov, f"{n}: {len(dets[n])} views, coverage {100 * coverage_fraction(dets[n], sizes[n]):.0f}%",
                    (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
        tiles.append(cv2.resize(cov, (480, int(480 * cov.shape[0] / cov.shape[1]))))
    h = max(t.shape[0] for t in tiles)
    row = np.hstack([cv2.copyMakeBorder(t, 0, h - t.shape[0], 0, 0, cv2.BORDER_CONSTANT) for t in tiles])
    cv2.imshow("mocap calibrate wizard (q: stop)", row)
    return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)


def run_wizard(sources: dict[str, str], board: Board | str, targets: QualityTargets | None = None,
               model: str = "pinhole", step: int = 1, max_views: int = 40, reference: str | None = None,
               world: str = "camera", refine_intrinsics: bool | None = None, say: Callable[[str], None] = print,
               show: bool = False, intrinsics: IntrinsicsInput = None) -> WizardResult:
    """Read every source in lockstep, calibrate as soon as the targets can be met, stop early when they are.

    Args:
        sources: camera name -> video / image folder (synchronised frames).
        board: the board (or its file / shipped name).
        targets: stop criteria (see :class:`QualityTargets`).
        say: where progress lines go (``print`` by default; a list's ``append`` in tests).
        show: draw live detections and coverage in an OpenCV window (needs a display).
        refine_intrinsics, intrinsics: supplied intrinsics and whether to refine them (see
            :func:`mocap.calibration.pipeline.calibrate_rig`).

    Raises:
        CalibrationError: a camera never saw the board (the message says which board the images contain).
    """
    targets = targets or QualityTargets()
    board = load_board(board)
    fixed = resolve_intrinsics(sources, intrinsics, say=say)
    dets: dict[str, list[BoardDetection]] = {n: [] for n in sources}
    sizes: dict[str, tuple[int, int]] = {}
    first: dict[str, list[np.ndarray]] = {n: [] for n in sources}
    detectors = {n: BoardDetector(board) for n in sources}
    iters = {n: iter_frames(src, step) for n, src in sources.items()}
    frames_read, stopped, cal, lines, solved_at = 0, False, None, [], -1

    def note(msg: str) -> None:
        lines.append(msg)
        say(msg)

    live = True
    while live:
        done = False
        for _ in range(targets.chunk):
            frames, found = {}, {}
            for n, it in iters.items():
                nxt = next(it, None)
                if nxt is None:
                    done = True
                    continue
                i, img = nxt
                if n not in sizes and n in fixed:
                    check_size(n, fixed[n], (img.shape[1], img.shape[0]), sources[n])
                sizes[n] = (img.shape[1], img.shape[0])
                if len(first[n]) < 3 and i % 10 == 0:
                    first[n].append(img)
                d = detectors[n].detect(img, frame=i, source=sources[n])
                found[n], frames[n] = d, img
                if d is not None:
                    dets[n].append(d)
            if done:
                break
            frames_read += 1
            if show and not _show(frames, found, dets, sizes):
                note("stopped by the user")
                done = True
                break
        cov = _status(dets, sizes)
        enough = all(len(dets[n]) >= targets.min_views and cov[n] >= targets.min_coverage for n in sources)
        note(f"after {frames_read} frames: " + ", ".join(f"{n} {len(dets[n])} views {100 * cov[n]:.0f}% covered"
                                                         for n in sources))
        if done and cal is not None and frames_read == solved_at:
            break  # nothing new since the last solve
        if enough or done:
            missing = [n for n in sources if not dets[n]]
            if missing:
                n = missing[0]
                if not first[n]:
                    raise DataError(f"camera '{n}': no frames could be read from '{sources[n]}'")
                raise CalibrationError(f"camera '{n}' ({frames_read} frames): "
                                       + no_board_message(board, first[n], sources[n]))
            solved_at = frames_read
            try:
                cal = solve_rig(dets, sizes, board, sources, model=model, max_views=max_views, reference=reference,
                                world=world, refine_intrinsics=refine_intrinsics, intrinsics=fixed)
            except CalibrationError as e:
                if done:
                    raise
                note(f"not calibratable yet ({e}); reading on")
                continue
            short = uncertainty_shortfalls(cal, targets)
            if enough and cal.rms <= targets.max_rms and not short and not done:
                stopped = True
                note(f"quality is enough: RMS {cal.rms:.3f} px <= {targets.max_rms} px, every camera has >= "
                     f"{targets.min_views} views covering >= {100 * targets.min_coverage:.0f}% of its image and its "
                     f"focal length and position are known to +-{100 * targets.max_focal_rel:.1f} % and "
                     f"+-{100 * targets.max_position_m:.1f} cm; stopped after {frames_read} frames")
                break
            if done:
                break
            if cal.rms > targets.max_rms:
                note(f"RMS {cal.rms:.3f} px is over the {targets.max_rms} px target; reading on")
            else:
                note(f"not sure enough yet: {'; '.join(short)}; reading on")
    if show:
        cv2.destroyAllWindows()
    cov = _status(dets, sizes)
    unsure = uncertainty_shortfalls(cal, targets)
    ok = cal.rms <= targets.max_rms and all(cov[n] >= targets.min_coverage for n in sources)
    if not stopped:
        short = [f"{n} {100 * cov[n]:.0f}%" for n in sources if cov[n] < targets.min_coverage]
        note(f"all {frames_read} frames read; RMS {cal.rms:.3f} px (target {targets.max_rms})"
             + (f"; coverage under the {100 * targets.min_coverage:.0f}% target: {', '.join(short)}" if short else "")
             + (f"; uncertain: {'; '.join(unsure)}" if unsure else ""))
    return WizardResult(cal, frames_read, stopped, cov, ok, lines, unsure)
