"""Shared builders for the export tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mocap.export.animation import Animation
from mocap.export.ik import STANDARD_JOINTS, STANDARD_PARENTS
from mocap.geometry.rotations import rotvec_to_quat_xyzw

CMU_SCALE = 0.056444

_REST = {"left_hip": (0.09, 0, -0.08), "spine1": (0, 0.01, 0.12), "spine2": (0, 0, 0.13), "spine3": (0, 0, 0.1),
         "neck": (0, 0.0, 0.15), "left_collar": (0.07, 0, 0.08), "left_shoulder": (0.12, 0, 0.0),
         "left_knee": (0, 0, -0.4), "left_ankle": (0, 0, -0.42), "left_foot": (0, -0.14, 0), "head": (0, 0, 0.2),
         "left_elbow": (0.28, 0, 0), "left_wrist": (0.25, 0, 0)}


def standard_offsets() -> np.ndarray:
    """``(22, 3)`` symmetric rest offsets of the standard skeleton (T-pose, facing -Y), root at 1 m height."""
    off = np.zeros((22, 3))
    for j, n in enumerate(STANDARD_JOINTS):
        key = n.replace("right_", "left_")
        if key in _REST:
            v = np.array(_REST[key], float)
            off[j] = v * [-1, 1, 1] if n.startswith("right_") else v
    off[0] = [0, 0, 1.0]
    return off


def random_standard_animation(rng: np.random.Generator, T: int = 40, scale: float = 0.3, fps: float = 30.0
                              ) -> Animation:
    """A random animation of the standard skeleton (leaves unrotated)."""
    rv = rng.normal(scale=scale, size=(T, 22, 3))
    rv[:, [10, 11, 15, 20, 21]] = 0.0
    tr = np.cumsum(rng.normal(scale=0.01, size=(T, 3)), axis=0) + [0, 0, 1.0]
    return Animation(list(STANDARD_JOINTS), np.array(STANDARD_PARENTS), standard_offsets(), tr,
                     rotvec_to_quat_xyzw(rv), fps)


def chain_animation(rng: np.random.Generator, T: int = 20, J: int = 6, fps: float = 50.0) -> Animation:
    """A random branching skeleton with random motion (for format tests independent of any body)."""
    parents = np.array([-1] + [int(rng.integers(0, j)) for j in range(1, J)])
    off = rng.normal(scale=0.2, size=(J, 3))
    off[0] = [0.1, -0.2, 0.9]
    q = rotvec_to_quat_xyzw(rng.normal(scale=0.6, size=(T, J, 3)))
    tr = off[0] + np.cumsum(rng.normal(scale=0.02, size=(T, 3)), axis=0)
    return Animation([f"j{j}" for j in range(J)], parents, off, tr, q, fps)


REPO = Path(__file__).resolve().parents[2]
BLENDER_PY = REPO / ".venv-blender" / "bin" / "python"
BLENDER_SCRIPT = REPO / "scripts" / "blender_check" / "blender_import.py"
# slow, and skipped with the reason when the test-only Blender venv is absent
BLENDER_MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(not BLENDER_PY.exists(),
                       reason="Blender venv absent: run `bash scripts/blender_check/setup.sh`"),
]
