"""Triangulation: exact recovery, robustness to outliers, NaN handling, reason codes, container checks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mocap.cameras import CameraRig
from mocap.errors import KeypointsError, MocapWarning
from mocap.keypoints import Keypoints2D
from mocap.reconstruct.triangulation import (
    REASON_DEGENERATE,
    REASON_LOW_CONFIDENCE,
    REASON_OK,
    REASON_REPROJ_ERROR,
    REASON_TOO_FEW_VIEWS,
    refine_points,
    running_median,
    triangulate,
    triangulate_keypoints,
    triangulate_weighted_dlt,
)
from tests.conftest import make_ring_rig

DIST = [-0.12, 0.03, 0.001, -0.001, 0.0]


@pytest.fixture
def rig() -> CameraRig:
    return make_ring_rig(4, dist=DIST)


def _points(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform([-0.6, -0.6, 0.1], [0.6, 0.6, 1.9], (n, 3))


def _naive_dlt(Rt: np.ndarray, xy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Reference: per-point homogeneous SVD (the textbook DLT)."""
    out = np.full((xy.shape[1], 3), np.nan)
    for n in range(xy.shape[1]):
        rows = []
        for c in range(Rt.shape[0]):
            if w[c, n] > 0 and np.isfinite(xy[c, n]).all():
                rows.append(w[c, n] * (xy[c, n, 0] * Rt[c, 2] - Rt[c, 0]))
                rows.append(w[c, n] * (xy[c, n, 1] * Rt[c, 2] - Rt[c, 1]))
        if len(rows) >= 4:
            v = np.linalg.svd(np.array(rows))[2][-1]
            out[n] = v[:3] / v[3]
    return out


def test_weighted_dlt_exact_and_matches_naive_svd(rig, rng):
    X = _points(rng, 200)
    xy = rig.undistort_normalized(rig.project(X))
    w = rng.uniform(0.2, 1.0, (4, 200))
    got = triangulate_weighted_dlt(rig.extrinsics, xy, w)
    assert np.abs(got - X).max() < 1e-9
    # with noise the fast normal-equation solution agrees with the textbook SVD to well under a millimetre
    noisy = xy + rng.normal(0, 2e-3, xy.shape)
    diff = np.abs(triangulate_weighted_dlt(rig.extrinsics, noisy, w) - _naive_dlt(rig.extrinsics, noisy, w))
    assert diff.max() < 2e-3


def test_weighted_dlt_needs_two_views(rig, rng):
    X = _points(rng, 5)
    xy = rig.undistort_normalized(rig.project(X))
    w = np.ones((4, 5))
    w[1:, 0] = 0  # one view
    xy[2:, 1] = np.nan  # two views left: fine
    w[:, 2] = np.nan
    got = triangulate_weighted_dlt(rig.extrinsics, xy, w)
    assert np.isnan(got[0]).all() and np.isnan(got[2]).all()
    assert np.abs(got[1] - X[1]).max() < 1e-9 and np.abs(got[3:] - X[3:]).max() < 1e-9


def test_noiseless_exact_recovery_with_distortion_and_batch_shape(rig, rng):
    X = _points(rng, 60).reshape(5, 12, 3)
    res = triangulate(rig, rig.project(X))
    assert res.X.shape == (5, 12, 3) and res.used.shape == (4, 5, 12)
    assert np.abs(res.X - X).max() < 1e-6
    assert (res.reason == REASON_OK).all() and (res.n_views == 4).all()
    assert np.nanmax(res.reproj_error_px) < 1e-6


