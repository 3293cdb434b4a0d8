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
                    "(BVH, FBX, GLB, glTF, C3D, TRC) and a report with plots and an overlay image per camera. "
                    "--session multi runs Demo_MultiPerson (two people) the same way, one output per person.",
    )
    p.add_argument("--session", choices=("single", "multi"), default="single",
                   help="single (default): Demo_SinglePerson; multi: Demo_MultiPerson (two people, tracked with ids)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: out/demo, out/demo_multi)")
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
    demo = pose2sim_demo(args.session, cache=args.cache)
    console.print(f"[bold]Pose2Sim {demo.name}[/bold] at {demo}")
    videos = sorted((demo / "videos").glob("*.mp4"))
    calib = demo / "calibration" / "Calib.qca.txt"
    formats = [f.strip() for f in args.export.split(",") if f.strip()]
    out = args.out or Path("out/demo" if args.session == "single" else "out/demo_multi")
    res = run_pipeline(videos, calib, out, workers=args.workers, max_frames=args.frames,
                       fit_model=None if args.fit == "none" else args.fit, export_formats=formats)
    print_summary(res, console)
    return 0


def print_summary(res, console: Console) -> None:
    """Print per-camera detection, reprojection and sync numbers, one line per tracked person, notes on cameras that
    saw nobody (or people no other camera confirmed), and the written files."""
    import numpy as np

    from mocap.viz.report import compute_stats

    stats = compute_stats(res.rig, res.kp2d, res.kp3d, res.extras.get("used"), res.extras.get("view_error_px"),
                          res.extras.get("association"))
    sync = res.extras.get("sync") or {}
    table = Table(title="Reconstruction")
    table.add_column("camera")
    table.add_column("someone detected", justify="right")
    table.add_column("most people", justify="right")
    table.add_column("reproj. error, kept views [px]", justify="right")
    table.add_column("views rejected", justify="right")
    table.add_column("sync offset [frames] (confidence), * applied", justify="right")
    for n in res.kp2d.camera_names:
        s = sync.get(n)
        if s is None:
            cell = "-"
        elif not np.isfinite(s[0]):
            cell = "no estimate"
        else:
            cell = f"{s[0]:+.2f} ({s[1]:.2f}){' *' if s[2] else ''}"
        table.add_row(n, f"{stats.detected_fraction[n] * 100:.1f}%", str(stats.max_people[n]),
                      f"{stats.reproj_error_px[n]:.2f}", f"{stats.views_rejected[n] * 100:.1f}%", cell)
    console.print(table)
    for n, s in sync.items():
        if len(s) > 3 and s[3]:
            console.print(f"sync {n}: {s[0]:+.2f} frames not applied: {s[3]}")
    console.print(f"{res.kp3d.n_frames} frames, {res.kp3d.n_joints} joints ({res.kp3d.joint_set}); "
                  f"{res.kp3d.n_people} person(s) ({res.extras.get('people_mode', 'single')}-person mode); "
                  f"{stats.reconstructed_fraction * 100:.1f}% of joint positions reconstructed")
    for st in stats.people:
        lcf = "" if not np.isfinite(st.limb_complete_fraction) else \
            f", {st.limb_complete_fraction * 100:.1f}% of frames with >= 10 of 12 limb joints"
        cv = "" if not np.isfinite(st.limb_cv_max) else \
            f", limb bone-length CV mean {100 * np.mean(list(st.limb_bone_cv.values())):.1f}% " \
            f"(max {100 * st.limb_cv_max:.1f}%)"
        console.print(f"  person {st.person_id}: present in {st.present_fraction * 100:.1f}% of frames{lcf}{cv}")
    for n, note in stats.camera_notes.items():
        console.print(f"  [yellow]{n}[/yellow]: {note}")
    for pid, err in (res.extras.get("fit_errors") or {}).items():
        console.print(f"  person {pid}: no body fit ({err})")
    if res.kp3d.n_people == 0:
        console.print("[bold yellow]no person was reconstructed[/bold yellow]: no person was seen by two cameras "
                      "that agree (see the camera notes above and the report)")
    console.print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in res.timings.items()))
    for k, p in res.outputs.items():
        console.print(f"  {k:18s} {p}")
