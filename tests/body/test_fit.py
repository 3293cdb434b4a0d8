"""Fitting on the stand-in SMPL-X: accuracy with shape estimation, online fitter, bad input, motion file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mocap.body.fit import FitConfig, OnlineFitter, fit_arrays, fit_keypoints3d
from mocap.body.motion import BodyMotion
from mocap.body.synthetic import synthetic_keypoints
from mocap.errors import DataError, KeypointsError


def _model_joints(model, mot):
    t = dict(dtype=model.dtype)
    with torch.no_grad():
        return model.forward(torch.as_tensor(mot.shape, **t)[None], torch.as_tensor(mot.params["pose_rotvec"], **t),
                             torch.as_tensor(mot.root_translation, **t), vertex_ids=None).joints.numpy()


@pytest.fixture(scope="module")
def sequence(smplx_model):
    return synthetic_keypoints(smplx_model, 24, np.random.default_rng(5), noise=0.01)


@pytest.fixture(scope="module")
def fitted(smplx_model, sequence):
    data, names, *_ = sequence
    return fit_arrays(data, names, smplx_model, fps=30.0)


def test_recovers_joints_pose_and_shape(smplx_model, sequence, fitted):
    _, _, true_joints, _, true_shape, _ = sequence
    err = np.linalg.norm(_model_joints(smplx_model, fitted)[:, :22] - true_joints[:, :22], axis=-1)
    assert err.mean() < 0.015
    # the first betas change bone lengths by ~1 cm per unit: recovered; the others barely move the joints
    assert np.abs(fitted.shape[:5] - true_shape[:5]).mean() < 0.3
    assert np.abs(fitted.shape[:5] - true_shape[:5]).mean() < 0.5 * np.abs(true_shape[:5]).mean()
    # without the limit penalty (w_limits=0) the optimiser leaves the limits by ~11 degrees on this sequence
    assert fitted.quality["limit_excess_unclamped_deg"].max() < 2.0
    assert fitted.quality["limit_excess_deg"].max() < 1e-3  # after the final clamp
    # the skeleton alone (rest offsets + local rotations) reproduces the model's joints
    assert np.allclose(fitted.world_joints(), _model_joints(smplx_model, fitted), atol=1e-4)


def test_motion_file_roundtrip(tmp_path, fitted):
    assert fitted.params["poses"].shape == (fitted.n_frames, 165)
    assert fitted.params["trans"].shape == (fitted.n_frames, 3)
    p = fitted.save(tmp_path / "m.npz")
    back = BodyMotion.load(p)
    assert np.allclose(back.local_rotations, fitted.local_rotations)
    assert back.joint_names == fitted.joint_names and back.model == "smplx"


def test_online_tracks_a_smooth_motion(smplx_model):
    data, names, true_joints, *_ = synthetic_keypoints(smplx_model, 20, np.random.default_rng(6), noise=0.005,
                                                        smooth=True)
    fitter = OnlineFitter(smplx_model, names)
    res = [np.nanmean(fitter.step(d).quality["residual_m"]) for d in data]
    assert np.mean(res) < 0.03
    m = fitter.step(np.full_like(data[0], np.nan))  # an empty frame holds the previous pose
    assert not m.quality["valid"][0]
    fitter.reset()
    with pytest.raises(KeypointsError, match="no previous frame"):
        fitter.step(np.full_like(data[0], np.nan))
    with pytest.raises(KeypointsError, match="shape"):
        fitter.step(data[0, :5])


def test_limits_hold_the_optimiser_and_the_clamp_finishes_the_job(smplx_model):
    """Keypoints of poses up to 25 % of each range beyond the joint limits: the limit penalty keeps the optimiser
    close to the limits (measured before the final clamp: ~10 degrees at most, ~78 without the penalty), and the
    clamp then puts every joint inside them, offline and online."""
    data, names, *_ = synthetic_keypoints(smplx_model, 12, np.random.default_rng(3), fraction=1.5, noise=0.005)
    mot = fit_arrays(data, names, smplx_model, config=FitConfig(shape_rounds=2))
    before, after = mot.quality["limit_excess_unclamped_deg"], mot.quality["limit_excess_deg"]
    assert before.shape == after.shape == (12,)
    assert before.max() < 20.0 and before.mean() < 6.0
    assert before.max() > 1.0  # the data really asks for more: the clamp had work to do
    assert after.max() < 1e-3
    fitter = OnlineFitter(smplx_model, names, shape=mot.shape)
    steps = [fitter.step(d) for d in data]
    before = np.array([m.quality["limit_excess_unclamped_deg"][0] for m in steps])
    after = np.array([m.quality["limit_excess_deg"][0] for m in steps])
    assert before.max() < 20.0 and before.max() > 1.0
    assert after.max() < 1e-3


def test_online_fitter_leaves_torch_threads_alone(smplx_model, monkeypatch):
    """torch.set_num_threads is process-wide: a fitter stepped from a worker thread must never call it."""
    import threading

    data, names, *_ = synthetic_keypoints(smplx_model, 4, np.random.default_rng(6), noise=0.005, smooth=True)
    fitter = OnlineFitter(smplx_model, names, config=FitConfig(threads=1))
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(n))
    errors = []

    def work():
        try:
            for d in data:
                fitter.step(d)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    th = threading.Thread(target=work)
    th.start()
    th.join()
    assert not errors
    assert calls == []


def test_bad_inputs(smplx_model, sequence):
    data, names, *_ = sequence
    data = data[:4]
    cfg = FitConfig(iters=2, shape_rounds=1)
    with pytest.raises(KeypointsError, match="millimetres"):
        fit_arrays(data * np.array([1000, 1000, 1000, 1.0]), names, smplx_model, config=cfg)
    with pytest.raises(KeypointsError, match="units look wrong"):
        fit_arrays(data * np.array([0.01, 0.01, 0.01, 1.0]), names, smplx_model, config=cfg)
    with pytest.raises(KeypointsError, match="all NaN"):
        fit_arrays(np.full_like(data, np.nan), names, smplx_model, config=cfg)
    with pytest.raises(KeypointsError, match="at least 4"):
        fit_arrays(data[:, :3], ["nose", "foo", "bar"], smplx_model, config=cfg)
    with pytest.raises(KeypointsError, match="joints but"):
        fit_arrays(data, names[:-1], smplx_model, config=cfg)
    # NaN frames are held from the nearest fitted frame and flagged
    holes = data.copy()
    holes[1] = np.nan
    mot = fit_arrays(holes, names, smplx_model, config=cfg)
    assert list(mot.quality["valid"]) == [True, False, True, True]
    assert np.allclose(mot.local_rotations[1], mot.local_rotations[0])
    assert np.isnan(mot.quality["residual_m"][1]).all()


def test_fit_keypoints3d_entry_point(smplx_dir, sequence):
    from mocap.keypoints.containers import Keypoints3D

    data, names, *_ = sequence
    # the stand-in's synthetic names are SMPL-X joints + smplx's vertex keypoints: give them as a custom set
    kp = Keypoints3D(data[:6, None], "custom", fps=25.0, meta={"joint_names": names})
    mot = fit_keypoints3d(kp, "smplx", path=smplx_dir, iters=4)
    assert mot.model == "smplx" and mot.n_frames == 6 and mot.fps == 25.0
    with pytest.raises(TypeError, match="unknown options"):
        fit_keypoints3d(kp, "smplx", path=smplx_dir, not_an_option=1)
    with pytest.raises(DataError, match="models/smplx"):
        fit_keypoints3d(kp, "smplx", path=smplx_dir / "missing")



def test_shape_rounds_stop_once_converged(smplx_model, sequence, monkeypatch):
    """The shape rounds stop once a step is negligible (or rejected: then every later round would repeat it); the
    shape is then what running every round gives, up to the steps left."""
    import mocap.body.fit as fit_mod

    monkeypatch.setattr(fit_mod, "SHAPE_TOL", 0.02)  # the stand-in converges slowly: stop after ~12 rounds
    data, names, *_ = sequence
    cfg = FitConfig(shape_rounds=20)
    runs = []
    for early in (True, False):
        prob = fit_mod._problem(smplx_model, names, cfg, None)
        obs, w, _ = fit_mod._observations(prob, data)
        frames = np.arange(0, len(data), 3)
        moves = []
        step = prob.shape_pose_step

        def counted(*a, _step=step, _moves=moves, _prob=prob, **k):
            before = _prob.shape.clone()
            out = _step(*a, **k)
            _moves.append(float((out[2] - before).abs().max()))
            return out

        prob.shape_pose_step = counted
        if early:
            fit_mod._estimate_shape(prob, obs, w, frames, cfg)
        else:  # the plain loop, every round
            o, ww = obs[frames], w[frames]
            L, p0 = prob.init_pose(o, ww)
            L, p0 = prob.lm(L, p0, o, ww, cfg.shape_pose_iters, cfg.weights())
            for _ in range(cfg.shape_rounds):
                L, p0, shape, _ = prob.shape_pose_step(L, p0, o, ww, fit_mod.SHAPE_PRIOR_STD["smplx"], cfg.weights(),
                                                      fit_mod.SHAPE_EPS["smplx"])
                prob.set_shape(shape)
        runs.append((prob.shape.numpy().copy(), moves))
    (s_early, m_early), (s_all, m_all) = runs
    tol = 0.02 * fit_mod.SHAPE_EPS["smplx"]
    assert len(m_all) == 20 and len(m_early) < 20
    assert m_early[-1] <= tol and all(m > tol for m in m_early[:-1])
    assert m_all[: len(m_early)] == pytest.approx(m_early)  # same rounds up to the stop
    assert np.abs(s_early - s_all).max() < sum(m_all[len(m_early):]) + 1e-6
