"""Triangulation: exact recovery, robustness to outliers, NaN handling, reason codes, undistortion, blocking."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mocap.cameras import CameraRig
from mocap.errors import KeypointsError, MocapError
from mocap.reconstruct.triangulation import (
    REASON_DEGENERATE,
    REASON_LOW_CONFIDENCE,
    REASON_OK,
    REASON_REPROJ_ERROR,
    REASON_TOO_FEW_VIEWS,
    refine_points,
    triangulate,
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


# --------------------------------------------------------------------------- thresholds, soft views, fallback
def test_per_camera_thresholds_and_bad_thresholds(rig, rng):
    X = _points(rng, 200)
    uv = rig.project(X) + rng.normal(0, 0.5, (4, 200, 2))
    uv[3] += 25.0  # camera 3 consistently 25 px off
    tight = triangulate(rig, uv, reproj_threshold_px=15.0)
    loose3 = triangulate(rig, uv, reproj_threshold_px=[15.0, 15.0, 15.0, 60.0])
    assert tight.used[3].mean() < 0.1  # dropped almost everywhere at 15 px
    assert loose3.used[3].mean() > 0.9 and loose3.used.sum() > tight.used.sum()
    with pytest.raises(MocapError, match="one per camera"):
        triangulate(rig, uv, reproj_threshold_px=[15.0, 15.0])
    with pytest.raises(MocapError, match="positive"):
        triangulate(rig, uv, reproj_threshold_px=[15.0, 15.0, 0.0, 15.0])
    with pytest.raises(MocapError, match="'auto'"):
        triangulate(rig, uv, reproj_threshold_px="wide")


def test_auto_threshold_keeps_clean_data_and_widens_for_a_rig_that_disagrees(rig, rng):
    X = _points(rng, 3000)
    clean = rig.project(X) + rng.normal(0, 1.0, (4, 3000, 2))
    bad = rng.random((4, 3000)) < 0.1
    clean[bad] = rng.uniform([0, 0], [1280, 720], (int(bad.sum()), 2))
    auto = triangulate(rig, clean, reproj_threshold_px="auto", refine=True, soft_factor=3.0)
    fixed = triangulate(rig, clean, reproj_threshold_px=15.0, refine=True)
    assert auto.meta["reproj_threshold_px"] == 15.0  # 1 px noise: the base threshold
    assert auto.meta["resolved"]["soft_limit_px"] < 15.0  # so the soft views change nothing either
    np.testing.assert_array_equal(auto.X, fixed.X)
    # every camera off by 10-20 px in its own direction (a calibration a little off): most views would be rejected
    off = clean + np.array([[12.0, 8.0], [-15.0, 5.0], [6.0, -18.0], [-9.0, -12.0]])[:, None]
    fixed = triangulate(rig, off, reproj_threshold_px=15.0, refine=True)
    auto = triangulate(rig, off, reproj_threshold_px="auto", refine=True, soft_factor=3.0)
    assert auto.meta["reproj_threshold_px"] > 20.0
    assert auto.used.sum() > 1.2 * fixed.used.sum()
    assert (auto.reason == REASON_OK).mean() >= (fixed.reason == REASON_OK).mean()
    # the random outliers (anywhere in the image) mostly stay out: only those landing by chance near the point
    assert (auto.used & bad).sum() < 0.1 * bad.sum()


def test_soft_views_pull_with_a_small_weight(rig, rng):
    X = _points(rng, 300)
    uv = rig.project(X) + rng.normal(0, 0.3, (4, 300, 2))
    uv[2] += np.array([40.0, 0.0])  # beyond the 15 px threshold, within 3 x 15
    hard = triangulate(rig, uv, refine=True)
    soft = triangulate(rig, uv, refine=True, soft_factor=3.0)
    assert hard.used[2].mean() < 0.05 and soft.used[2].mean() > 0.9
    e_hard = hard.view_error_px[2]
    e_soft = soft.view_error_px[2]
    assert np.nanmean(e_soft) < np.nanmean(e_hard)  # camera 2 is explained better ...
    assert np.nanmax(np.abs(soft.X - hard.X)) < 0.04  # ... by a small move of the points (metres)
    far = uv.copy()
    far[2] = rig.project(X)[2] + 200.0  # a gross outlier camera gets no weight
    assert not triangulate(rig, far, refine=True, soft_factor=3.0).used[2].any()


def test_fallback_keeps_the_best_pair_with_its_error(rig, rng):
    X = _points(rng, 100)
    uv = rig.project(X)
    uv[2:] = np.nan  # two views only
    uv[1] += np.array([0.0, 24.0])  # they disagree: each view ~12 px from the pair's point
    dropped = triangulate(rig, uv, reproj_threshold_px=8.0)
    assert (dropped.reason == REASON_REPROJ_ERROR).all()
    kept = triangulate(rig, uv, reproj_threshold_px=8.0, fallback_factor=2.0)
    assert (kept.reason == REASON_OK).all() and kept.meta["fallback"] == 100
    assert (kept.reproj_error_px > 8.0).all() and (kept.n_views == 2).all()
    assert np.nanmedian(np.linalg.norm(kept.X - X, axis=-1)) < 0.1
    uv[1] += np.array([0.0, 60.0])  # too far apart: still a hole
    assert (triangulate(rig, uv, reproj_threshold_px=8.0, fallback_factor=2.0).reason == REASON_REPROJ_ERROR).all()
