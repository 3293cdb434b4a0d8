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
