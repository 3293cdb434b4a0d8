"""The offline pipeline over a recorded session: videos (or 2D keypoints) -> 2D keypoints of every person ->
synchronisation -> 3D keypoints of every person (associated across views, tracked with stable ids) -> report
(-> body fit and animation files per person, when asked). ``mocap run`` and ``mocap demo`` are thin layers over
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
from mocap.errors import KeypointsError, MocapError
from mocap.keypoints import Keypoints2D, Keypoints3D

log = logging.getLogger(__name__)

PEOPLE_MODES = ("auto", "single", "multi")


@dataclass
class PipelineResult:
    """What :func:`run_pipeline` produced.

    Attributes:
        rig: the calibration used (cameras in the keypoints' order).
        kp2d: 2D detections ``(T, C, P, J, 3)`` (after synchronisation); the person axis is in the detector's order.
        kp3d: filtered 3D keypoints ``(T, P, J, 4)``; ``kp3d.person_ids`` are the stable track ids.
        outputs: name -> written file (per person: ``trc_p<id>``, ``motion_p<id>``, ``export_<fmt>_p<id>`` when
            there are several people; without the suffix for one).
        timings: stage -> seconds.
        extras: stage-specific results: ``"sync"`` (camera -> :class:`~mocap.sources.offset.SyncDecision`),
            ``"used"`` and ``"view_error_px"`` ``(C, T, P, J)`` (views kept and the reprojection error of every
            detected view, in the 3D people's order), ``"people_mode"``, ``"association"`` (multi-person counts),
            ``"motions"`` (person id -> body motion), ``"fit_errors"`` (person id -> why the fit failed), and
            ``"motion"`` / ``"body_model"`` for the first person.
    """

    rig: CameraRig
    kp2d: Keypoints2D
    kp3d: Keypoints3D
    outputs: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    extras: dict = field(default_factory=dict)


def match_rig(rig: CameraRig, names: Sequence[str], calib: str | Path) -> CameraRig:
    """Cameras of ``rig`` in the order of ``names``; matched by name, else by order (renamed to ``names``, with a
    warning) when the counts agree."""
    if all(n in rig.names for n in names):
        return rig.subset(list(names))
    if len(rig) == len(names):
        log.warning("camera names %s are not in %s (%s); matching cameras by order", list(names), calib, rig.names)
        cams = [c.copy() for c in rig]
        for c, n in zip(cams, names):
            c.name = n
        return CameraRig(cams, rig.meta)
    missing = [n for n in names if n not in rig.names]
    raise MocapError(
        f"cameras {missing} of the keypoints/videos ({list(names)}) are not in the calibration {calib} "
        f"({rig.names})",
        hint="name the video files (or keypoint folders) after the calibration's cameras, or pass the calibration "
             "of this rig",
    )


def _suffix(kp3d: Keypoints3D, p: int) -> str:
    """Output-name suffix of person index ``p``: ``""`` for a single person, else ``"_p<id>"``."""
    return "" if kp3d.n_people == 1 else f"_p{int(kp3d.person_ids[p])}"


def run_pipeline(videos: Sequence[str | Path], calib: str | Path, out_dir: str | Path, *,
                 keypoints: str | Path | Sequence[str | Path] | None = None, joint_set: str | None = "auto",
                 fps: float | None = None, backend: str | None = None, workers: int | None = None,
                 max_frames: int | None = None, cutoff_hz: float | None = 6.0, sync: str = "auto",
                 people: str = "auto", max_people: int | None = None, report: bool = True, overlay_every: int = 0,
                 fit_model: str | None = None, export_formats: Sequence[str] = (),
                 refine_calib: bool = False) -> PipelineResult:
    """Run detection (or import), synchronisation, triangulation of every person, filtering and reporting on
    the recordings of a calibrated rig.

    Args:
        videos: one video per camera; the file stems are the camera names (matched against the calibration). May
            be empty when ``keypoints`` is given (the report then has no overlay images).
        calib: a calibration file in any supported format.
        out_dir: output folder; stage outputs are cached there (a rerun skips finished detection).
        keypoints: existing 2D keypoints instead of detection: a mocap ``.npz``, several ``.npz`` or OpenPose JSON
            folders (:func:`mocap.keypoints2d.importers.load_keypoints2d`); their camera names must match the
            calibration (or the videos, for overlays).
        joint_set: joint set of OpenPose JSON ``keypoints`` (``"auto"``: from the data).
        fps: frame rate of OpenPose JSON ``keypoints`` (default: the first video's, else 30).
        backend: 2D detector backend (see :func:`mocap.keypoints2d.make_detector`; default: the default of
            :func:`mocap.keypoints2d.detect_videos`).
        workers: detection processes (default: one per two CPU cores).
        max_frames: only the first frames (for quick looks).
        cutoff_hz: zero-phase Butterworth cut-off for the 3D trajectories (None: no filter).
        sync: ``"auto"``: estimate per-camera time offsets from the 2D keypoints and the calibration and resample
            the tracks of cameras found reliably out of sync by half a frame or more
            (:func:`mocap.sources.offset.synchronise`; several people per camera are matched, not mixed);
            ``"none"``: trust the recordings.
        people: ``"multi"``: associate people across views and track them with stable ids
            (:func:`mocap.reconstruct.multiperson.reconstruct_multiperson`); ``"single"``: the person axis is the same
            person in every camera; ``"auto"`` (default): multi when some camera holds more than one person in a
            frame (or the cameras disagree on the slot).
        max_people: multi-person: keep at most this many tracks (the longest).
        report: write ``report/report.html`` with plots and overlays.
        overlay_every: write a detection overlay PNG every N frames per camera (0: none).
        fit_model: body model to fit to every person (``"anny"`` or ``"smplx"``), or None.
        export_formats: animation formats to write per person (``"bvh"``, ``"fbx"``, ``"glb"``, ``"c3d"``,
            ``"trc"``).
        refine_calib: refine the camera poses on this session's people (:mod:`mocap.calibration.refine`) and
            triangulate with the refined rig (written to ``calib_refined.toml``); kept as is when refused.

    Returns:
        A :class:`PipelineResult`. Every stage's output is on disk before the next starts: ``keypoints3d.npz``
        ``(T, P, J, 4)``, one TRC per person (``keypoints3d.trc`` for one person, ``keypoints3d_p<id>.trc`` for
        several), per person ``motion[_p<id>].npz`` and ``export/<model>[_p<id>].<fmt>``. When nobody is
        reconstructed the NPZ and the report are still written (saying why, per camera) and nothing else.
    """
    from mocap.cameras.formats import read_calibration

    out = Path(out_dir)
    videos = [Path(v) for v in videos]
    for v in videos:
        if not v.is_file():
            raise MocapError(f"video {v} does not exist", hint="pass one existing video file per camera")
    if keypoints is None and len(videos) < 2:
        raise MocapError(f"got {len(videos)} video(s); triangulation needs at least 2 calibrated cameras")
    if sync not in ("auto", "none"):
        raise MocapError(f"sync={sync!r}; use 'auto' or 'none'")
    if people not in PEOPLE_MODES:
        raise MocapError(f"people={people!r}; use one of {', '.join(PEOPLE_MODES)}")
    if export_formats:
        from mocap.export import FORMATS

        unknown = [f for f in export_formats if f not in FORMATS]
        if unknown:
            raise MocapError(f"unknown export format(s) {unknown}", hint=f"choose from {', '.join(FORMATS)}")
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    outputs: dict[str, Path] = {}
    extras: dict = {}

    t0 = time.perf_counter()
    rig_all = read_calibration(calib)
    timings["calibration"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if keypoints is not None:
        kp2d = _import_stage(keypoints, joint_set, fps, videos, max_frames, out)
        timings["import 2D"] = time.perf_counter() - t0
    else:
        from mocap.keypoints2d import detect_videos

        kw = {} if backend is None else {"backend": backend}
        kp2d, _ = detect_videos(videos, out / "2d", workers=workers, max_frames=max_frames,
                                overlay_every=overlay_every, **kw)
        timings["detect"] = time.perf_counter() - t0
    outputs["keypoints2d"] = out / "2d" / "keypoints2d.npz"
    if kp2d.n_cameras < 2:
        raise MocapError(f"the 2D keypoints hold {kp2d.n_cameras} camera ({', '.join(kp2d.camera_names)}); "
                         "triangulation needs at least 2 calibrated cameras")
    rig = match_rig(rig_all, kp2d.camera_names, calib)

    if sync == "auto":
        from mocap.sources.offset import describe_sync, synchronise

        t0 = time.perf_counter()
        kp2d, extras["sync"] = synchronise(rig, kp2d)
        for line in describe_sync(extras["sync"]):
            log.info("%s", line)
        timings["sync"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    kp3d, mode = _triangulate_stage(rig, kp2d, people, max_people, str(calib), str(outputs["keypoints2d"]))
    timings["triangulate"] = time.perf_counter() - t0
    if refine_calib:  # people-based refinement of the rig (mocap.calibration.refine), then triangulate again
        from mocap.calibration.refine import refine_for_pipeline

        t0 = time.perf_counter()
        people_2d = kp2d
        if mode == "multi":  # the refinement needs each person in the same slot in every camera
            from mocap.reconstruct.multiperson import assign_2d_to_people

            people_2d = assign_2d_to_people(rig, kp2d, kp3d)
        refined, extras["refine_calib"] = refine_for_pipeline(rig, people_2d, out)
        timings["refine calibration"] = time.perf_counter() - t0
        if refined is not rig:
            rig = refined
            t0 = time.perf_counter()
            kp3d, mode = _triangulate_stage(rig, kp2d, people, max_people, str(calib), str(outputs["keypoints2d"]))
            timings["triangulate (refined calibration)"] = time.perf_counter() - t0
    extras["people_mode"] = mode
    extras["used"] = kp3d.meta.pop("used", None)
    extras["view_error_px"] = kp3d.meta.pop("view_error_px", None)
    assoc = kp3d.meta.pop("association", None)
    if assoc is not None:
        extras["association"] = assoc
        kp3d.meta["association"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in assoc.items()}
    kp3d.meta.pop("empty_frames", None)
    kp3d = _drop_empty_people(kp3d, extras)
    raw = kp3d
    if cutoff_hz and kp3d.n_people:
        from mocap.reconstruct import butterworth_filter

        t0 = time.perf_counter()
        xyz = butterworth_filter(kp3d.xyz, kp3d.fps, cutoff_hz=cutoff_hz)
        kp3d = Keypoints3D(np.concatenate([xyz, kp3d.data[..., 3:]], -1), kp3d.joint_set, kp3d.timestamps,
                           kp3d.fps, kp3d.person_ids, dict(kp3d.quality),
                           {**kp3d.meta, "filter": f"butterworth {cutoff_hz:g} Hz zero-phase"})
        timings["filter"] = time.perf_counter() - t0
    from mocap.keypoints import save_npz, write_trc

    outputs["keypoints3d"] = save_npz(kp3d, out / "keypoints3d.npz")
    outputs["keypoints3d_raw"] = save_npz(raw, out / "keypoints3d_unfiltered.npz")
    for p in range(kp3d.n_people):
        sfx = _suffix(kp3d, p)
        outputs[f"trc{sfx}"] = write_trc(kp3d, out / f"keypoints3d{sfx}.trc", person=int(kp3d.person_ids[p]))

    result = PipelineResult(rig, kp2d, kp3d, outputs, timings, extras)
    if kp3d.n_people == 0:
        log.warning("no person was reconstructed: %s", "; ".join(_nobody_reasons(result)))
    if fit_model and kp3d.n_people:
        _fit_stage(result, out, fit_model)
    if report:
        from mocap.viz.report import write_report

        t0 = time.perf_counter()
        extra = [v for k, v in outputs.items() if k.startswith("fit_check")]
        outputs["report"] = write_report(out / "report", rig, kp2d, kp3d, videos={v.stem: v for v in videos},
                                         used=extras["used"], sync=extras.get("sync"), extra_images=extra,
                                         view_error=extras["view_error_px"], association=assoc)
        timings["report"] = time.perf_counter() - t0
    if export_formats and kp3d.n_people:
        _export_stage(result, out, export_formats)
    return result


def _import_stage(keypoints, joint_set: str | None, fps: float | None, videos: list[Path],
                  max_frames: int | None, out: Path) -> Keypoints2D:
    """Read existing 2D keypoints (``mocap run --keypoints``), trim them, save them as ``2d/keypoints2d.npz``."""
    from mocap.keypoints import save_npz
    from mocap.keypoints2d.importers import load_keypoints2d

    if fps is None and videos:
        from mocap.sources import VideoFileSource

        with VideoFileSource(videos[0]) as src:
            fps = float(src.fps) or None
    kp2d = load_keypoints2d(keypoints, joint_set=joint_set, fps=fps)
    if "joint_set_reason" in kp2d.meta:
        log.warning("%s", kp2d.meta["joint_set_reason"])
    if max_frames is not None and kp2d.n_frames > max_frames:
        kp2d = Keypoints2D(kp2d.data[:max_frames], kp2d.joint_set, list(kp2d.camera_names),
                           kp2d.timestamps[:max_frames].copy(), kp2d.fps, dict(kp2d.meta))
    if videos:
        stems = [v.stem for v in videos]
        if sorted(stems) != sorted(kp2d.camera_names):
            log.warning("the keypoints' cameras %s are not the videos %s: the report has no overlays for them",
                        kp2d.camera_names, stems)
    (out / "2d").mkdir(parents=True, exist_ok=True)
    save_npz(kp2d, out / "2d" / "keypoints2d.npz")
    return kp2d


def _triangulate_stage(rig: CameraRig, kp2d: Keypoints2D, people: str, max_people: int | None, calib: str,
                       source: str) -> tuple[Keypoints3D, str]:
    """3D keypoints of every person: associated and tracked (multi) or slot by slot (single)."""
    from mocap.reconstruct.multiperson import needs_association, reconstruct_multiperson
    from mocap.reconstruct.sequence import triangulate_keypoints

    mode = people
    if mode == "auto":
        mode = "multi" if needs_association(kp2d) else "single"
        log.info("people: %s-person input", mode)
    if mode == "multi":
        return reconstruct_multiperson(rig, kp2d, max_people=max_people, calib_source=calib,
                                       keypoints_source=source), mode
    return triangulate_keypoints(rig, kp2d, calib_source=calib, keypoints_source=source), mode


def _drop_empty_people(kp3d: Keypoints3D, extras: dict) -> Keypoints3D:
    """Leave out person slots without a single 3D point (e.g. the one slot of single-person input in which nobody
    was seen), with their columns of ``extras["used"]`` / ``extras["view_error_px"]``."""
    keep = np.isfinite(kp3d.xyz[..., 0]).any(axis=(0, 2))
    if keep.all():
        return kp3d
    for k in ("used", "view_error_px"):
        if extras.get(k) is not None:
            extras[k] = extras[k][:, :, keep]
    quality = {k: (v[:, keep] if isinstance(v, np.ndarray) and v.ndim >= 2 and v.shape[1] == keep.size else v)
               for k, v in kp3d.quality.items()}
    return Keypoints3D(kp3d.data[:, keep], kp3d.joint_set, kp3d.timestamps, kp3d.fps, kp3d.person_ids[keep],
                       quality, kp3d.meta)


def _nobody_reasons(result: PipelineResult) -> list[str]:
    """Why nobody was reconstructed, per camera (for the log and the CLI)."""
    from mocap.viz.report import camera_notes

    return [f"{n}: {t}" for n, t in camera_notes(result.kp2d, result.kp3d, result.extras.get("view_error_px"),
                                                 result.extras.get("association")).items()] or \
        ["no camera pair saw the same person"]


def _fit_stage(result: PipelineResult, out: Path, model: str) -> None:
    """Fit a body model to every person's 3D keypoints; save each motion (and a check image). A person whose fit
    fails (too few keypoints) is reported in ``extras["fit_errors"]``; the others go on."""
    from mocap.body import fit_keypoints3d, load_model
    from mocap.body.render import render_fit_check

    t0 = time.perf_counter()
    body = load_model(model)
    result.timings["load body model"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    kp3d = result.kp3d
    motions: dict[int, object] = {}
    errors: dict[int, str] = {}
    for p in range(kp3d.n_people):
        pid, sfx = int(kp3d.person_ids[p]), _suffix(kp3d, p)
        try:
            motion = fit_keypoints3d(kp3d, model=body, person=p)
        except KeypointsError as e:
            errors[pid] = str(e)
            log.warning("person %d: no body fit (%s)", pid, e)
            continue
        motions[pid] = motion
        result.outputs[f"motion{sfx}"] = motion.save(out / f"motion{sfx}.npz")
        check = out / "report" / f"fit_{body.name}{sfx}.png"
        render_fit_check(check, body, motion, kp3d, person=p)
        result.outputs[f"fit_check{sfx}"] = check
    result.timings["fit"] = time.perf_counter() - t0
    result.extras["motions"] = motions
    result.extras["fit_errors"] = errors
    result.extras["body_model"] = body
    if motions:
        result.extras["motion"] = next(iter(motions.values()))


def _export_stage(result: PipelineResult, out: Path, formats: Sequence[str]) -> None:
    """Write animation files per person: from the body motion if there is one (rigged formats, with the body
    model's skinned mesh in glTF/FBX), else from the 3D keypoints (through inverse kinematics onto the standard
    skeleton). Marker formats (TRC, C3D) always carry the 3D keypoints themselves."""
    from mocap.export import export_motion, from_body_motion

    t0 = time.perf_counter()
    kp3d = result.kp3d
    body = result.extras.get("body_model")  # the fitted model, reused for the skinned mesh formats
    motions = result.extras.get("motions", {})
    for p in range(kp3d.n_people):
        pid, sfx = int(kp3d.person_ids[p]), _suffix(kp3d, p)
        motion = motions.get(pid)
        anim = from_body_motion(motion) if motion is not None else None
        for fmt in formats:
            use_anim = anim is not None and fmt not in ("trc", "c3d")
            name = f"{motion.model}{sfx}" if use_anim else f"keypoints{sfx}"
            try:
                result.outputs[f"export_{fmt}{sfx}"] = export_motion(
                    anim if use_anim else kp3d, out / "export" / f"{name}.{fmt}", fmt=fmt,
                    body_model=body if use_anim else None, person=None if use_anim else pid)
            except KeypointsError as e:  # too little of this person for a rig: the others are still written
                result.extras.setdefault("export_errors", {})[f"{fmt}{sfx}"] = str(e)
                log.warning("person %d: no %s export (%s)", pid, fmt, e)
    result.timings["export"] = time.perf_counter() - t0