def test_refine_never_worse_and_refine_points_converges(rig, rng):
    X = _points(rng, 300)
    uv = rig.project(X) + rng.normal(0, 2.0, (4, 300, 2))
    lin = triangulate(rig, uv, reproj_threshold_px=1e9)
    ref = triangulate(rig, uv, reproj_threshold_px=1e9, refine=True)
    # refinement minimises the sum of squared (undistorted) pixel errors: the RMS can only go down (up to the
    # small difference between distorted and undistorted pixels)
    rms = lambda r: np.sqrt(np.nanmean(r.view_error_px ** 2))  # noqa: E731
    assert rms(ref) <= rms(lin) * (1 + 1e-3)
    # refine_points from a perturbed start recovers the exact point on noiseless data
    xy = rig.undistort_normalized(rig.project(X))
    f = np.array([c.K[0, 0] for c in rig])
    got = refine_points(rig.extrinsics, f, xy, np.ones((4, 300)), X + 0.02, iterations=6)
    assert np.abs(got - X).max() < 1e-6


def test_outliers_are_rejected(rng):
    rig = make_ring_rig(6, dist=DIST)
    X = _points(rng, 2000)
    uv = rig.project(X) + rng.normal(0, 1.0, (6, 2000, 2))
    bad = rng.random((6, 2000)) < 0.15
    uv[bad] = rng.uniform([0, 0], [1280, 720], (int(bad.sum()), 2))
    res = triangulate(rig, uv)
    err = np.linalg.norm(res.X - X, axis=-1)
    naive = triangulate_weighted_dlt(rig.extrinsics, rig.undistort_normalized(uv), np.ones((6, 2000)))
    err_naive = np.linalg.norm(naive - X, axis=-1)
    assert np.nanmean(err) < 0.01  # 1 cm with 15 % gross outliers
    assert np.nanmean(err_naive) > 5 * np.nanmean(err)
    # the outlier views are the ones left out (but where 4 of 6 views are wrong, a wrong pair can win)
    far = bad & (np.linalg.norm(uv - rig.project(X), axis=-1) > 30)
    assert (res.used & far).any(0).mean() < 0.002
    assert np.isfinite(res.X).all(-1).mean() > 0.99


def test_reason_codes(rig, rng):
    X = _points(rng, 5)
    uv = rig.project(X)
    conf = np.ones((4, 5))
    uv[1:, 0] = np.nan  # seen once
    conf[1:, 1] = 0.05  # seen 4x but 3 low-confidence detections
    uv[2:, 2] = np.nan  # two views that disagree by far
    uv[1, 2] += 200
    res = triangulate(rig, uv, conf, min_conf=0.1)
    assert res.reason[0] == REASON_TOO_FEW_VIEWS
    assert res.reason[1] == REASON_LOW_CONFIDENCE
    assert res.reason[2] == REASON_REPROJ_ERROR
    assert (res.reason[3:] == REASON_OK).all()
    assert np.isnan(res.X[:3]).all() and (res.n_views[:3] == 0).all() and not res.used[:, :3].any()
    counts = res.reason_counts()
    assert counts["ok"] == 2 and sum(counts.values()) == 5


def test_degenerate_point_behind_cameras(rig):
    # a camera looking the other way: the DLT solution lies behind it
    from mocap.cameras import Camera

    c0 = rig[0]
    flipped = Camera("back", c0.size, c0.K, c0.dist, np.diag([-1.0, 1.0, -1.0]) @ c0.R,
                     np.diag([-1.0, 1.0, -1.0]) @ c0.t)
    r2 = CameraRig([c0, flipped])
    X = np.array([[0.0, 0.0, 1.0]])
    uv = np.stack([c0.project(X), np.array([[640.0, 360.0]])])
    res = triangulate(r2, uv)
    assert res.reason[0] in (REASON_DEGENERATE, REASON_REPROJ_ERROR)
    assert np.isnan(res.X).all()


def test_shape_errors(rig):
    with pytest.raises(KeypointsError, match="expected \\(4, ..., 2\\)"):
        triangulate(rig, np.zeros((3, 5, 2)))
    with pytest.raises(KeypointsError, match="confidences"):
        triangulate(rig, np.zeros((4, 5, 2)), np.ones((4, 6)))


