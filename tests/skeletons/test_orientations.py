"""Joint orientations from positions: x axis along the bone, local/global consistency, missing joints."""

from __future__ import annotations

import numpy as np

from mocap.geometry.rotations import quat_xyzw_to_matrix
from mocap.skeletons import get_joint_set
from mocap.skeletons import orientations as sk


def test_x_axis_points_along_bone_to_first_child_and_local_composes():
    js = get_joint_set("coco17")
    par = np.asarray(js.parents)
    X = np.random.default_rng(1).normal(size=(len(par), 3))
    g, loc = sk.joint_orientations(X, par)
    G = quat_xyzw_to_matrix(g)
    first_child = {}
    for c, p in enumerate(par):
        if p >= 0:
            first_child.setdefault(p, c)
    for p, c in first_child.items():
        d = (X[c] - X[p]) / np.linalg.norm(X[c] - X[p])
        np.testing.assert_allclose(G[p][:, 0], d, atol=1e-9)
    np.testing.assert_allclose(quat_xyzw_to_matrix(sk.global_from_local(loc, par)), G, atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(G), 1.0, atol=1e-9)


def test_missing_child_keeps_parent_orientation_and_opposite_direction():
    par = np.array([-1, 0, 1])
    X = np.array([[0.0, 0, 0], [-1.0, 0, 0], [np.nan, np.nan, np.nan]])  # bone along -x: 180 degree swing
    g, loc = sk.joint_orientations(X, par)
    G = quat_xyzw_to_matrix(g)
    np.testing.assert_allclose(G[0][:, 0], [-1, 0, 0], atol=1e-9)
    np.testing.assert_allclose(G[1], G[0], atol=1e-9)  # joint 1's child is missing: identity local
    np.testing.assert_allclose(quat_xyzw_to_matrix(loc[1]), np.eye(3), atol=1e-9)


def test_shortest_arc_is_minimal_rotation():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(50, 3))
    b = rng.normal(size=(50, 3))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    R = sk.shortest_arc(a, b)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", R, a), b, atol=1e-9)
    angle = np.arccos(np.clip((np.trace(R, axis1=1, axis2=2) - 1) / 2, -1, 1))
    np.testing.assert_allclose(angle, np.arccos(np.clip((a * b).sum(1), -1, 1)), atol=1e-7)
