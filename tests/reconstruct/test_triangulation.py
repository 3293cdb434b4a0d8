"""Triangulation: exact recovery, robustness to outliers, NaN handling, reason codes, undistortion, blocking."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mocap.cameras import CameraRig
from mocap.errors import KeypointsError
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
