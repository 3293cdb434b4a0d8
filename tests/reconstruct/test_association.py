"""Cross-view association on synthetic multi-person scenes.

The scene helpers here are shared with the swap and tracking tests.
"""

from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import KeypointsError
from mocap.reconstruct.association import (
    anchor_affinity,
    associate_people,
    cluster_people,
    pairwise_affinity,
    point_ray_distances,
    ray_distances,
    reconstruct_frame,
    reconstruct_people,
)
from tests.conftest import make_ring_rig

# 15 joints: pelvis, neck, head, l/r shoulder, l/r elbow, l/r wrist, l/r hip, l/r knee, l/r ankle (metres, Z up,
# person facing +x, so the left side is +y).
TEMPLATE = np.array([
    [0, 0, 0.95], [0, 0, 1.45], [0.02, 0, 1.65], [0, 0.2, 1.42], [0, -0.2, 1.42], [0.05, 0.25, 1.15],
    [0.05, -0.25, 1.15], [0.15, 0.27, 0.92], [0.15, -0.27, 0.92], [0, 0.1, 0.92], [0, -0.1, 0.92],
    [0.05, 0.11, 0.5], [0.05, -0.11, 0.5], [0, 0.12, 0.07], [0, -0.12, 0.07],
])
LR_PAIRS = [(3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14)]


def random_person(rng: np.random.Generator, centre_xy, yaw: float | None = None, jitter: float = 0.05) -> np.ndarray:
    """A ``(15, 3)`` standing pose at ``centre_xy`` with a random heading and limb jitter."""
    yaw = rng.uniform(-np.pi, np.pi) if yaw is None else yaw
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    X = (TEMPLATE + rng.normal(0, jitter, TEMPLATE.shape) * [1, 1, 0.3]) @ R.T
    return X + [centre_xy[0], centre_xy[1], 0.0]


def random_centres(rng: np.random.Generator, n: int, min_sep: float = 0.9, radius: float = 1.6) -> np.ndarray:
    """``(n, 2)`` floor positions at least ``min_sep`` apart within ``radius`` of the origin."""
    pts: list[np.ndarray] = []
    while len(pts) < n:
        p = rng.uniform(-radius, radius, 2)
        if all(np.linalg.norm(p - q) >= min_sep for q in pts):
            pts.append(p)
    return np.array(pts)


def observe(rig, people3d: np.ndarray, rng: np.random.Generator, noise_px: float = 1.5, p_miss_joint: float = 0.1,
            p_miss_person: float = 0.1, n_false: int = 1):
    """Project ``(P, J, 3)`` people into every camera with noise, missed joints/people and false positives.

    Returns:
        ``people2d`` (per camera ``(P_c, J, 3)``, shuffled) and ``truth`` (per camera the true person index of
        each row, -1 for a false positive).
    """
    P, J, _ = people3d.shape
    people2d, truth = [], []
    for cam in rig:
        rows, ids = [], []
        for p in range(P):
            if rng.random() < p_miss_person:
                continue
            uv = cam.project(people3d[p]) + rng.normal(0, noise_px, (J, 2))
            conf = rng.uniform(0.5, 1.0, J)
            miss = rng.random(J) < p_miss_joint
            uv[miss], conf[miss] = np.nan, np.nan
            rows.append(np.concatenate([uv, conf[:, None]], -1))
            ids.append(p)
        for _ in range(n_false):
            centre = rng.uniform([200, 150], [cam.size[0] - 200, cam.size[1] - 150])
            fake = centre + rng.normal(0, 60, (J, 2))
            rows.append(np.concatenate([fake, rng.uniform(0.2, 0.6, (J, 1))], -1))
            ids.append(-1)
        order = rng.permutation(len(rows))
        people2d.append(np.stack([rows[i] for i in order]) if rows else np.zeros((0, J, 3)))
        truth.append(np.array([ids[i] for i in order], dtype=int))
    return people2d, truth


# ------------------------------------------------------------------------------------------------ tests
def _cluster_truth(clusters, truth):
    """Per cluster the set of true ids of its members."""
    return [{int(truth[c][p]) for c, p in cl.members.items()} for cl in clusters]


def test_ray_distance_matches_closed_form():
    ca, da = np.zeros(3), np.array([0, 0, 1.0])
    cb, db = np.array([1.0, -0.6, 0.0]), np.array([0, 0.6, 0.8])
    # closest points (0, 0, 0.8) and (1, 0, 0.8): one metre apart, both in front of their cameras
    assert ray_distances(ca, da, cb, db) == pytest.approx(1.0)
    # the same lines with b looking the other way meet only behind camera b
    assert np.isinf(ray_distances(ca, da, cb, -db))
    # broadcasting over (P, J, 3)
    assert ray_distances(ca, np.tile(da, (2, 3, 1)), cb, db).shape == (2, 3)


