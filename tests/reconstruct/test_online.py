"""Online (per-frame) triangulation and filtering."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import KeypointsError, MocapError
from mocap.reconstruct.filters import one_euro_filter
from mocap.reconstruct.online import OnlineTriangulator
from mocap.reconstruct.triangulation import triangulate
from tests.conftest import make_ring_rig


@pytest.fixture
def scene(rng):
    rig = make_ring_rig(4, dist=[-0.1, 0.02, 0.0, 0.0, 0.0])
    T, J = 60, 33
    base = rng.uniform([-0.5, -0.5, 0.3], [0.5, 0.5, 1.8], (J, 3))
    t = np.arange(T) / 30.0
    X = base[None] + 0.2 * np.sin(2 * np.pi * 0.5 * t)[:, None, None] * np.array([1.0, 0.5, 0.0])
    uv = np.moveaxis(rig.project(X), 0, 1) + rng.normal(0, 1.0, (T, 4, J, 2))  # (T, C, J, 2)
    return rig, t, X, uv


def test_online_without_filter_equals_batch_triangulation(scene):
    rig, t, X, uv = scene
    tri = OnlineTriangulator(rig, "mediapipe33", filter=None, use_prior=False)
    out = np.stack([tri.step(uv[i], None, t[i]) for i in range(len(t))])
    batch = triangulate(rig, np.moveaxis(uv, 1, 0))
    assert out.shape == (len(t), 33, 4)
    np.testing.assert_allclose(out[..., :3], batch.X, atol=1e-12)
    assert np.nanmean(np.linalg.norm(out[..., :3] - X, axis=-1)) < 0.01


def test_online_one_euro_equals_batch_filter_of_triangulation(scene):
    rig, t, X, uv = scene
    tri = OnlineTriangulator(rig, "mediapipe33", filter="one_euro", filter_opts={"min_cutoff": 1.0, "beta": 5.0},
                             use_prior=False)
    out = np.stack([tri.step(uv[i], None, t[i]) for i in range(len(t))])
    batch = one_euro_filter(triangulate(rig, np.moveaxis(uv, 1, 0)).X, t, min_cutoff=1.0, beta=5.0)
    np.testing.assert_allclose(out[..., :3], batch, atol=1e-12)


def test_online_kalman_and_latency(scene):
    rig, t, X, uv = scene
    tri = OnlineTriangulator(rig, "mediapipe33", filter="kalman")
    for i in range(len(t)):
        out = tri.step(uv[i], np.ones((4, 33)), t[i])
    assert np.isfinite(out).all()
    lat = tri.latency_ms()
    assert lat["p50"] > 0 and lat["p95"] >= lat["p50"]
    tri.reset()
    assert tri.last is None


def test_online_bad_input(scene):
    rig, *_ = scene
    tri = OnlineTriangulator(rig, "coco17")
    with pytest.raises(KeypointsError, match="expected \\(4, joints, 2\\)"):
        tri.step(np.zeros((3, 17, 2)), None, 0.0)
    with pytest.raises(MocapError, match="unknown filter"):
        OnlineTriangulator(rig, "coco17", filter="median")
    with pytest.raises(KeypointsError, match="at least 2 cameras"):
        OnlineTriangulator(rig.subset(["cam0"]), "coco17")
