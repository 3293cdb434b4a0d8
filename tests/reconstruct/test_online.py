"""Online (per-frame) triangulation and filtering."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import KeypointsError, MocapError
from mocap.reconstruct.filters import gated_kalman_filter, one_euro_filter
from mocap.reconstruct.online import LATENCY_WINDOW, OnlineTriangulator
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
    tri = OnlineTriangulator(rig, "mediapipe33", filter=None, use_prior=False, bones=False)
    out = np.stack([tri.step(uv[i], None, t[i]) for i in range(len(t))])
    batch = triangulate(rig, np.moveaxis(uv, 1, 0), refine=True)
    assert out.shape == (len(t), 33, 4)
    np.testing.assert_allclose(out[..., :3], batch.X, atol=1e-12)
    assert np.nanmean(np.linalg.norm(out[..., :3] - X, axis=-1)) < 0.01


def test_online_one_euro_equals_batch_filter_of_triangulation(scene):
    rig, t, X, uv = scene
    tri = OnlineTriangulator(rig, "mediapipe33", filter="one_euro", filter_opts={"min_cutoff": 1.0, "beta": 5.0},
                             use_prior=False, bones=False)
    out = np.stack([tri.step(uv[i], None, t[i]) for i in range(len(t))])
    batch = one_euro_filter(triangulate(rig, np.moveaxis(uv, 1, 0), refine=True).X, t, min_cutoff=1.0, beta=5.0)
    np.testing.assert_allclose(out[..., :3], batch, atol=1e-12)


def test_online_kalman_equals_batch_gated_kalman(scene):
    rig, t, X, uv = scene
    tri = OnlineTriangulator(rig, "mediapipe33", use_prior=False, bones=False)
    out = np.stack([tri.step(uv[i], None, t[i]) for i in range(len(t))])
    batch = gated_kalman_filter(triangulate(rig, np.moveaxis(uv, 1, 0), refine=True).X, t)
    np.testing.assert_allclose(out[..., :3], batch, atol=1e-12)
    # and it smooths: closer to the truth than the per-frame triangulation after the first frames
    single = triangulate(rig, np.moveaxis(uv, 1, 0), refine=True).X
    e_out = np.linalg.norm(out[10:, :, :3] - X[10:], axis=-1).mean()
    e_single = np.linalg.norm(single[10:] - X[10:], axis=-1).mean()
    assert e_out < 0.9 * e_single


def test_online_coasting_joint_has_a_confidence(scene):
    """A joint no camera sees coasts on the motion model: its xyz is finite, so its confidence must be too,
    below the measured one and falling; once the filter gives up (reset_after_s) both are NaN."""
    rig, t, X, uv = scene
    uv = uv.copy()
    uv[30:, :, 5] = np.nan  # joint 5 disappears from every camera at frame 30
    tri = OnlineTriangulator(rig, "mediapipe33")
    out = np.stack([tri.step(uv[i], np.full((4, 33), 0.9), t[i]) for i in range(len(t))])
    xyz_ok = np.isfinite(out[..., :3]).all(-1)
    assert np.array_equal(xyz_ok, np.isfinite(out[..., 3]))  # never xyz with NaN confidence, nor the reverse
    coast = np.flatnonzero(xyz_ok[30:, 5]) + 30
    assert len(coast) >= 10  # 0.5 s at 30 Hz, minus the first frame
    c = out[coast, 5, 3]
    assert np.all(c < 0.9) and np.all(c > 0) and np.all(np.diff(c) < 0)
    assert not xyz_ok[45:, 5].any()  # dropped after reset_after_s
    assert np.linalg.norm(out[31, 5, :3] - X[31, 5]) < 0.03  # the prediction stays close at first


def test_online_latencies_are_bounded_and_reset(scene):
    rig, t, X, uv = scene
    tri = OnlineTriangulator(rig, "mediapipe33", bones=False)
    for i in range(LATENCY_WINDOW + 50):
        tri.step(uv[i % len(t)], None, i / 30.0)
    assert len(tri.latencies_s) == LATENCY_WINDOW
    lat = tri.latency_ms()
    assert lat["p50"] > 0 and lat["p95"] >= lat["p50"]
    tri.reset()
    assert len(tri.latencies_s) == 0 and tri.last is None
    assert np.isnan(tri.latency_ms()["p50"])


def test_online_is_causal(scene):
    """The output of frame k never depends on frames after k."""
    rig, t, X, uv = scene
    other = uv.copy()
    other[40:] += np.random.default_rng(3).normal(0, 30.0, other[40:].shape)  # a different future
    a, b = OnlineTriangulator(rig, "coco17"), OnlineTriangulator(rig, "coco17")
    ua, ub = uv[:, :, :17], other[:, :, :17]
    out_a = np.stack([a.step(ua[i], None, t[i]) for i in range(len(t))])
    out_b = np.stack([b.step(ub[i], None, t[i]) for i in range(len(t))])
    np.testing.assert_array_equal(out_a[:40], out_b[:40])
    assert not np.array_equal(out_a[40:], out_b[40:], equal_nan=True)


@pytest.mark.slow
def test_online_default_beats_single_frame_on_a_cmu_capture(shared_data):
    """4 cameras, 2 px noise, 10 % outliers, 5 % dropouts (the benchmark's capture, first 120 frames of the jumps):
    the causal online path is clearly more accurate than triangulating each frame alone, on the same points
    (measured: 0.73x)."""
    from mocap.synthetic import make_capture

    rig, kp, gt = make_capture(shared_data / "bvh" / "01_01.bvh", 4, frame_step=4, max_frames=120, seed=0)
    uv = np.moveaxis(kp.data[:, :, 0, :, :2], 1, 0)
    cf = np.moveaxis(kp.data[:, :, 0, :, 2], 1, 0)
    tri = OnlineTriangulator(rig, "coco17")
    online = np.stack([tri.step(uv[:, i], cf[:, i], i / kp.fps)[:, :3] for i in range(kp.n_frames)])
    single = triangulate(rig, uv, cf, refine=True).X
    e_on = np.linalg.norm(online - gt[:, 0], axis=-1)
    e_single = np.linalg.norm(single - gt[:, 0], axis=-1)
    common = np.isfinite(e_on) & np.isfinite(e_single)
    assert common.mean() > 0.98
    assert e_on[common].mean() < 0.85 * e_single[common].mean()


def test_online_bad_input(scene):
    rig, *_ = scene
    tri = OnlineTriangulator(rig, "coco17")
    with pytest.raises(KeypointsError, match="expected \\(4, joints, 2\\)"):
        tri.step(np.zeros((3, 17, 2)), None, 0.0)
    with pytest.raises(MocapError, match="unknown filter"):
        OnlineTriangulator(rig, "coco17", filter="median")
    with pytest.raises(KeypointsError, match="at least 2 cameras"):
        OnlineTriangulator(rig.subset(["cam0"]), "coco17")
