"""Joints-only solver: analytic Jacobian, rotation helpers, analytic initialisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mocap.body.correspondence import build_correspondence
from mocap.body.model import rotvec_to_matrix_torch
from mocap.body.priors import joint_limits
from mocap.body.solver import Problem, Weights, kabsch_batched, log_so3
from mocap.body.synthetic import synthetic_keypoints


@pytest.fixture(scope="module")
def problem(smplx_model):
    _, names, *_ = synthetic_keypoints(smplx_model, 1, np.random.default_rng(0))
    return Problem(smplx_model, build_correspondence(smplx_model, names), joint_limits(smplx_model))


def test_log_so3_roundtrip_including_near_pi():
    g = torch.Generator().manual_seed(0)
    axes = torch.nn.functional.normalize(torch.randn(50, 3, generator=g, dtype=torch.float64), dim=-1)
    angles = torch.cat([torch.rand(44, generator=g, dtype=torch.float64) * 3.0,
                        torch.tensor([0.0, 1e-9, 3.14159, np.pi - 1e-6, np.pi, 1e-5], dtype=torch.float64)])
    rv = axes * angles[:, None]
    R = rotvec_to_matrix_torch(rv)
    assert torch.allclose(rotvec_to_matrix_torch(log_so3(R)), R, atol=1e-6)


def test_kabsch_recovers_rigid_motion():
    g = torch.Generator().manual_seed(1)
    src = torch.randn(3, 10, 3, generator=g, dtype=torch.float64)
    R = rotvec_to_matrix_torch(torch.randn(3, 3, generator=g, dtype=torch.float64))
    t = torch.randn(3, 3, generator=g, dtype=torch.float64)
    dst = (R[:, None] @ src[..., None])[..., 0] + t[:, None]
    Rf, tf = kabsch_batched(src, dst, torch.ones(3, 10, dtype=torch.float64))
    assert torch.allclose(Rf, R, atol=1e-8) and torch.allclose(tf, t, atol=1e-8)


def test_analytic_gradient_matches_finite_differences(problem):
    g = torch.Generator().manual_seed(2)
    T, K = 2, len(problem.corr.names)
    L = rotvec_to_matrix_torch(0.3 * torch.randn(T, problem.model.n_joints, 3, generator=g, dtype=torch.float64))
    p0 = torch.randn(T, 3, generator=g, dtype=torch.float64)
    obs = torch.randn(T, K, 3, generator=g, dtype=torch.float64)
    w = torch.rand(T, K, generator=g, dtype=torch.float64)
    phi0 = problem.local_rotvec(L) + 0.1
    wts = Weights(limits=10.0, prior=1.0)
    cost, _, H, grad = problem._terms(L, p0, obs, w, phi0, None, wts, jac=True)
    n = grad.shape[1]
    eps = 1e-6
    num = torch.zeros_like(grad)
    for i in range(n):
        d = torch.zeros(T, n, dtype=torch.float64)
        d[:, i] = eps
        c2, _ = problem._terms(*problem._apply(L, p0, d), obs, w, phi0, None, wts, jac=False)
        num[:, i] = (c2 - cost) / eps / 2  # cost = sum r^2, gradient = 2 J^T r
    assert ((num - grad).norm() / grad.norm()) < 1e-4
    assert torch.allclose(H, H.transpose(1, 2))


def test_initialisation_then_lm_recovers_noise_free_poses(problem, smplx_model):
    data, names, true_joints, _, shape, _ = synthetic_keypoints(smplx_model, 6, np.random.default_rng(3), noise=0.0)
    obs = torch.as_tensor(data[..., :3])
    w = torch.ones(obs.shape[:2], dtype=torch.float64) * problem.corr.weights.double()
    problem.set_shape(torch.as_tensor(shape))
    L, p0 = problem.init_pose(obs, w)
    P, _ = problem.fk(L, p0)
    init_err = np.linalg.norm(P[:, :22].numpy() - true_joints[:, :22], axis=-1).mean()
    L, p0 = problem.lm(L, p0, obs, w, 10, Weights())
    P, _ = problem.fk(L, p0)
    err = np.linalg.norm(P[:, :22].numpy() - true_joints[:, :22], axis=-1).mean()
    assert init_err < 0.08
    assert err < 0.01 and err < init_err
    problem.set_shape(smplx_model.default_shape())


def test_joints_no_keypoint_constrains_are_not_optimised(smplx_model):
    """mediapipe33's knuckles switch the hands on, but nothing constrains the finger bends: those joints are left out
    of the normal equations (moving them moves no keypoint), every kept joint moves some keypoint."""
    from mocap.skeletons import get_joint_set

    names = list(get_joint_set("mediapipe33").joints)
    corr = build_correspondence(smplx_model, names, "mediapipe33")
    assert corr.uses_hands
    full = joint_limits(smplx_model, hands=True)
    prob = Problem(smplx_model, corr, full)
    kept = set(prob.limits.names)
    dropped = [(j, n) for j, n in zip(full.joints.tolist(), full.names) if n not in kept]
    assert dropped and all("_" in n and n.split("_")[1] in ("index", "middle", "ring", "pinky", "thumb")
                           for _, n in dropped)
    assert {"left_wrist", "right_wrist", "left_knee", "head"} <= kept
    assert prob.nA == len(kept) + 1 and len(prob.ix) == prob.nA

    g = torch.Generator().manual_seed(3)
    T = 2
    L = rotvec_to_matrix_torch(0.3 * torch.randn(T, smplx_model.n_joints, 3, generator=g, dtype=torch.float64))
    p0 = torch.randn(T, 3, generator=g, dtype=torch.float64)
    base = prob.predict(*prob.fk(L, p0))
    for j, _ in dropped:
        L2 = L.clone()
        L2[:, j] = rotvec_to_matrix_torch(torch.tensor([0.4, -0.3, 0.5], dtype=torch.float64)) @ L2[:, j]
        assert torch.allclose(prob.predict(*prob.fk(L2, p0)), base, atol=1e-12)
    obs = torch.randn(T, len(corr.names), 3, generator=g, dtype=torch.float64)
    prob._terms(L, p0, obs, torch.ones(T, len(corr.names), dtype=torch.float64), prob.local_rotvec(L), None,
                Weights(), jac=True)
    Jk = prob._last_J[0]  # (T, K, 3, n)
    assert Jk.shape[-1] == 3 * prob.nA + 3
    assert bool((Jk.abs().sum((0, 1, 2)) > 0).all())  # every optimised column moves some keypoint


def _random_pose(prob, T, seed):
    """Local rotations ``(T, J, 3, 3)`` with only the optimised joints rotated (the fitting loop's invariant)."""
    g = torch.Generator().manual_seed(seed)
    L = torch.eye(3, dtype=prob.dt).repeat(T, prob.model.n_joints, 1, 1)
    L[:, prob.ix] = rotvec_to_matrix_torch(0.6 * torch.randn(T, prob.nA, 3, generator=g, dtype=prob.dt))
    return L, torch.randn(T, 3, generator=g, dtype=prob.dt)


@pytest.mark.parametrize("which", ["smplx", "anny"])
def test_compact_kinematics_match_full_forward_kinematics(which, request):
    model = request.getfixturevalue(f"{which}_model")
    names = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
             "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
             "left_ankle", "right_ankle"]
    prob = Problem(model, build_correspondence(model, names, "coco17"), joint_limits(model))
    prob.set_shape(model.default_shape() + 0.1)  # the compact levers follow the shape
    L, p0 = _random_pose(prob, 4, 3)
    P, G = prob.fk(L, p0)
    Pr, Gr = prob.fk_reduced(L, p0)
    assert torch.allclose(Pr, P[:, prob.ix], atol=1e-12) and torch.allclose(Gr, G[:, prob.ix], atol=1e-12)
    assert torch.allclose(prob.predict_reduced(Pr, Gr), prob.predict(P, G), atol=1e-12)
    assert prob.nA < prob.model.n_joints and len(prob.rk) <= len(prob.pk)


def test_lm_early_stop_on_one_frame(problem):
    L, p0 = _random_pose(problem, 1, 4)
    L = problem.clamp(L)  # reachable within the joint limits
    obs = problem.predict(*problem.fk(L, p0))
    w = torch.ones(obs.shape[:2], dtype=problem.dt)
    L1, p1 = problem.lm(L, p0 + 0.02, obs, w, 8, Weights(), phi0=problem.local_rotvec(L), tol=1e-3)
    # the 2 cm root offset is (mostly) undone and the compact kinematics of the result are kept
    err = torch.linalg.norm(problem.predict(*problem.fk(L1, p1)) - obs, dim=-1).mean()
    assert float(err) < 0.005
    P, G = problem._last_kin
    assert torch.allclose(P, problem.fk(L1, p1)[0][:, problem.ix], atol=1e-12)
