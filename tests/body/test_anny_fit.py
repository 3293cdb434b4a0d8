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


def _bone_lengths(model, shape) -> np.ndarray:
    """Lengths of the rest skeleton's bones (m) for a shape: what the keypoints can tell about the shape."""
    off = model.rest_offsets(torch.as_tensor(np.asarray(shape), dtype=model.dtype))
    return np.linalg.norm(np.asarray(off), axis=-1)


def test_fit_synthetic_coco_keypoints(anny_model):
    data, names, true_joints, _, true_shape, _ = synthetic_keypoints(anny_model, 20, np.random.default_rng(0))
    mot = fit_arrays(data, names, anny_model, config=FitConfig())
    res = np.nanmean(mot.quality["residual_m"])
    assert res < 0.03
    assert mot.quality["limit_excess_unclamped_deg"].max() < 2.0  # the limit penalty holds the optimiser
    assert mot.quality["limit_excess_deg"].max() < 1e-3  # the final clamp
    assert mot.params["phenotypes"].shape == (anny_model.n_shape,)
    fitter = OnlineFitter(anny_model, names, shape=mot.shape)
    online = [np.nanmean(fitter.step(d).quality["residual_m"]) for d in data[:5]]
    assert np.mean(online) < 0.04


def test_shape_recovery_beats_not_updating_the_shape(anny_model):
    """The fitted shape's skeleton is closer to the true one than the starting (mean) shape's, by a margin.

    Measured on the rest skeleton's bone lengths (longer than 5 cm), which is what 23 keypoints can observe: the
    six phenotype sliders themselves are not all identifiable from joints (weight or muscle barely move them).
    Measured here: 0.34, 0.46 and 0.39 of the no-update error for these three subjects; the bound is 0.6.
    """
    ratios = []
    for seed in range(3):
        data, names, _, _, true_shape, _ = synthetic_keypoints(anny_model, 20, np.random.default_rng(seed))
        mot = fit_arrays(data, names, anny_model, config=FitConfig())
        true_len = _bone_lengths(anny_model, true_shape)
        sel = true_len > 0.05
        err_fit = np.abs(_bone_lengths(anny_model, mot.shape) - true_len)[sel].mean()
        err_none = np.abs(_bone_lengths(anny_model, anny_model.default_shape()) - true_len)[sel].mean()
        ratios.append(err_fit / err_none)
    assert np.mean(ratios) < 0.6, ratios
    assert max(ratios) < 0.8, ratios
