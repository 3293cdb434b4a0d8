"""Our world (REP 103: right-handed, X forward, Y left, Z up) -> Unity's (left-handed, X right, Y up, Z forward).

Positions ``(x, y, z) -> (-y, z, x)``; rotations ``R -> M R M^T`` with the reflection
``M = [[0, -1, 0], [0, 0, 1], [1, 0, 0]]``, which for quaternions is ``(x, y, z, w) -> (-y, z, x, -w)``
(the rotation axis is a pseudovector: it maps with ``-M``). Checked in ``tests/apps/test_unity.py`` against the
matrix form on random rotations. A person facing our +X faces Unity's +Z.
"""

from __future__ import annotations

import numpy as np

#: The reflection taking REP 103 coordinates to Unity's.
REP103_TO_UNITY = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


def rep103_to_unity_position(p: np.ndarray) -> np.ndarray:
    """Positions ``(..., 3)`` in our world -> Unity coordinates (metres stay metres)."""
    p = np.asarray(p, float)
    return np.stack([-p[..., 1], p[..., 2], p[..., 0]], axis=-1)


def rep103_to_unity_quat_xyzw(q: np.ndarray) -> np.ndarray:
    """Rotations ``(..., 4)`` xyzw in our world -> the same rotation in Unity coordinates, xyzw with ``w >= 0``."""
    q = np.asarray(q, float)
    out = np.stack([q[..., 1], -q[..., 2], -q[..., 0], q[..., 3]], axis=-1)  # = (-y, z, x, -w) up to sign
    return np.where(out[..., 3:4] < 0, -out, out)


def unity_to_rep103_position(p: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rep103_to_unity_position`."""
    p = np.asarray(p, float)
    return np.stack([p[..., 2], -p[..., 0], p[..., 1]], axis=-1)


def unity_to_rep103_quat_xyzw(q: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rep103_to_unity_quat_xyzw`."""
    q = np.asarray(q, float)
    out = np.stack([-q[..., 2], q[..., 0], -q[..., 1], q[..., 3]], axis=-1)
    return np.where(out[..., 3:4] < 0, -out, out)
