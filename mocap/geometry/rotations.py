"""Rotation conversions. One convention everywhere: quaternions are scalar-last ``(x, y, z, w)``.

All functions take batches: any number of leading dimensions ``(...)``. Angles are radians.
Functions are named after the representations they map, e.g. :func:`rotvec_to_quat_xyzw`.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-12


def quat_xyzw_normalize(q: np.ndarray) -> np.ndarray:
    """Normalise quaternions ``(..., 4)`` and make ``w >= 0`` (a canonical sign)."""
    q = np.asarray(q, dtype=float)
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), _EPS)
    return np.where(q[..., 3:4] < 0, -q, q)


def quat_xyzw_to_matrix(q: np.ndarray) -> np.ndarray:
    """Quaternions ``(..., 4)`` scalar-last -> rotation matrices ``(..., 3, 3)``."""
    q = np.asarray(q, dtype=float)
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), _EPS)
    x, y, z, w = np.moveaxis(q, -1, 0)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    m = np.stack(
        [
            1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy),
            2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx),
            2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy),
        ],
        axis=-1,
    )
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat_xyzw(m: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` -> unit quaternions ``(..., 4)`` scalar-last, ``w >= 0``.

    Uses the numerically stable branch per element (largest diagonal term).
    """
    m = np.asarray(m, dtype=float)
    batch = m.shape[:-2]
    m = m.reshape(-1, 3, 3)
    tr = np.trace(m, axis1=1, axis2=2)
    d = np.stack([m[:, 0, 0], m[:, 1, 1], m[:, 2, 2], tr], axis=1)
    choice = np.argmax(d, axis=1)
    q = np.empty((m.shape[0], 4))
    # w largest
    a01, a10, a02, a20, a12, a21 = m[:, 0, 1], m[:, 1, 0], m[:, 0, 2], m[:, 2, 0], m[:, 1, 2], m[:, 2, 1]
    s = np.sqrt(np.maximum(1.0 + tr, _EPS)) * 2
    qw = np.stack([(a21 - a12) / s, (a02 - a20) / s, (a10 - a01) / s, 0.25 * s], 1)
    s = np.sqrt(np.maximum(1.0 + m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2], _EPS)) * 2
    qx = np.stack([0.25 * s, (a01 + a10) / s, (a02 + a20) / s, (a21 - a12) / s], 1)
    s = np.sqrt(np.maximum(1.0 + m[:, 1, 1] - m[:, 0, 0] - m[:, 2, 2], _EPS)) * 2
    qy = np.stack([(a01 + a10) / s, 0.25 * s, (a12 + a21) / s, (a02 - a20) / s], 1)
    s = np.sqrt(np.maximum(1.0 + m[:, 2, 2] - m[:, 0, 0] - m[:, 1, 1], _EPS)) * 2
    qz = np.stack([(a02 + a20) / s, (a12 + a21) / s, 0.25 * s, (a10 - a01) / s], 1)
    for k, cand in enumerate((qx, qy, qz, qw)):
        sel = choice == k
        q[sel] = cand[sel]
    return quat_xyzw_normalize(q).reshape(batch + (4,))


def rotvec_to_matrix(rv: np.ndarray) -> np.ndarray:
    """Axis-angle vectors ``(..., 3)`` (radians) -> rotation matrices ``(..., 3, 3)`` (Rodrigues)."""
    rv = np.asarray(rv, dtype=float)
    theta = np.linalg.norm(rv, axis=-1, keepdims=True)
    small = theta < 1e-8
    k = rv / np.where(small, 1.0, theta)
    kx, ky, kz = np.moveaxis(k, -1, 0)
    zero = np.zeros_like(kx)
    kmat = np.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], -1).reshape(rv.shape[:-1] + (3, 3))
    th = theta[..., None]
    eye = np.broadcast_to(np.eye(3), kmat.shape)
    r = eye + np.sin(th) * kmat + (1 - np.cos(th)) * (kmat @ kmat)
    # first-order for tiny angles
    rvx, rvy, rvz = np.moveaxis(rv, -1, 0)
    skew = np.stack([zero, -rvz, rvy, rvz, zero, -rvx, -rvy, rvx, zero], -1).reshape(kmat.shape)
    return np.where(small[..., None], eye + skew, r)


