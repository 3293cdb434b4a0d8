"""`mocap live`: cameras -> 2D -> online triangulation -> filter -> optional body fit -> avatars, events, viewer.

Sources: ``--videos DIR`` (synchronised videos played as live, in real time), ``--cameras 0,1,rtsp://...`` (USB
indices or stream URLs; ``NAME=DEVICE`` to name them after the calibration's cameras), ``--realsense SERIAL,...``.
Sinks (repeatable ``--sink``): ``vmc://127.0.0.1:39539[?person=ID]`` (an avatar over VMC), ``osc://HOST:PORT``
(gesture events and axes, ``--gestures FILE.toml``), ``rerun`` (live viewer on 127.0.0.1) or ``rerun:OUT.rrd``.
``--record DIR`` keeps 2D, 3D and the fitted body crash-safe (``mocap view DIR`` opens it). ``--replay FILE`` plays
a recording (3D keypoints or body motion) to the sinks in real time instead of cameras. A status line shows the
fps per camera, the end-to-end latency (frame read -> every sink sent) p50/p95 and the people tracked.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mocap.errors import MocapError


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, parents: list) -> None:
    """Register `mocap live`."""
    p = sub.add_parser(name, help=help, description=__doc__.split("\n\n", 1)[0].strip(), parents=parents)
    src = p.add_argument_group("sources (one of)")
    src.add_argument("--videos", type=Path, help="folder of synchronised videos, played as live cameras")
    src.add_argument("--cameras", help="comma-separated USB indices / stream URLs (NAME=DEVICE to name them)")
    src.add_argument("--realsense", help="comma-separated RealSense serial numbers")
    src.add_argument("--replay", type=Path, help="play a 3D keypoints / body-motion file to the sinks in real time")
    p.add_argument("--calib", type=Path, help="calibration file (any format mocap reads); needed with cameras")
    p.add_argument("--sink", action="append", default=[], metavar="URL",
                   help="vmc://HOST:PORT[?person=ID], osc://HOST:PORT, rerun, rerun:OUT.rrd (repeatable)")
    p.add_argument("--gestures", type=Path, default=None, help="gesture TOML file for osc:// sinks")
    p.add_argument("--person", type=int, default=None, help="person id for vmc/osc sinks (default: first tracked)")
    p.add_argument("--record", type=Path, default=None, help="record 2D, 3D and the body here (crash-safe)")
    p.add_argument("--detector", default="mediapipe", help="2D backend (mediapipe, holistic, onnx, yolo-pose)")
    p.add_argument("--body-model", default="", choices=["", "none", "anny", "smplx"],
                   help="fit a body model online (default: keypoint skeletons only)")
    p.add_argument("--filter", default="kalman", choices=["kalman", "one_euro", "none"],
                   help="3D filter (default kalman: gated constant velocity, the online triangulator's)")
    p.add_argument("--min-cameras", type=int, default=2, help="skip frames seen by fewer cameras")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--frames", type=int, default=None, help="read at most this many frames per camera")
    p.add_argument("--stats-json", type=Path, default=None, help="write the run's statistics here at the end")
    p.add_argument("--quiet", action="store_true", help="no status line")
    p.set_defaults(func=run)


def _sinks(args: argparse.Namespace, rig=None):  # noqa: ANN001, ANN202
    sinks, viewer = [], None
    for url in args.sink:
        if url.startswith("vmc://"):
            from mocap.apps.vmc import VmcSender

            s = VmcSender.from_url(url)
            if args.person is not None and s.selector.person is None:
                s.selector.person = s.selector.current = args.person
            sinks.append(s)
        elif url.startswith("osc://"):
            from mocap.apps.gestures import GestureMapper, OscOutput

            m = GestureMapper.from_file(args.gestures, person=args.person)
            out = OscOutput.from_url(url)
            m.on_event(out)
            m.on_axes(out.axes)
            sinks.append(m)
        elif url == "rerun" or url.startswith("rerun:"):
            from mocap.apps.viewer import RerunViewer

            path = url.split(":", 1)[1] if ":" in url else None
            viewer = RerunViewer(save=path, live=path is None, rig=rig)
            sinks.append(viewer)
        else:
            raise MocapError(f"unknown sink {url!r}",
                             hint="use vmc://HOST:PORT, osc://HOST:PORT, rerun or rerun:OUT.rrd")
    return sinks, viewer


def _print_status(line: str) -> None:
    print("\r" + line, end="", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.replay is not None:
        return _replay(args)
    if args.calib is None:
        raise MocapError("--calib is required with cameras or videos", hint="mocap live --videos DIR --calib C")
    from mocap.apps.live import LiveRunner, open_live_sources
    from mocap.cameras.formats import read_calibration
    from mocap.keypoints2d.base import make_detector
    from mocap.live.core import FusionCore

    sources = open_live_sources(args.videos, args.cameras, args.realsense)
    if len(sources) < 2:
        raise MocapError(f"{len(sources)} camera(s): live triangulation needs at least 2")
    rig = read_calibration(args.calib)
    names = [s.name for s in sources]
    missing = [n for n in names if n not in rig.names]
    if missing:
        raise MocapError(f"cameras {missing} are not in {args.calib} (it has {list(rig.names)})",
                         hint="name the videos after the calibration's cameras (cam01.mp4, ...) or use NAME=DEVICE")
    rig = rig.subset(names)
    detectors = [make_detector(args.detector) for _ in sources]
    fps = max(s.fps for s in sources) or 30.0
    body = "" if args.body_model in ("", "none") else args.body_model
    core = FusionCore.from_params(rig, {"joint_set": detectors[0].joint_set, "filter": args.filter,
                                        "body_model": body, "fps": fps})
    sinks, viewer = _sinks(args, rig)
    recorder = None
    if args.record is not None:
        from mocap.apps.live_record import LiveRecorder

        recorder = LiveRecorder(args.record, rig, detectors[0].joint_set, fps)
        sinks.append(recorder)
    runner = LiveRunner(rig, sources, detectors, core, sinks, recorder=recorder, viewer=viewer,
                        min_cameras=args.min_cameras, max_frames=args.frames,
                        status=None if args.quiet else _print_status, image_every=10)
    try:
        stats = runner.run(args.duration)
    finally:
        for s in sources:
            s.close()
    summary = stats.summary()
    if not args.quiet:
        print(file=sys.stderr)
    print(f"live: {summary['frames']} frames in {summary['seconds']} s ({summary['fps']} fps out); per camera "
          f"{summary['camera_fps']} fps (dropped {summary['dropped']}); latency p50 {summary['latency_ms_p50']} ms, "
          f"p95 {summary['latency_ms_p95']} ms; up to {summary['people_max']} people"
          + (f"; recorded to {args.record}" if args.record else ""))
    for w in sorted(set(stats.warnings))[:5]:
        print(f"warning: {w}", file=sys.stderr)
    if args.stats_json:
        args.stats_json.write_text(json.dumps(summary, indent=1))
    return 0


def _replay(args: argparse.Namespace) -> int:
    from mocap.apps.offline import load_stream, play

    stream = load_stream(args.replay)
    sinks, _ = _sinks(args)
    if not sinks:
        raise MocapError("--replay needs at least one --sink")
    late = []
    try:
        for _, lt in play(stream, sinks, realtime=True):
            late.append(lt)
    finally:
        for s in sinks:
            s.close()
    import numpy as np

    lat = np.array(late) * 1e3
    print(f"replayed {len(stream.frames)} frames ({stream.duration_s:.1f} s at {stream.fps:g} fps) to "
          f"{len(sinks)} sink(s); pacing lateness p50 {np.percentile(lat, 50):.1f} ms, "
          f"p95 {np.percentile(lat, 95):.1f} ms")
    return 0
