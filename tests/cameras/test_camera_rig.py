import warnings

import numpy as np
import pytest

from mocap.cameras import Camera, CameraRig
from mocap.errors import CalibrationError, MocapWarning
from tests.conftest import make_ring_rig


def test_centre_and_projection():
    rig = make_ring_rig(4, dist=[-0.1, 0.02, 0, 0, 0])
    assert rig.centers.shape == (4, 3)
    np.testing.assert_allclose(rig.centers[0], [4, 0, 1.5])
    uv = rig.project(np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(uv, [[640, 360]] * 4, atol=1e-9)
    X = np.random.default_rng(0).uniform(-0.5, 0.5, (7, 5, 3)) + [0, 0, 1]
    uv = rig.project(X)
    assert uv.shape == (4, 7, 5, 2)
    xy = rig.undistort_normalized(uv)
    for i, c in enumerate(rig):
        xc = c.world_to_camera(X)
        np.testing.assert_allclose(xy[i], xc[..., :2] / xc[..., 2:], atol=1e-8)


def test_behind_camera_is_nan():
    rig = make_ring_rig(2)
    uv = rig.project(np.array([8.0, 0.0, 1.5]))  # behind cam0
    assert np.isnan(uv[0]).all() and np.isfinite(uv[1]).all()


def test_rays_pass_through_point():
    rig = make_ring_rig(3)
    X = np.array([0.2, -0.1, 1.3])
    uv = rig.project(X)
    for i, c in enumerate(rig):
        d = c.rays(uv[i])
        v = X - c.center
        np.testing.assert_allclose(np.cross(d, v / np.linalg.norm(v)), 0, atol=1e-9)


def test_transforms_preserve_images():
    rig = make_ring_rig(4)
    X = np.random.default_rng(2).uniform(-1, 1, (50, 3))
    uv = rig.project(X)
    from scipy.spatial.transform import Rotation

    R = Rotation.from_rotvec([0.3, -0.2, 0.9]).as_matrix()
    t = np.array([1.0, 2.0, -0.5])
    for s in (1.0, 0.001, 3.0):
        moved = rig.transformed(R, t, s)
        np.testing.assert_allclose(moved.project(s * (X @ R.T + t)), uv, atol=1e-7)
    re = rig.reoriginated([1, 1, 0])
    np.testing.assert_allclose(re.centers, rig.centers - [1, 1, 0], atol=1e-12)


def test_align_to_floor():
    rig = make_ring_rig(4)
    from scipy.spatial.transform import Rotation

    R = Rotation.from_rotvec([0.4, 0.1, 0.2]).as_matrix()
    tilted = rig.transformed(R, [0.5, 0, 2])
    floor = np.random.default_rng(3).uniform(-2, 2, (30, 3))
    floor[:, 2] = 0
    aligned = tilted.aligned_to_floor(floor @ R.T + [0.5, 0, 2])
    # camera heights are recovered (1.5 m above the floor)
    np.testing.assert_allclose(aligned.centers[:, 2], 1.5, atol=1e-9)


def test_validate_messages():
    rig = make_ring_rig(2)
    rig.validate("calib.toml", expected_cameras=2)
    with pytest.raises(CalibrationError, match=r"calib.toml.*2 cameras.*data has 3"):
        rig.validate("calib.toml", expected_cameras=3)
    bad = rig.copy()
    bad.cameras[1].K[0, 0] = np.nan
    with pytest.raises(CalibrationError, match=r"calib.toml: camera 'cam1': field 'K' contains NaN"):
        bad.validate("calib.toml")
    bad = rig.copy()
    bad.cameras[0].R = np.eye(2)
    with pytest.raises(CalibrationError, match=r"camera 'cam0': field 'R' has shape"):
        bad.validate("x")
    bad = rig.copy()
    bad.cameras[0].dist = np.zeros(6)
    with pytest.raises(CalibrationError, match="field 'dist' has 6 coefficients"):
        bad.validate("x")
    mm = rig.scaled(1000.0)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        mm.validate("mm.toml")
    assert any(issubclass(x.category, MocapWarning) and "millimetres" in str(x.message) and "mm.toml" in str(x.message)
               for x in w)


def test_from_rvec_and_repr():
    c = Camera.from_rvec("a", (640, 480), np.diag([500, 500, 1.0]) + [[0, 0, 320], [0, 0, 240], [0, 0, 0]],
                         np.zeros(5), [0, 0, 0.1], [0, 0, 2])
    np.testing.assert_allclose(c.rvec, [0, 0, 0.1])
    assert "a" in repr(c) and isinstance(CameraRig([c])["a"], Camera)
