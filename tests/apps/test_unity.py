"""REP 103 -> Unity axes: the quaternion formula equals the matrix form ``M R M^T`` on random rotations."""

from __future__ import annotations

import numpy as np

from mocap.apps.unity import (
    REP103_TO_UNITY,
    rep103_to_unity_position,
    rep103_to_unity_quat_xyzw,
    unity_to_rep103_position,
    unity_to_rep103_quat_xyzw,
)
from mocap.geometry.rotations import quat_xyzw_normalize, quat_xyzw_to_matrix


def test_quaternion_formula_matches_matrix_conjugation(rng):
    q = quat_xyzw_normalize(rng.normal(size=(1000, 4)))
    M = REP103_TO_UNITY
    np.testing.assert_allclose(quat_xyzw_to_matrix(rep103_to_unity_quat_xyzw(q)), M @ quat_xyzw_to_matrix(q) @ M.T,
                               atol=1e-12)
    np.testing.assert_allclose(unity_to_rep103_quat_xyzw(rep103_to_unity_quat_xyzw(q)), q, atol=1e-12)
    assert np.linalg.det(M) == -1  # a handedness change


def test_positions_and_facing(rng):
    p = rng.normal(size=(50, 3))
    np.testing.assert_allclose(rep103_to_unity_position(p), p @ REP103_TO_UNITY.T)
    np.testing.assert_allclose(unity_to_rep103_position(rep103_to_unity_position(p)), p)
    # forward (our +X) -> Unity +Z, left (+Y) -> Unity -X (Unity's +X is right), up -> +Y
    np.testing.assert_allclose(rep103_to_unity_position(np.eye(3)), [[0, 0, 1], [-1, 0, 0], [0, 1, 0]])
    # a rotation and a position converted separately compose like the originals
    q = quat_xyzw_normalize(rng.normal(size=4))
    np.testing.assert_allclose(quat_xyzw_to_matrix(rep103_to_unity_quat_xyzw(q)) @ rep103_to_unity_position(p[0]),
                               rep103_to_unity_position(quat_xyzw_to_matrix(q) @ p[0]), atol=1e-12)
