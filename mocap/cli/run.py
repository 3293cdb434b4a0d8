"""`mocap run`: the whole pipeline on a recorded session (videos + calibration)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mocap.errors import MocapError


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, parents: list) -> None:
    """Register `mocap run`."""
    p = sub.add_parser(
        name, help=help, parents=parents,
        description="Detect 2D keypoints in synchronised videos (one per camera, file stems = camera names), "
                    "triangulate with the calibration, filter, and write TRC/NPZ and a report.",
    )
    p.add_argument("--videos", nargs="+", type=Path, required=True,
                   help="video files, or one folder containing them")
    p.add_argument("--calib", type=Path, required=True, help="calibration file (any supported format)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--backend", default="mediapipe", help="2D detector backend (default mediapipe)")
    p.add_argument("--workers", type=int, default=None, help="detection processes (default: one per 2 cores)")
    p.add_argument("--frames", type=int, default=None, help="only the first N frames")
    p.add_argument("--cutoff", type=float, default=6.0, help="Butterworth cut-off in Hz (0: no filter)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML/PNG report")
    p.add_argument("--fit", choices=["none", "anny", "smplx"], default="none", help="fit a body model")
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

    videos: list[Path] = []
    for v in args.videos:
        videos.extend(find_videos(v) if v.is_dir() else [v])
    if not videos:
        raise MocapError(f"no videos found in {[str(v) for v in args.videos]}",
                         hint="pass video files (.mp4, .avi, .mov, .mkv) or a folder containing them")
    formats = [f.strip() for f in args.export.split(",") if f.strip()]
    res = run_pipeline(videos, args.calib, args.out, backend=args.backend, workers=args.workers,
                       max_frames=args.frames, cutoff_hz=args.cutoff or None, report=not args.no_report,
                       fit_model=None if args.fit == "none" else args.fit, export_formats=formats,
                       refine_calib=args.refine_calib)
    print_summary(res, Console(stderr=True))
    if args.refine_calib:
        info = res.extras.get("refine_calib", {})
        print(f"calibration refined from the people: {info['path']}" if "path" in info else
              f"calibration kept: {info.get('kept_original', 'not refined')}")
    return 0
