"""Mediapipe detection, the resumable per-camera cache and `mocap detect` on the Pose2Sim demo."""

import numpy as np
import pytest

from mocap.keypoints2d import detect_camera, detect_videos, make_detector
from mocap.sources import VideoFileSource


def _frames(pose2sim_single, cam, n):
    return [f.image for f in VideoFileSource(pose2sim_single / "videos" / f"{cam}.mp4", stop=n)]


def test_mediapipe_pose_and_holistic_find_the_person(pose2sim_single):
    imgs = _frames(pose2sim_single, "cam01", 3)
    with make_detector("mediapipe") as det:
        k = det.detect(imgs[0])
    assert k.shape == (1, 33, 3) and det.joint_set == "mediapipe33"
    h, w = imgs[0].shape[:2]
    assert np.isfinite(k).all() and (k[0, :, 0] > 0).all() and (k[0, :, 0] < w).all() and (k[0, :, 1] < h).all()
    with make_detector("holistic") as hol:
        kh = hol.detect(imgs[0])
    assert kh.shape == (1, 543, 3) and np.isfinite(kh[0, :33]).all()
    np.testing.assert_allclose(kh[0, 0, :2], k[0, 0, :2], atol=30)  # same body, same place


def test_cache_resume_and_skip(pose2sim_single, tmp_path):
    video = pose2sim_single / "videos" / "cam02.mp4"

    class Interrupt:
        def put(self, item):
            if item[1] == 7:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        detect_camera(video, tmp_path, max_frames=10, checkpoint_every=5, progress_queue=Interrupt())
    with np.load(tmp_path / "cam02.npz") as z:
        assert int(z["done"]) == 7 and not bool(z["complete"])  # nothing detected is lost
    r = detect_camera(video, tmp_path, max_frames=10)
    assert r.resumed_from == 7 and r.n_frames == 10 and r.n_detected == 10
    r2 = detect_camera(video, tmp_path, max_frames=10)
    assert r2.skipped and r2.n_frames == 10
    r3 = detect_camera(video, tmp_path, max_frames=9)  # other settings: recomputed
    assert not r3.skipped and r3.resumed_from == 0 and r3.n_frames == 9


def test_truncated_video_keeps_frames(pose2sim_single, tmp_path):
    from tests.sources.helpers import damage_avi, write_avi

    imgs = [im[::4, ::4].copy() for im in _frames(pose2sim_single, "cam01", 12)]
    ok = write_avi(tmp_path / "ok.avi", 12, size=(imgs[0].shape[1], imgs[0].shape[0]), frames=imgs)
    bad = damage_avi(ok, tmp_path / "camX.avi")
    kp, res = detect_videos([bad], tmp_path / "out", workers=1, show_progress=False)
    assert res[0].stopped_at is not None and 0 < res[0].n_frames < 12
    assert any("camX.avi stopped at frame" in w for w in res[0].warnings)
    assert kp.n_frames == res[0].n_frames and kp.camera_names == ["camX"]


@pytest.mark.slow
def test_detect_cli_acceptance(pose2sim_single, tmp_path):
    """Full run: 4 cameras x 100 frames, person found in >= 98 % of frames per camera, overlays written."""
    from mocap.cli.main import main
    from mocap.keypoints import load_npz

    rc = main(["detect", "--videos", str(pose2sim_single / "videos"), "--out", str(tmp_path), "--overlays",
               "--overlay-every", "50"])
    assert rc == 0
    kp = load_npz(tmp_path / "keypoints2d.npz")
    assert kp.data.shape == (100, 4, 1, 33, 3) and kp.camera_names == ["cam01", "cam02", "cam03", "cam04"]
    found = np.isfinite(kp.data[..., 0]).any(axis=(2, 3)).mean(axis=0)
    assert (found >= 0.98).all(), found
    assert (tmp_path / "overlays" / "cam03" / "cam03_000050.png").is_file()
    assert main(["detect", "--videos", str(pose2sim_single / "videos"), "--out", str(tmp_path)]) == 0  # all cached


def _kill_during_detection(cmd: list[str], cache, min_done: int, env: dict) -> int:
    """Start ``cmd``, SIGKILL it once ``cache`` holds a checkpoint of at least ``min_done`` unfinished frames;
    return the frames that checkpoint holds."""
    import os
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if cache.is_file():
                try:
                    with np.load(cache) as z:
                        done, complete = int(z["done"]), bool(z["complete"])
                except Exception:  # caught between writes: try again
                    done, complete = 0, False
                assert not complete, "detection finished before it could be killed"
                if done >= min_done:
                    os.kill(proc.pid, signal.SIGKILL)
                    assert proc.wait(30) == -signal.SIGKILL
                    return done
            assert proc.poll() is None, "detection exited before it was killed"
            time.sleep(0.05)
        raise AssertionError("no checkpoint appeared")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["blazepose", "mediapipe"])
