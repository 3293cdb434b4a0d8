"""Temporal filters: smoothing, NaN gaps, online step == batch, gap filling."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import MocapError
from mocap.reconstruct.filters import (
    ButterworthStep,
    GatedKalmanFilter,
    KalmanFilter,
    OneEuroFilter,
    butterworth_filter,
    coasting_confidence,
    fill_gaps,
    gated_kalman_filter,
    kalman_filter,
    one_euro_filter,
)

FPS = 100.0


@pytest.fixture
def noisy_sine(rng):
    t = np.arange(600) / FPS
    clean = np.stack([np.sin(2 * np.pi * 0.5 * t), np.cos(2 * np.pi * 0.3 * t), 0.2 * t], -1)[:, None]  # (T,1,3)
    noisy = clean + rng.normal(0, 0.02, clean.shape)
    return t, clean, noisy


def _rms(a, b):
    return float(np.sqrt(np.nanmean((a - b) ** 2)))


def test_butterworth_smooths_and_keeps_gaps(noisy_sine):
    t, clean, x = noisy_sine
    x = x.copy()
    x[200:215] = np.nan
    y = butterworth_filter(x, FPS, cutoff_hz=4.0)
    assert y.shape == x.shape
    assert np.isnan(y[200:215]).all() and np.isfinite(y[:200]).all() and np.isfinite(y[215:]).all()
    assert _rms(y, clean) < 0.4 * _rms(x, clean)
    # zero phase: no lag on the slow sine (the causal version lags)
    causal = butterworth_filter(x, FPS, cutoff_hz=4.0, zero_phase=False)
    assert _rms(y[250:550], clean[250:550]) < _rms(causal[250:550], clean[250:550])


def test_butterworth_step_equals_causal_batch(noisy_sine):
    _, _, x = noisy_sine
    x = x.copy()
    x[100:103, 0, 1] = np.nan
    batch = butterworth_filter(x, FPS, 6.0, zero_phase=False)
    f = ButterworthStep(FPS, 6.0)
    online = np.stack([f.step(v) for v in x])
    np.testing.assert_allclose(online, batch, atol=1e-12, equal_nan=True)


def test_butterworth_bad_cutoff():
    with pytest.raises(MocapError, match="cutoff"):
        butterworth_filter(np.zeros((10, 3)), 30.0, cutoff_hz=20.0)


def test_one_euro_step_equals_batch_and_smooths(noisy_sine):
    t, clean, x = noisy_sine
    x = x.copy()
    x[50:55, 0, 0] = np.nan
    batch = one_euro_filter(x, t, min_cutoff=1.0, beta=2.0)
    f = OneEuroFilter(min_cutoff=1.0, beta=2.0)
    online = np.stack([f.step(x[i], t[i]) for i in range(len(t))])
    np.testing.assert_array_equal(np.isnan(online), np.isnan(batch))
    np.testing.assert_allclose(online, batch, atol=0, rtol=0, equal_nan=True)
    assert np.isnan(batch[50:55, 0, 0]).all()
    # jitter at rest is strongly reduced
    still = np.zeros((300, 3)) + np.random.default_rng(1).normal(0, 0.01, (300, 3))
    y = one_euro_filter(still, np.arange(300) / FPS, min_cutoff=1.0, beta=0.0)
    assert np.std(y[50:]) < 0.3 * np.std(still[50:])


def test_kalman_step_equals_batch_smoother_better(noisy_sine):
    t, clean, x = noisy_sine
    x = x.copy()
    x[300:306] = np.nan
    batch = kalman_filter(x, t, process_noise=5.0, measurement_noise=0.02)
    kf = KalmanFilter(process_noise=5.0, measurement_noise=0.02)
    online = np.stack([kf.step(x[i], t[i]) for i in range(len(t))])
    np.testing.assert_allclose(online[np.isfinite(x)], batch[np.isfinite(x)], atol=1e-12)
    assert np.isnan(batch[300:306]).all()
    smooth = kalman_filter(x, t, process_noise=5.0, measurement_noise=0.02, smooth=True)
    assert _rms(batch, clean) < 0.8 * _rms(x, clean)
    assert _rms(smooth, clean) < _rms(batch, clean)


def test_kalman_tracks_a_known_trajectory(rng):
    """Constant velocity (2 m/s along x, 1 m/s along z), 1 cm noise per axis: once converged the estimate's RMS
    error is below 0.4x the measurement noise (measured 0.35x), the velocity within 0.1 m/s and the 0.1 s
    prediction within 2 cm (measured 0.9 cm)."""
    t = np.arange(300) / FPS
    v = np.array([2.0, 0.0, 1.0])
    clean = np.array([0.1, -0.3, 1.0]) + t[:, None] * v
    x = clean + rng.normal(0, 0.01, clean.shape)
    kf = KalmanFilter(process_noise=0.05, measurement_noise=0.01)
    out = np.stack([kf.step(x[i], t[i]) for i in range(len(t))])
    err = np.linalg.norm(out - clean, axis=-1)
    assert np.sqrt(np.mean(err[100:] ** 2)) < 0.4 * 0.01 * np.sqrt(3)
    assert np.abs(kf.x[..., 1] - v).max() < 0.1
    ahead = t[-1] + 0.1
    assert np.linalg.norm(kf.predict(ahead) - (clean[0] + ahead * v)) < 0.02


def test_gated_kalman_tracks_gates_spikes_and_follows_real_changes(rng):
    t = np.arange(200) / 30.0
    clean = np.stack([np.sin(2 * np.pi * 0.5 * t), 0.5 * t, np.full_like(t, 1.0)], -1)  # (T, 3)
    x = clean + rng.normal(0, 0.005, clean.shape)
    x[100] += [0.0, 0.0, 0.4]  # an isolated wrong measurement
    f = GatedKalmanFilter(measurement_noise=0.005)
    out, measured, gated = [], [], []
    for i in range(len(t)):
        out.append(f.step(x[i][None], t[i])[0])
        measured.append(f.measured[0])
        gated.append(f.gated[0])
    out = np.array(out)
    err = np.linalg.norm(out - clean, axis=-1)
    assert err[20:].mean() < 0.01  # follows the 1.6 m/s sine within a centimetre on average
    assert gated[100] and not measured[100] and sum(gated) == 1
    assert err[100] < 0.03  # coasted on the prediction instead of jumping 0.4 m
    # batch == step
    np.testing.assert_allclose(gated_kalman_filter(x[:, None], t, measurement_noise=0.005)[:, 0], out, atol=0)
    # a real change (the point moves for good): after max_gated rejected frames the filter restarts there
    y = clean.copy()
    y[150:] += [0.0, 0.0, 0.4]
    f = GatedKalmanFilter(measurement_noise=0.005)
    out2 = np.array([f.step(y[i][None], t[i])[0] for i in range(len(t))])
    assert np.linalg.norm(out2[152:] - y[152:], axis=-1).max() < 0.03
    with pytest.raises(MocapError, match="expected"):
        f.step(np.zeros((2, 2)), 10.0)


def test_coasting_confidence_falls_to_zero():
    c = coasting_confidence(np.array([0.8, 0.8, 0.8, np.nan]), np.array([0.0, 0.25, 0.6, 0.1]), 0.5)
    np.testing.assert_allclose(c[:3], [0.8, 0.4, 0.0])
    assert np.isnan(c[3])


def test_fill_gaps_linear_cubic_and_max_gap(noisy_sine):
    t, clean, _ = noisy_sine
    x = clean.copy()
    x[100:108] = np.nan  # 8-sample gap
    x[300:330] = np.nan  # 30-sample gap: too long
    x[:3] = np.nan  # leading gap: never filled
    lin = fill_gaps(x, max_gap=10)
    assert np.isfinite(lin[100:108]).all() and np.isnan(lin[300:330]).all() and np.isnan(lin[:3]).all()
    cub = fill_gaps(x, max_gap=10, method="cubic", timestamps=t)
    err_lin = np.abs(lin[100:108] - clean[100:108]).max()
    err_cub = np.abs(cub[100:108] - clean[100:108]).max()
    assert err_cub < err_lin and err_cub < 1e-3
    with pytest.raises(MocapError, match="unknown gap-filling"):
        fill_gaps(x, method="spline")
