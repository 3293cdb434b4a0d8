"""Anny: our kinematics against the anny package, and fitting its own COCO(+feet) keypoints (slow: Anny build)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mocap.body.fit import FitConfig, OnlineFitter, fit_arrays
from mocap.body.synthetic import synthetic_keypoints

pytestmark = pytest.mark.slow


def test_forward_matches_anny_package(anny_model):
    g = torch.Generator().manual_seed(0)
    pose = 0.2 * torch.randn(2, anny_model.n_joints, 3, generator=g)
    shape = torch.rand(2, anny_model.n_shape, generator=g) * 0.4 + 0.3
    root = torch.randn(2, 3, generator=g)
    with torch.no_grad():
        ours = torch.cat([anny_model.forward(shape[i:i + 1], pose[i:i + 1], root[i:i + 1]).vertices for i in (0, 1)])
        ref = torch.cat([anny_model.anny_forward(shape[i:i + 1], pose[i:i + 1], root[i:i + 1]) for i in (0, 1)])
    assert (ours - ref).abs().max() < 1e-4


def test_fit_synthetic_coco_keypoints(anny_model):
    data, names, true_joints, _, true_shape, _ = synthetic_keypoints(anny_model, 20, np.random.default_rng(0))
    mot = fit_arrays(data, names, anny_model, config=FitConfig())
    res = np.nanmean(mot.quality["residual_m"])
    assert res < 0.03
    assert mot.quality["limit_excess_deg"].max() < 1e-3
    assert np.abs(mot.shape - true_shape).mean() < 0.1
    assert mot.params["phenotypes"].shape == (anny_model.n_shape,)
    fitter = OnlineFitter(anny_model, names, shape=mot.shape)
    online = [np.nanmean(fitter.step(d).quality["residual_m"]) for d in data[:5]]
    assert np.mean(online) < 0.04
