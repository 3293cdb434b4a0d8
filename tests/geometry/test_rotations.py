import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mocap.geometry import rotations as rot


@pytest.fixture
def rand_rots():
    return Rotation.random(500, random_state=1)


def test_quat_matrix_agree_with_scipy(rand_rots):
    q = rand_rots.as_quat()  # scipy is scalar-last too
    np.testing.assert_allclose(rot.quat_xyzw_to_matrix(q), rand_rots.as_matrix(), atol=1e-12)
    q2 = rot.matrix_to_quat_xyzw(rand_rots.as_matrix())
    # same rotation up to sign
    dots = np.abs(np.sum(q2 * q, axis=-1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-12)
    assert np.all(q2[:, 3] >= 0)


def test_rotvec_roundtrip(rand_rots):
    rv = rand_rots.as_rotvec()
    np.testing.assert_allclose(rot.rotvec_to_matrix(rv), rand_rots.as_matrix(), atol=1e-12)
    np.testing.assert_allclose(rot.matrix_to_rotvec(rot.rotvec_to_matrix(rv)), rv, atol=1e-9)
    np.testing.assert_allclose(rot.quat_xyzw_to_rotvec(rot.rotvec_to_quat_xyzw(rv)), rv, atol=1e-9)


def test_small_angles_and_batch_shapes():
    rv = np.zeros((2, 3, 3))
    rv[0, 0] = [1e-10, 0, 0]
    m = rot.rotvec_to_matrix(rv)
    assert m.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(m[1, 2], np.eye(3))
    assert rot.matrix_to_quat_xyzw(m).shape == (2, 3, 4)


def test_multiply_matches_matrix_product(rand_rots):
    a, b = rand_rots[:250], rand_rots[250:]
    q = rot.quat_xyzw_multiply(a.as_quat(), b.as_quat())
    np.testing.assert_allclose(rot.quat_xyzw_to_matrix(q), a.as_matrix() @ b.as_matrix(), atol=1e-12)


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "ZYX", "YXZ"])
def test_euler_roundtrip_and_scipy(order):
    ang = np.random.default_rng(0).uniform(-1.2, 1.2, (100, 3))
    m = rot.euler_to_matrix(ang, order)
    np.testing.assert_allclose(m, Rotation.from_euler(order, ang).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(rot.matrix_to_euler(m, order), ang, atol=1e-9)


def test_angle_between():
    a = rot.axis_angle_matrix("Z", np.array(0.3))
    assert rot.rotation_angle_between(np.eye(3), a) == pytest.approx(0.3)
