"""Persistent person ids over time: Hungarian assignment on 3D distances with gating and track life cycle.

Each track keeps its last joints ``(J, 3)`` and a smoothed per-joint velocity, so people who cross paths are told
apart by where they are heading. A frame's people are assigned to the tracks' predicted positions by the Hungarian
algorithm on the mean distance over the joints both have; pairs further apart than ``gate_m`` are never
assigned. A new track is *tentative* until it has been seen ``min_hits`` times and is deleted after
``max_misses`` consecutive frames without a detection.

The live :class:`PeopleTracker` and the batch :func:`track_sequence` share the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from mocap.errors import KeypointsError


@dataclass
class Track:
    """State of one tracked person.

    Attributes:
        key: internal, never reused key (creation order).
        X: ``(J, 3)`` last known joints, metres (NaN where never seen).
        V: ``(J, 3)`` smoothed velocity, metres per second.
        t: time of the last update, seconds.
        hits: frames with a detection; misses: consecutive frames without one.
        id: public id once confirmed, else -1.
    """

    key: int
    X: np.ndarray
    V: np.ndarray
    t: float
    hits: int = 1
    misses: int = 0
    id: int = -1

    def predict(self, t: float) -> np.ndarray:
        """``(J, 3)`` joints extrapolated to time ``t`` with the smoothed velocity."""
        return self.X + self.V * (t - self.t)


def person_distance(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Mean distance over shared joints between people ``A (Pa, J, 3)`` and ``B (Pb, J, 3)`` -> ``(Pa, Pb)``.

    Pairs with no joint finite in both get ``inf``.
    """
    d = np.linalg.norm(A[:, None, :, :3] - B[None, :, :, :3], axis=-1)
    ok = np.isfinite(d)
    n = ok.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(ok, d, 0.0).sum(-1) / n
    return np.where(n > 0, m, np.inf)


class PeopleTracker:
    """Frame-by-frame multi-person tracker.

    Args:
        gate_m: largest mean joint distance (metres) between a prediction and a detection that may be assigned.
        min_hits: detections before a track is confirmed and gets a public id.
        max_misses: consecutive frames without a detection after which a track is deleted.
        velocity_smoothing: weight of the newest velocity estimate (0 = constant position model, 1 = raw).
        max_speed_mps: velocities are clipped to this speed (guards against a bad frame).
    """

    def __init__(self, gate_m: float = 0.5, min_hits: int = 3, max_misses: int = 10,
                 velocity_smoothing: float = 0.5, max_speed_mps: float = 5.0) -> None:
        if gate_m <= 0 or min_hits < 1 or max_misses < 0:
            raise KeypointsError(f"tracker options gate_m={gate_m}, min_hits={min_hits}, max_misses={max_misses} "
                                 "are invalid; expected gate_m > 0, min_hits >= 1, max_misses >= 0")
        self.gate_m = float(gate_m)
        self.min_hits = int(min_hits)
        self.max_misses = int(max_misses)
        self.alpha = float(velocity_smoothing)
        self.max_speed = float(max_speed_mps)
        self.tracks: list[Track] = []
        self._next_key = 0
        self._next_id = 0
        self.last_keys: np.ndarray = np.zeros(0, dtype=int)

    def reset(self) -> None:
        """Forget every track (ids restart at 0)."""
        self.__init__(self.gate_m, self.min_hits, self.max_misses, self.alpha, self.max_speed)

    def step(self, people3d: np.ndarray, t: float) -> np.ndarray:
        """Assign this frame's people to tracks.

        Args:
            people3d: ``(P, J, 3|4)`` world joints, metres (NaN where missing); people with no finite joint are
                ignored (id -1).
            t: frame time, seconds (increasing).

        Returns:
            ``(P,)`` int ids: the stable id of a confirmed track, -1 for a tentative one. The internal track keys
            of the same people are in :attr:`last_keys`.
        """
        people3d = np.asarray(people3d, dtype=float)
        if people3d.ndim != 3 or people3d.shape[-1] not in (3, 4):
            raise KeypointsError(f"tracker input has shape {people3d.shape}; expected (P, J, 3) or (P, J, 4)")
        X = people3d[..., :3]
        P = X.shape[0]
        live = np.isfinite(X).all(-1).any(-1)
        ids = np.full(P, -1, dtype=int)
        keys = np.full(P, -1, dtype=int)
        assigned_tracks: set[int] = set()
        if self.tracks and P:
            pred = np.stack([tr.predict(t) for tr in self.tracks])
            cost = person_distance(X, pred)
            cost[~live] = np.inf
            big = 1e6
            c = np.where(np.isfinite(cost) & (cost <= self.gate_m), cost, big)
            rows, cols = linear_sum_assignment(c)
            for r, k in zip(rows.tolist(), cols.tolist(), strict=True):
                if c[r, k] >= big:
                    continue
                self._update(self.tracks[k], X[r], t)
                assigned_tracks.add(k)
                keys[r] = self.tracks[k].key
        for k, tr in enumerate(self.tracks):
            if k not in assigned_tracks:
                tr.misses += 1
        for r in range(P):
            if keys[r] < 0 and live[r]:
                tr = Track(self._next_key, X[r].copy(), np.zeros_like(X[r]), t)
                tr.V[~np.isfinite(tr.X)] = 0.0
                self._next_key += 1
                self.tracks.append(tr)
                keys[r] = tr.key
        for tr in self.tracks:
            if tr.id < 0 and tr.hits >= self.min_hits:
                tr.id = self._next_id
                self._next_id += 1
        by_key = {tr.key: tr for tr in self.tracks}
        for r in range(P):
            if keys[r] >= 0:
                ids[r] = by_key[keys[r]].id
        self.tracks = [tr for tr in self.tracks if tr.misses <= self.max_misses]
        self.last_keys = keys
        return ids

    def _update(self, tr: Track, X: np.ndarray, t: float) -> None:
        dt = t - tr.t
        seen = np.isfinite(X).all(-1)
        had = np.isfinite(tr.X).all(-1)
        if dt > 0:
            both = seen & had
            v = np.zeros_like(X)
            v[both] = (X[both] - tr.X[both]) / dt
            sp = np.linalg.norm(v, axis=-1, keepdims=True)
            v = np.where(sp > self.max_speed, v * self.max_speed / np.maximum(sp, 1e-12), v)
            tr.V[both] = self.alpha * v[both] + (1 - self.alpha) * tr.V[both]
        tr.X = np.where(seen[:, None], X, tr.predict(t))
        tr.X[~seen & ~had] = np.nan
        tr.t = t
        tr.hits += 1
        tr.misses = 0


