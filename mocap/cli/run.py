"""`mocap run`: the whole pipeline on a recorded session (videos, or existing 2D keypoints, + calibration)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mocap.errors import MocapError


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, parents: list) -> None:
    """Register `mocap run`."""
    p = sub.add_parser(
        name, help=help, parents=parents,
        description="Detect 2D keypoints of every person in synchronised videos (one per camera, file stems = camera "
                    "names), or read existing 2D keypoints (--keypoints), synchronise the cameras, associate people "
                    "across views and track them, triangulate, filter, and write one TRC per person, the (T, P, J, 4) "
                    "NPZ and a report (optionally a body fit and animation files per person).",
        epilog="Examples: mocap run --videos session/ --calib calib.toml --out out/session; "
               "mocap run --keypoints pose/ --calib calib.toml --out out/session --videos session/ (overlays)")
    p.add_argument("--videos", nargs="+", type=Path, default=[],
                   help="video files, or one folder containing them (optional with --keypoints: used for overlays)")
    p.add_argument("--keypoints", nargs="+", default=None, metavar="DIR_OR_NPZ",
                   help="existing 2D keypoints instead of detection: a .npz (all cameras), several .npz, OpenPose "
                        "JSON folders (one per camera) or one folder holding them")
    p.add_argument("--joint-set", default="auto",
                   help="joint set of OpenPose JSON --keypoints (default auto: from the joint count; 25 joints: "
                        "BODY_25 or BODY_25B from the geometry)")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate of OpenPose JSON --keypoints (default: the videos', else 30)")
    p.add_argument("--calib", type=Path, required=True, help="calibration file (any supported format)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--backend", default=None,
                   help="2D detector backend (default: mocap detect's default detector)")
    p.add_argument("--workers", type=int, default=None, help="detection processes (default: one per 2 cores)")
    p.add_argument("--frames", type=int, default=None, help="only the first N frames")
    p.add_argument("--sync", choices=("auto", "none"), default="auto",
                   help="auto (default): estimate camera time offsets and apply the reliable ones; none: trust the "
                        "recordings")
    p.add_argument("--people", choices=("auto", "single", "multi"), default="auto",
                   help="multi: associate people across views and track them; single: one person, same slot in "
                        "every camera; auto (default): multi when a camera sees more than one person")
    p.add_argument("--max-people", type=int, default=None, help="keep at most N tracks (the longest); default all")
    p.add_argument("--cutoff", type=float, default=6.0, help="Butterworth cut-off in Hz (0: no filter)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML/PNG report")
    p.add_argument("--fit", choices=["none", "anny", "smplx"], default="none", help="fit a body model to every person")
    p.add_argument("--refine-calib", action="store_true",
                   help="refine the camera poses on this session's people before triangulating (writes "
                        "calib_refined.toml; see `mocap calibrate refine`)")
    p.add_argument("--export", default="", help="comma-separated animation formats, e.g. bvh,glb,c3d")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run :func:`mocap.pipeline.run_pipeline` with the command-line options."""
    from rich.console import Console

    from mocap.cli.demo import print_summary
    from mocap.pipeline import run_pipeline
    from mocap.sources import find_videos

    if not args.videos and not args.keypoints:
        raise MocapError("pass --videos (to detect 2D keypoints) or --keypoints (existing 2D keypoints)")
    videos = find_videos(args.videos) if args.videos else []
    formats = [f.strip() for f in args.export.split(",") if f.strip()]
    res = run_pipeline(videos, args.calib, args.out, keypoints=args.keypoints, joint_set=args.joint_set,
                       fps=args.fps, backend=args.backend, workers=args.workers, max_frames=args.frames,
                       cutoff_hz=args.cutoff or None, sync=args.sync, people=args.people, max_people=args.max_people,
                       report=not args.no_report, fit_model=None if args.fit == "none" else args.fit,
                       export_formats=formats, refine_calib=args.refine_calib)
    print_summary(res, Console(stderr=True))
    if args.refine_calib:
        info = res.extras.get("refine_calib", {})
        print(f"calibration refined from the people: {info['path']}" if "path" in info else
              f"calibration kept: {info.get('kept_original', 'not refined')}")
    return 0