def test_killed_and_resumed_equals_uninterrupted(pose2sim_multi, tmp_path, backend):
    """`mocap detect` killed with SIGKILL mid-detection, then run again, gives the uninterrupted run's arrays
    (cam03 of the two-person demo, where a restarted tracker used to change the 2D from the resume frame on)."""
    import os
    import sys
    from pathlib import Path

    from mocap.keypoints import load_npz

    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "cam03.mp4").symlink_to(pose2sim_multi / "videos" / "cam03.mp4")
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "mocap.cli.main", "detect", "--videos", str(videos), "--out", str(out),
           "--backend", backend, "--max-frames", "60", "--workers", "1"]
    done = _kill_during_detection(cmd, out / "cam03.npz", 25, env)
    assert 25 <= done < 60
    _, res = detect_videos([videos / "cam03.mp4"], out, backend=backend, workers=1, max_frames=60,
                           show_progress=False)
    assert res[0].resumed_from == done and res[0].n_frames == 60
    if backend == "mediapipe":  # no exportable state: rebuilt by running again from the last frame nobody was seen
        assert res[0].replayed_from == 0
    else:
        assert res[0].replayed_from is None
    ref, _ = detect_videos([videos / "cam03.mp4"], tmp_path / "ref", backend=backend, workers=1, max_frames=60,
                           show_progress=False)
    resumed = load_npz(out / "keypoints2d.npz")
    assert resumed.data.shape == ref.data.shape
    np.testing.assert_array_equal(resumed.data, ref.data)
    assert resumed.meta["track_ids_2d"] == ref.meta["track_ids_2d"]
    if backend == "blazepose":
        assert ref.n_people == 2


def test_mediapipe_resume_replays_from_the_last_empty_frame(pose2sim_single, tmp_path):
    """Without landmark smoothing, MediaPipe's graph restarts after a frame without a person: a resume only runs
    again from there. With it (the default) its visibility filter remembers every frame: a resume runs from 0."""
    from tests.sources.helpers import write_avi

    imgs = [im[::2, ::2].copy() for im in _frames(pose2sim_single, "cam01", 24)]
    black = np.zeros_like(imgs[0])
    frames = imgs[:12] + [black] * 3 + imgs[12:]
    video = write_avi(tmp_path / "cam01.avi", len(frames), size=(black.shape[1], black.shape[0]), frames=frames)

    class Interrupt:
        def put(self, item):
            if item[1] == 21:
                raise KeyboardInterrupt

    for smooth, replayed in ((False, 15), (True, 0)):
        kw = {"smooth_landmarks": smooth}
        a, b = tmp_path / f"a{smooth}", tmp_path / f"b{smooth}"
        with pytest.raises(KeyboardInterrupt):
            detect_camera(video, a, "mediapipe", kw, checkpoint_every=5, progress_queue=Interrupt())
        r = detect_camera(video, a, "mediapipe", kw)
        assert r.resumed_from == 21 and r.replayed_from == replayed and r.n_frames == 27 and not r.warnings
        ref = detect_camera(video, b, "mediapipe", kw)
        with np.load(r.cache) as za, np.load(ref.cache) as zb:
            np.testing.assert_array_equal(za["data"], zb["data"])
            assert np.isnan(za["data"][12:15]).all() and np.isfinite(za["data"][15:, 0, :, 0]).all()


def test_camera_that_sees_nobody(pose2sim_single, tmp_path, capsys):
    """A camera that sees nobody: NaN for it, a per-camera line that says so, no crash."""
    from mocap.cli.main import main
    from mocap.keypoints import load_npz
    from tests.sources.helpers import write_avi

    imgs = [im[::2, ::2].copy() for im in _frames(pose2sim_single, "cam02", 4)]
    h, w = imgs[0].shape[:2]
    (tmp_path / "v").mkdir()
    write_avi(tmp_path / "v" / "cam01.avi", 4, size=(w, h), frames=imgs)
    write_avi(tmp_path / "v" / "cam02.avi", 4, size=(w, h), frames=[np.full((h, w, 3), 90, np.uint8)] * 4)
    assert main(["detect", "--videos", str(tmp_path / "v"), "--out", str(tmp_path / "o"), "--workers", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(ln.startswith("cam02: nobody found in any of its 4 frames") for ln in lines), lines
    assert any(ln.startswith("cam01: a person found in 4/4 frames") for ln in lines), lines
    kp = load_npz(tmp_path / "o" / "keypoints2d.npz")
    assert kp.data.shape[:3] == (4, 2, 1) and np.isnan(kp.data[:, 1]).all()
    assert np.isfinite(kp.data[:, 0, 0, :, 0]).all()
