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
