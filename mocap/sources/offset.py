"""Time offsets between unsynchronised cameras from their 2D keypoints.

Two estimators:

* :func:`estimate_offsets_calibrated` (use it whenever the rig is calibrated): for every camera it scans integer
  offsets, shifting that camera's 2D track in time, and measures how well the shifted track agrees with the others
  geometrically: the median reprojection error, in that camera, of points triangulated from the OTHER cameras
  (three or more cameras), or the median symmetric epipolar distance against the reference camera (two cameras,
  and as the starting point). A parabola through the cost minimum gives sub-frame precision.
* :func:`estimate_offset` / :func:`estimate_offsets` (no calibration needed, less reliable): cross-correlation of
  motion signals, described below.

Each camera's motion signal is the mean joint speed of its 2D keypoints (pixels/frame, z-scored so zoom and
resolution do not matter). A person moves at the same moments in every view, so the lag that maximises the
normalised cross-correlation of two signals is their time offset; a parabola through the peak gives sub-frame
precision.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from mocap.errors import CalibrationError, KeypointsError, MocapError

if TYPE_CHECKING:
    from mocap.cameras import CameraRig


@dataclass
class OffsetEstimate:
    """Result of :func:`estimate_offset` or :func:`estimate_offsets_calibrated`.

    Attributes:
        offset_frames: ``d`` such that frame ``t + d`` of the second camera shows the moment of frame ``t`` of the
            first (positive: the second camera started earlier / its events come later in its frame numbering).
        confidence: in [0, 1]: the peak's Pearson correlation times how much it stands out from the best other
            peak (0 when the signals do not correlate or two lags fit equally).
            For the calibrated estimator: ``1 - best cost / cost of the best other basin`` (see
            :func:`estimate_offsets_calibrated`).
        correlation: ``(2 * max_lag + 1,)`` correlation per integer lag ``-max_lag..max_lag`` (NaN: too little
            overlap); all NaN for the calibrated estimator (see ``cost``).
        lags: the integer lags of ``correlation`` / ``cost``.
        cost: calibrated estimator only: ``(len(lags),)`` geometric cost per lag, pixels (NaN: too few points).
        residual_px: calibrated estimator only: the cost at the best integer lag, pixels.
        n_points: calibrated estimator only: number of (frame, joint) points behind the best lag's cost.
        method: ``"motion"``, ``"epipolar"``, ``"reprojection"``, or ``"epipolar-multi"`` / ``"reprojection-multi"``
            (several people per camera, each matched with its nearest counterpart; see
            :func:`estimate_offsets_calibrated`).
        camera: name of the camera this offset belongs to (calibrated estimator).
        reliable: calibrated estimator only: False when the minimum cannot be trusted (see ``note``); its
            ``confidence`` is then 0 (the sharpness of the minimum stays in ``sharpness``).
        note: why the estimate is not reliable ("" when it is).
        sharpness: calibrated estimator only: the confidence before the reliability checks.
    """

    offset_frames: float
    confidence: float
    correlation: np.ndarray
    lags: np.ndarray
    cost: np.ndarray | None = None
    residual_px: float = float("nan")
    n_points: int = 0
    method: str = "motion"
    camera: str = ""
    reliable: bool = True
    note: str = ""
    sharpness: float = float("nan")


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


# --------------------------------------------------------------------------- calibrated estimator
def _parabola_min(cost: np.ndarray, i: int) -> float:
    """Sub-sample shift in [-0.5, 0.5] of the minimum of a parabola through ``cost[i-1:i+2]`` (0 if undefined)."""
    if 0 < i < len(cost) - 1 and np.isfinite(cost[i - 1:i + 2]).all():
        den = cost[i - 1] - 2 * cost[i] + cost[i + 1]
        if den > 0:
            return float(np.clip(0.5 * (cost[i - 1] - cost[i + 1]) / den, -0.5, 0.5))
    return 0.0


def cost_confidence(cost: np.ndarray, i: int, min_separation: int = 2) -> float:
    """Sharpness of the minimum ``i`` of a cost curve: ``1 - cost[i] / second``, clipped to [0, 1].

    ``second`` is the lowest cost outside the basin of ``i`` (the run of lags over which the cost rises
    monotonically away from ``i``) and at least ``min_separation`` lags away; where the whole curve is one basin, its
    highest value. 0 when no other lag is finite or two basins are equally good; near 1 for a deep, unique minimum.
    """
    c = np.asarray(cost, float)
    if not np.isfinite(c[i]):
        return 0.0
    lo = i
    while lo > 0 and np.isfinite(c[lo - 1]) and c[lo - 1] >= c[lo]:
        lo -= 1
    hi = i
    while hi < len(c) - 1 and np.isfinite(c[hi + 1]) and c[hi + 1] >= c[hi]:
        hi += 1
    idx = np.arange(len(c))
    outside = ((idx < lo) | (idx > hi)) & (np.abs(idx - i) >= min_separation) & np.isfinite(c)
    if outside.any():
        second = float(c[outside].min())
    else:
        basin = (idx >= lo) & (idx <= hi) & np.isfinite(c)
        second = float(c[basin].max())
    if not second > 0:
        return 0.0
    return float(np.clip(1.0 - c[i] / second, 0.0, 1.0))


def _shift_pairs(T: int, lag: int) -> tuple[slice, slice]:
    """Reference frames ``t`` and shifted-camera frames ``t + lag`` that both exist in ``0..T-1``."""
    return slice(max(0, -lag), min(T, T - lag)), slice(max(0, lag), min(T, T + lag))


def _aligned(a: np.ndarray, lag: int) -> np.ndarray:
    """``out[t] = a[t + lag]`` (NaN where ``t + lag`` is outside ``a``), for ``a`` of shape ``(T, ...)``."""
    out = np.full_like(a, np.nan)
    ref, cam = _shift_pairs(len(a), lag)
    out[ref] = a[cam]
    return out


def shift_track(a: np.ndarray, shift: float, same_person: float = 0.3) -> np.ndarray:
    """One camera's 2D track shifted in time: ``out[t]`` is ``a`` at time ``t + shift`` (frames).

    Args:
        a: ``(T, P, J, 3)`` keypoints ``(u, v, confidence)`` of one camera, pixels, NaN where missing.
        shift: frames; a fractional part interpolates linearly between the two neighbouring frames.
        same_person: a person slot is interpolated only when its joints moved less than this fraction of the
            person's size (bounding-box diagonal; median over joints) between the two frames; otherwise the slot may
            hold another person in the next frame (detectors do not keep their order) and the nearer frame is taken.

    Returns:
        ``(T, P, J, 3)``; NaN where ``t + shift`` falls outside the recording or a neighbour is missing.
    """
    i0 = int(np.floor(shift))
    w = float(shift - i0)
    first = _aligned(a, i0)
    if w < 1e-9:
        return first
    second = _aligned(a, i0 + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        moved = np.nanmedian(np.linalg.norm(first[..., :2] - second[..., :2], axis=-1), axis=-1)  # (T, P)
        size = np.linalg.norm(np.nanmax(first[..., :2], axis=-2) - np.nanmin(first[..., :2], axis=-2), axis=-1)
    same = moved <= same_person * size
    mix = (1.0 - w) * first + w * second
    near = first if w < 0.5 else second
    return np.where(same[..., None, None], mix, near)


def _curve(errors_at_lag, lags: np.ndarray, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    cost = np.full(len(lags), np.nan)
    count = np.zeros(len(lags), int)
    for k, lag in enumerate(lags):
        e = errors_at_lag(int(lag))
        e = e[np.isfinite(e)]
        count[k] = e.size
        if e.size >= min_points:
            cost[k] = float(np.median(e))
    return cost, count


def _essential(rig: CameraRig, ref: int, cam: int) -> tuple[np.ndarray, float, float]:
    """Essential matrix ``E`` (``x_cam^T E x_ref = 0`` in normalised homogeneous coordinates) of two cameras and
    their mean focal lengths (pixels)."""
    cr, cc = rig.cameras[ref], rig.cameras[cam]
    R = cc.R @ cr.R.T
    t = cc.t - R @ cr.t
    if np.linalg.norm(t) < 1e-9:
        raise CalibrationError(f"cameras {cr.name} and {cc.name} share a centre; their epipolar geometry is undefined")
    tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
    return tx @ R, 0.5 * (cr.K[0, 0] + cr.K[1, 1]), 0.5 * (cc.K[0, 0] + cc.K[1, 1])


def _homogeneous(rig: CameraRig, c: int, uv: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Undistorted normalised homogeneous coordinates ``(..., 3)`` of camera ``c``'s pixels ``uv (..., 2)``; NaN
    where ``ok`` is False."""
    xy = rig.cameras[c].undistort_normalized(np.where(ok[..., None], uv, np.nan).reshape(-1, 2))
    return np.concatenate([xy, np.ones((len(xy), 1))], -1).reshape(uv.shape[:-1] + (3,))


