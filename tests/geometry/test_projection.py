import cv2
import numpy as np
import pytest

from mocap.geometry.projection import project_points, undistort_to_normalized

K = np.array([[800.0, 0, 640], [0, 810, 360], [0, 0, 1]])


@pytest.mark.parametrize(
    "dist",
    [np.zeros(5), np.array([-0.2, 0.05, 1e-3, -2e-3, 0.01]),
     np.array([0.1, -0.05, 1e-3, 1e-3, 0.0, 0.02, -0.01, 0.005]),
     np.array([0.1, -0.05, 1e-3, 1e-3, 0.0, 0.02, -0.01, 0.005, 1e-3, -1e-3, 2e-3, 1e-4])],
)
def test_pinhole_matches_opencv_and_inverts(dist):
    rng = np.random.default_rng(0)
    X = rng.uniform([-1, -1, 2], [1, 1, 5], (200, 3))
    rvec = np.array([0.1, -0.2, 0.05])
    tvec = np.array([0.1, 0.2, 0.3])
    R = cv2.Rodrigues(rvec)[0]
    uv, z = project_points(X, K, dist, R, tvec)
    ref = cv2.projectPoints(X, rvec, tvec, K, dist)[0].reshape(-1, 2)
    np.testing.assert_allclose(uv, ref, atol=1e-8)
    xc = X @ R.T + tvec
    xy = undistort_to_normalized(uv, K, dist)
    np.testing.assert_allclose(xy, xc[:, :2] / xc[:, 2:], atol=1e-7)


def test_fisheye_matches_opencv_and_inverts():
    dist = np.array([0.05, -0.01, 0.002, -0.0005])
    rng = np.random.default_rng(1)
    X = rng.uniform([-1, -1, 1], [1, 1, 3], (100, 3))
    R, t = np.eye(3), np.zeros(3)
    uv, _ = project_points(X, K, dist, R, t, "fisheye")
    ref = cv2.fisheye.projectPoints(X.reshape(-1, 1, 3), np.zeros(3), t, K, dist)[0].reshape(-1, 2)
    np.testing.assert_allclose(uv, ref, atol=1e-8)
    np.testing.assert_allclose(undistort_to_normalized(uv, K, dist, "fisheye"), X[:, :2] / X[:, 2:], atol=1e-7)


def test_nan_passthrough():
    uv = np.array([[np.nan, 1.0], [640, 360]])
    out = undistort_to_normalized(uv, K, np.array([-0.1, 0, 0, 0, 0]))
    assert np.isnan(out[0]).all() and np.allclose(out[1], 0)


STRONG = {
    4: np.array([-0.32, 0.11, 1.5e-3, -1.2e-3]),
    5: np.array([-0.32, 0.11, 1.5e-3, -1.2e-3, -0.02]),
    8: np.array([0.6, -0.2, 1e-3, -2e-3, 0.05, 0.9, -0.15, 0.06]),
    12: np.array([0.6, -0.2, 1e-3, -2e-3, 0.05, 0.9, -0.15, 0.06, 2e-3, -1e-3, 1.5e-3, 5e-4]),
}


def _cv_iter(uv, K, dist):
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)
    return cv2.undistortPointsIter(uv.reshape(-1, 1, 2), K, dist, None, None, crit).reshape(-1, 2)


@pytest.mark.parametrize("n_coef", [4, 5, 8, 12])
@pytest.mark.parametrize("n_points", [50, 20000])  # OpenCV path for small batches, vectorised path for large
def test_undistort_matches_opencv_iter_strong_distortion(n_coef, n_points):
    from mocap.geometry.projection import distort_normalized

    dist = STRONG[n_coef]
    rng = np.random.default_rng(n_coef)
    uv = rng.uniform([0, 0], [1280, 720], (n_points, 2))  # the whole image, corners included
    ref = _cv_iter(uv, K, dist)
    got = undistort_to_normalized(uv, K, dist)
    assert np.abs(got - ref).max() < 1e-9
    # and it inverts the distortion model wherever OpenCV does (all but the extreme corners of the 5-coefficient
    # model, where its radial factor folds over and OpenCV's iteration does not converge either)
    xd = np.stack([(uv[:, 0] - K[0, 2]) / K[0, 0], (uv[:, 1] - K[1, 2]) / K[1, 1]], -1)
    inverted = np.abs(distort_normalized(ref, dist) - xd).max(1) < 1e-10
    assert inverted.mean() > 0.98
    assert np.abs(distort_normalized(got, dist) - xd)[inverted].max() < 1e-10


def test_undistort_vectorised_equals_opencv_path_and_keeps_nan():
    from mocap.geometry.projection import undistort_pinhole

    rng = np.random.default_rng(5)
    uv = rng.uniform([0, 0], [1280, 720], (30000, 2))
    uv[::7, 0] = np.nan
    uv[::11, 1] = np.inf
    dist = STRONG[5]
    got = undistort_to_normalized(uv.reshape(100, 300, 2), K, dist).reshape(-1, 2)
    bad = ~np.isfinite(uv).all(1)
    assert np.isnan(got[bad]).all() and np.isfinite(got[~bad]).all()
    ref = _cv_iter(uv[~bad], K, dist)
    assert np.abs(got[~bad] - ref).max() < 1e-9
    np.testing.assert_allclose(undistort_pinhole(uv[~bad][:5000], K, dist), ref[:5000], atol=1e-11, rtol=0)


@pytest.mark.parametrize("n_points", [10, 5000])
def test_undistort_inverts_projection_with_skew(n_points):
    Ks = K.copy()
    Ks[0, 1] = 2.5
    dist = STRONG[5]
    rng = np.random.default_rng(3)
    X = rng.uniform([-1, -0.6, 2], [1, 0.6, 4], (n_points, 3))
    uv, _ = project_points(X, Ks, dist, np.eye(3), np.zeros(3))
    np.testing.assert_allclose(undistort_to_normalized(uv, Ks, dist), X[:, :2] / X[:, 2:], atol=1e-10)


def test_undistort_zero_distortion_is_closed_form():
    uv = np.array([[700.0, 400.0], [np.nan, 3.0]])
    out = undistort_to_normalized(uv, K, np.zeros(4))
    np.testing.assert_allclose(out[0], [(700 - 640) / 800, (400 - 360) / 810])
    assert np.isnan(out[1]).all()
