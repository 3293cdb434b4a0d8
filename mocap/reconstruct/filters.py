"""Temporal filters for keypoint trajectories: Butterworth, One-Euro, constant-velocity Kalman, gap filling.

Every filter works on arrays ``(T, ...)`` (time first; any trailing shape, e.g. ``(T, P, J, 3)``), treats NaN as
missing, and has both a batch function and a stateful ``step()`` object with the same math:

===================  =============================  ===================================================
filter               batch                          online (``step(x (...), t) -> (...)``)
===================  =============================  ===================================================
Butterworth          :func:`butterworth_filter`     :class:`ButterworthStep` (= batch with ``zero_phase=False``)
One-Euro             :func:`one_euro_filter`        :class:`OneEuroFilter`
Kalman (const. vel.) :func:`kalman_filter`          :class:`KalmanFilter` (= batch with ``smooth=False``)
gated 3D Kalman      :func:`gated_kalman_filter`    :class:`GatedKalmanFilter` (points ``(..., 3)``, innovation gate)
===================  =============================  ===================================================

Units: positions in any unit (metres in mocap), times in seconds, frequencies in Hz.
"""

from __future__ import annotations

import numpy as np

from mocap.errors import MocapError


def _signal():
    """``scipy.signal``, imported on first use (about a second: the live path, which never needs it, stays fast)."""
    from scipy import signal

    return signal


