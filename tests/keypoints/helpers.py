"""Synthetic keypoints for the format tests: random values, NaN holes, several people and cameras."""

from __future__ import annotations

import numpy as np

from mocap.keypoints import Keypoints2D, Keypoints3D


def make_kp2d(rng: np.random.Generator, T: int = 7, C: int = 3, P: int = 2, J: int = 25,
              joint_set: str = "body25", hole_frac: float = 0.2) -> Keypoints2D:
    """``(T, C, P, J, 3)`` pixels in a 1920x1080 image with confidences in (0.05, 1] and NaN holes."""
    uv = rng.uniform(0, [1920, 1080], size=(T, C, P, J, 2))
    conf = rng.uniform(0.05, 1.0, size=(T, C, P, J, 1))
    data = np.concatenate([uv, conf], -1)
    data[rng.random((T, C, P, J)) < hole_frac] = np.nan
    return Keypoints2D(data, joint_set, [f"cam{c + 1:02d}" for c in range(C)], fps=60.0)


def make_kp3d(rng: np.random.Generator, T: int = 9, P: int = 2, J: int = 25, joint_set: str = "body25",
              hole_frac: float = 0.2, quality: bool = True) -> Keypoints3D:
    """``(T, P, J, 4)`` metres around a person-sized box with NaN holes, person ids 3, 7, ... and quality."""
    xyz = rng.normal(0, 0.5, size=(T, P, J, 3)) + [0, 0, 1.0]
    conf = rng.uniform(0.1, 1.0, size=(T, P, J, 1))
    data = np.concatenate([xyz, conf], -1)
    holes = rng.random((T, P, J)) < hole_frac
    data[holes] = np.nan
    q = {}
    if quality:
        q = {"reproj_error_px": np.where(holes, np.nan, rng.uniform(0, 5, (T, P, J))),
             "n_views": np.where(holes, 0, rng.integers(2, 5, (T, P, J))).astype(float)}
    return Keypoints3D(data, joint_set, timestamps=np.arange(T) / 30.0 + 0.5, fps=30.0,
                       person_ids=np.arange(P) * 4 + 3, quality=q, meta={"source": "test", "nested": {"a": [1, 2]}})