def _fill_gaps(x: np.ndarray, max_gap: int) -> np.ndarray:
    """Linearly interpolate NaN runs of at most ``max_gap`` frames inside ``x (T, D)`` (rows all-NaN or not)."""
    ok = np.isfinite(x).all(-1)
    idx = np.flatnonzero(ok)
    if idx.size < 2:
        return x
    out = x.copy()
    for a, b in zip(idx[:-1], idx[1:], strict=True):
        if 1 < b - a <= max_gap + 1:
            w = (np.arange(a + 1, b) - a)[:, None] / (b - a)
            out[a + 1:b] = (1 - w) * x[a] + w * x[b]
    return out


def track_sequence(frames: Sequence[np.ndarray], timestamps: Sequence[float] | None = None, fps: float = 30.0, *,
                   max_gap: int = 0, **tracker_opts) -> tuple[np.ndarray, np.ndarray]:
    """Track the people of a whole sequence and stack them by stable id.

    Args:
        frames: per frame ``(P_t, J, 3|4)`` people (any order, any count), metres.
        timestamps: ``(T,)`` seconds (default ``arange(T) / fps``).
        fps: frame rate used when ``timestamps`` is None.
        max_gap: joint gaps of at most this many frames inside a track are filled by linear interpolation
            (0 = off); filled points get confidence 0.
        **tracker_opts: :class:`PeopleTracker` options.

    Returns:
        ``(data, ids)``: ``data`` ``(T, N, J, 4)`` (NaN where a person is absent; confidence 1 when the input had
        none) and ``ids`` ``(N,)``. Frames of a track before its confirmation are kept (back-filled);
        tracks never confirmed are dropped.
    """
    T = len(frames)
    ts = np.arange(T) / float(fps) if timestamps is None else np.asarray(timestamps, dtype=float)
    if ts.shape != (T,):
        raise KeypointsError(f"{T} frames but {ts.size} timestamps")
    tracker = PeopleTracker(**tracker_opts)
    J = None
    rows: list[dict[int, np.ndarray]] = []
    key_to_id: dict[int, int] = {}
    for f, t in zip(frames, ts, strict=True):
        a = np.asarray(f, dtype=float)
        if a.size == 0:
            a = a.reshape(0, J or 0, 4)
        if a.ndim != 3 or a.shape[-1] not in (3, 4):
            raise KeypointsError(f"frame {len(rows)} has shape {a.shape}; expected (P, J, 3|4)")
        if a.shape[0]:
            J = a.shape[1] if J is None else J
            if a.shape[1] != J:
                raise KeypointsError(f"frame {len(rows)} has {a.shape[1]} joints, earlier frames {J}")
        if a.shape[-1] == 3:
            a = np.concatenate([a, np.where(np.isfinite(a).all(-1, keepdims=True), 1.0, np.nan)], -1)
        ids = tracker.step(a, float(t))
        row = {}
        for r, k in enumerate(tracker.last_keys.tolist()):
            if k >= 0:
                row[k] = a[r]
                if ids[r] >= 0:
                    key_to_id[k] = int(ids[r])
        rows.append(row)
    order = sorted(key_to_id, key=lambda k: key_to_id[k])
    out = np.full((T, len(order), J or 0, 4), np.nan)
    for n, k in enumerate(order):
        for t_i, row in enumerate(rows):
            if k in row:
                out[t_i, n] = row[k]
        if max_gap > 0:
            for j in range(out.shape[2]):
                before = np.isfinite(out[:, n, j, :3]).all(-1)
                xyz = _fill_gaps(out[:, n, j, :3], max_gap)
                filled = np.isfinite(xyz).all(-1) & ~before
                out[:, n, j, :3] = xyz
                out[filled, n, j, 3] = 0.0
    return out, np.array([key_to_id[k] for k in order], dtype=int)


__all__ = ["Track", "PeopleTracker", "person_distance", "track_sequence"]