def _check_time_first(x: np.ndarray, name: str = "x") -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim < 1:
        raise MocapError(f"{name} must have a time axis first, got a scalar")
    return x


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` runs of True in a 1D boolean array."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


# --------------------------------------------------------------------------- Butterworth
def _butter_sos(fps: float, cutoff_hz: float, order: int) -> np.ndarray:
    if not 0 < cutoff_hz < fps / 2:
        raise MocapError(f"Butterworth cutoff {cutoff_hz} Hz must be between 0 and half the frame rate ({fps / 2} Hz)",
                         hint="lower --cutoff or check the frame rate")
    return _signal().butter(order, cutoff_hz, btype="low", fs=fps, output="sos")


def butterworth_filter(x: np.ndarray, fps: float, cutoff_hz: float = 6.0, order: int = 4,
                       zero_phase: bool = True) -> np.ndarray:
    """Low-pass Butterworth filter along time, NaN gaps handled segment by segment.

    Args:
        x: ``(T, ...)`` trajectories; NaN = missing (gaps stay NaN).
        fps: sampling rate, Hz.
        cutoff_hz: cut-off frequency, Hz (6 Hz is common for human motion).
        order: filter order (zero-phase doubles the effective order).
        zero_phase: forward-backward (``sosfiltfilt``, no lag); ``False`` gives the causal filter that
            :class:`ButterworthStep` runs online.

    Returns:
        ``(T, ...)`` filtered trajectories. Finite segments too short for ``sosfiltfilt``'s padding are
        filtered without padding (``padlen=0``), segments of fewer than 2 samples are left unchanged.
    """
    x = _check_time_first(x)
    sos = _butter_sos(fps, cutoff_hz, order)
    T = x.shape[0]
    flat = x.reshape(T, -1)
    out = flat.copy()
    finite = np.isfinite(flat)
    # columns sharing the same mask are filtered together
    keys: dict[bytes, list[int]] = {}
    for j in range(flat.shape[1]):
        keys.setdefault(np.packbits(finite[:, j]).tobytes(), []).append(j)
    pad_default = 3 * (2 * len(sos) + 1)
    signal = _signal()
    for cols in keys.values():
        for a, b in _runs(finite[:, cols[0]]):
            seg = flat[a:b, cols]
            if b - a < 2:
                continue
            if zero_phase:
                padlen = min(pad_default, b - a - 1)
                out[a:b, cols] = signal.sosfiltfilt(sos, seg, axis=0, padlen=padlen)
            else:
                zi = signal.sosfilt_zi(sos)[:, :, None] * seg[0][None, None, :]
                out[a:b, cols] = signal.sosfilt(sos, seg, axis=0, zi=zi)[0]
    return out.reshape(x.shape)


class ButterworthStep:
    """Causal (online) Butterworth low-pass, one sample at a time; equals ``butterworth_filter(zero_phase=False)``.

    Args:
        fps: sampling rate, Hz; cutoff_hz: cut-off, Hz; order: filter order.
    """

    def __init__(self, fps: float, cutoff_hz: float = 6.0, order: int = 4) -> None:
        self.sos = _butter_sos(fps, cutoff_hz, order)
        self._zi0 = _signal().sosfilt_zi(self.sos)  # (n_sections, 2)
        self.state: np.ndarray | None = None

    def reset(self) -> None:
        self.state = None

    def step(self, x: np.ndarray, t: float | None = None) -> np.ndarray:
        """Filter one sample ``x`` ``(...)``; NaN entries restart their filter at the next finite sample."""
        x = np.asarray(x, dtype=float)
        flat = x.reshape(1, -1)
        if self.state is None or self.state.shape[2] != flat.shape[1]:
            self.state = np.full((len(self.sos), 2, flat.shape[1]), np.nan)
        fin = np.isfinite(flat[0])
        restart = fin & ~np.isfinite(self.state).all((0, 1))
        if restart.any():
            self.state[:, :, restart] = self._zi0[:, :, None] * flat[0, restart][None, None, :]
        out = np.full(flat.shape[1], np.nan)
        if fin.any():
            y, zf = _signal().sosfilt(self.sos, flat[:, fin], axis=0, zi=self.state[:, :, fin])
            out[fin] = y[0]
            self.state[:, :, fin] = zf
        self.state[:, :, ~fin] = np.nan
        return out.reshape(x.shape)


# --------------------------------------------------------------------------- One-Euro
def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2 * np.pi * np.asarray(cutoff, dtype=float))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """The One-Euro filter (Casiez et al., CHI 2012), vectorised over any sample shape.

    Args:
        min_cutoff: minimum cut-off frequency, Hz (lower = smoother at rest).
        beta: speed coefficient (higher = less lag when moving fast), per unit of speed.
        d_cutoff: cut-off for the derivative, Hz.
        reset_after_s: a coordinate missing (NaN) for longer than this restarts from its next sample.
    """

    def __init__(self, min_cutoff: float = 2.0, beta: float = 20.0, d_cutoff: float = 1.0,
                 reset_after_s: float = 0.5) -> None:
        self.min_cutoff, self.beta, self.d_cutoff, self.reset_after_s = min_cutoff, beta, d_cutoff, reset_after_s
        self.x_prev: np.ndarray | None = None
        self.dx_prev: np.ndarray | None = None
        self.t_prev: np.ndarray | None = None

    def reset(self) -> None:
        self.x_prev = self.dx_prev = self.t_prev = None

    def step(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter sample ``x`` ``(...)`` taken at time ``t`` (seconds, increasing); NaN in, NaN out."""
        x = np.asarray(x, dtype=float)
        if self.x_prev is None or self.x_prev.shape != x.shape:
            self.x_prev = np.full(x.shape, np.nan)
            self.dx_prev = np.zeros(x.shape)
            self.t_prev = np.full(x.shape, np.nan)
        fin = np.isfinite(x)
        dt = t - self.t_prev
        fresh = fin & (~np.isfinite(self.x_prev) | ~(dt <= self.reset_after_s) | ~(dt > 0))
        upd = fin & ~fresh
        out = np.where(fin, x, np.nan)
        if upd.any():
            dtu = dt[upd]
            dx = (x[upd] - self.x_prev[upd]) / dtu
            a_d = _alpha(self.d_cutoff, dtu)
            dx_hat = a_d * dx + (1 - a_d) * self.dx_prev[upd]
            cutoff = self.min_cutoff + self.beta * np.abs(dx_hat)
            a = _alpha(cutoff, dtu)
            out[upd] = a * x[upd] + (1 - a) * self.x_prev[upd]
            self.dx_prev[upd] = dx_hat
        self.dx_prev[fresh] = 0.0
        self.x_prev[fin] = out[fin]
        self.t_prev[fin] = t
        return out


def one_euro_filter(x: np.ndarray, timestamps: np.ndarray, min_cutoff: float = 2.0, beta: float = 20.0,
                    d_cutoff: float = 1.0, reset_after_s: float = 0.5) -> np.ndarray:
    """Batch One-Euro filter: :class:`OneEuroFilter` run over ``x`` ``(T, ...)`` at ``timestamps`` ``(T,)`` s."""
    x = _check_time_first(x)
    ts = np.asarray(timestamps, dtype=float).ravel()
    if ts.shape != (x.shape[0],):
        raise MocapError(f"{x.shape[0]} samples but {ts.size} timestamps")
    f = OneEuroFilter(min_cutoff, beta, d_cutoff, reset_after_s)
    return np.stack([f.step(x[i], ts[i]) for i in range(x.shape[0])]) if x.shape[0] else x.copy()


# --------------------------------------------------------------------------- Kalman
def _cv_model(dt: float, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Transition ``F`` and process noise ``Q`` (2x2, state position/velocity) of the constant-velocity model over
    ``dt`` seconds with white-acceleration spectral density ``q``."""
    F = np.array([[1.0, dt], [0.0, 1.0]])
    Q = q * np.array([[dt ** 3 / 3, dt ** 2 / 2], [dt ** 2 / 2, dt]])
    return F, Q


class KalmanFilter:
    """Constant-velocity Kalman filter per coordinate (state: position, velocity), vectorised over the sample shape.

    Args:
        process_noise: white-acceleration spectral density ``q`` (units^2 / s^3); larger follows faster motion.
        measurement_noise: measurement standard deviation (units, e.g. metres).
        reset_after_s: a coordinate missing for longer than this restarts at its next measurement.
    """

    def __init__(self, process_noise: float = 20.0, measurement_noise: float = 0.01,
                 reset_after_s: float = 0.5) -> None:
        self.q, self.r, self.reset_after_s = process_noise, measurement_noise ** 2, reset_after_s
        self.x: np.ndarray | None = None  # (..., 2)
        self.P: np.ndarray | None = None  # (..., 2, 2)
        self.t: float | None = None
        self.t_seen: np.ndarray | None = None
        self.history: list[tuple] = []  # (x_pred, P_pred, x_filt, P_filt, F) when record=True
        self.record = False

    def reset(self) -> None:
        self.x = self.P = self.t = self.t_seen = None
        self.history = []

    def predict(self, t: float) -> np.ndarray:
        """Predicted positions ``(...)`` at time ``t`` without updating the state (NaN before the first sample)."""
        if self.x is None or self.t is None:
            return np.array(np.nan)
        return self.x[..., 0] + self.x[..., 1] * (t - self.t)

    def step(self, z: np.ndarray, t: float) -> np.ndarray:
        """Predict to time ``t`` (seconds) and update with measurement ``z`` ``(...)`` (NaN = none).

        Returns the filtered positions ``(...)``; NaN for coordinates never measured or missing longer than
        ``reset_after_s``.
        """
        z = np.asarray(z, dtype=float)
        if self.x is None or self.x.shape[:-1] != z.shape:
            self.x = np.full(z.shape + (2,), np.nan)
            self.P = np.full(z.shape + (2, 2), np.nan)
            self.t_seen = np.full(z.shape, -np.inf)
            self.t = t
        dt = float(t - self.t) if self.t is not None else 0.0
        F, Q = _cv_model(dt, self.q)
        xp = self.x @ F.T
        Pp = F @ self.P @ F.T + Q
        fin = np.isfinite(z)
        stale = (t - self.t_seen) > self.reset_after_s
        fresh = fin & (~np.isfinite(xp[..., 0]) | stale)
        # update
        S = Pp[..., 0, 0] + self.r
        Kg = Pp[..., :, 0] / S[..., None]  # (..., 2)
        innov = z - xp[..., 0]
        xu = xp + Kg * innov[..., None]
        Pu = Pp - Kg[..., :, None] * Pp[..., None, 0, :]
        upd = fin & ~fresh
        xn = np.where(upd[..., None], xu, xp)
        Pn = np.where(upd[..., None, None], Pu, Pp)
        if fresh.any():
            xn[fresh] = np.stack([z[fresh], np.zeros(int(fresh.sum()))], -1)
            Pn[fresh] = np.array([[self.r, 0.0], [0.0, 1e2]])
            Pp = Pp.copy()
            Pp[fresh] = np.array([[np.inf, 0.0], [0.0, np.inf]])
        self.t_seen = np.where(fin, t, self.t_seen)
        gone = ~fin & ((t - self.t_seen) > self.reset_after_s)
        if self.record:
            self.history.append((xp, Pp, xn.copy(), Pn.copy(), F, fresh))
        xn[gone] = np.nan
        Pn[gone] = np.nan
        self.x, self.P, self.t = xn, Pn, t
        return np.where(gone, np.nan, xn[..., 0])


def kalman_filter(x: np.ndarray, timestamps: np.ndarray, process_noise: float = 20.0,
                  measurement_noise: float = 0.01, smooth: bool = False, reset_after_s: float = 0.5) -> np.ndarray:
    """Batch constant-velocity Kalman filter over ``x`` ``(T, ...)`` at ``timestamps`` ``(T,)`` seconds.

    Args:
        smooth: add a Rauch-Tung-Striebel backward pass (zero lag, offline only). Without it the result equals
            running :class:`KalmanFilter` online.

    Returns:
        ``(T, ...)`` filtered positions; samples missing in the input stay NaN (use :func:`fill_gaps` first to
        fill them).
    """
    x = _check_time_first(x)
    ts = np.asarray(timestamps, dtype=float).ravel()
    if ts.shape != (x.shape[0],):
        raise MocapError(f"{x.shape[0]} samples but {ts.size} timestamps")
    kf = KalmanFilter(process_noise, measurement_noise, reset_after_s)
    kf.record = smooth
    out = np.stack([kf.step(x[i], ts[i]) for i in range(x.shape[0])]) if x.shape[0] else x.copy()
    if smooth and x.shape[0] > 1:
        hist = kf.history
        xs = hist[-1][2].copy()
        Ps = hist[-1][3].copy()
        res = [xs[..., 0]]
        for k in range(len(hist) - 2, -1, -1):
            xf, Pf = hist[k][2], hist[k][3]
            xp1, Pp1, F1, fresh1 = hist[k + 1][0], hist[k + 1][1], hist[k + 1][4], hist[k + 1][5]
            with np.errstate(invalid="ignore", divide="ignore"):
                det = Pp1[..., 0, 0] * Pp1[..., 1, 1] - Pp1[..., 0, 1] * Pp1[..., 1, 0]
                inv = np.stack([np.stack([Pp1[..., 1, 1], -Pp1[..., 0, 1]], -1),
                                np.stack([-Pp1[..., 1, 0], Pp1[..., 0, 0]], -1)], -2) / det[..., None, None]
                G = Pf @ F1.T @ inv
                xs_new = xf + (G @ (xs - xp1)[..., None])[..., 0]
                Ps = Pf + G @ (Ps - Pp1) @ np.swapaxes(G, -1, -2)
            # a restarted track (fresh at k+1) or missing smoothed state does not propagate backwards
            keep = np.isfinite(xs_new).all(-1) & ~fresh1
            xs = np.where(keep[..., None], xs_new, xf)
            Ps = np.where(keep[..., None, None], Ps, Pf)
            res.append(xs[..., 0])
        out = np.stack(res[::-1])
    return np.where(np.isfinite(x), out, np.nan)


# --------------------------------------------------------------------------- gated 3D Kalman
class GatedKalmanFilter:
    """Constant-velocity Kalman filter for 3D points ``(..., 3)`` with an innovation gate (causal, one step at a time).

    The motion model of :class:`KalmanFilter`, with one position/velocity covariance per point shared by its three
    axes (isotropic measurement noise), so that a measurement can be tested as a whole: its squared Mahalanobis
    distance to the prediction, ``|z - x_pred|^2 / (P_pred + r^2)``, follows a chi-square law with 3 degrees of
    freedom for a genuine measurement. A measurement beyond ``gate_chi2`` is not used (the point coasts on its
    prediction); the test widens with the point's own motion, since the predicted covariance grows with the
    process noise and the time since the last accepted measurement. After ``max_gated`` consecutive gated
    measurements the filter re-initialises at the measurement (the motion really changed). A point without an
    accepted measurement for longer than ``reset_after_s`` becomes NaN.

    Args:
        process_noise: white-acceleration spectral density ``q`` (m^2 / s^3).
        measurement_noise: measurement standard deviation per axis (metres).
        gate_chi2: gate on the squared Mahalanobis distance (3 degrees of freedom; 21.1 = p 1e-4); None = no gate.
        max_gated: consecutive gated measurements after which the point restarts at the measurement.
        reset_after_s: a point without an accepted measurement for longer than this is dropped (NaN).

    After each :meth:`step`: ``measured`` ``(...)`` (the measurement was used), ``gated`` ``(...)`` (it was
    rejected by the gate) and ``age_s`` ``(...)`` (time since the last used measurement; inf if none).
    """

    def __init__(self, process_noise: float = 10.0, measurement_noise: float = 0.01, gate_chi2: float | None = 21.1,
                 max_gated: int = 1, reset_after_s: float = 0.5) -> None:
        self.q, self.r2 = float(process_noise), float(measurement_noise) ** 2
        self.gate_chi2, self.max_gated, self.reset_after_s = gate_chi2, int(max_gated), float(reset_after_s)
        self.reset()

    def reset(self) -> None:
        self.x: np.ndarray | None = None  # (..., 3, 2): position, velocity per axis
        self.P: np.ndarray | None = None  # (..., 2, 2)
        self.t: float | None = None
        self.t_seen: np.ndarray | None = None
        self.n_gated: np.ndarray | None = None
        self.measured = self.gated = self.age_s = None

    def predict(self, t: float) -> np.ndarray | None:
        """Predicted positions ``(..., 3)`` at time ``t`` (NaN for points without a state); None before any step."""
        if self.x is None or self.t is None:
            return None
        return self.x[..., 0] + self.x[..., 1] * (t - self.t)

    def step(self, z: np.ndarray, t: float) -> np.ndarray:
        """Predict to time ``t`` (seconds) and update with the measured points ``z`` ``(..., 3)`` (NaN = none).

        Returns the filtered positions ``(..., 3)``: updated where a measurement was used, the prediction where
        the point coasts, NaN where it has no state.
        """
        z = np.asarray(z, dtype=float)
        if z.shape[-1:] != (3,):
            raise MocapError(f"GatedKalmanFilter: points have shape {z.shape}; expected (..., 3)")
        shape = z.shape[:-1]
        if self.x is None or self.x.shape[:-2] != shape:
            self.x = np.full(shape + (3, 2), np.nan)
            self.P = np.full(shape + (2, 2), np.nan)
            self.t_seen = np.full(shape, -np.inf)
            self.n_gated = np.zeros(shape, dtype=int)
            self.t = t
        F, Q = _cv_model(float(t - self.t), self.q)
        xp = self.x @ F.T
        Pp = F @ self.P @ F.T + Q
        fin = np.isfinite(z).all(-1)
        stale = (t - self.t_seen) > self.reset_after_s
        fresh = fin & (~np.isfinite(xp[..., 0, 0]) | stale)
        S = Pp[..., 0, 0] + self.r2
        innov = z - xp[..., 0]
        upd = fin & ~fresh
        gated = np.zeros(shape, dtype=bool)
        if self.gate_chi2 is not None:
            with np.errstate(invalid="ignore"):
                gated = upd & ~((innov * innov).sum(-1) <= self.gate_chi2 * S)
            self.n_gated = np.where(gated, self.n_gated + 1, 0)
            restart = gated & (self.n_gated > self.max_gated)
            fresh |= restart
            gated &= ~restart
            upd &= ~gated
        K = Pp[..., :, 0] / S[..., None]  # (..., 2)
        xn = np.where(upd[..., None, None], xp + K[..., None, :] * innov[..., None], xp)
        Pn = np.where(upd[..., None, None], Pp - K[..., :, None] * Pp[..., None, 0, :], Pp)
        if fresh.any():
            xn[fresh] = np.stack([z[fresh], np.zeros(z[fresh].shape)], -1)
            Pn[fresh] = np.array([[self.r2, 0.0], [0.0, 1e2]])
            self.n_gated[fresh] = 0
        used = upd | fresh
        self.t_seen = np.where(used, t, self.t_seen)
        gone = (t - self.t_seen) > self.reset_after_s
        xn[gone] = np.nan
        Pn[gone] = np.nan
        self.x, self.P, self.t = xn, Pn, t
        self.measured, self.gated, self.age_s = used, gated, t - self.t_seen
        return xn[..., 0].copy()


def gated_kalman_filter(x: np.ndarray, timestamps: np.ndarray, **opts) -> np.ndarray:
    """Batch :class:`GatedKalmanFilter` (causal) over points ``x`` ``(T, ..., 3)`` at ``timestamps`` ``(T,)`` s;
    ``opts`` are the class's arguments. Equals stepping the class frame by frame."""
    x = _check_time_first(x)
    ts = np.asarray(timestamps, dtype=float).ravel()
    if ts.shape != (x.shape[0],):
        raise MocapError(f"{x.shape[0]} samples but {ts.size} timestamps")
    f = GatedKalmanFilter(**opts)
    return np.stack([f.step(x[i], ts[i]) for i in range(x.shape[0])]) if x.shape[0] else x.copy()


def coasting_confidence(last_conf: np.ndarray, age_s: np.ndarray, horizon_s: float) -> np.ndarray:
    """Confidence of a predicted (not measured) point: the last measured confidence, falling linearly to 0 when the
    point has gone unmeasured for ``horizon_s`` seconds (the filter drops it then). Shapes broadcast."""
    with np.errstate(invalid="ignore"):
        return np.asarray(last_conf, float) * np.clip(1.0 - np.asarray(age_s, float) / horizon_s, 0.0, 1.0)


# --------------------------------------------------------------------------- gap filling
def fill_gaps(x: np.ndarray, max_gap: int = 10, method: str = "linear", timestamps: np.ndarray | None = None,
              context: int = 6) -> np.ndarray:
    """Interpolate interior NaN gaps of at most ``max_gap`` samples along time.

    Args:
        x: ``(T, ...)`` trajectories.
        max_gap: longest gap (in samples) to fill; longer gaps and gaps at the ends stay NaN.
        method: ``"linear"`` or ``"cubic"`` (a least-squares cubic through ``context`` finite samples on each
            side of the gap; linear where fewer than 2 exist on a side).
        timestamps: ``(T,)`` sample times (default ``arange(T)``).
        context: samples each side used by the cubic fit.

    Returns:
        ``(T, ...)`` with short gaps filled.
    """
    if method not in ("linear", "cubic"):
        raise MocapError(f"unknown gap-filling method {method!r}; use 'linear' or 'cubic'")
    x = _check_time_first(x)
    T = x.shape[0]
    ts = np.arange(T, dtype=float) if timestamps is None else np.asarray(timestamps, float).ravel()
    flat = x.reshape(T, -1).copy()
    for j in range(flat.shape[1]):
        col = flat[:, j]
        fin = np.isfinite(col)
        if fin.sum() < 2 or fin.all():
            continue
        gaps = [(a, b) for a, b in _runs(~fin) if a > 0 and b < T and b - a <= max_gap]
        if not gaps:
            continue
        if method == "linear":
            idx = np.concatenate([np.arange(a, b) for a, b in gaps])
            col[idx] = np.interp(ts[idx], ts[fin], col[fin])
            continue
        fidx = np.flatnonzero(fin)
        for a, b in gaps:
            before = fidx[fidx < a][-context:]
            after = fidx[fidx >= b][:context]
            use = np.concatenate([before, after])
            if len(before) >= 2 and len(after) >= 2:
                # least-squares cubic through the neighbours on both sides (robust to noise, unlike a spline)
                t0, sc = ts[a - 1], max(ts[b] - ts[a - 1], 1e-12)
                coef = np.polyfit((ts[use] - t0) / sc, col[use], 3)
                col[a:b] = np.polyval(coef, (ts[a:b] - t0) / sc)
            else:
                col[a:b] = np.interp(ts[a:b], ts[fin], col[fin])
    return flat.reshape(x.shape)


__all__ = ["butterworth_filter", "ButterworthStep", "OneEuroFilter", "one_euro_filter", "KalmanFilter",
           "kalman_filter", "GatedKalmanFilter", "gated_kalman_filter", "coasting_confidence", "fill_gaps"]
