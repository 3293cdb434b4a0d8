"""Time offsets between unsynchronised cameras from keypoint motion.

Each camera's motion signal is the mean joint speed of its 2D keypoints (pixels/frame, z-scored so zoom and
resolution do not matter). A person moves at the same moments in every view, so the lag that maximises the
normalised cross-correlation of two signals is their time offset; a parabola through the peak gives sub-frame
precision.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from mocap.errors import KeypointsError


@dataclass
class OffsetEstimate:
    """Result of :func:`estimate_offset`.

    Attributes:
        offset_frames: ``d`` such that frame ``t + d`` of the second camera shows the moment of frame ``t`` of the
            first (positive: the second camera started earlier / its events come later in its frame numbering).
        confidence: in [0, 1]: the peak's Pearson correlation times how much it stands out from the best other
            peak (0 when the signals do not correlate or two lags fit equally).
        correlation: ``(2 * max_lag + 1,)`` correlation per integer lag ``-max_lag..max_lag`` (NaN: too little
            overlap).
        lags: the integer lags of ``correlation``.
    """

    offset_frames: float
    confidence: float
    correlation: np.ndarray
    lags: np.ndarray


def motion_signal(kpts: np.ndarray, min_confidence: float = 0.0) -> np.ndarray:
    """Per-frame motion of one camera's keypoints.

    Args:
        kpts: ``(T, J, 2|3)`` or ``(T, P, J, 2|3)`` pixels (+ confidence); NaN where missing. People are pooled.
        min_confidence: joints below this confidence count as missing.

    Returns:
        ``(T,)`` mean joint speed, pixels/frame, divided by the median person size (bounding-box diagonal); the
        first entry and frames without data are NaN.
    """
    k = np.asarray(kpts, float)
    if k.ndim == 3:
        k = k[:, None]
    if k.ndim != 4 or k.shape[-1] not in (2, 3):
        raise KeypointsError(f"keypoints for the motion signal have shape {k.shape}; expected (T, [P,] J, 2|3)")
    uv = k[..., :2].copy()
    if k.shape[-1] == 3 and min_confidence > 0:
        uv[k[..., 2] < min_confidence] = np.nan
    speed = np.linalg.norm(np.diff(uv, axis=0), axis=-1)  # (T-1, P, J)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sig = np.nanmean(speed.reshape(speed.shape[0], -1), axis=1)
        span = np.nanmax(uv, axis=2) - np.nanmin(uv, axis=2)  # (T, P, 2)
        scale = np.nanmedian(np.linalg.norm(span, axis=-1))
    if not np.isfinite(scale) or scale <= 0:
        scale = 1.0
    return np.concatenate([[np.nan], sig / scale])


def _pearson_at_lag(a: np.ndarray, b: np.ndarray, lag: int, min_overlap: int) -> float:
    if lag >= 0:
        x, y = a[: len(a) - lag] if lag else a, b[lag:]
    else:
        x, y = a[-lag:], b[: len(b) + lag]
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < min_overlap:
        return np.nan
    x, y = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    d = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / d) if d > 0 else np.nan


def estimate_offset_from_signals(a: np.ndarray, b: np.ndarray, max_lag: int | None = None,
                                 min_overlap: int | None = None) -> OffsetEstimate:
    """Offset between two ``(T,)`` motion signals (see :func:`estimate_offset` for the sign)."""
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    n = min(len(a), len(b))
    if max_lag is None:
        max_lag = max(1, n // 3)
    if min_overlap is None:
        min_overlap = max(8, n // 3)
    lags = np.arange(-max_lag, max_lag + 1)
    corr = np.array([_pearson_at_lag(a, b, int(L), min_overlap) for L in lags])
    if not np.isfinite(corr).any():
        return OffsetEstimate(np.nan, 0.0, corr, lags)
    i = int(np.nanargmax(corr))
    peak = corr[i]
    sub = 0.0
    if 0 < i < len(corr) - 1 and np.isfinite(corr[i - 1]) and np.isfinite(corr[i + 1]):
        den = corr[i - 1] - 2 * peak + corr[i + 1]
        if den < 0:
            sub = float(np.clip(0.5 * (corr[i - 1] - corr[i + 1]) / den, -0.5, 0.5))
    # distinctness: the best correlation at least 3 frames away from the peak
    far = np.abs(lags - lags[i]) >= 3
    other = np.nanmax(corr[far]) if np.isfinite(corr[far]).any() else -1.0
    conf = float(np.clip(peak, 0, 1) * np.clip((peak - max(other, 0.0)) / max(peak, 1e-9), 0, 1))
    return OffsetEstimate(float(lags[i] + sub), conf, corr, lags)


def estimate_offset(kpts_a: np.ndarray, kpts_b: np.ndarray, max_lag: int | None = None,
                    min_confidence: float = 0.0) -> OffsetEstimate:
    """Time offset between two cameras from their 2D keypoints of the same person(s).

    Args:
        kpts_a: ``(T, [P,] J, 2|3)`` keypoints of the reference camera, pixels; NaN where missing.
        kpts_b: ``(T', [P,] J, 2|3)`` keypoints of the other camera (its own joint set is fine).
        max_lag: largest offset searched, frames (default a third of the shorter sequence).
        min_confidence: joints below this confidence count as missing.

    Returns:
        :class:`OffsetEstimate`: frame ``t + offset_frames`` of camera b shows the moment of frame ``t`` of a.
    """
    return estimate_offset_from_signals(motion_signal(kpts_a, min_confidence), motion_signal(kpts_b, min_confidence),
                                        max_lag)


def estimate_offsets(kpts: np.ndarray, reference: int = 0, max_lag: int | None = None,
                     min_confidence: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Offsets of every camera relative to ``reference``.

    Args:
        kpts: ``(T, C, P, J, 3)`` array or a :class:`mocap.keypoints.Keypoints2D`.
        reference: index of the reference camera (offset 0).
        max_lag: largest offset searched, frames.
        min_confidence: joints below this confidence count as missing.

    Returns:
        ``offsets (C,)`` frames (usable as ``MultiSource(offsets_frames=...)``) and ``confidences (C,)``.
    """
    data = getattr(kpts, "data", kpts)
    data = np.asarray(data, float)
    if data.ndim != 5:
        raise KeypointsError(f"keypoints have shape {data.shape}; expected (frames, cameras, people, joints, 3)")
    C = data.shape[1]
    off, conf = np.zeros(C), np.ones(C)
    ref = motion_signal(data[:, reference], min_confidence)
    for c in range(C):
        if c == reference:
            continue
        est = estimate_offset_from_signals(ref, motion_signal(data[:, c], min_confidence), max_lag)
        off[c], conf[c] = est.offset_frames, est.confidence
    return off, conf
