"""Tracking: stable ids through crossings, short misses, births and deaths."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import KeypointsError
from mocap.reconstruct.tracking import PeopleTracker, person_distance, track_sequence
from tests.reconstruct.test_association import TEMPLATE


def _walk(start, velocity, T, fps, rng, noise=0.01):
    t = np.arange(T)[:, None, None] / fps
    return TEMPLATE[None] + np.array([*start, 0.0]) + t * np.array([*velocity, 0.0]) + rng.normal(0, noise,
                                                                                                  (T, 15, 3))


def _crossing(T=60, fps=30.0, seed=0):
    rng = np.random.default_rng(seed)
    a = _walk((-1.5, 0.15), (1.5, 0.0), T, fps, rng)  # walks +x
    b = _walk((1.5, -0.15), (-1.5, 0.0), T, fps, rng)  # walks -x; they pass within 0.3 m at t = 1 s
    return a, b


def test_ids_survive_a_crossing_with_shuffled_order_and_misses():
    a, b = _crossing()
    rng = np.random.default_rng(1)
    tr = PeopleTracker(gate_m=0.5, min_hits=2, max_misses=10)
    seen: dict[str, set[int]] = {"a": set(), "b": set()}
    for f in range(a.shape[0]):
        rows, names = [], []
        if not 20 <= f <= 29:  # person a is missed for 10 frames up to the crossing
            rows.append(a[f])
            names.append("a")
        rows.append(b[f])
        names.append("b")
        order = rng.permutation(len(rows))
        ids = tr.step(np.stack([rows[i] for i in order]), f / 30.0)
        if f >= 2:
            for i, k in enumerate(order):
                seen[names[k]].add(int(ids[i]))
    assert len(seen["a"]) == 1 and len(seen["b"]) == 1 and seen["a"] != seen["b"]


def test_constant_position_model_fails_where_velocity_helps():
    # the same crossing with no velocity model swaps ids: proof that the test above exercises prediction
    a, b = _crossing()
    tr = PeopleTracker(gate_m=0.5, min_hits=1, max_misses=10, velocity_smoothing=0.0)
    ids_a = []
    for f in range(a.shape[0]):
        rows = [b[f]] if 20 <= f <= 29 else [a[f], b[f]]
        ids = tr.step(np.stack(rows), f / 30.0)
        if len(rows) == 2:
            ids_a.append(int(ids[0]))
    assert len(set(ids_a)) > 1


def test_birth_confirmation_and_death():
    rng = np.random.default_rng(2)
    tr = PeopleTracker(min_hits=3, max_misses=2)
    p = _walk((0, 0), (0, 0), 10, 30.0, rng)
    ids = [int(tr.step(p[f][None], f / 30.0)[0]) for f in range(4)]
    assert ids == [-1, -1, 0, 0]  # tentative until the third hit
    for f in range(4, 7):  # three misses > max_misses: the track dies
        tr.step(np.zeros((0, 15, 3)), f / 30.0)
    assert tr.tracks == []
    ids = [int(tr.step(p[f][None], f / 30.0)[0]) for f in range(7, 10)]
    assert ids == [-1, -1, 1]  # a new person, a new id


def test_track_sequence_backfills_and_fills_gaps():
    a, b = _crossing(T=40)
    frames = []
    for f in range(40):
        pa = a[f].copy()
        if 10 <= f <= 12:
            pa[7] = np.nan  # wrist lost for 3 frames
        rows = [pa, b[f]] if f % 2 else [b[f], pa]
        if f >= 5:
            frames.append(np.stack(rows))
        else:
            frames.append(b[f][None])  # a appears at frame 5
    data, ids = track_sequence(frames, fps=30.0, min_hits=3, max_gap=5)
    assert data.shape == (40, 2, 15, 4) and sorted(ids.tolist()) == [0, 1]
    ka = int(np.nanargmin(np.linalg.norm(data[20, :, 0, :3] - a[20, 0], axis=-1)))
    assert np.isnan(data[:5, ka]).all() and np.isfinite(data[5:, ka, :, :3]).all()  # back-filled from frame 5
    np.testing.assert_allclose(data[5:, ka, :, :3], a[5:], atol=0.05)
    assert (data[10:13, ka, 7, 3] == 0).all()  # gap-filled joints carry confidence 0
    kb = 1 - ka
    np.testing.assert_allclose(data[:, kb, :, :3], b)


def test_person_distance_and_errors():
    A = np.zeros((2, 3, 3))
    B = np.ones((1, 3, 3))
    B[0, 0] = np.nan
    d = person_distance(A, B)
    assert d.shape == (2, 1) and d[0, 0] == pytest.approx(np.sqrt(3))
    with pytest.raises(KeypointsError, match="shape"):
        PeopleTracker().step(np.zeros((3, 2)), 0.0)
    with pytest.raises(KeypointsError, match="timestamps"):
        track_sequence([np.zeros((1, 3, 3))], timestamps=[0.0, 1.0])
