"""Shared helpers for the calibration format tests: synthetic rigs and a strict rig comparison."""

from __future__ import annotations

import numpy as np

from mocap.cameras import CameraRig
from tests.conftest import make_ring_rig


def varied_rig(n: int = 4, dist=(-0.12, 0.03, 0.001, -0.002, 0.004), model: str = "pinhole",
               names: list[str] | None = None, skew: float = 0.0) -> CameraRig:
    """A ring rig whose cameras all differ (focal lengths, principal points, sizes): catches swapped fields."""
    rig = make_ring_rig(n, dist=list(dist), model=model, size=(1280, 720))
    for i, c in enumerate(rig):
        c.K = np.array([[900.0 + 17.3 * i, skew, 631.7 + 3.1 * i], [0.0, 905.5 + 11.1 * i, 352.9 - 2.3 * i],
                        [0.0, 0.0, 1.0]])
        c.size = (1280 + 8 * i, 720 + 4 * i)
        c.t = c.t + np.array([0.013 * i, -0.021 * i, 0.007])
        if names:
            c.name = names[i]
    return rig


def padded(d: np.ndarray, n: int = 12) -> np.ndarray:
    out = np.zeros(n)
    out[: d.size] = d
    return out


def assert_rigs_equal(a: CameraRig, b: CameraRig, atol: float = 1e-9, names: bool = True) -> None:
    """Same cameras (order, sizes, model, K, distortion up to zero padding, R, t) within ``atol``."""
    assert len(a) == len(b)
    if names:
        assert a.names == b.names
    for ca, cb in zip(a, b):
        assert ca.size == cb.size, (ca.name, ca.size, cb.size)
        assert ca.model == cb.model
        np.testing.assert_allclose(ca.K, cb.K, rtol=0, atol=atol, err_msg=f"K of {ca.name}")
        np.testing.assert_allclose(padded(ca.dist), padded(cb.dist), rtol=0, atol=atol, err_msg=f"dist of {ca.name}")
        np.testing.assert_allclose(ca.R, cb.R, rtol=0, atol=atol, err_msg=f"R of {ca.name}")
        np.testing.assert_allclose(ca.t, cb.t, rtol=0, atol=atol, err_msg=f"t of {ca.name}")
