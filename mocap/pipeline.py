"""The offline pipeline over a recorded session: videos -> 2D keypoints -> 3D keypoints -> report
(-> body fit -> animation files, when asked). ``mocap run`` and ``mocap demo`` are thin layers over
:func:`run_pipeline`; a Python user calls the same function.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mocap.cameras import CameraRig
from mocap.errors import MocapError
from mocap.keypoints import Keypoints2D, Keypoints3D

log = logging.getLogger(__name__)


@dataclass
class PipelineResult:
    """What :func:`run_pipeline` produced.

    Attributes:
        rig: the calibration used (cameras in the keypoints' order).
        kp2d: 2D detections ``(T, C, P, J, 3)``.
        kp3d: filtered 3D keypoints ``(T, P, J, 4)``.
        outputs: name -> written file.
        timings: stage -> seconds.
        extras: stage-specific results (e.g. the body motion).
    """

    rig: CameraRig
    kp2d: Keypoints2D
    kp3d: Keypoints3D
    outputs: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    extras: dict = field(default_factory=dict)


def _match_rig(rig: CameraRig, names: Sequence[str], calib: Path) -> CameraRig:
    """Cameras of ``rig`` in the order of ``names``; matched by name, else by order when counts agree."""
    if all(n in rig.names for n in names):
        return rig.subset(list(names))
    if len(rig) == len(names):
        log.warning("camera names %s are not in %s (%s); matching cameras by order", list(names), calib, rig.names)
        cams = [c.copy() for c in rig]
        for c, n in zip(cams, names):
            c.name = n
        return CameraRig(cams, rig.meta)
    raise MocapError(
        f"{calib}: the calibration has cameras {rig.names} but the videos are {list(names)}",
        hint="name the video files after the calibration's cameras, or pass the calibration of this rig",
    )


def run_pipeline(videos: Sequence[str | Path], calib: str | Path, out_dir: str | Path, *,
                 backend: str = "mediapipe", workers: int | None = None, max_frames: int | None = None,
                 cutoff_hz: float | None = 6.0, sync: str = "auto", report: bool = True, overlay_every: int = 0,
                 fit_model: str | None = None, export_formats: Sequence[str] = (),
                 refine_calib: bool = False) -> PipelineResult:
    """Run detection, triangulation, filtering and reporting on synchronised videos of a calibrated rig.

    Args:
        videos: one video per camera; the file stems are the camera names (matched against the calibration).
        calib: a calibration file in any supported format.
        out_dir: output folder; stage outputs are cached there (a rerun skips finished detection).
        backend: 2D detector backend (see :func:`mocap.keypoints2d.make_detector`).
        workers: detection processes (default: one per two CPU cores).
        max_frames: only the first frames (for quick looks).
        cutoff_hz: zero-phase Butterworth cut-off for the 3D trajectories (None: no filter).
        sync: ``"auto"``: estimate per-camera time offsets from the 2D keypoints and the calibration
            (:func:`mocap.sources.offset.estimate_offsets_calibrated`, 3+ cameras) and resample the tracks of
            cameras found confidently out of sync by half a frame or more; ``"none"``: trust the recordings.
        report: write ``report/report.html`` with plots and overlays.
        overlay_every: write a detection overlay PNG every N frames per camera (0: none).
        fit_model: body model to fit (``"anny"`` or ``"smplx"``), or None.
        export_formats: animation formats to write (``"bvh"``, ``"fbx"``, ``"glb"``, ``"c3d"``, ``"trc"``).
        refine_calib: refine the camera poses on this session's people (:mod:`mocap.calibration.refine`) and
            triangulate with the refined rig (written to ``calib_refined.toml``); kept as is when refused.

    Returns:
        A :class:`PipelineResult`. Every stage's output is on disk before the next starts.
    """
    from mocap.cameras.formats import read_calibration
    from mocap.keypoints import save_npz, write_trc
    from mocap.keypoints2d import detect_videos
    from mocap.reconstruct import butterworth_filter, triangulate_keypoints

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    videos = [Path(v) for v in videos]
    for v in videos:
        if not v.is_file():
            raise MocapError(f"video {v} does not exist", hint="pass one existing video file per camera")
    if len(videos) < 2:
        raise MocapError(f"got {len(videos)} video(s); triangulation needs at least 2 calibrated cameras")
    if export_formats:
        from mocap.export import FORMATS

        unknown = [f for f in export_formats if f not in FORMATS]
        if unknown:
            raise MocapError(f"unknown export format(s) {unknown}", hint=f"choose from {', '.join(FORMATS)}")
    timings: dict[str, float] = {}
    outputs: dict[str, Path] = {}

    t0 = time.perf_counter()
    rig_all = read_calibration(calib)
    rig = _match_rig(rig_all, [v.stem for v in videos], Path(calib))
    timings["calibration"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    kp2d, _ = detect_videos(videos, out / "2d", backend=backend, workers=workers, max_frames=max_frames,
                            overlay_every=overlay_every)
    timings["detect"] = time.perf_counter() - t0
    outputs["keypoints2d"] = out / "2d" / "keypoints2d.npz"

    extras: dict = {}
    if sync == "auto" and kp2d.n_cameras >= 3 and kp2d.n_frames >= 20:
        t0 = time.perf_counter()
        kp2d, extras["sync"] = _sync_stage(rig, kp2d)
        timings["sync"] = time.perf_counter() - t0
    if refine_calib:  # people-based refinement of the rig (mocap.calibration.refine)
        from mocap.calibration.refine import refine_for_pipeline

        t0 = time.perf_counter()
        rig, extras["refine_calib"] = refine_for_pipeline(rig, kp2d, out)
        timings["refine calibration"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    kp3d = triangulate_keypoints(rig, kp2d, calib_source=str(calib), keypoints_source=str(outputs["keypoints2d"]))
    timings["triangulate"] = time.perf_counter() - t0
    used = kp3d.meta.pop("used", None)
    kp3d.meta.pop("view_error_px", None)
    raw = kp3d
    if cutoff_hz:
        t0 = time.perf_counter()
        xyz = butterworth_filter(kp3d.xyz, kp3d.fps, cutoff_hz=cutoff_hz)
        kp3d = Keypoints3D(np.concatenate([xyz, kp3d.data[..., 3:]], -1), kp3d.joint_set, kp3d.timestamps,
                           kp3d.fps, kp3d.person_ids, dict(kp3d.quality),
                           {**kp3d.meta, "filter": f"butterworth {cutoff_hz:g} Hz zero-phase"})
        timings["filter"] = time.perf_counter() - t0
    outputs["keypoints3d"] = save_npz(kp3d, out / "keypoints3d.npz")
    outputs["keypoints3d_raw"] = save_npz(raw, out / "keypoints3d_unfiltered.npz")
    outputs["trc"] = write_trc(kp3d, out / "keypoints3d.trc", person=0)

    extras["used"] = used
    result = PipelineResult(rig, kp2d, kp3d, outputs, timings, extras)
    if fit_model:
        _fit_stage(result, out, fit_model)
    if report:
        from mocap.viz.report import write_report

        t0 = time.perf_counter()
        extra = [outputs["fit_check"]] if "fit_check" in outputs else []
        outputs["report"] = write_report(out / "report", rig, kp2d, kp3d, videos={v.stem: v for v in videos},
                                         used=used, sync=extras.get("sync"), extra_images=extra)
        timings["report"] = time.perf_counter() - t0
    if export_formats:
        _export_stage(result, out, export_formats)
    return result


def _sync_stage(rig: CameraRig, kp2d: Keypoints2D, min_confidence: float = 0.5,
                min_offset: float = 0.5) -> tuple[Keypoints2D, dict[str, tuple[float, float, float]]]:
    """Estimate camera time offsets and resample the 2D tracks of cameras that are confidently out of sync.

    Returns:
        The (possibly resampled) keypoints and, per camera, (estimated offset, confidence, applied offset) in frames.
    """
    from mocap.sources.offset import apply_offsets, estimate_offsets_calibrated

    est = estimate_offsets_calibrated(rig, kp2d, max_offset_frames=max(2, min(30, kp2d.n_frames // 3)))
    offsets = [e.offset_frames if (e.confidence >= min_confidence and abs(e.offset_frames) >= min_offset) else 0.0
               for e in est]
    info = {n: (float(e.offset_frames), float(e.confidence), float(o))
            for n, e, o in zip(kp2d.camera_names, est, offsets)}
    for n, e, o in zip(kp2d.camera_names, est, offsets):
        log.info("sync %s: offset %+.2f frames (confidence %.2f)%s", n, e.offset_frames, e.confidence,
                 " -> applied" if o else "")
    return (apply_offsets(kp2d, offsets) if any(offsets) else kp2d), info


def _fit_stage(result: PipelineResult, out: Path, model: str) -> None:
    """Fit a body model to the 3D keypoints and save the motion (and a check image)."""
    from mocap.body import fit_keypoints3d, load_model
    from mocap.body.render import render_fit_check

    t0 = time.perf_counter()
    body = load_model(model)
    result.timings["load body model"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    motion = fit_keypoints3d(result.kp3d, model=body)
    result.timings["fit"] = time.perf_counter() - t0
    result.extras["motion"] = motion
    result.extras["body_model"] = body
    result.outputs["motion"] = motion.save(out / "motion.npz")
    check = out / "report" / f"fit_{body.name}.png"
    render_fit_check(check, body, motion, result.kp3d)
    result.outputs["fit_check"] = check


def _export_stage(result: PipelineResult, out: Path, formats: Sequence[str]) -> None:
    """Write animation files: from the body motion if there is one (rigged formats, with the body model's skinned
    mesh in glTF/FBX), else from the 3D keypoints (through inverse kinematics onto the standard skeleton). Marker
    formats (TRC, C3D) always carry the 3D keypoints themselves."""
    from mocap.export import export_motion, from_body_motion

    motion = result.extras.get("motion")
    anim = from_body_motion(motion) if motion is not None else None
    t0 = time.perf_counter()
    body = result.extras.get("body_model")  # the fitted model, reused for the skinned mesh formats
    for fmt in formats:
        src = anim if (anim is not None and fmt not in ("trc", "c3d")) else result.kp3d
        name = f"{motion.model}" if (anim is not None and src is anim) else "keypoints"
        result.outputs[f"export_{fmt}"] = export_motion(src, out / "export" / f"{name}.{fmt}", fmt=fmt,
                                                        body_model=body if src is anim else None)
    result.timings["export"] = time.perf_counter() - t0
