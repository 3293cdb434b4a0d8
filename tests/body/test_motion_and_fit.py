"""Fitting on the stand-in SMPL-X: accuracy on synthetic poses, bad-input messages, motion file round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mocap.body.correspondence import SMPLX_VERTEX_LANDMARKS
from mocap.body.fit import FitConfig, fit_arrays
from mocap.body.motion import BodyMotion
from mocap.body.priors import joint_limits
from mocap.body.smplx_model import SmplxModel
from mocap.body.standin import make_standin_smplx
from mocap.errors import KeypointsError


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("smplx")
    make_standin_smplx(d / "SMPLX_NEUTRAL.npz")
    return SmplxModel(d)


def _synthetic(model, T=4, seed=0):
    rng = np.random.default_rng(seed)
    lim = joint_limits(model, hands=False)
    pose = torch.zeros(T, 55, 3)
    pose[:, torch.as_tensor(lim.joints)] = lim.sample(T, rng, 0.5)
    pose[:, 0] = torch.tensor([np.pi / 2, 0, 0])
    root = torch.tensor([[0.0, 0.0, 1.0]]).repeat(T, 1)
    ids = torch.tensor(list(SMPLX_VERTEX_LANDMARKS.values()))
    with torch.no_grad():
        out = model.forward(model.default_shape()[None], pose, root, vertex_ids=ids)
    pts = torch.cat([out.joints, out.vertices], 1).numpy().astype(float)
    pts += rng.normal(scale=0.01, size=pts.shape)
    names = list(model.joint_names) + list(SMPLX_VERTEX_LANDMARKS)
    return np.concatenate([pts, np.ones(pts.shape[:2] + (1,))], -1), names, out.joints.numpy()


@pytest.mark.slow
def test_fit_recovers_joints(model):
    data, names, truth = _synthetic(model)
    cfg = FitConfig(shape_iters=0, pose_iters=250, w_smooth=0.0)
    mot = fit_arrays(data, names, model, config=cfg)
    with torch.no_grad():
        out = model.forward(torch.as_tensor(mot.shape, dtype=torch.float32)[None],
                            torch.as_tensor(mot.params["pose_rotvec"], dtype=torch.float32),
                            torch.as_tensor(mot.root_translation, dtype=torch.float32), vertex_ids=None)
    err = np.linalg.norm(out.joints.numpy() - truth, axis=-1).mean()
    assert err < 0.02
    # the skeleton alone (rest offsets + local rotations) reproduces the model's joints
    assert np.allclose(mot.world_joints(), out.joints.numpy(), atol=1e-4)


def test_motion_roundtrip(tmp_path, model):
    data, names, _ = _synthetic(model, T=2)
    mot = fit_arrays(data, names, model, config=FitConfig(shape_iters=0, pose_iters=3))
    assert mot.params["poses"].shape == (2, 165)
    p = mot.save(tmp_path / "m.npz")
    back = BodyMotion.load(p)
    assert np.allclose(back.local_rotations, mot.local_rotations)
    assert back.joint_names == mot.joint_names


def test_bad_inputs(model):
    data, names, _ = _synthetic(model, T=2)
    cfg = FitConfig(shape_iters=0, pose_iters=2)
    with pytest.raises(KeypointsError, match="millimetres"):
        fit_arrays(data * np.array([1000, 1000, 1000, 1.0]), names, model, config=cfg)
    with pytest.raises(KeypointsError, match="all NaN"):
        fit_arrays(np.full_like(data, np.nan), names, model, config=cfg)
    with pytest.raises(KeypointsError, match="at least 4"):
        fit_arrays(data[:, :3], ["nose", "foo", "bar"], model, config=cfg)
    with pytest.raises(KeypointsError, match="joints but"):
        fit_arrays(data, names[:-1], model, config=cfg)