def _kp2d(rig: CameraRig, X: np.ndarray, names=None) -> Keypoints2D:
    uv = np.moveaxis(rig.project(X), 0, 1)  # (T, C, J, 2)
    data = np.concatenate([uv, np.ones(uv.shape[:-1] + (1,))], -1)[:, :, None]
    return Keypoints2D(data, "coco17", names or rig.names, fps=30.0)


def test_triangulate_keypoints_container_and_all_nan_frames(rig, rng):
    X = _points(rng, 17)[None] + np.linspace(0, 0.05, 8)[:, None, None]  # smooth motion
    kp = _kp2d(rig, X)
    kp.data[3] = np.nan  # a frame with no detection at all
    k3 = triangulate_keypoints(rig, kp)
    assert k3.data.shape == (8, 1, 17, 4) and k3.joint_set == "coco17"
    good = np.arange(8) != 3
    assert np.abs(k3.xyz[good, 0] - X[good]).max() < 1e-6
    assert np.isnan(k3.xyz[3]).all()
    assert (k3.quality["reason"][3] == REASON_TOO_FEW_VIEWS).all()
    assert (k3.quality["n_views"][good] == 4).all()
    assert k3.meta["empty_frames"].tolist() == [3]
    assert np.allclose(k3.timestamps, kp.timestamps)


def test_triangulate_keypoints_camera_checks(rig, rng):
    X = _points(rng, 17)[None] + np.array([0.0, 0.01])[:, None, None]
    # reordered subset of the rig's cameras: matched by name
    sub = rig.subset(["cam3", "cam1"])
    k3 = triangulate_keypoints(rig, _kp2d(sub, X))
    assert np.abs(k3.xyz[:, 0] - X).max() < 1e-6
    with pytest.raises(KeypointsError, match="at least 2"):
        triangulate_keypoints(rig, _kp2d(rig.subset(["cam0"]), X), keypoints_source="kp.npz")
    with pytest.raises(KeypointsError, match="calib.toml.*not in the calibration"):
        triangulate_keypoints(rig, _kp2d(sub, X, names=["cam3", "camX"]), calib_source="calib.toml")
    # same count, no name in common: matched by order with a warning
    with pytest.warns(MocapWarning, match="by order"):
        k3 = triangulate_keypoints(rig, _kp2d(rig, X, names=["a", "b", "c", "d"]))
    assert np.abs(k3.xyz[:, 0] - X).max() < 1e-6


def test_running_median_ignores_nan_and_spikes():
    x = np.arange(20, dtype=float)[:, None].repeat(3, 1)
    x[7] = 1000.0
    x[10] = np.nan
    m = running_median(x, 2)
    assert m.shape == x.shape
    assert abs(m[7, 0] - 7) <= 1.0 and np.isfinite(m[10]).all()


def test_temporal_check_fixes_consistent_wrong_pair(rng):
    # two of four cameras confuse the same wrong joint in one frame: a single frame cannot tell, time can
    rig = make_ring_rig(4, dist=DIST)
    T = 30
    base = _points(rng, 2)
    X = base[None] + np.linspace(0, 0.3, T)[:, None, None] * np.array([1.0, 0, 0])
    kp = _kp2d(rig, X[:, :, :])
    kp.data[..., :2] += rng.normal(0, 0.5, kp.data[..., :2].shape)
    kp.data[12, :2, 0, 0, :2] = kp.data[12, :2, 0, 1, :2]  # cams 0, 1 report joint 1 for joint 0
    plain = triangulate_keypoints(rig, kp, temporal_check=False)
    checked = triangulate_keypoints(rig, kp, temporal_check=True)
    e_checked = np.linalg.norm(checked.xyz[12, 0, 0] - X[12, 0])
    assert e_checked < 0.01
    assert np.linalg.norm(plain.xyz[12, 0, 0] - X[12, 0]) >= e_checked


