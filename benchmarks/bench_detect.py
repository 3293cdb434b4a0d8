"""Throughput of `mocap detect` (cameras in parallel processes) vs calling MediaPipe directly, frame by frame, in
one process, on the Pose2Sim Demo_SinglePerson videos (4 cameras x 100 frames, 1088x1920).

Run: ``.venv/bin/python benchmarks/bench_detect.py [--workers N]`` (default: mocap's default, one process per two
cores). Prints frames/s of both.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def baseline(videos) -> tuple[int, float]:  # noqa: ANN001
    import cv2
    import mediapipe as mp

    t0, n = time.perf_counter(), 0
    for v in videos:
        with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
            cap = cv2.VideoCapture(str(v))
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                pose.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
                n += 1
            cap.release()
    return n, time.perf_counter() - t0


def ours(videos, workers: int) -> tuple[int, float]:  # noqa: ANN001
    from mocap.keypoints2d import detect_videos

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        kp, res = detect_videos(videos, d, workers=workers, show_progress=False)
        return sum(r.n_frames for r in res), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    os.environ.setdefault("MOCAP_NO_PROGRESS", "1")
    from mocap.data.pose2sim_demo import pose2sim_demo

    videos = sorted((pose2sim_demo("single") / "videos").glob("*.mp4"))
    n1, t1 = baseline(videos)
    from mocap.keypoints2d.run import default_workers

    workers = args.workers or default_workers()
    n2, t2 = ours(videos, workers)
    print(f"cpu cores: {os.cpu_count()}")
    print(f"mediapipe direct, 1 process : {n1} frames in {t1:6.2f} s = {n1 / t1:6.1f} frames/s")
    print(f"mocap detect, {workers} process(es)  : {n2} frames in {t2:6.2f} s = {n2 / t2:6.1f} frames/s "
          f"(includes process start-up and cache writes)")


if __name__ == "__main__":
    main()