def _epipolar_curve(rig: CameraRig, uv: np.ndarray, ok: np.ndarray, ref: int, cam: int, lags: np.ndarray,
                    min_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Median symmetric epipolar distance (pixels) of camera ``cam`` shifted by each lag against ``ref``."""
    E, fr, fc = _essential(rig, ref, cam)
    T = uv.shape[0]
    xr, xc = _homogeneous(rig, ref, uv[:, ref], ok[:, ref]), _homogeneous(rig, cam, uv[:, cam], ok[:, cam])
    line_c = xr @ E.T  # epipolar lines of reference points in camera cam, (T, J, 3)
    line_r = xc @ E  # epipolar lines of cam's points in the reference
    with np.errstate(invalid="ignore", divide="ignore"):
        nc = np.linalg.norm(line_c[..., :2], axis=-1)
        nr = np.linalg.norm(line_r[..., :2], axis=-1)

    def errors(lag: int) -> np.ndarray:
        a, b = _shift_pairs(T, lag)
        alg = np.abs(np.einsum("tjk,tjk->tj", xc[b], line_c[a]))
        with np.errstate(invalid="ignore", divide="ignore"):
            return (0.5 * (fc * alg / nc[a] + fr * alg / nr[b])).ravel()

    return _curve(errors, lags, min_points)


def _reprojection_curve(rig: CameraRig, uv: np.ndarray, conf: np.ndarray, ok: np.ndarray, cam: int,
                        offsets: np.ndarray, lags: np.ndarray, min_points: int, min_conf: float
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Median reprojection error (pixels) in camera ``cam``, shifted by each lag, of points triangulated from the
    other cameras (each aligned by its current offset)."""
    from mocap.reconstruct.triangulation import triangulate

    others = [k for k in range(len(rig)) if k != cam]
    uv_o = np.stack([_aligned(np.where(ok[:, k, :, None], uv[:, k], np.nan), int(round(offsets[k])))
                     for k in others])  # (C-1, T, J, 2)
    cf_o = np.stack([_aligned(conf[:, k], int(round(offsets[k]))) for k in others])
    res = triangulate(rig.subset([rig.names[k] for k in others]), uv_o, cf_o, min_conf=min_conf)
    X = np.where((res.reason == 0)[..., None], res.X, np.nan)  # (T, J, 3) in reference time
    proj = rig.cameras[cam].project(X)
    obs = np.where(ok[:, cam, :, None], uv[:, cam], np.nan)
    T = uv.shape[0]

    def errors(lag: int) -> np.ndarray:
        a, b = _shift_pairs(T, lag)
        return np.linalg.norm(proj[a] - obs[b], axis=-1).ravel()

    return _curve(errors, lags, min_points)


def _matched_curve(pair_errors, T: int, lags: np.ndarray, min_points: int, seen_factor: float = 2.0,
                   pick_people: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Cost curve from matched people: ``pair_errors(lag)`` gives ``(n, K, Q, J)`` errors (pixels) between ``K``
    reference people (3D people of the other cameras, or the reference camera's 2D people) and the shifted camera's
    ``Q`` 2D people over reference frames ``_shift_pairs(T, lag)[0]``.

    Per frame, each reference person is paired with the 2D person of smallest median error. Pairs that do not fit at
    ANY lag (their best median is above ``seen_factor`` times the median of all pairs' best) are left out: a person
    this camera does not see, or a bystander only one side has. The cost of a lag is the median of the kept pairs'
    joint errors. With ``pick_people`` (the reference people are stable tracks), only the people whose own cost
    curve has a minimum at least half as sharp (:func:`cost_confidence`) as the sharpest person's are pooled.
    """
    L = len(lags)

    def matched(lag: int) -> tuple[slice, np.ndarray]:
        a, _ = _shift_pairs(T, lag)
        e = pair_errors(lag)  # (n, K, Q, J)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(e, axis=-1)  # (n, K, Q)
        q = np.argmin(np.where(np.isfinite(med), med, np.inf), axis=2)  # (n, K)
        return a, np.take_along_axis(e, q[:, :, None, None], axis=2)[:, :, 0]  # (n, K, J)

    best = None
    for lag in lags:
        a, e = matched(int(lag))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            m = np.nanmedian(e, axis=-1)  # (n, K)
        if best is None:
            best = np.full((T, e.shape[1]), np.inf)
        best[a] = np.fmin(best[a], np.where(np.isfinite(m), m, np.inf))
    cost = np.full(L, np.nan)
    count = np.zeros(L, int)
    if best is None or not np.isfinite(best).any():
        return cost, count
    keep = best <= seen_factor * float(np.median(best[np.isfinite(best)]))  # (T, K)
    per_lag = []
    for lag in lags:
        a, e = matched(int(lag))
        per_lag.append(np.where(keep[a][..., None], e, np.nan))  # (n, K, J)
    K = keep.shape[1]
    if pick_people and K > 1:
        # each reference person's own curve: a person who hardly moves (or is badly seen) has a flat curve that
        # would only dilute the others', so only people whose minimum is at least half as sharp as the sharpest
        # one's are pooled
        sharp = np.zeros(K)
        for k in range(K):
            ck = np.array([np.median(v) if (v := e[:, k][np.isfinite(e[:, k])]).size >= min_points else np.nan
                           for e in per_lag])
            if np.isfinite(ck).any():
                sharp[k] = cost_confidence(ck, int(np.nanargmin(ck)))
        use = sharp >= 0.5 * sharp.max() if sharp.max() > 0 else np.ones(K, bool)
        per_lag = [e[:, use] for e in per_lag]
    for i, e in enumerate(per_lag):
        v = e[np.isfinite(e)]
        count[i] = v.size
        if v.size >= min_points:
            cost[i] = float(np.median(v))
    return cost, count


def _epipolar_curve_multi(rig: CameraRig, data: np.ndarray, ok: np.ndarray, ref: int, cam: int, lags: np.ndarray,
                          min_points: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_epipolar_curve` for several people per camera (``data (T, C, P, J, 3)``, ``ok (T, C, P, J)``): each
    of the reference camera's people is paired with the shifted camera's person of smallest median epipolar
    distance (see :func:`_matched_curve`)."""
    E, fr, fc = _essential(rig, ref, cam)
    T = ok.shape[0]
    xr = _homogeneous(rig, ref, data[:, ref, ..., :2], ok[:, ref])
    xc = _homogeneous(rig, cam, data[:, cam, ..., :2], ok[:, cam])
    line_c = xr @ E.T  # (T, P, J, 3) lines in camera cam of the reference's points
    line_r = xc @ E
    with np.errstate(invalid="ignore", divide="ignore"):
        nc = np.linalg.norm(line_c[..., :2], axis=-1)  # (T, P, J)
        nr = np.linalg.norm(line_r[..., :2], axis=-1)

    def pair_errors(lag: int) -> np.ndarray:
        a, b = _shift_pairs(T, lag)
        alg = np.abs(np.einsum("tqjk,tpjk->tpqj", xc[b], line_c[a]))  # (n, K=P_ref, Q=P_cam, J)
        with np.errstate(invalid="ignore", divide="ignore"):
            return 0.5 * (fc * alg / nc[a][:, :, None] + fr * alg / nr[b][:, None])

    return _matched_curve(pair_errors, T, lags, min_points)


def _reprojection_curve_multi(rig: CameraRig, data: np.ndarray, cam: int, offsets: np.ndarray, lags: np.ndarray,
                              min_points: int, min_conf: float) -> tuple[np.ndarray, np.ndarray]:
    """Median reprojection error (pixels) in camera ``cam``, shifted by each lag, of its 2D people against the people
    reconstructed from the other cameras (associated across views and tracked,
    :func:`mocap.reconstruct.multiperson.reconstruct_multiperson`, each camera aligned by its current offset).

    Every 3D person of a frame is paired with the 2D person of ``cam`` nearest to its projection
    (:func:`_matched_curve`): a bystander that no other camera sees is nobody's nearest person, and a 3D person this
    camera does not see fits at no lag and is left out, so neither can move the minimum; a person whose own curve is
    flat (standing still, or badly seen by this camera) is left out too.
    """
    from mocap.keypoints import Keypoints2D
    from mocap.reconstruct.multiperson import reconstruct_multiperson

    T, C = data.shape[:2]
    others = [k for k in range(C) if k != cam]
    aligned = np.stack([shift_track(data[:, k], float(offsets[k])) for k in others], axis=1)
    sub = rig.subset([rig.names[k] for k in others])
    kp = Keypoints2D(aligned, "unknown", list(sub.names), fps=30.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = reconstruct_multiperson(sub, kp, min_conf=min_conf, fill_gaps_frames=0, refine=False,
                                      temporal_check=False, bone_check=False)
    X = res.xyz  # (T, K, J, 3) in reference time
    if X.shape[1] == 0:
        return np.full(len(lags), np.nan), np.zeros(len(lags), int)
    proj = rig.cameras[cam].project(X)  # (T, K, J, 2)
    obs = np.where((np.nan_to_num(data[:, cam, :, :, 2], nan=0.0) >= min_conf)[..., None],
                   data[:, cam, :, :, :2], np.nan)  # (T, Q, J, 2)

    def pair_errors(lag: int) -> np.ndarray:
        a, b = _shift_pairs(T, lag)
        return np.linalg.norm(proj[a][:, :, None] - obs[b][:, None], axis=-1)  # (n, K, Q, J)

    return _matched_curve(pair_errors, T, lags, min_points, pick_people=True)


def _check_reliability(results: list[OffsetEstimate], reference: int, max_offset_frames: int,
                       residual_ratio: float = 2.5, edge_frames: int = 1) -> None:
    """Mark estimates that cannot be trusted (in place): ``reliable`` False, ``confidence`` 0, ``note`` says why.

    * the best lag lies within ``edge_frames`` of the search range's end: the cost is still falling there, so the
      true minimum (if any) is outside the range or the camera does not match the others at all;
    * with 3+ cameras, the camera's cost at its best lag is more than ``residual_ratio`` times the median of the
      other cameras' (reference excluded): its detections disagree with the others at every lag (another person,
      a wrong camera, a wrong calibration), so no shift makes it right.
    """
    others = np.array([r.residual_px for i, r in enumerate(results) if i != reference and np.isfinite(r.residual_px)])
    for i, r in enumerate(results):
        r.sharpness = r.confidence
        if i == reference:
            continue
        note = ""
        if not np.isfinite(r.offset_frames):
            note = "too few points seen by this camera and the others"
        elif max_offset_frames > edge_frames and abs(np.round(r.offset_frames)) >= max_offset_frames - edge_frames:
            note = (f"the cost is lowest at the end of the searched range (+-{max_offset_frames} frames): no clear "
                    "minimum")
        elif r.method.startswith("reprojection") and others.size >= 2:
            rest = np.delete(others, np.flatnonzero(others == r.residual_px)[:1])
            ref = float(np.median(rest)) if rest.size else np.nan
            if np.isfinite(ref) and r.residual_px > residual_ratio * ref:
                note = (f"at its best shift this camera still reprojects {r.residual_px:.0f} px from the others "
                        f"(they agree within {ref:.0f} px): another person or a calibration problem, not a delay")
        if note:
            r.reliable, r.note, r.confidence = False, note, 0.0


def _estimate_from_curve(cost: np.ndarray, count: np.ndarray, lags: np.ndarray, method: str,
                         camera: str) -> OffsetEstimate:
    nan_corr = np.full(len(lags), np.nan)
    if not np.isfinite(cost).any():
        return OffsetEstimate(np.nan, 0.0, nan_corr, lags, cost, np.nan, 0, method, camera)
    i = int(np.nanargmin(cost))
    return OffsetEstimate(float(lags[i] + _parabola_min(cost, i)), cost_confidence(cost, i), nan_corr, lags, cost,
                          float(cost[i]), int(count[i]), method, camera)


def estimate_offsets_calibrated(rig: CameraRig, kp2d, max_offset_frames: int | None = None, reference: int | str = 0,
                                *, method: str = "auto", person: int | None = None, min_conf: float = 0.3,
                                iterations: int = 2, min_points: int | None = None) -> list[OffsetEstimate]:
    """Time offset of every camera relative to ``reference`` from the geometry of a calibrated rig.

    For every other camera, each integer lag ``d`` in ``-max_offset_frames..max_offset_frames`` is scored by pairing
    reference frame ``t`` with that camera's frame ``t + d`` and taking the median, over all (frame, joint) pairs
    where the joint is seen, of

    * ``"epipolar"``: the symmetric epipolar distance (pixels) against the reference camera (needs only the two);
    * ``"reprojection"``: the reprojection error (pixels) in the shifted camera of points triangulated from all
      the OTHER cameras (each aligned by its own current estimate; needs 3+ cameras). Starting offsets come from
      the epipolar method and are refined ``iterations`` times.

    ``"auto"`` is ``"reprojection"`` for 3+ cameras and ``"epipolar"`` for two. A parabola through the cost at the
    best lag and its neighbours gives a sub-frame offset. Confidence is ``1 - best cost / cost of the best other
    basin`` (see :func:`cost_confidence`): near 1 for a deep, unique minimum, near 0 when another lag fits as well.

    Several people: when some camera holds more than one person in a frame (and ``person`` is None), the person
    axis is not assumed to be the same person across cameras. With 3+ cameras each camera is then scored by the
    ``"reprojection-multi"`` cost: the people of the other cameras are associated across views and triangulated
    (:func:`mocap.reconstruct.multiperson.reconstruct_multiperson`) and each is compared with the shifted camera's
    nearest 2D person; starting offsets come from the ``"epipolar-multi"`` cost (each of the reference camera's
    people against the shifted camera's nearest person). With two cameras only slot ``0`` is used.

    Estimates that cannot be trusted get ``reliable=False``, confidence 0 and a ``note``: a minimum at the end of
    the searched range, or (3+ cameras) a camera whose best cost is far above the other cameras' (it sees another
    person, or its calibration is wrong), see :func:`_check_reliability`.

    Args:
        rig: calibrated :class:`~mocap.cameras.CameraRig`.
        kp2d: :class:`~mocap.keypoints.Keypoints2D` (cameras matched to the rig by name) or a ``(T, C, P, J, 3)``
            array in rig order; raw pixels, NaN where missing.
        max_offset_frames: largest offset searched, frames (default a third of the sequence).
        reference: index or name of the reference camera (its offset is 0).
        method: ``"auto"``, ``"reprojection"`` or ``"epipolar"``.
        person: person slot to use in every camera (it must be the same person in all of them); None (default):
            slot 0 when every camera holds at most one person per frame, else the multi-person cost.
        min_conf: detections below this confidence are ignored.
        iterations: refinement passes of the reprojection method.
        min_points: fewest (frame, joint) pairs behind a lag's cost (default ``max(30, 5 * joints)``); lags with
            fewer get NaN.

    Returns:
        One :class:`OffsetEstimate` per camera, in the order of ``kp2d``'s cameras; frame ``t + offset_frames`` of
        that camera shows the moment of frame ``t`` of the reference (so ``[e.offset_frames for e in result]`` is
        usable as ``MultiSource(offsets_frames=...)``). The reference's entry has offset 0 and confidence 1.

    Raises:
        KeypointsError: keypoints of the wrong shape or a camera the rig does not have.
        MocapError: an unknown method, or ``"reprojection"`` with fewer than 3 cameras.
    """
    data = np.asarray(getattr(kp2d, "data", kp2d), float)
    if data.ndim != 5 or data.shape[-1] != 3:
        raise KeypointsError(f"keypoints have shape {data.shape}; expected (frames, cameras, people, joints, 3)")
    T, C, P = data.shape[:3]
    names = list(getattr(kp2d, "camera_names", rig.names if len(rig) == C else []))
    if len(names) != C:
        raise KeypointsError(f"keypoints have {C} cameras but the rig has {len(rig)} ({', '.join(rig.names)}); "
                             "pass a Keypoints2D with camera names or a rig with the same cameras")
    missing = [n for n in names if n not in rig.names]
    if missing:
        raise KeypointsError(f"cameras {missing} of the keypoints are not in the calibration "
                             f"({', '.join(rig.names)}); check the camera names")
    rig = rig.subset(names)
    if isinstance(reference, str):
        if reference not in names:
            raise KeypointsError(f"reference camera {reference!r} is not one of {names}")
        reference = names.index(reference)
    if not 0 <= reference < C:
        raise KeypointsError(f"reference camera index {reference} is out of range for {C} cameras")
    present = np.isfinite(data[..., :2]).all(-1).any(-1)  # (T, C, P)
    multi = person is None and bool((present.sum(-1) > 1).any()) and C >= 3
    if person is None:
        person = 0
    if not 0 <= person < max(P, 1):
        raise KeypointsError(f"person index {person} is out of range: the keypoints hold {P} people per camera")
    if method == "auto":
        method = "reprojection" if C >= 3 else "epipolar"
    if method not in ("epipolar", "reprojection"):
        raise MocapError(f"unknown offset method {method!r}; use 'auto', 'epipolar' or 'reprojection'")
    if method == "reprojection" and C < 3:
        raise MocapError(f"the reprojection offset method needs 3 or more cameras, got {C}; use 'epipolar'")
    if max_offset_frames is None:
        max_offset_frames = max(1, T // 3)
    max_offset_frames = int(min(max_offset_frames, T - 1))
    J = data.shape[3]
    if min_points is None:
        min_points = max(30, 5 * J)
    lags = np.arange(-max_offset_frames, max_offset_frames + 1)
    if P == 0:
        return [OffsetEstimate(0.0 if c == reference else np.nan, 1.0 if c == reference else 0.0,
                               np.full(len(lags), np.nan), lags, None, np.nan, 0, method, names[c],
                               c == reference, "" if c == reference else "nobody detected")
                for c in range(C)]
    if multi and method == "reprojection":
        okm = np.isfinite(data[..., :2]).all(-1) & (np.nan_to_num(data[..., 2], nan=0.0) >= min_conf)
        results = _estimate_all(
            names, reference, lags, ("epipolar-multi", "reprojection-multi"),
            lambda c: _epipolar_curve_multi(rig, data, okm, reference, c, lags, min_points),
            lambda c, off: _reprojection_curve_multi(rig, data, c, off, lags, min_points, min_conf), iterations)
    else:
        uv = data[:, :, person, :, :2]
        conf = data[:, :, person, :, 2]
        ok = np.isfinite(uv).all(-1) & (np.nan_to_num(conf, nan=0.0) >= min_conf)
        results = _estimate_all(
            names, reference, lags, ("epipolar", "reprojection"),
            lambda c: _epipolar_curve(rig, uv, ok, reference, c, lags, min_points),
            (lambda c, off: _reprojection_curve(rig, uv, conf, ok, c, off, lags, min_points, min_conf))
            if method == "reprojection" else None, iterations)
    _check_reliability(results, reference, max_offset_frames)
    return results


def _estimate_all(names: list[str], reference: int, lags: np.ndarray, methods: tuple[str, str], start_curve,
                  refine_curve, iterations: int) -> list[OffsetEstimate]:
    """Every camera's estimate: ``start_curve(c)`` (against the reference alone), then ``iterations`` rounds of
    ``refine_curve(c, offsets)`` (against the others aligned by their current offsets; None: no refinement)."""
    def estimate(c: int, curve: tuple[np.ndarray, np.ndarray], how: str) -> OffsetEstimate:
        return _estimate_from_curve(curve[0], curve[1], lags, how, names[c])

    ref = OffsetEstimate(0.0, 1.0, np.full(len(lags), np.nan), lags, np.zeros(len(lags)), 0.0, 0,
                         methods[1] if refine_curve else methods[0], names[reference])
    results = [ref if c == reference else estimate(c, start_curve(c), methods[0]) for c in range(len(names))]
    for _ in range(max(1, iterations) if refine_curve else 0):
        offsets = np.array([r.offset_frames if np.isfinite(r.offset_frames) else 0.0 for r in results])
        results = [ref if c == reference else estimate(c, refine_curve(c, offsets), methods[1])
                   for c in range(len(names))]
    return results


def apply_offsets(kp2d, offsets_frames: Sequence[float]):
    """Resample each camera's 2D track so that all cameras show the same moments as the reference.

    Args:
        kp2d: :class:`~mocap.keypoints.Keypoints2D` ``(T, C, P, J, 3)``.
        offsets_frames: ``(C,)`` offsets in the convention of :func:`estimate_offsets_calibrated`: frame
            ``t + d`` of camera ``c`` shows the moment of frame ``t`` of the reference.

    Returns:
        A new Keypoints2D where camera ``c``'s frame ``t`` is its old track at ``t + d`` (:func:`shift_track`: linear
        interpolation between the two neighbouring frames where a person slot holds the same person in both, else
        the nearer frame; NaN outside the recording).
    """
    from mocap.keypoints import Keypoints2D

    off = np.asarray(offsets_frames, dtype=float).ravel()
    if off.shape != (kp2d.n_cameras,):
        raise KeypointsError(f"got {off.size} offsets for {kp2d.n_cameras} cameras ({kp2d.camera_names})")
    out = np.full_like(kp2d.data, np.nan)
    for c, d in enumerate(off):
        out[:, c] = shift_track(kp2d.data[:, c], float(d))
    meta = {**kp2d.meta, "sync_offsets_frames": [float(x) for x in off]}
    return Keypoints2D(out, kp2d.joint_set, list(kp2d.camera_names), kp2d.timestamps.copy(), kp2d.fps, meta)


class SyncDecision(NamedTuple):
    """What :func:`synchronise` found and did for one camera (indexable as ``(offset, confidence, applied)``).

    Attributes:
        offset: estimated offset, frames (NaN when none could be estimated).
        confidence: in [0, 1]; 0 when the estimate is not reliable.
        applied: the offset applied to the camera's track, frames (0 when none was).
        note: why the estimate was not applied (empty when it was, or when it is within ``min_offset``).
    """

    offset: float
    confidence: float
    applied: float
    note: str = ""


def synchronise(rig: CameraRig, kp2d, *, max_offset_frames: int | None = None, min_confidence: float = 0.5,
                min_offset: float = 0.5, min_frames: int = 20):  # noqa: ANN201
    """Estimate camera time offsets (:func:`estimate_offsets_calibrated`) and resample the 2D tracks of the cameras
    that are confidently out of sync (:func:`apply_offsets`); the step ``mocap run`` and ``mocap triangulate --sync
    auto`` take.

    Args:
        rig: calibrated rig holding ``kp2d``'s cameras.
        kp2d: :class:`~mocap.keypoints.Keypoints2D` ``(T, C, P, J, 3)``, one or several people per camera.
        max_offset_frames: largest offset searched (default ``max(2, min(30, T // 3))``).
        min_confidence: an estimate below this confidence (or an unreliable one) is not applied.
        min_offset: offsets smaller than this (frames) are not applied.
        min_frames: with fewer frames (or fewer than 3 cameras) nothing is estimated.

    Returns:
        ``(keypoints, decisions)``: the (possibly resampled) keypoints and, per camera name, a :class:`SyncDecision`;
        ``decisions`` is empty when nothing was estimated.
    """
    if kp2d.n_cameras < 3 or kp2d.n_frames < min_frames:
        return kp2d, {}
    if max_offset_frames is None:
        max_offset_frames = max(2, min(30, kp2d.n_frames // 3))
    est = estimate_offsets_calibrated(rig, kp2d, max_offset_frames=max_offset_frames)
    out: dict[str, SyncDecision] = {}
    offsets = []
    for name, e in zip(kp2d.camera_names, est):
        note = e.note
        apply = e.reliable and np.isfinite(e.offset_frames) and abs(e.offset_frames) >= min_offset
        if apply and e.confidence < min_confidence:
            apply, note = False, f"confidence {e.confidence:.2f} below {min_confidence:.2f}"
        o = float(e.offset_frames) if apply else 0.0
        offsets.append(o)
        out[name] = SyncDecision(float(e.offset_frames), float(e.confidence), o, note)
    return (apply_offsets(kp2d, offsets) if any(offsets) else kp2d), out


def describe_sync(decisions: dict) -> list[str]:
    """One line per camera for :func:`synchronise`'s decisions (what was found, what was applied, and why not)."""
    lines = []
    for name, d in decisions.items():
        found = (f"{d.offset:+.2f} frames (confidence {d.confidence:.2f})" if np.isfinite(d.offset)
                 else "no estimate")
        if d.applied:
            what = f"applied {d.applied:+.2f} frames"
        elif d.note:
            what = f"not applied: {d.note}"
        else:
            what = "in sync"
        lines.append(f"sync {name}: {found}; {what}")
    return lines