def test_temporal_outlier_is_dropped_with_reason(rng):
    # a joint seen by two cameras, one of them wrong: consistent in its frame, far from its neighbours
    from mocap.reconstruct.triangulation import REASON_TEMPORAL

    rig = make_ring_rig(4, dist=DIST)
    T = 20
    X = _points(rng, 3)[None] + np.linspace(0, 0.2, T)[:, None, None] * np.array([0, 1.0, 0])
    kp = _kp2d(rig, X)
    kp.data[9, 2:, 0, 2] = np.nan
    # camera 1 reports a point 0.6 m further along camera 0's ray: both views agree on a wrong point
    ray = X[9, 2] - rig[0].center
    wrong = X[9, 2] + 0.6 * ray / np.linalg.norm(ray)
    kp.data[9, 1, 0, 2, :2] = rig[1].project(wrong[None])[0]
    kept = triangulate_keypoints(rig, kp, temporal_outlier_m=None)
    assert np.linalg.norm(kept.xyz[9, 0, 2] - wrong) < 1e-6
    k3 = triangulate_keypoints(rig, kp)
    assert k3.quality["reason"][9, 0, 2] == REASON_TEMPORAL
    assert np.isnan(k3.xyz[9, 0, 2]).all()
    assert np.isfinite(k3.xyz[:, 0, :2]).all() and np.isfinite(k3.xyz[8, 0, 2]).all()


@pytest.mark.slow
def test_synthetic_cmu_capture_accuracy(shared_data):
    from mocap.synthetic import make_capture

    rig, kp, gt = make_capture(shared_data / "bvh" / "131_01.bvh", 8, frame_step=4, seed=1)
    k3 = triangulate_keypoints(rig, kp)
    e = np.linalg.norm(k3.xyz - gt, axis=-1)
    assert np.nanmean(e) < 0.012  # 2 px noise, 10 % outliers, 5 % dropouts, 8 cameras
    assert np.isfinite(e).mean() > 0.99


def test_triangulate_undistorts_like_opencv_on_mixed_rig(rng):
    """Large batches take the vectorised undistortion; results equal the per-camera OpenCV path (fisheye too)."""
    from mocap.cameras import Camera
    from mocap.reconstruct.triangulation import _undistort

    rig = make_ring_rig(3, dist=[-0.25, 0.08, 0.002, -0.001, -0.01])
    fish = make_ring_rig(1, dist=[0.05, -0.01, 0.002, 0.0], model="fisheye")[0]
    rig = CameraRig(list(rig) + [Camera("fish", fish.size, fish.K, fish.dist, fish.R, fish.t, "fisheye")])
    uv = rng.uniform([0, 0], [1280, 720], (4, 6000, 2))
    uv[:, ::97] = np.nan
    got = _undistort(rig, uv)
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)
    for c, cam in enumerate(rig):
        ok = np.isfinite(uv[c]).all(1)
        assert np.isnan(got[c][~ok]).all()
        if cam.model == "fisheye":
            ref = cv2.fisheye.undistortPoints(uv[c][ok].reshape(-1, 1, 2), cam.K, cam.dist, criteria=crit)
        else:
            ref = cv2.undistortPointsIter(uv[c][ok].reshape(-1, 1, 2), cam.K, cam.dist, None, None, crit)
        assert np.abs(got[c][ok] - ref.reshape(-1, 2)).max() < 1e-9


def test_blocked_triangulation_equals_single_block(rng, monkeypatch):
    """Splitting a large batch into blocks changes nothing (outliers, dropouts, low confidences included)."""
    import mocap.reconstruct.triangulation as tri

    rig = make_ring_rig(4, dist=[-0.1, 0.02, 0.0, 0.0, 0.0])
    X = rng.uniform([-1, -1, 0.2], [1, 1, 1.8], (3000, 3))
    uv = rig.project(X) + rng.normal(0, 1.0, (4, 3000, 2))
    bad = rng.random((4, 3000)) < 0.15
    uv[bad] = rng.uniform([0, 0], [1280, 720], (int(bad.sum()), 2))
    uv[rng.random((4, 3000)) < 0.05] = np.nan
    conf = rng.uniform(0.05, 1.0, (4, 3000))
    monkeypatch.setattr(tri, "_BLOCK", 256)
    small = triangulate(rig, uv, conf, refine=True)
    monkeypatch.setattr(tri, "_BLOCK", 100000)
    big = triangulate(rig, uv, conf, refine=True)
    for f in ("X", "reproj_error_px", "n_views", "used", "reason", "view_error_px", "confidence"):
        np.testing.assert_allclose(getattr(small, f), getattr(big, f), rtol=0, atol=1e-12, err_msg=f)
    assert (small.reason == 0).mean() > 0.9


