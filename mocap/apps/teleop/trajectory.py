"""Joint limits and a jerk-limited quintic (minimum-jerk) trajectory generator.

Every plan is one quintic polynomial per joint, all joints sharing one duration ``T``, from a start state
``(q0, v0, a0)`` to REST at a goal (``v = a = 0``). A quintic with these boundary values is the minimum-jerk
trajectory between them. :func:`plan_to_rest` picks the shortest ``T`` for which the whole plan stays within the
velocity, acceleration and jerk limits; the limits are checked exactly (extrema from the roots of the derivative
polynomials), not on samples. :func:`plan_stop` brings a moving state to rest as fast as the acceleration and jerk
limits allow, at a position it chooses (the stop distance).

Because every plan ends at rest, a trajectory built from one (:meth:`Quintic.points`) is accepted by ros2_control's
JointTrajectoryController (last point at zero velocity), and a robot whose command stream stops halts at the end of
the last plan. Sampling a plan at any times gives points whose quintic interpolation (what the controller does
between points that carry positions, velocities and accelerations) reproduces the plan exactly.

Units: radians, seconds (rad/s, rad/s^2, rad/s^3). Arrays: ``n`` joints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mocap.errors import MocapError
from mocap.geometry.checks import check_shape

#: relative slack of the limit checks (floating-point rounding of the exact extrema)
LIMIT_RTOL = 1e-9


@dataclass(frozen=True)
class JointLimits:
    """Per-joint limits, ``(n,)`` arrays: positions (rad), velocity (rad/s), acceleration (rad/s^2), jerk (rad/s^3).

    Velocity, acceleration and jerk limits are magnitudes (> 0). Build one with :meth:`make` (checks shapes).
    """

    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray
    jerk: np.ndarray

    @staticmethod
    def make(names, lower, upper, velocity, acceleration, jerk) -> JointLimits:
        """Check and broadcast the limits (a scalar applies to every joint).

        Raises:
            MocapError: a limit of the wrong size, a non-positive rate limit, or ``lower > upper``.
        """
        names = tuple(str(n) for n in names)
        n = len(names)
        arrs = []
        for key, v in (("lower", lower), ("upper", upper), ("velocity", velocity), ("acceleration", acceleration),
                       ("jerk", jerk)):
            a = np.asarray(v, dtype=float)
            if a.ndim == 0:
                a = np.full(n, float(a))
            arrs.append(check_shape(a, (n,), key, "joint limits").copy())
        lo, hi, vel, acc, jerk_ = arrs
        for key, a in (("velocity", vel), ("acceleration", acc), ("jerk", jerk_)):
            if not np.all(np.isfinite(a) & (a > 0)):
                raise MocapError(f"joint limits: every {key} limit must be finite and > 0, got {a.tolist()}",
                                 hint=f"set the {key} limits of joints {names}")
        if np.any(lo > hi):
            raise MocapError(f"joint limits: lower {lo.tolist()} above upper {hi.tolist()}")
        return JointLimits(names, lo, hi, vel, acc, jerk_)

    @property
    def n(self) -> int:
        """Number of joints."""
        return len(self.names)

    def scaled(self, velocity: float = 1.0, acceleration: float = 1.0, jerk: float = 1.0) -> JointLimits:
        """The same limits with the rate limits multiplied by factors in (0, 1]."""
        for k, f in (("velocity", velocity), ("acceleration", acceleration), ("jerk", jerk)):
            if not 0 < f <= 1:
                raise MocapError(f"joint limits: the {k} scale must be in (0, 1], got {f}")
        return JointLimits(self.names, self.lower, self.upper, self.velocity * velocity,
                           self.acceleration * acceleration, self.jerk * jerk)

    def clip_positions(self, q: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """``q`` clipped into ``[lower + margin, upper - margin]`` (the margin shrinks to fit narrow ranges)."""
        m = np.minimum(margin, (self.upper - self.lower) / 2)
        return np.clip(np.asarray(q, float), self.lower + m, self.upper - m)


def _quintic_coeffs(q0, v0, a0, qf, T) -> np.ndarray:
    """``(6, n)`` coefficients ``c0..c5`` of the quintic from ``(q0, v0, a0)`` at 0 to ``(qf, 0, 0)`` at ``T``."""
    d = qf - q0
    c = np.empty((6, len(q0)))
    c[0], c[1], c[2] = q0, v0, a0 / 2
    c[3] = (20 * d - 12 * v0 * T - 3 * a0 * T**2) / (2 * T**3)
    c[4] = (-30 * d + 16 * v0 * T + 3 * a0 * T**2) / (2 * T**4)
    c[5] = (12 * d - 6 * v0 * T - a0 * T**2) / (2 * T**5)
    return c


def _poly_max_abs(coef: np.ndarray, T: float) -> np.ndarray:
    """Exact ``max |p(t)|`` over ``[0, T]`` per column of ``coef`` ``(k+1, n)`` (ascending powers).

    Candidates are the interval ends and the real roots of ``p'`` (batched companion-matrix eigenvalues; a
    column whose ``p'`` has a vanishing leading coefficient is solved on its own with ``polyroots``).
    """
    k, n = coef.shape[0] - 1, coef.shape[1]
    cand = [np.zeros(n), np.full(n, T)]
    if k >= 1:
        d = coef[1:] * np.arange(1, k + 1)[:, None]  # (k, n): ascending coefficients of p'
        deg = k - 1
        if deg >= 1:
            lead = d[-1]
            ok = np.abs(lead) > 1e-12 * np.maximum(np.abs(d).max(axis=0), 1e-300)
            roots = np.zeros((n, deg))
            if deg == 1:
                roots[ok, 0] = -d[0, ok] / lead[ok]
            elif np.any(ok):
                comp = np.zeros((int(ok.sum()), deg, deg))
                comp[:, 1:, :-1] = np.eye(deg - 1)
                comp[:, :, -1] = -(d[:-1, ok] / lead[ok]).T
                r = np.linalg.eigvals(comp)
                roots[ok] = np.where(np.abs(r.imag) <= 1e-9 * np.maximum(1.0, np.abs(r.real)), r.real, 0.0)
            for j in np.flatnonzero(~ok):  # degenerate column: lower-degree derivative
                r = np.polynomial.polynomial.polyroots(np.trim_zeros(d[:, j], "b")) if np.any(d[:, j]) else []
                r = np.real(np.asarray(r)[np.abs(np.imag(r)) < 1e-9]) if len(r) else np.zeros(0)
                roots[j, : min(len(r), deg)] = r[:deg]
            cand.extend(roots.T)
    ts = np.clip(np.stack(cand), 0.0, T)  # (m, n)
    vals = sum(coef[i][None, :] * ts**i for i in range(k + 1))
    return np.abs(vals).max(axis=0)


@dataclass
class Quintic:
    """One quintic per joint over ``[0, duration]``; before 0 and after ``duration`` the plan holds its end state.

    Attributes:
        coeffs: ``(6, n)`` ascending coefficients per joint.
        duration: ``T`` (s).
    """

    coeffs: np.ndarray
    duration: float

    @property
    def n(self) -> int:
        return self.coeffs.shape[1]

    def sample(self, t) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions, velocities, accelerations at times ``t`` (scalar -> ``(n,)``; ``(m,)`` -> ``(m, n)``)."""
        ts = np.asarray(t, float)
        scalar = ts.ndim == 0
        ts = np.clip(np.atleast_1d(ts), 0.0, self.duration)[:, None]
        c = self.coeffs
        q = c[0] + ts * (c[1] + ts * (c[2] + ts * (c[3] + ts * (c[4] + ts * c[5]))))
        v = c[1] + ts * (2 * c[2] + ts * (3 * c[3] + ts * (4 * c[4] + ts * 5 * c[5])))
        a = 2 * c[2] + ts * (6 * c[3] + ts * (12 * c[4] + ts * 20 * c[5]))
        end = ts[:, 0] >= self.duration  # exactly at rest at and after the end
        v[end] = 0.0
        a[end] = 0.0
        return (q[0], v[0], a[0]) if scalar else (q, v, a)

    def peaks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact ``max |velocity|``, ``max |acceleration|``, ``max |jerk|`` per joint over the plan, ``(n,)`` each."""
        c, T = self.coeffs, self.duration
        vel = c[1:] * np.arange(1, 6)[:, None]
        acc = vel[1:] * np.arange(1, 5)[:, None]
        jerk = acc[1:] * np.arange(1, 4)[:, None]
        return _poly_max_abs(vel, T), _poly_max_abs(acc, T), _poly_max_abs(jerk, T)

    def points(self, dt: float, t_offset: float = 0.0,
               include_start: bool = False) -> list[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
        """Trajectory points ``(time_from_start, q, v, a)`` every ``dt`` after ``t_offset`` (plan time), the last
        exactly at the end with zero velocity and acceleration; times are relative to ``t_offset``.

        ``t_offset`` is where the trajectory message starts in plan time (its header stamp), so a plan may be
        published a little after it was made. ``include_start`` adds the state at ``t_offset`` as a point at
        ``time_from_start = 0``: a controller that receives the trajectory before its stamp then blends from its
        current state to exactly that state (when both lie on one quintic, the blend reproduces it). At least one
        point besides the start is returned.
        """
        if dt <= 0:
            raise MocapError(f"trajectory point spacing must be > 0 s, got {dt}")
        rel_end = self.duration - t_offset
        ts = list(np.arange(1, max(int(np.ceil(rel_end / dt - 1e-9)), 1)) * dt)
        if rel_end > 1e-9:
            ts.append(rel_end)
        else:
            ts = [dt]  # already at rest: one point at the final state
        if include_start:
            ts = [0.0, *ts]
        q, v, a = self.sample(np.asarray(ts) + t_offset)
        return [(float(t), q[i], v[i], a[i]) for i, t in enumerate(ts)]


def _within(peaks, limits, allow) -> bool:
    return all(np.all(p <= np.maximum(lim, al) * (1 + LIMIT_RTOL)) for p, lim, al in zip(peaks, limits, allow))


def _rest_to_rest_time(d: np.ndarray, lim: JointLimits) -> float:
    """Shortest rest-to-rest quintic duration for displacements ``d`` (peak v = 1.875 d/T, a = 5.7735 d/T^2,
    j = 60 d/T^3)."""
    d = np.abs(d)
    return float(max(np.max(1.875 * d / lim.velocity), np.max(np.sqrt(5.7735 * d / lim.acceleration)),
                     np.max(np.cbrt(60.0 * d / lim.jerk)), 0.0))


def plan_to_rest(q0, v0, a0, qf, limits: JointLimits, min_duration: float = 1e-3,
                 max_duration: float = 60.0) -> Quintic | None:
    """Shortest-duration quintic from ``(q0, v0, a0)`` to rest at ``qf`` within ``limits``; None if none exists
    up to ``max_duration``.

    A start state already beyond a rate limit (a noisy measured velocity) is tolerated: the plan never exceeds
    ``max(limit, |start value|)``. Positions are not clipped here (clip the goal with
    :meth:`JointLimits.clip_positions`); a quintic can overshoot ``qf`` when it starts moving away from it.

    Args:
        q0, v0, a0, qf: ``(n,)`` start positions, velocities, accelerations and goal positions.
        limits: the joint limits.
        min_duration: shortest plan (s).
        max_duration: longest plan searched (s).
    """
    n = limits.n
    q0, v0, a0, qf = (check_shape(np.asarray(x, float), (n,), name, "plan_to_rest")
                      for x, name in ((q0, "q0"), (v0, "v0"), (a0, "a0"), (qf, "qf")))
    lims = (limits.velocity, limits.acceleration, limits.jerk)
    allow = (np.abs(v0), np.abs(a0), np.zeros(n))

    def feasible(T: float) -> Quintic | None:
        plan = Quintic(_quintic_coeffs(q0, v0, a0, qf, T), T)
        return plan if _within(plan.peaks(), lims, allow) else None

    T = max(min_duration, _rest_to_rest_time(qf - q0, limits), float(np.max(np.abs(v0) / limits.acceleration)))
    lo, best = 0.0, feasible(T)
    if best is None:
        lo = T
        while best is None and T < max_duration:
            T = min(2 * T, max_duration)
            best = feasible(T)
            if best is None:
                lo = T
        if best is None:
            return None
    else:
        lo = max(min_duration, 0.5 * T) if T > min_duration else T
        # the estimate may be loose (non-zero start state): try shorter
        cand = feasible(lo) if lo < T else None
        if cand is not None:
            best, T, lo = cand, lo, min_duration
    hi = T
    for _ in range(30):  # bisection on the shortest feasible duration
        if hi - lo <= 2e-3 * hi:
            break
        mid = 0.5 * (lo + hi)
        cand = feasible(mid)
        if cand is None:
            lo = mid
        else:
            best, hi = cand, mid
    return best


def plan_stop(q0, v0, a0, limits: JointLimits) -> Quintic:
    """Bring ``(q0, v0, a0)`` to rest as fast as the acceleration and jerk limits allow.

    The stop position is free: ``q0 + v0 T / 2 + a0 T^2 / 12``, for which the quintic has no 5th-order term and the
    velocity falls monotonically to zero when ``a0 = 0`` (``v = v0 (1 - 3s^2 + 2s^3)``, ``s = t / T``; peak
    deceleration ``1.5 |v0| / T``). The duration is the shortest for which every joint stays within its limits
    (all joints stop together); a start already over a limit (limits lowered at run time) only comes down. When
    ``a0`` pushes a joint's speed further up at its limit, the plan starts from zero acceleration instead. A state
    already at rest gives a zero-length plan holding ``q0``.
    """
    n = limits.n
    q0, v0, a0 = (check_shape(np.asarray(x, float), (n,), name, "plan_stop")
                  for x, name in ((q0, "q0"), (v0, "v0"), (a0, "a0")))
    if not np.any(np.abs(v0) > 1e-12) and not np.any(np.abs(a0) > 1e-12):
        return Quintic(_quintic_coeffs(q0, v0, a0, q0, 1.0), 0.0)
    lims = (limits.velocity, limits.acceleration, limits.jerk)

    def search(a0_: np.ndarray) -> Quintic | None:
        def make(T: float) -> Quintic:
            return Quintic(_quintic_coeffs(q0, v0, a0_, q0 + v0 * T / 2 + a0_ * T**2 / 12, T), T)

        allow = (np.abs(v0), np.abs(a0_), np.zeros(n))
        T = max(float(np.max(1.5 * np.abs(v0) / limits.acceleration)),
                float(np.max(np.sqrt(6 * np.abs(v0) / limits.jerk))), 1e-3)
        while not _within(make(T).peaks(), lims, allow):
            T *= 1.25
            if T > 1e3:
                return None
        lo, hi = T / 1.25, T
        for _ in range(20):
            mid = 0.5 * (lo + hi)
            if _within(make(mid).peaks(), lims, allow):
                hi = mid
            else:
                lo = mid
        return make(hi)

    # an acceleration that pushes the speed further up cannot be continued within the limits: drop it (a step in
    # acceleration, to a profile within the limits)
    plan = search(a0) or search(np.zeros(n))
    if plan is None:
        raise MocapError(f"cannot plan a stop from v0={v0.tolist()} within the limits {limits}")
    return plan
