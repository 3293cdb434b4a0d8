"""`mocap live` on the Pose2Sim Demo_SinglePerson videos (4 cameras, 1088x1920, 60 fps) played as live cameras in
real time, next to the same work done as fast as possible in the same run:

- bound: every synchronised set decoded, detected (MediaPipe, the 4 cameras one after another) and fused by the
  online core, no pacing: the sets/s this machine can do at all;
- live: `mocap live --videos ... --sink vmc://127.0.0.1:PORT` (the real-time runner, detectors in parallel
  threads, newest set first): sustained output fps, end-to-end latency frame read -> VMC packet sent p50/p95.

Run: ``.venv/bin/python benchmarks/bench_live.py``. Prints both; the ratio live/bound says how much of the
machine the real-time runner turns into output.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time


def bound(videos, calib) -> tuple[int, float]:  # noqa: ANN001
    from mocap.cameras.formats import read_calibration
    from mocap.keypoints2d.base import make_detector
    from mocap.live.core import FusionCore
    from mocap.sources import VideoFileSource

    sources = [VideoFileSource(v) for v in videos]
    rig = read_calibration(calib).subset([s.name for s in sources])
    dets = [make_detector("mediapipe") for _ in sources]
    core = FusionCore.from_params(rig, {"joint_set": dets[0].joint_set})
    t0, n = time.perf_counter(), 0
    for frames in zip(*sources):
        kp = {s.name: d.detect(f.image) for s, d, f in zip(sources, dets, frames, strict=True)}
        core.process(frames[0].timestamp_s, kp)
        n += 1
    return n, time.perf_counter() - t0


def live(videos_dir, calib) -> dict:  # noqa: ANN001
    from mocap.cli.main import main

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, tempfile.TemporaryDirectory() as d:
        rx.bind(("127.0.0.1", 0))
        out = os.path.join(d, "stats.json")
        main(["live", "--videos", str(videos_dir), "--calib", str(calib), "--sink",
              f"vmc://127.0.0.1:{rx.getsockname()[1]}", "--quiet", "--stats-json", out])
        return json.loads(open(out).read())


def main() -> None:
    os.environ.setdefault("MOCAP_NO_PROGRESS", "1")
    from mocap.data.pose2sim_demo import pose2sim_demo

    demo = pose2sim_demo("single")
    videos = sorted((demo / "videos").glob("*.mp4"))
    calib = demo / "calibration" / "Calib.qca.txt"
    n, t = bound(videos, calib)
    s = live(demo / "videos", calib)
    print(f"cpu cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    print(f"bound (decode + detect x4 + core, no pacing): {n} sets in {t:6.2f} s = {n / t:5.1f} sets/s")
    print(f"mocap live, real time (video 60 fps)        : {s['frames']} sets in {s['seconds']:6.2f} s = "
          f"{s['fps']:5.1f} fps; latency read -> VMC sent p50 {s['latency_ms_p50']} ms, p95 {s['latency_ms_p95']} ms; "
          f"live/bound {s['fps'] / (n / t):.2f}")


if __name__ == "__main__":
    main()
