"""Depth fusion: robust sampling, lifting with covariances, information fusion, and the synthetic RGB-D case."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.cameras import Camera
from mocap.errors import KeypointsError, MocapError
from mocap.reconstruct.depth_fusion import (
    DepthFusionStep,
    DepthNoiseModel,
    fuse_depth_frame,
    fuse_depth_keypoints,
    fuse_estimates,
    lift_keypoints,
    render_capsule_depth,
    sample_depth,
    triangulation_covariance,
)
from mocap.reconstruct.triangulation import triangulate
from tests.conftest import make_ring_rig


def _front_camera(size=(320, 240), f=300.0) -> Camera:
    """Camera at the origin looking along world +Y (world Z up), so camera z = world y."""
    R = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
    K = np.array([[f, 0, size[0] / 2], [0, f, size[1] / 2], [0, 0, 1]])
    return Camera("rgbd", size, K, np.zeros(5), R, np.zeros(3))


def test_sample_depth_rejects_holes_and_background():
    depth = np.full((100, 100), 4000, dtype=np.uint16)  # wall at 4 m
    depth[:, :50] = 1500  # a person's arm at 1.5 m on the left half
    depth[40:60:2, 40:50] = 0  # holes
    uv = np.array([[49.0, 50.0], [80.0, 50.0], [np.nan, np.nan]])  # on the edge of the arm; on the wall; missing
    z, spread, n = sample_depth(depth, uv, 0.001, window=9)
    assert z[0] == pytest.approx(1.5)  # the edge pixel's window is half wall: the near cluster wins
    assert z[1] == pytest.approx(4.0)
    assert np.isnan(z[2]) and n[2] == 0
    assert n[0] < 81 and spread[0] == pytest.approx(0.0)
    # plain median of the window would have bled into the wall
    r = 4
    win = depth[50 - r:50 + r + 1, 49 - r:49 + r + 1].astype(float)
    assert np.median(win[win > 0]) * 0.001 > 2.0


def test_sample_depth_all_holes_and_resolution_scaling():
    depth = np.zeros((60, 80), dtype=np.uint16)
    z, _, n = sample_depth(depth, np.array([[10.0, 10.0]]), 0.001)
    assert np.isnan(z[0]) and n[0] == 0
    depth[:, 40:] = 2000
    # colour image twice the depth resolution: u = 100 maps to depth column 50 (right half)
    z, _, _ = sample_depth(depth, np.array([[100.0, 60.0], [20.0, 60.0]]), 0.001, window=3, image_size=(160, 120))
    assert z[0] == pytest.approx(2.0) and np.isnan(z[1])
    with pytest.raises(MocapError):
        sample_depth(np.zeros((2, 3, 4)), np.zeros((1, 2)))


def test_lift_keypoints_exact_depth_and_offset():
    cam = _front_camera()
    X = np.array([[0.2, 2.0, 0.1], [-0.3, 3.0, -0.2], [0.0, 1.5, 0.0]])
    rad = 0.05
    depth = render_capsule_depth(cam, X, X, np.full(3, rad), floor_z=None, depth_scale=0.0001)
    uv = cam.project(X)
    Xl, cov = lift_keypoints(cam, depth, 0.0001, uv, np.ones(3), window=1, surface_offset_m=rad)
    np.testing.assert_allclose(Xl, X, atol=2e-3)  # sphere centres from the front surface + the radius
    Xn, _ = lift_keypoints(cam, depth, 0.0001, uv, np.ones(3), window=1)
    assert np.all(np.linalg.norm(Xn - X, axis=1) > 0.04)  # without the offset: the surface, 5 cm short
    assert np.all(np.linalg.eigvalsh(cov) > 0)


def test_lift_covariance_grows_with_depth_squared_and_is_calibrated(rng):
    cam = _front_camera()
    noise = DepthNoiseModel(k=0.01, sigma_0=0.0, sigma_px=0.01)
    covs = []
    for zz in (1.0, 3.0):
        depth = np.full((240, 320), zz, dtype=float)
        _, cov = lift_keypoints(cam, depth, 1.0, np.array([[160.0, 120.0]]), None, noise=noise, window=1)
        covs.append(cov[0, 1, 1])  # world y = camera z (the ray)
    assert covs[1] / covs[0] == pytest.approx(81.0, rel=1e-3)  # sigma ~ z^2 -> variance ~ z^4
    # Monte Carlo: depth noise sigma = k z^2 and pixel noise give the predicted covariance
    noise = DepthNoiseModel(k=0.01, sigma_0=0.0, sigma_px=2.0)
    zt, n = 2.5, 400
    Xt = np.array([0.3, zt, -0.2])
    uv0 = cam.project(Xt[None])[0]
    samples = []
    for _ in range(n):
        d = np.full((240, 320), zt + rng.normal(0, noise.sigma_z(zt)))
        uv = uv0 + rng.normal(0, 2.0, 2)
        samples.append(lift_keypoints(cam, d, 1.0, uv[None], None, noise=noise, window=1)[0][0])
    emp = np.cov(np.array(samples).T)
    _, pred = lift_keypoints(cam, np.full((240, 320), zt), 1.0, uv0[None], None, noise=noise, window=1)
    ratio = np.diag(emp) / np.diag(pred[0])
    assert np.all((ratio > 0.75) & (ratio < 1.3)), ratio


def test_triangulation_covariance_matches_monte_carlo(rng):
    rig = make_ring_rig(3, dist=np.zeros(5))
    Xt = np.array([[0.1, -0.2, 1.2]])
    exact = rig.project(Xt)  # (C, 1, 2)
    sig = 1.5
    Xs = []
    for _ in range(300):
        Xs.append(triangulate(rig, exact + rng.normal(0, sig, exact.shape)).X[0])
    emp = np.cov(np.array(Xs).T)
    res = triangulate(rig, exact)
    pred = triangulation_covariance(rig, res.X, res.used, None, sigma_px=sig)[0]
    ratio = np.trace(emp) / np.trace(pred)
    assert 0.75 < ratio < 1.3
    # two views, one missing: still a finite covariance; one view: NaN
    used = np.array([[True], [True], [False]])
    assert np.isfinite(triangulation_covariance(rig, Xt, used)).all()
    assert np.isnan(triangulation_covariance(rig, Xt, np.array([[True], [False], [False]]))).all()


def test_fuse_estimates_information_weighting(rng):
    A = np.diag([1.0, 4.0, 0.25])[None] * 1e-4
    B = np.diag([4.0, 1.0, 0.25])[None] * 1e-4
    truth = np.array([[0.5, -1.0, 2.0]])
    errs_a, errs_f = [], []
    for _ in range(400):
        xa = truth + rng.multivariate_normal(np.zeros(3), A[0])
        xb = truth + rng.multivariate_normal(np.zeros(3), B[0])
        xf, covf = fuse_estimates([(xa, A), (xb, B)])
        errs_a.append(xa - truth)
        errs_f.append(xf - truth)
    np.testing.assert_allclose(covf[0], np.diag([0.8, 0.8, 0.125]) * 1e-4, rtol=1e-9)
    emp = np.var(np.array(errs_f)[:, 0], axis=0)
    np.testing.assert_allclose(emp, np.diag(covf[0]), rtol=0.25)
    assert np.var(np.array(errs_f)[:, 0, 0]) < np.var(np.array(errs_a)[:, 0, 0])
    # NaN estimates are skipped per point; a point with none stays NaN
    xa = np.array([[0.0, 0, 0], [1.0, 1, 1], [np.nan, 0, 0]])
    xb = np.array([[np.nan, np.nan, np.nan], [3.0, 3, 3], [np.nan, 0, 0]])
    cov = np.broadcast_to(np.eye(3), (3, 3, 3)).copy()
    X, C = fuse_estimates([(xa, cov), (xb, cov)])
    np.testing.assert_allclose(X[0], 0.0)
    np.testing.assert_allclose(X[1], 2.0)
    assert np.isnan(X[2]).all() and np.isnan(C[2]).all()
    with pytest.raises(MocapError):
        fuse_estimates([])
    with pytest.raises(MocapError):
        fuse_estimates([(xa, cov), (xa[:2], cov[:2])])


def _scene(n_cams: int = 2):
    rig = make_ring_rig(n_cams, radius=3.0, size=(320, 240), f=260.0)
    X = np.array([[0.0, 0.0, 1.0], [0.3, 0.1, 1.4], [-0.2, -0.1, 0.6]])
    r = np.array([0.06, 0.05, 0.05])
    depth = render_capsule_depth(rig[0], X, X, r, floor_z=None)
    return rig, X, r, depth


def test_single_rgbd_camera_without_triangulation():
    rig, X, r, depth = _scene(2)
    mono = rig.subset([rig.names[0]])
    uv = mono.project(X)  # (1, J, 2)
    fr = fuse_depth_frame(mono, uv, None, {mono.names[0]: depth}, 0.001, surface_offset_m=r)
    assert np.all(np.linalg.norm(fr.X - X, axis=1) < 0.02)  # 7x7 window over a curved 5 cm sphere at 3 m
    assert np.all(fr.from_depth == 1) and np.all(fr.n_sources == 1)
    with pytest.raises(KeypointsError, match="nothing to fuse"):
        fuse_depth_frame(mono, uv, None, {}, 0.001)
    with pytest.raises(KeypointsError, match="not in the rig"):
        fuse_depth_frame(mono, uv, None, {"nope": depth}, 0.001)


def test_occluder_depth_is_gated_against_triangulation():
    rig, X, r, _ = _scene(2)
    # an occluder (a big sphere) between camera 0 and the first point
    c0 = rig[0].center
    occ = X[0] + 0.5 * (c0 - X[0])
    depth = render_capsule_depth(rig[0], np.vstack([X, occ]), np.vstack([X, occ]), np.append(r, 0.15), floor_z=None)
    uv = rig.project(X)
    fr = fuse_depth_frame(rig, uv, None, {rig.names[0]: depth}, 0.001, surface_offset_m=r)
    assert fr.gated[0] == 1 and fr.from_depth[0] == 0
    assert np.linalg.norm(fr.X[0] - X[0]) < 0.01
    assert fr.from_depth[1] == 1 and fr.gated[1] == 0
    no_gate = fuse_depth_frame(rig, uv, None, {rig.names[0]: depth}, 0.001, surface_offset_m=r, gate_chi2=None,
                               occlusion_sigma=None)
    assert np.linalg.norm(no_gate.X[0] - X[0]) > 0.05  # without the gate the occluder pulls the point


def test_batch_and_step_agree():
    from mocap.keypoints import Keypoints2D

    rig, X, r, depth = _scene(2)
    uv = rig.project(X)  # (C, J, 2)
    T = 3
    data = np.concatenate([uv, np.ones(uv.shape[:2] + (1,))], -1)
    kp = Keypoints2D(np.broadcast_to(data[None, :, None], (T,) + data.shape[:1] + (1,) + data.shape[1:]).copy(),
                     "custom", rig.names)
    frames = {rig.names[0]: np.stack([depth] * T)}
    k3 = fuse_depth_keypoints(rig, kp, frames, 0.001, surface_offset_m=r)
    assert k3.data.shape == (T, 1, 3, 4)
    assert k3.meta["cov"].shape == (T, 1, 3, 3, 3)
    step = DepthFusionStep(rig, 0.001, surface_offset_m=r)
    out = step.step(uv, None, {rig.names[0]: depth}, 0.0)
    np.testing.assert_allclose(out, k3.data[1, 0], rtol=1e-12, atol=1e-12)
    assert np.all(k3.quality["from_depth"] == 1)
    with pytest.raises(KeypointsError, match="depth frames"):
        fuse_depth_keypoints(rig, kp, {rig.names[0]: np.stack([depth] * 2)}, 0.001)


def test_render_capsule_depth_sphere():
    cam = _front_camera()
    depth = render_capsule_depth(cam, np.array([[0.0, 2.0, 0.0]]), np.array([[0.0, 2.0, 0.0]]), np.array([0.1]),
                                 floor_z=-1.0)
    assert depth[120, 160] == pytest.approx(1900, abs=1)  # front of the sphere
    assert depth[0, 160] == 0  # sky: no return
    assert 0 < depth[239, 160] < 8000  # floor


def test_rgbd_improves_on_mono_and_occluded_two_camera_case(shared_data):
    """Synthetic case (a): CMU walk, one RGB-D camera + one RGB camera that loses the left arm for the middle half of
    the clip. Every assertion is about a measured outcome (none holds by construction of the scene)."""
    from benchmarks.bench_fusion import depth_case

    m = depth_case(shared_data, n_frames=12)
    assert m["rgbd_only_completeness"] > 0.95
    assert m["rgbd_only_median_m"] < 0.06
    assert m["rgbd_only_left_arm_mpjpe_m"] < m["rgbd_only_no_offset_left_arm_mpjpe_m"] - 0.01  # offset helps
    # two views triangulate the left arm exactly where both see it (nothing dropped, nothing invented)...
    assert m["tri2_left_arm_completeness"] == pytest.approx(1.0 - m["left_arm_hidden_fraction"])
    assert m["tri2_left_arm_seen_mpjpe_m"] < 0.03
    # ...fusion fills the rest from depth and stays accurate, and does not spoil what triangulation had
    assert m["fused_completeness"] == 1.0
    assert m["fused_left_arm_hidden_from_depth"] == 1.0
    assert m["fused_left_arm_hidden_mpjpe_m"] < 0.04
    assert m["fused_left_arm_seen_mpjpe_m"] < 1.1 * m["tri2_left_arm_seen_mpjpe_m"]
    assert m["fused_visible_common_mpjpe_m"] < 1.02 * m["tri2_visible_mpjpe_m"]  # on the points both have
