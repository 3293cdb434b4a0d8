"""`mocap demo`: fetch the Pose2Sim demo session from PyPI and run the whole pipeline on it."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, parents: list) -> None:
    """Register `mocap demo`."""
    p = sub.add_parser(
        name, help=help, parents=parents,
        description="Download the Pose2Sim Demo_SinglePerson session (4 videos, a Qualisys calibration; "
                    "BSD-3-Clause) from PyPI into the cache, then detect 2D keypoints, synchronise the cameras, "
                    "triangulate, filter, fit the Anny body model and write TRC/NPZ, every animation format "
                    "(BVH, FBX, GLB, glTF, C3D, TRC) and a report with plots and an overlay image per camera.",
    )
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default: out/demo)")
    p.add_argument("--cache", type=Path, default=None, help="download cache (default: $MOCAP_CACHE or ~/.cache/mocap)")
    p.add_argument("--frames", type=int, default=None, help="only the first N frames (default: all 100)")
    p.add_argument("--workers", type=int, default=None, help="detection processes (default: one per 2 cores)")
    p.add_argument("--fit", choices=["none", "anny", "smplx"], default="anny",
                   help="body model to fit (default anny; its first use builds a ~830 MB cache in ~1 min)")
    p.add_argument("--export", default="bvh,fbx,glb,gltf,c3d,trc",
                   help="comma-separated animation formats (default: all; '' for none)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fetch the demo data and run :func:`mocap.pipeline.run_pipeline` on it."""
    from mocap.data.pose2sim_demo import pose2sim_demo
    from mocap.pipeline import run_pipeline

    console = Console(stderr=True)
    demo = pose2sim_demo("single", cache=args.cache)
    console.print(f"[bold]Pose2Sim Demo_SinglePerson[/bold] at {demo}")
    videos = sorted((demo / "videos").glob("*.mp4"))
    calib = demo / "calibration" / "Calib.qca.txt"
    formats = [f.strip() for f in args.export.split(",") if f.strip()]
    res = run_pipeline(videos, calib, args.out, workers=args.workers, max_frames=args.frames,
                       fit_model=None if args.fit == "none" else args.fit, export_formats=formats)
    print_summary(res, console)
    return 0


def print_summary(res, console: Console) -> None:
    """Print per-camera detection and reprojection numbers, and the written files."""
    from mocap.viz.report import compute_stats

    stats = compute_stats(res.rig, res.kp2d, res.kp3d, res.extras.get("used"))
    sync = res.extras.get("sync") or {}
    table = Table(title="Reconstruction")
    table.add_column("camera")
    table.add_column("person detected", justify="right")
    table.add_column("reproj. error, kept views [px]", justify="right")
    table.add_column("views rejected", justify="right")
    table.add_column("sync offset [frames] (confidence), * applied", justify="right")
    for n in res.kp2d.camera_names:
        s = sync.get(n)
        table.add_row(n, f"{stats.detected_fraction[n] * 100:.1f}%", f"{stats.reproj_error_px[n]:.2f}",
                      f"{stats.views_rejected[n] * 100:.1f}%",
                      "-" if s is None else f"{s[0]:+.2f} ({s[1]:.2f}){' *' if s[2] else ''}")
    console.print(table)
    console.print(f"{res.kp3d.n_frames} frames, {res.kp3d.n_joints} joints ({res.kp3d.joint_set}); "
                  f"{stats.reconstructed_fraction * 100:.1f}% of joint positions reconstructed")
    console.print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in res.timings.items()))
    for k, p in res.outputs.items():
        console.print(f"  {k:18s} {p}")
