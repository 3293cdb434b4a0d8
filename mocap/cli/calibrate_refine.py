"""`mocap calibrate refine` and `mocap calibrate selfcal`: calibration from the people a rig films.

Registered under `mocap calibrate` by :mod:`mocap.cli.calibrate` through :func:`add_people_parsers`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_people_parsers(calibrate_subparsers: argparse._SubParsersAction, parents: list) -> None:
    """Register ``refine`` and ``selfcal`` under ``mocap calibrate``."""
    r = calibrate_subparsers.add_parser(
        "refine", parents=parents, help="refine camera poses (and focal lengths) from people's 2D keypoints",
        description="Bundle-adjust the cameras of a calibration on confident 2D keypoints of moving people "
                    "(people associated across cameras, e.g. `mocap detect` output), keeping the calibration's "
                    "metric scale (or a stated height). Prints the reprojection error before/after and each "
                    "camera's change, and names a camera that moved during the recording.")
    r.add_argument("--keypoints", required=True, help="2D keypoints (.npz from `mocap detect`, .csv, OpenPose JSON)")
    r.add_argument("--calib", required=True, help="calibration to refine (any supported format)")
    r.add_argument("--out", required=True, help="refined calibration to write (.toml or another format)")
    r.add_argument("--focal", action="store_true", help="also refine each camera's focal length")
    r.add_argument("--height", type=float, metavar="M", help="scale from the person's height in metres (default: "
                                                              "keep the calibration's scale)")
    r.add_argument("--min-conf", type=float, default=0.5, help="ignore detections below this confidence")
    r.add_argument("--sync", choices=["auto", "none"], default="auto",
                   help="estimate and correct camera time offsets first, as `mocap run` does (default auto)")
    r.add_argument("--trend", metavar="CSV", help="write each camera's reprojection error per frame to this CSV")
    r.set_defaults(func=run_refine)
    s = calibrate_subparsers.add_parser(
        "selfcal", parents=parents, help="board-free calibration from people walking through the volume "
                                         "(lower accuracy)",
        description="Calibrate a rig with no calibration at all from people's 2D keypoints: intrinsics from a "
                    "field of view (or a focal length), camera poses from essential matrices between views and a "
                    "bundle adjustment, metric scale from the person's stated height. LOWER ACCURACY than a board "
                    "calibration: use it to get started, then calibrate with a board.")
    s.add_argument("--keypoints", required=True, help="2D keypoints of one person walking through the volume")
    s.add_argument("--out", required=True, help="calibration to write")
    s.add_argument("--height", type=float, required=True, metavar="M", help="the person's standing height, metres")
    s.add_argument("--size", nargs=2, type=int, metavar=("W", "H"), help="image size in pixels (default: from the "
                                                                          "videos given with --videos, else 1920 1080)")
    s.add_argument("--videos", help="folder of the session's videos (image sizes and EXIF-free metadata)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--hfov", type=float, default=60.0, metavar="DEG", help="horizontal field of view (default 60)")
    g.add_argument("--focal-px", type=float, metavar="PX", help="focal length in pixels")
    g.add_argument("--focal-mm", type=float, nargs=2, metavar=("MM", "SENSOR_MM"),
                   help="lens focal length and sensor width in millimetres (e.g. from EXIF)")
    s.add_argument("--refine-focal", action="store_true", help="refine the focal lengths too")
    s.set_defaults(func=run_selfcal)


def _load(path: str):  # noqa: ANN202
    from mocap.errors import DataError
    from mocap.keypoints import Keypoints2D, load_keypoints

    kp = load_keypoints(path)
    if not isinstance(kp, Keypoints2D):
        raise DataError(f"{path}: holds 3D keypoints; refinement needs the 2D keypoints of every camera")
    return kp


def run_refine(args: argparse.Namespace) -> int:
    """`mocap calibrate refine`."""
    from mocap.calibration.refine import camera_drift, refine_from_keypoints, sync_keypoints
    from mocap.cameras.formats import read_calibration, write_calibration

    rig = read_calibration(args.calib)
    kp = _load(args.keypoints)
    if args.sync == "auto":
        kp, off = sync_keypoints(rig.subset(kp.camera_names) if all(n in rig.names for n in kp.camera_names)
                                 else rig, kp)
        moved = {n: o for n, o in off.items() if o}
        if moved:
            print("time offsets corrected first: " + ", ".join(f"{n} {o:+.2f} frames" for n, o in moved.items()))
    series, events = camera_drift(rig, kp)
    if events:
        for e in events:
            print(f"warning: {e.message()}")
    res = refine_from_keypoints(rig, kp, min_conf=args.min_conf, refine_focal=args.focal, height=args.height)
    for line in res.lines():
        print(line)
    for cam, u in zip(res.rig, res.uncertainty.values()):
        cam.meta["uncertainty"] = u.as_meta()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_calibration(res.rig, args.out)
    print(f"wrote {args.out}")
    if args.trend:
        import numpy as np

        names = rig.names
        t = kp.timestamps
        with open(args.trend, "w") as fh:
            fh.write("time_s," + ",".join(f"{n}_px" for n in names) + "\n")
            for ti, row in zip(t, series):
                fh.write(f"{ti:.4f}," + ",".join("" if not np.isfinite(v) else f"{v:.3f}" for v in row) + "\n")
        print(f"wrote the per-camera reprojection trend to {args.trend}")
    return 0


def run_selfcal(args: argparse.Namespace) -> int:
    """`mocap calibrate selfcal`."""
    from mocap.calibration.selfcal import LOWER_ACCURACY_NOTE, self_calibrate
    from mocap.cameras.formats import write_calibration

    kp = _load(args.keypoints)
    size = tuple(args.size) if args.size else None
    if size is None and args.videos:
        from mocap.calibration.selfcal import video_sizes

        size = video_sizes(args.videos, kp.camera_names)
    res = self_calibrate(kp, height=args.height, image_size=size or (1920, 1080), hfov_deg=args.hfov,
                         focal_px=args.focal_px, focal_mm=tuple(args.focal_mm) if args.focal_mm else None,
                         refine_focal=args.refine_focal)
    print(f"note: {LOWER_ACCURACY_NOTE}")
    for line in res.lines():
        print(line)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_calibration(res.rig, args.out)
    print(f"wrote {args.out}")
    return 0