@pytest.mark.parametrize("n_people,n_cams,seed", [(2, 4, 0), (3, 5, 1), (4, 5, 2), (4, 4, 3)])
def test_clusters_recover_true_people(n_people, n_cams, seed):
    rng = np.random.default_rng(seed)
    rig = make_ring_rig(n_cams, radius=4.5)
    centres = random_centres(rng, n_people)
    people = np.stack([random_person(rng, c) for c in centres])
    people2d, truth = observe(rig, people, rng)
    clusters = associate_people(rig, people2d)
    ids = _cluster_truth(clusters, truth)
    # every cluster is pure (one true person, no false positive) and every person is found exactly once
    assert all(len(s) == 1 and -1 not in s for s in ids), ids
    found = sorted(next(iter(s)) for s in ids)
    assert found == list(range(n_people))
    # and each cluster holds every view that saw the person
    for cl, s in zip(clusters, ids, strict=True):
        p = next(iter(s))
        seen = {c for c in range(n_cams) if p in truth[c]}
        assert set(cl.members) == seen


def test_reconstruct_people_accuracy():
    rng = np.random.default_rng(7)
    rig = make_ring_rig(5, radius=4.5)
    people = np.stack([random_person(rng, c) for c in random_centres(rng, 3)])
    people2d, _ = observe(rig, people, rng, noise_px=1.0, p_miss_person=0.0)
    out = reconstruct_people(rig, people2d)
    assert out.shape == (3, 15, 4)
    # match by pelvis and check every joint within 3 cm
    for X in people:
        k = np.nanargmin(np.linalg.norm(out[:, 0, :3] - X[0], axis=-1))
        err = np.linalg.norm(out[k, :, :3] - X, axis=-1)
        assert np.nanmax(err) < 0.03
        assert np.isfinite(err).sum() >= 14


def test_same_person_has_high_affinity():
    rng = np.random.default_rng(3)
    rig = make_ring_rig(4, radius=4.5)
    people = np.stack([random_person(rng, (-1.2, 0.0)), random_person(rng, (1.2, 0.0))])
    people2d = [np.concatenate([cam.project(people), np.ones((2, 15, 1))], -1) for cam in rig]
    aff = pairwise_affinity(rig, people2d)
    for M in aff.values():
        assert M.shape == (2, 2)
        assert np.all(np.diag(M) > 0.9)
        # two views alone can be fooled (skew rays of different people may pass close), never by much here
        assert M[[0, 1], [1, 0]].mean() < np.diag(M).min()


def test_empty_views_and_bad_shapes():
    rig = make_ring_rig(3)
    empty = [np.zeros((0, 15, 3))] * 3
    rec = reconstruct_frame(rig, empty)
    assert rec.people.shape[0] == 0
    with pytest.raises(KeypointsError, match="cameras"):
        associate_people(rig, empty[:2])
    with pytest.raises(KeypointsError, match="shape"):
        associate_people(rig, [np.zeros((1, 15, 2))] * 3)


def test_point_ray_distance_and_anchor_affinity():
    c, d = np.zeros(3), np.array([0.0, 0.0, 1.0])
    assert point_ray_distances(np.array([0.3, 0.4, 2.0]), c, d) == pytest.approx(0.5)
    assert np.isinf(point_ray_distances(np.array([0.0, 0.1, -1.0]), c, d))  # behind the camera
    rng = np.random.default_rng(4)
    rig = make_ring_rig(4, radius=4.5)
    people = np.stack([random_person(rng, (-1.0, 0.0)), random_person(rng, (1.0, 0.0))])
    people2d = [np.concatenate([cam.project(people), np.ones((2, 15, 1))], -1) for cam in rig]
    anchors = people[::-1] + [0.05, 0.0, 0.0]  # the two people, swapped and 5 cm off
    aff = anchor_affinity(rig, people2d, anchors, max_dist_m=0.3)
    for M in aff.values():
        assert M.shape == (2, 2) and min(M[0, 1], M[1, 0]) > 0.75 and max(M[0, 0], M[1, 1]) < 0.5
    few = anchors.copy()
    few[:, 2:] = np.nan  # two joints known: no evidence either way
    assert np.isnan(anchor_affinity(rig, people2d, few)[0]).all()


def test_cluster_people_takes_the_first_camera_first():
    """A track (camera 2) agrees with A0 and A1; A0 also looks like B1 from its own view (0.95). Greedy by
    affinity alone joins A0 with B1 and then refuses the track (it disagrees with B1); with the track's edges
    first, A0, A1 and the track form one person."""
    aff = {(0, 1): np.array([[0.9, 0.95]]), (0, 2): np.array([[0.9]]), (1, 2): np.array([[0.9], [0.0]])}
    plain = {frozenset(c.members.items()) for c in cluster_people(aff, [1, 2, 1])}
    assert frozenset({(0, 0), (1, 1)}) in plain
    first = {frozenset(c.members.items()) for c in cluster_people(aff, [1, 2, 1], first=2)}
    assert frozenset({(0, 0), (1, 0), (2, 0)}) in first and frozenset({(1, 1)}) in first
