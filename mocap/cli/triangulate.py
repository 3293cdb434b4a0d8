"""`mocap triangulate`: 2D keypoints + calibration -> 3D keypoints (TRC + .npz with quality fields).

A thin layer over :func:`mocap.reconstruct.sequence.triangulate_keypoints` (one person, or people already
associated across cameras), :func:`mocap.reconstruct.multiperson.reconstruct_multiperson` (several people in
arbitrary order per camera and frame: associated across views and tracked over time) and the filters in
:mod:`mocap.reconstruct.filters` (the same calls a Python user makes).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from mocap.errors import KeypointsError, MocapError

log = logging.getLogger(__name__)

FILTER_CHOICES = ("none", "butterworth", "one_euro", "kalman")
PEOPLE_CHOICES = ("auto", "single", "multi")


def _threshold(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of pixels or 'auto'") from None


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, parents: list) -> None:
    """Register `mocap triangulate`."""
    p = sub.add_parser(
        name, help=help, parents=parents,
        description="Triangulate 2D keypoints of calibrated cameras into 3D. Reads any calibration format, "
                    "OpenPose JSON folders (one per camera, or one parent folder) or mocap .npz 2D keypoints "
                    "(one file with all cameras, or one file per camera); writes a TRC file and an .npz with "
                    "per-joint quality (reprojection error, number of views, drop reason).",
        epilog="Example: mocap triangulate --calib calib.toml --keypoints pose/ --out out/trial.trc "
               "--filter butterworth --cutoff 6")
    p.add_argument("--calib", required=True, help="calibration file (any supported format)")
    p.add_argument("--keypoints", required=True, nargs="+",
                   help="2D keypoints: a .npz (all cameras), several .npz (one per camera), OpenPose JSON folders "
                        "(one per camera), or one folder holding the per-camera JSON folders")
    p.add_argument("--out", required=True, help="output .trc file (an .npz with the same stem is written too)")
    p.add_argument("--joint-set", default="auto",
                   help="joint set of OpenPose JSON input (default auto: from the joint count: 17 coco17, 18 coco18, "
                        "26 halpe26, 133 coco_wholebody133, 135 body135; 25 is body25 or body25b, told apart by the "
                        "geometry; the choice is printed)")
    p.add_argument("--sync", choices=("auto", "none"), default="auto",
                   help="auto (default, as mocap run): estimate camera time offsets from the 2D keypoints and the "
                        "calibration and apply the reliable ones (3+ cameras, 20+ frames); none: trust the input. "
                        "What was found and applied is printed")
    p.add_argument("--fps", type=float, default=None, help="frame rate of OpenPose JSON input (default 30)")
    p.add_argument("--people", choices=PEOPLE_CHOICES, default="auto",
                   help="single: the person axis is the same person in every camera (triangulated slot by slot); "
                        "multi: people in any order per camera and frame are associated across views and tracked "
                        "over time; auto (default): multi when a camera holds more than one person in some frame")
    p.add_argument("--mode", choices=("offline", "online"), default="offline",
                   help="offline (default): the whole clip at once (temporal and bone-length passes use every "
                        "frame); online: frame by frame, never a later frame, exactly as the live path (mocap live, "
                        "the ROS node) would have computed it (single-person input)")
    p.add_argument("--max-people", type=int, default=None,
                   help="multi-person: keep at most N tracks (the longest); default all")
    p.add_argument("--min-views", type=int, default=2, help="minimum agreeing cameras per joint (default 2)")
    p.add_argument("--min-conf", type=float, default=0.1, help="ignore detections below this confidence (0.1)")
    p.add_argument("--threshold", type=_threshold, default="auto",
                   help="reprojection error (pixels) above which a camera is an outlier; auto (default): 15 px, or "
                        "3.5 median residuals when the cameras disagree more (views a little over it still count "
                        "with a small weight, and a point no camera pair agrees on keeps its best pair)")
    p.add_argument("--no-refine", action="store_true",
                   help="skip the Gauss-Newton refinement of every point (faster, slightly less accurate)")
    p.add_argument("--no-temporal-check", action="store_true",
                   help="do not re-check joints that jump away from their neighbouring frames")
    p.add_argument("--fill-gaps", type=int, default=0, metavar="N",
                   help="interpolate gaps of at most N frames before filtering (default 0 = off)")
    p.add_argument("--filter", choices=FILTER_CHOICES, default="none", help="temporal filter (default none)")
    p.add_argument("--cutoff", type=float, default=6.0, help="Butterworth cut-off, Hz (default 6)")
    p.add_argument("--bones", action="store_true",
                   help="constrain every person's rigid limb segments (upper arm, forearm, thigh, shank, face, feet) "
                        "to their median length")
    p.add_argument("--units", default="m", choices=("m", "mm", "cm"), help="TRC units (default m)")
    p.add_argument("--y-up", action="store_true", help="write the TRC Y-up (OpenSim convention)")
    p.set_defaults(func=run)


def _joint_names(joint_set: str, n: int) -> list[str]:
    try:
        from mocap.skeletons import get_joint_set

        js = get_joint_set(joint_set)
        if len(js) == n:
            return list(js.joints)
    except (KeyError, ValueError, MocapError, ImportError):
        pass
    return [f"joint{j}" for j in range(n)]


def summarize(kp3d, camera_names: list[str], view_error_px: np.ndarray, used: np.ndarray | None = None) -> str:
    """A human-readable summary: persons, frames, mean reprojection error per camera, drops per joint and reason."""
    from mocap.reconstruct.triangulation import REASONS

    T, P, J = kp3d.data.shape[:3]
    reason = kp3d.quality.get("reason", np.zeros((T, P, J), int))
    ok = reason == 0
    lines = [f"persons: {P}   frames: {T}   joints: {J} ({kp3d.joint_set})",
             f"triangulated: {int(ok.sum())} of {T * P * J} joint positions ({100.0 * ok.mean():.1f}%)"]
    err = kp3d.quality.get("reproj_error_px")
    if err is not None and np.isfinite(err).any():
        lines.append(f"mean reprojection error: {np.nanmean(err):.2f} px (median {np.nanmedian(err):.2f}, "
                     f"95th percentile {np.nanpercentile(err, 95):.2f})")
    lines.append("per camera (views used / mean reprojection error of the views used):")
    for c, name in enumerate(camera_names):
        e = view_error_px[c]
        m = np.isfinite(e) if used is None else (used[c] & np.isfinite(e))
        mean = f"{np.mean(e[m]):.2f} px" if m.any() else "n/a"
        lines.append(f"  {name:<16} {int(m.sum()):>8}   {mean}")
    names = _joint_names(kp3d.joint_set, J)
    dropped = ~ok
    if dropped.any():
        lines.append("dropped joints (count per reason):")
        for code in sorted(int(c) for c in np.unique(reason[dropped])):
            per_joint = (reason == code).sum(axis=(0, 1))
            top = np.argsort(-per_joint)[:6]
            detail = ", ".join(f"{names[j]} {per_joint[j]}" for j in top if per_joint[j] > 0)
            lines.append(f"  [{code}] {REASONS.get(code, '?')}: {int((reason == code).sum())} ({detail})")
        empty = int((~ok).all(axis=(1, 2)).sum())
        if empty:
            lines.append(f"  {empty} frame(s) have no triangulated joint at all")
    else:
        lines.append("dropped joints: none")
    return "\n".join(lines)


def summarize_tracks(kp3d, assoc: dict) -> str:
    """Multi-person summary: each track's id and frame span, and the association counts."""
    T = kp3d.n_frames
    present = np.isfinite(kp3d.xyz).all(-1).any(-1)  # (T, P)
    lines = [f"multi-person: {kp3d.n_people} track(s) over {T} frames "
             f"(people per frame: max {int(assoc['people_3d'].max(initial=0))}, "
             f"frames with nobody: {int((assoc['people_3d'] == 0).sum())})"]
    for p, pid in enumerate(kp3d.person_ids):
        f = np.flatnonzero(present[:, p])
        span = f"frames {f[0]}-{f[-1]} ({f.size} with data)" if f.size else "no data"
        lines.append(f"  track {int(pid)}: {span}")
    lines.append(f"  2D people seen by one camera only (dropped): {int(assoc['single_view_dropped'].sum())}; "
                 f"rejected as fragments/duplicates: {int(assoc['rejected'].sum())}; "
                 f"short tracks dropped: {int(assoc['tracks_dropped'])}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run `mocap triangulate`."""
    from mocap.cameras.formats import read_calibration
    from mocap.keypoints import Keypoints3D, save_npz, write_trc, write_trc_per_person
    from mocap.keypoints2d.importers import load_keypoints2d
    from mocap.reconstruct import filters as flt
    from mocap.reconstruct.bones import constrain_bone_lengths, estimate_bone_lengths, rigid_bones
    from mocap.reconstruct.multiperson import needs_association, reconstruct_multiperson
    from mocap.reconstruct.sequence import triangulate_keypoints

    out = Path(args.out)
    if out.suffix.lower() != ".trc":
        raise MocapError(f"--out {out} must end in .trc (the .npz is written beside it)")
    rig = read_calibration(args.calib)
    kp2d = load_keypoints2d(args.keypoints, joint_set=args.joint_set, fps=args.fps)
    if "joint_set_reason" in kp2d.meta:
        print(f"joint set: {kp2d.meta['joint_set_reason']}")
    src = " ".join(args.keypoints)
    sync = None
    if args.sync == "auto":
        from mocap.pipeline import match_rig
        from mocap.sources.offset import describe_sync, synchronise

        if kp2d.n_cameras >= 2:
            rig = match_rig(rig, kp2d.camera_names, args.calib)
        kp2d, sync = synchronise(rig, kp2d)
        for line in describe_sync(sync) or ["sync: not estimated (needs 3+ cameras and 20+ frames)"]:
            print(line)
    mode = args.people
    if mode == "auto":
        mode = "multi" if needs_association(kp2d) else "single"
        log.info("--people auto: %s-person input", mode)
    common = {"calib_source": f"calibration {args.calib}", "keypoints_source": f"keypoints {src}",
              "min_views": args.min_views, "min_conf": args.min_conf,
              "refine": not args.no_refine, "temporal_check": not args.no_temporal_check}
    if args.threshold != "auto":  # "auto" is the offline default (per-frame association keeps its own 15 px)
        common["reproj_threshold_px"] = args.threshold
    if args.mode == "online":
        if mode == "multi":
            raise MocapError("--mode online takes single-person input (or people already associated: --people "
                             "single); several people per camera need the offline association")
        from mocap.reconstruct.online import triangulate_online

        common.pop("temporal_check")
        kp3d = triangulate_online(rig, kp2d, **common)
    elif mode == "multi":
        kp3d = reconstruct_multiperson(rig, kp2d, max_people=args.max_people, fill_gaps_frames=args.fill_gaps,
                                       **common)
    else:
        kp3d = triangulate_keypoints(rig, kp2d, **common)
    assoc = kp3d.meta.pop("association", None)
    view_err = kp3d.meta.pop("view_error_px")
    used = kp3d.meta.pop("used", None)
    cams = kp3d.meta["camera_names"]
    kp3d.meta.pop("empty_frames", None)
    xyz = kp3d.xyz.copy()
    if args.fill_gaps > 0:
        xyz = flt.fill_gaps(xyz, args.fill_gaps, "linear", kp3d.timestamps)
    if args.filter == "butterworth":
        xyz = flt.butterworth_filter(xyz, kp3d.fps, args.cutoff)
    elif args.filter == "one_euro":
        xyz = flt.one_euro_filter(xyz, kp3d.timestamps)
    elif args.filter == "kalman":
        xyz = flt.kalman_filter(xyz, kp3d.timestamps, smooth=True)
    if args.bones:
        try:
            b = rigid_bones(kp3d.joint_set)
        except (KeyError, ValueError) as e:
            raise MocapError(f"--bones: joint set {kp3d.joint_set!r} has no bone tree ({e})") from None
        if not b:
            raise MocapError(f"--bones: joint set {kp3d.joint_set!r} has no rigid limb segments to constrain")
        lengths = estimate_bone_lengths(xyz, b, kp3d.confidence)
        xyz = constrain_bone_lengths(xyz, lengths, b, kp3d.confidence)
    conf = np.where(np.isfinite(xyz).all(-1), np.nan_to_num(kp3d.confidence, nan=0.5), np.nan)
    kp3d = Keypoints3D(np.concatenate([xyz, conf[..., None]], -1), kp3d.joint_set, kp3d.timestamps, kp3d.fps,
                       kp3d.person_ids, kp3d.quality, kp3d.meta)
    per_cam = {}
    for c, name in enumerate(cams):
        m = np.isfinite(view_err[c]) if used is None else used[c]
        per_cam[name] = float(np.nanmean(view_err[c][m])) if m.any() else None
    kp3d.meta.update({"reproj_error_px_per_camera": per_cam, "calibration": str(args.calib),
                      "filter": args.filter, "cutoff_hz": args.cutoff if args.filter == "butterworth" else None,
                      "people_mode": mode, "mode": args.mode})
    if sync:
        kp3d.meta["sync"] = {n: {"offset_frames": d.offset, "confidence": d.confidence, "applied_frames": d.applied,
                                 "note": d.note} for n, d in sync.items()}
    if assoc is not None:
        kp3d.meta["association"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in assoc.items()}
    if kp3d.n_people == 0:
        npz = save_npz(kp3d, out.with_suffix(".npz"))
        print(summarize_tracks(kp3d, assoc) if assoc is not None else "persons: 0")
        raise KeypointsError(
            f"no person was triangulated from {src} (empty result saved to {npz}; no TRC written)",
            hint="check that the calibration belongs to these videos and that the cameras are synchronised; "
                 "the association counts above show how many 2D people each frame had")
    out.parent.mkdir(parents=True, exist_ok=True)
    if kp3d.n_people > 1:
        paths = write_trc_per_person(kp3d, out, units=args.units, y_up=args.y_up)
    else:
        paths = [write_trc(kp3d, out, units=args.units, y_up=args.y_up)]
    npz = save_npz(kp3d, out.with_suffix(".npz"))
    print(summarize(kp3d, cams, view_err, used))
    if assoc is not None:
        print(summarize_tracks(kp3d, assoc))
    for p in paths:
        print(f"wrote {p}")
    print(f"wrote {npz}")
    return 0