def quat_xyzw_to_rotvec(q: np.ndarray) -> np.ndarray:
    """Quaternions ``(..., 4)`` scalar-last -> axis-angle ``(..., 3)`` with angle in ``[0, pi]``."""
    q = quat_xyzw_normalize(q)
    xyz, w = q[..., :3], q[..., 3]
    s = np.linalg.norm(xyz, axis=-1)
    angle = 2 * np.arctan2(s, w)
    scale = np.where(s < 1e-8, 2.0 / np.maximum(w, _EPS), angle / np.maximum(s, _EPS))
    return xyz * scale[..., None]


def rotvec_to_quat_xyzw(rv: np.ndarray) -> np.ndarray:
    """Axis-angle ``(..., 3)`` (radians) -> quaternions ``(..., 4)`` scalar-last."""
    rv = np.asarray(rv, dtype=float)
    theta = np.linalg.norm(rv, axis=-1, keepdims=True)
    half = 0.5 * theta
    scale = np.where(theta < 1e-8, 0.5 - theta**2 / 48.0, np.sin(half) / np.maximum(theta, _EPS))
    return np.concatenate([rv * scale, np.cos(half)], axis=-1)


def matrix_to_rotvec(m: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` -> axis-angle ``(..., 3)`` (radians)."""
    return quat_xyzw_to_rotvec(matrix_to_quat_xyzw(m))


def quat_xyzw_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of quaternions ``(..., 4)`` scalar-last (apply b, then a)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ax, ay, az, aw = np.moveaxis(a, -1, 0)
    bx, by, bz, bw = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        axis=-1,
    )


def quat_xyzw_conjugate(q: np.ndarray) -> np.ndarray:
    """Conjugate (inverse for unit quaternions) of ``(..., 4)`` scalar-last quaternions."""
    q = np.asarray(q, dtype=float)
    return np.concatenate([-q[..., :3], q[..., 3:]], axis=-1)


def rotation_angle_between(ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """Angle in radians ``(...)`` of the relative rotation between matrices ``(..., 3, 3)``."""
    rel = np.swapaxes(np.asarray(ra), -1, -2) @ np.asarray(rb)
    c = (np.trace(rel, axis1=-2, axis2=-1) - 1) / 2
    return np.arccos(np.clip(c, -1.0, 1.0))


def euler_to_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """Intrinsic Euler angles ``(..., 3)`` (radians) in axis ``order`` like ``"ZXY"`` -> ``(..., 3, 3)``.

    Intrinsic order ``"ZXY"`` means R = Rz(a0) @ Rx(a1) @ Ry(a2) (as BVH channel lists read).
    """
    angles = np.asarray(angles, dtype=float)
    r = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    for i, ax in enumerate(order.upper()):
        r = r @ axis_angle_matrix(ax, angles[..., i])
    return r


def axis_angle_matrix(axis: str, angle: np.ndarray) -> np.ndarray:
    """Rotation ``(..., 3, 3)`` by ``angle`` (radians, ``(...)``) about the named axis ``"X"|"Y"|"Z"``."""
    angle = np.asarray(angle, dtype=float)
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    ax = axis.upper()
    if ax == "X":
        m = [o, z, z, z, c, -s, z, s, c]
    elif ax == "Y":
        m = [c, z, s, z, o, z, -s, z, c]
    elif ax == "Z":
        m = [c, -s, z, s, c, z, z, z, o]
    else:
        raise ValueError(f"unknown axis {axis!r}; use X, Y or Z")
    return np.stack(m, axis=-1).reshape(angle.shape + (3, 3))


def matrix_to_euler(m: np.ndarray, order: str) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` -> intrinsic Euler angles ``(..., 3)`` for axis ``order``.

    Inverse of :func:`euler_to_matrix` (delegates to scipy, whose upper-case orders are intrinsic).
    """
    from scipy.spatial.transform import Rotation

    m = np.asarray(m, dtype=float)
    flat = m.reshape(-1, 3, 3)
    e = Rotation.from_matrix(flat).as_euler(order.upper())
    return e.reshape(m.shape[:-2] + (3,))