def _walker(T: int = 60, fps: float = 30.0) -> np.ndarray:
    """A rigid COCO-17 person walking on the spot, legs swinging +-0.5 rad with a 2 s period: (T, 17, 3)."""
    t = np.arange(T) / fps
    phi = 0.5 * np.sin(2 * np.pi * t / 2.0)
    X = np.zeros((T, 17, 3))
    X[:, 0] = [0.1, 0.0, 1.65]
    X[:, 1:5] = [[0.08, 0.03, 1.70], [0.08, -0.03, 1.70], [0.0, 0.07, 1.68], [0.0, -0.07, 1.68]]
    X[:, 5:11] = [[0.0, 0.18, 1.45], [0.0, -0.18, 1.45], [0.0, 0.20, 1.17], [0.0, -0.20, 1.17],
                  [0.05, 0.20, 0.92], [0.05, -0.20, 0.92]]
    for hip, knee, ankle, side, a in ((11, 13, 15, 1.0, phi), (12, 14, 16, -1.0, -phi)):
        X[:, hip] = [0.0, 0.11 * side, 0.95]
        X[:, knee] = X[:, hip] + 0.45 * np.stack([np.sin(a), np.zeros(T), -np.cos(a)], -1)
        X[:, ankle] = X[:, knee] + 0.42 * np.stack([np.sin(a - 0.2), np.zeros(T), -np.cos(a - 0.2)], -1)
    return X + np.array([0.0, 0.0, 0.05])


def _walker_kp(rig, X, rng, wrong_frames, wrong_cams=(0, 1)):
    """2D of the walker (0.3 px noise in the wrong cameras, 1 px in the others); ``wrong_cams`` detect the right
    ankle at the left ankle's position in ``wrong_frames``."""
    kp = _kp2d(rig, X)
    noise = np.where(np.isin(np.arange(4), wrong_cams)[None, :, None, None, None], 0.3, 1.0)
    kp.data[..., :2] += rng.normal(0, 1, kp.data[..., :2].shape) * noise
    for c in wrong_cams:
        kp.data[wrong_frames, c, 0, 16, :2] = kp.data[wrong_frames, c, 0, 15, :2]
    return kp


def test_bone_check_recovers_a_run_of_consistent_wrong_views(rng):
    # cams 0 and 1 both take the left ankle for the right one for 15 frames (0.5 s): a consistent wrong pair for
    # longer than the temporal window; cams 2 and 3 see the right ankle. Bone lengths tell them apart.
    from mocap.reconstruct.triangulation import REASON_BONE

    rig = make_ring_rig(4, dist=DIST)
    X = _walker()
    run = np.arange(8, 23)
    kp = _walker_kp(rig, X, rng, run)
    plain = triangulate_keypoints(rig, kp, bone_check=False)
    e_plain = np.linalg.norm(plain.xyz[run, 0, 16] - X[run, 16], axis=-1)
    assert np.nanmean(e_plain) > 0.2  # without the bone pass the wrong pair wins (else this test proves nothing)
    k3 = triangulate_keypoints(rig, kp)
    e = np.linalg.norm(k3.xyz[run, 0, 16] - X[run, 16], axis=-1)
    assert e.max() < 0.02
    assert not k3.meta["used"][:2, run, 0, 16].any() and k3.meta["used"][2:, run, 0, 16].all()
    assert k3.meta["triangulation"]["bone_rechecked"] >= run.size
    # nothing else was touched: every other point is still there and as accurate
    assert (k3.quality["reason"] != REASON_BONE).all() and np.isfinite(k3.xyz).all()
    other = np.ones(X.shape[:2], bool)
    other[run, 16] = False
    np.testing.assert_allclose(k3.xyz[:, 0][other], plain.xyz[:, 0][other], atol=1e-9)
    # the right shin keeps its length in every frame
    shin = np.linalg.norm(k3.xyz[:, 0, 16] - k3.xyz[:, 0, 14], axis=-1)
    assert np.abs(shin - 0.42).max() < 0.03


