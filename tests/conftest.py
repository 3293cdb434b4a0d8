"""Shared fixtures: paths to the leads' shared data and the cached Pose2Sim demo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (skips when absent)."""
    d = SHARED / "data"
    if not d.is_dir():
        pytest.skip("../shared/data is not present beside the checkout")
    return d


@pytest.fixture(scope="session")
def pose2sim_single() -> Path:
    """The Pose2Sim Demo_SinglePerson folder, fetched from PyPI into the cache on first use."""
    from mocap.data.pose2sim_demo import pose2sim_demo

    return pose2sim_demo("single", quiet=True)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def make_ring_rig(n: int = 4, radius: float = 4.0, height: float = 1.5, size=(1280, 720), f: float = 900.0,
                  dist=None, model: str = "pinhole"):
    """A rig of ``n`` cameras on a circle around the origin, looking at (0, 0, 1) (world Z up)."""
    from mocap.cameras import Camera, CameraRig

    cams = []
    target = np.array([0.0, 0.0, 1.0])
    for i in range(n):
        a = 2 * np.pi * i / n
        c = np.array([radius * np.cos(a), radius * np.sin(a), height])
        z = target - c
        z /= np.linalg.norm(z)
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R = np.stack([x, y, z])
        K = np.array([[f, 0, size[0] / 2], [0, f, size[1] / 2], [0, 0, 1]])
        d = np.zeros(5) if dist is None else np.asarray(dist, float)
        cams.append(Camera.from_center(f"cam{i}", size, K, R, c, dist=d, model=model))
    return CameraRig(cams)
