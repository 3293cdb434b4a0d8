"""`mocap detect`: run a 2D keypoint detector over videos, one camera per process, with a resumable cache."""

from __future__ import annotations

import argparse
from pathlib import Path

from mocap.errors import MocapError
from mocap.keypoints2d.base import BACKENDS, DEFAULT_BACKEND


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, parents: list) -> None:
    """Register `mocap detect`."""
    p = sub.add_parser(name, help=help, description=help + ". Camera names are the video file stems; results are "
                       "cached per camera in OUT (<camera>.npz) so an interrupted run resumes and a rerun skips "
                       "finished cameras; OUT/keypoints2d.npz holds all cameras.", parents=parents)
    p.add_argument("--videos", nargs="+", required=True, metavar="DIR_OR_FILE",
                   help="video files and/or folders of videos (one video per camera)")
    p.add_argument("--backend", default=DEFAULT_BACKEND, choices=list(BACKENDS),
                   help="detector (default blazepose: several people, MediaPipe's BlazePose models per person, "
                   "MediaPipe 33 joints; mediapipe: MediaPipe Pose, one person)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--overlays", action="store_true", help="write overlay PNGs to OUT/overlays/<camera>/")
    p.add_argument("--overlay-every", type=int, default=10, metavar="N", help="overlay every Nth frame (default 10)")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel camera processes (default: one per 2 CPU cores)")
    p.add_argument("--max-frames", type=int, default=None, help="only the first N frames of each video")
    p.add_argument("--pose-model", type=Path, help="onnx: top-down pose model (SimCC or heatmap output)")
    p.add_argument("--det-model", type=Path, help="onnx: person detector model (optional)")
    p.add_argument("--model", type=Path, help="yolo-pose: Ultralytics YOLO-pose .onnx")
    p.add_argument("--joint-set", default=None, help="onnx/yolo-pose: joint set of the model output (default coco17)")
    p.add_argument("--max-people", type=int, default=None, help="blazepose/onnx/yolo-pose: most people per frame")
    p.set_defaults(func=run)


def _detector_kwargs(args: argparse.Namespace) -> dict:
    kw: dict = {}
    if args.backend == "onnx":
        if args.pose_model is None:
            raise MocapError("--backend onnx needs --pose-model MODEL.onnx (and optionally --det-model)")
        kw.update(pose_model=str(args.pose_model), det_model=str(args.det_model) if args.det_model else None)
    elif args.backend == "yolo-pose":
        if args.model is None:
            raise MocapError("--backend yolo-pose needs --model MODEL.onnx")
        kw.update(model=str(args.model))
    if args.backend in ("onnx", "yolo-pose") and args.joint_set:
        kw["joint_set"] = args.joint_set
    if args.backend in ("blazepose", "onnx", "yolo-pose") and args.max_people:
        kw["max_people"] = args.max_people
    return kw


def run(args: argparse.Namespace) -> int:
    """Detect, print a per-camera summary, return 0."""
    from mocap.keypoints2d.run import detect_videos
    from mocap.sources.video import find_videos

    videos = find_videos(args.videos)
    kp, results = detect_videos(videos, args.out, args.backend, _detector_kwargs(args), workers=args.workers,
                                overlay_every=args.overlay_every if args.overlays else 0, max_frames=args.max_frames)
    for r in results:
        print(r.summary())
    print(f"wrote {args.out / 'keypoints2d.npz'} ({kp.n_frames} frames x {kp.n_cameras} cameras, {kp.joint_set})")
    return 0
