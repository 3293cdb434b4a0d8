"""Joint orientations of a skeleton from its 3D joint positions.

Used by the live core (:mod:`mocap.live.core`) for skeletons without a body-model fit. Convention (stated in
``mocap_msgs/Skeleton`` and :mod:`mocap.live.stream`): quaternions (x, y, z, w); a joint's frame has its x axis
along the bone to its first child with a finite position; the twist about that bone is the smallest rotation from the
parent's frame (the world frame for roots), so orientations are swing-only and continuous over time. Joints
without a usable child keep their parent's orientation (local = identity). ``global[j] = global[parent[j]] @
local[j]``.
"""

from __future__ import annotations

import numpy as np

from mocap.geometry.rotations import matrix_to_quat_xyzw, quat_xyzw_to_matrix


def _levels(parents: np.ndarray) -> list[np.ndarray]:
    """Joint indices grouped by depth in the tree (roots first)."""
    parents = np.asarray(parents, int)
    depth = np.full(len(parents), -1)
    for j in range(len(parents)):
        chain, k = [], j
        while k >= 0 and depth[k] < 0:
            chain.append(k)
            k = parents[k]
        d = -1 if k < 0 else depth[k]
        for c in reversed(chain):
            d += 1
            depth[c] = d
    return [np.flatnonzero(depth == d) for d in range(depth.max() + 1)] if len(parents) else []


def shortest_arc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(N, 3, 3)`` smallest rotations taking unit vectors ``a (N, 3)`` onto unit vectors ``b (N, 3)``."""
    v = np.cross(a, b)
    c = np.einsum("ni,ni->n", a, b)
    vx = np.zeros((len(a), 3, 3))
    vx[:, 0, 1], vx[:, 0, 2], vx[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    vx[:, 1, 0], vx[:, 2, 0], vx[:, 2, 1] = v[:, 2], -v[:, 1], v[:, 0]
    opposite = c < -1 + 1e-9
    k = np.where(opposite, 0.0, 1.0 / np.maximum(1.0 + c, 1e-12))
    R = np.eye(3)[None] + vx + (vx @ vx) * k[:, None, None]
    if opposite.any():  # 180 degrees about an axis perpendicular to a
        ao = a[opposite]
        ax = np.cross(ao, np.where(np.abs(ao[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]]))
        ax /= np.linalg.norm(ax, axis=1, keepdims=True)
        R[opposite] = 2 * ax[:, :, None] * ax[:, None, :] - np.eye(3)[None]
    return R


def joint_orientations(X: np.ndarray, parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global and local joint orientations from positions.

    Args:
        X: ``(J, 3)`` joint positions, metres (NaN = missing).
        parents: ``(J,)`` parent index per joint (-1 = root).

    Returns:
        ``(global_xyzw (J, 4), local_xyzw (J, 4))`` quaternions, scalar last.
    """
    X = np.asarray(X, float)
    parents = np.asarray(parents, int)
    J = len(parents)
    if X.shape != (J, 3):
        raise ValueError(f"positions have shape {X.shape}; expected ({J}, 3) for {J} joints")
    # direction to the first child with a finite position
    direction = np.full((J, 3), np.nan)
    for c in range(J):
        p = parents[c]
        if p >= 0 and np.isnan(direction[p, 0]):
            d = X[c] - X[p]
            n = np.linalg.norm(d)
            if np.isfinite(n) and n > 1e-9:
                direction[p] = d / n
    G = np.tile(np.eye(3), (J, 1, 1))
    L = np.tile(np.eye(3), (J, 1, 1))
    for lev in _levels(parents):
        par = parents[lev]
        Gp = np.where((par >= 0)[:, None, None], G[np.maximum(par, 0)], np.eye(3)[None])
        d = direction[lev]
        has = np.isfinite(d).all(1)
        Ln = np.tile(np.eye(3), (len(lev), 1, 1))
        if has.any():
            # local swing: parent's x axis -> bone direction, expressed in the parent's frame
            d_local = np.einsum("nji,nj->ni", Gp[has], d[has])
            Ln[has] = shortest_arc(np.tile([1.0, 0, 0], (int(has.sum()), 1)), d_local)
        L[lev] = Ln
        G[lev] = Gp @ Ln
    return matrix_to_quat_xyzw(G), matrix_to_quat_xyzw(L)


def global_from_local(local_xyzw: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """``(J, 4)`` global orientations from local ones ``(J, 4)`` along the tree (xyzw)."""
    L = quat_xyzw_to_matrix(np.asarray(local_xyzw, float))
    G = L.copy()
    for lev in _levels(parents):
        par = np.asarray(parents)[lev]
        m = par >= 0
        G[lev[m]] = G[par[m]] @ L[lev[m]]
    return matrix_to_quat_xyzw(G)


def offsets_in_parent_frames(X: np.ndarray, parents: np.ndarray, global_xyzw: np.ndarray) -> np.ndarray:
    """``(J, 3)`` offset of each joint from its parent expressed in the parent's frame (roots: world position).

    With ``global_xyzw`` from :func:`joint_orientations` of the same ``X (J, 3)``, the first child of every joint
    gets ``(bone length, 0, 0)``; this is the rest pose (identity orientations) that those orientations are
    relative to. Missing joints (NaN) get zeros.
    """
    X = np.asarray(X, float)
    parents = np.asarray(parents, int)
    G = quat_xyzw_to_matrix(np.asarray(global_xyzw, float))
    off = X.copy()
    child = parents >= 0
    par = parents[child]
    off[child] = np.einsum("nji,nj->ni", G[par], X[child] - X[par])
    return np.nan_to_num(off, nan=0.0)