def test_bone_check_drops_when_no_view_subset_is_consistent(rng):
    from mocap.reconstruct.triangulation import REASON_BONE

    rig = make_ring_rig(4, dist=DIST)
    X = _walker()
    run = np.arange(8, 23)
    kp = _walker_kp(rig, X, rng, run)
    kp.data[run[:5], 2:, 0, 16] = np.nan  # only the two wrong views see the ankle there
    k3 = triangulate_keypoints(rig, kp)
    assert (k3.quality["reason"][run[:5], 0, 16] == REASON_BONE).all()
    assert np.isnan(k3.xyz[run[:5], 0, 16]).all() and (k3.quality["n_views"][run[:5], 0, 16] == 0).all()
    assert np.linalg.norm(k3.xyz[run[5:], 0, 16] - X[run[5:], 16], axis=-1).max() < 0.02
    kept = triangulate_keypoints(rig, kp, bone_check=False)
    assert np.isfinite(kept.xyz[run[:5], 0, 16]).all()


@pytest.mark.slow
def test_bone_check_on_pose2sim_demo(pose2sim_single, tmp_path):
    """Real data: cam01 and cam02 agree on a wrong right ankle for ~15 frames (frames ~43-60)."""
    from mocap.cameras.formats import read_calibration
    from mocap.keypoints2d import detect_videos
    from mocap.reconstruct.bones import bone_lengths_per_frame
    from mocap.sources.offset import apply_offsets

    videos = sorted((pose2sim_single / "videos").glob("*.mp4"))
    rig = read_calibration(pose2sim_single / "calibration" / "Calib.qca.txt").subset([v.stem for v in videos])
    kp2d, _ = detect_videos(videos, tmp_path / "2d", workers=1, show_progress=False)
    kp2d = apply_offsets(kp2d, [0, 0, 3.41, 0])  # cam03 is 3.41 frames late
    js = kp2d.joint_set
    from mocap.skeletons import get_joint_set

    names = get_joint_set(js).joints
    shin = [(names.index("right_knee"), names.index("right_ankle"))]

    def shin_and_errors(k3):
        L = bone_lengths_per_frame(k3.xyz, shin)[:, 0, 0]
        uv = np.moveaxis(kp2d.data[:, :, 0], 1, 0)  # (C, T, J, 3)
        err = np.linalg.norm(rig.project(k3.xyz[:, 0]) - uv[..., :2], axis=-1)
        used = k3.meta["used"][:, :, 0] & np.isfinite(err)
        return L, np.array([err[c][used[c]].mean() for c in range(len(rig))])

    L0, e0 = shin_and_errors(triangulate_keypoints(rig, kp2d, bone_check=False))
    L1, e1 = shin_and_errors(triangulate_keypoints(rig, kp2d))
    med0 = np.nanmedian(L0)
    assert np.nanmax(np.abs(L0 / med0 - 1)) > 1.0  # the failure is there without the pass
    med = np.nanmedian(L1)
    ok = np.isfinite(L1)
    assert ok.mean() > 0.9
    assert np.abs(L1[ok] / med - 1).max() < 0.25
    assert (e1 <= 1.1 * e0).all(), (e0, e1)
