"""Multi-person association across views: which 2D person of each camera is which person in 3D.

Pipeline for one frame (all people of all cameras at once):

1. **Geometric affinity** between every two 2D people of different cameras: per joint seen in both, the distance
   between the two back-projected rays (metres; infinite where the closest points lie behind a camera), averaged
   with confidence weights over the shared joints and turned into an affinity ``1 - d / max_ray_dist_m`` in
   [0, 1].
2. **Clustering with cycle consistency**: candidate pairs are merged greedily by decreasing affinity (Kruskal-like
   union-find, as in 4D Association), a merge being allowed only when the two groups share no camera and the
   *mean* affinity over all cross pairs of the merged group stays above ``min_linkage`` (so a chain A~B~C with A
   and C far apart is refused: every pair of views must agree, not only neighbours).
3. **Robust triangulation** of every cluster with at least ``min_views`` cameras
   (:func:`mocap.reconstruct.triangulation.triangulate`), optionally after per-view left/right swap correction
   (:mod:`mocap.reconstruct.swaps`).

Shapes: ``people2d`` is a list with one array ``(P_c, J, 3)`` per camera ``(u, v, confidence)`` in raw pixels
(NaN where missing); 3D people are ``(P, J, 4)`` world ``(x, y, z)`` metres + confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mocap.errors import KeypointsError
from mocap.reconstruct.triangulation import triangulate


@dataclass
class PersonCluster:
    """One person found in several cameras.

    Attributes:
        members: camera index -> index of the person in that camera's ``people2d`` array.
        affinity: mean pairwise affinity between the members (1 for single-view clusters).
    """

    members: dict[int, int]
    affinity: float = 1.0

    @property
    def n_views(self) -> int:
        return len(self.members)


@dataclass
class Reconstruction:
    """3D people of one frame with per-joint quality.

    Attributes:
        people: ``(P, J, 4)`` world ``(x, y, z)`` metres + confidence; NaN where a joint was not triangulated.
        reproj_error_px: ``(P, J)`` mean reprojection error over the views used, pixels.
        n_views: ``(P, J)`` views used per joint.
        clusters: the :class:`PersonCluster` of each person (same order).
        swapped: ``(P, C, n_pairs)`` bool, left/right pairs flipped per view before triangulation (empty when
            swap correction is off).
    """

    people: np.ndarray
    reproj_error_px: np.ndarray
    n_views: np.ndarray
    clusters: list[PersonCluster]
    swapped: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), dtype=bool))


def _check_people2d(rig, people2d: Sequence[np.ndarray]) -> tuple[list[np.ndarray], int]:
    if len(people2d) != len(rig):
        raise KeypointsError(f"got 2D people for {len(people2d)} cameras but the rig has {len(rig)} "
                             f"({', '.join(rig.names)})", hint="pass one (P_c, J, 3) array per camera, in rig order")
    out, J = [], None
    for c, p in enumerate(people2d):
        a = np.asarray(p, dtype=float)
        if a.size == 0:
            a = a.reshape(0, J or 0, 3)
        if a.ndim != 3 or a.shape[-1] != 3:
            raise KeypointsError(f"2D people of camera '{rig.names[c]}' have shape {a.shape}; expected (P, J, 3)")
        if a.shape[0]:
            if J is not None and a.shape[1] != J:
                raise KeypointsError(f"camera '{rig.names[c]}' has {a.shape[1]} joints per person, others {J}")
            J = a.shape[1]
        out.append(a)
    J = J or 0
    return [a if a.shape[0] else np.zeros((0, J, 3)) for a in out], J


def _rays(rig, people2d: list[np.ndarray], min_conf: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per camera: unit ray directions ``(P, J, 3)`` (NaN where unusable) and weights ``(P, J)``."""
    out = []
    for cam, p in zip(rig, people2d, strict=True):
        if p.shape[0] == 0:
            out.append((np.zeros(p.shape[:2] + (3,)), np.zeros(p.shape[:2])))
            continue
        d = cam.rays(p[..., :2])
        w = np.where(np.isfinite(p[..., 2]) & (p[..., 2] >= min_conf) & np.isfinite(d).all(-1), p[..., 2], 0.0)
        out.append((d, w))
    return out


def ray_distances(ca: np.ndarray, da: np.ndarray, cb: np.ndarray, db: np.ndarray) -> np.ndarray:
    """Distance between rays ``ca + s da`` and ``cb + t db`` (s, t > 0), broadcast over the direction arrays.

    Args:
        ca, cb: ``(3,)`` ray origins (camera centres), metres.
        da, db: ``(..., 3)`` unit directions (broadcastable).

    Returns:
        ``(...)`` closest distance between the rays, metres; ``inf`` where the closest points lie behind a camera;
        for (near) parallel rays the distance of ``cb`` to ray a.
    """
    w0 = ca - cb
    a = 1.0
    b = np.sum(da * db, axis=-1)
    d = np.sum(da * w0, axis=-1)
    e = np.sum(db * w0, axis=-1)
    denom = a - b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (b * e - d) / denom
        t = (e - b * d) / denom
    par = denom < 1e-10
    s = np.where(par, 0.0, s)
    t = np.where(par, e, t)
    pa = ca + s[..., None] * da
    pb = cb + t[..., None] * db
    dist = np.linalg.norm(pa - pb, axis=-1)
    return np.where((s > 0) & (t > 0) | par, dist, np.inf)


def pairwise_affinity(rig, people2d: Sequence[np.ndarray], *, min_conf: float = 0.1, max_ray_dist_m: float = 0.2,
                      min_common_joints: int = 3) -> dict[tuple[int, int], np.ndarray]:
    """Geometric affinity between the 2D people of every camera pair.

    Args:
        rig: the calibrated rig (``C`` cameras).
        people2d: per camera ``(P_c, J, 3)`` ``(u, v, confidence)`` raw pixels, NaN where missing.
        min_conf: joints below this confidence are ignored.
        max_ray_dist_m: mean ray distance (metres) at which the affinity reaches 0.
        min_common_joints: fewer shared joints give NaN (no evidence either way).

    Returns:
        ``{(a, b): (P_a, P_b)}`` for ``a < b``: affinity in [0, 1], NaN where undecidable.
    """
    people2d, _ = _check_people2d(rig, people2d)
    rays = _rays(rig, people2d, min_conf)
    centres = rig.centers
    out: dict[tuple[int, int], np.ndarray] = {}
    C = len(rig)
    for a in range(C):
        for b in range(a + 1, C):
            (da, wa), (db, wb) = rays[a], rays[b]
            if len(da) == 0 or len(db) == 0:
                out[(a, b)] = np.zeros((len(da), len(db)))
                continue
            dist = ray_distances(centres[a], da[:, None], centres[b], db[None])  # (Pa, Pb, J)
            w = np.sqrt(wa[:, None] * wb[None])
            ok = (w > 0) & ~np.isnan(dist)
            n = ok.sum(-1)
            dd = np.where(ok, np.minimum(dist, 10.0 * max_ray_dist_m), 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = (dd * w).sum(-1) / np.where(ok, w, 0.0).sum(-1)
            aff = np.clip(1.0 - mean / max_ray_dist_m, 0.0, 1.0)
            out[(a, b)] = np.where(n >= min_common_joints, aff, np.nan)
    return out


def point_ray_distances(X: np.ndarray, centre: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Distance from points ``X (..., 3)`` to rays ``centre + s d`` (``s > 0``; ``d (..., 3)`` unit), metres.

    ``inf`` where the point lies behind the camera; NaN where either input is NaN.
    """
    v = X - centre
    along = np.sum(v * d, axis=-1)
    dist = np.linalg.norm(v - along[..., None] * d, axis=-1)
    return np.where(along > 0, dist, np.where(np.isnan(along), np.nan, np.inf))


def anchor_affinity(rig, people2d: Sequence[np.ndarray], anchors: np.ndarray, *, min_conf: float = 0.1,
                    max_dist_m: float = 0.3, min_common_joints: int = 3) -> dict[int, np.ndarray]:
    """Affinity between the 2D people of every camera and 3D anchors (e.g. tracks' predicted poses).

    Per joint present in both, the distance from the anchor's 3D joint to the 2D joint's back-projected ray
    (metres), averaged with confidence weights, turned into ``1 - d / max_dist_m`` in [0, 1].

    Args:
        rig: the calibrated rig (``C`` cameras).
        people2d: per camera ``(P_c, J, 3)`` ``(u, v, confidence)`` raw pixels, NaN where missing.
        anchors: ``(K, J, 3)`` world joints, metres; NaN where unknown.
        min_conf: 2D joints below this confidence are ignored.
        max_dist_m: mean point-to-ray distance at which the affinity reaches 0.
        min_common_joints: fewer shared joints give NaN (no evidence).

    Returns:
        ``{c: (P_c, K)}`` affinities in [0, 1], NaN where undecidable.
    """
    people2d, _ = _check_people2d(rig, people2d)
    anchors = np.asarray(anchors, dtype=float)
    K = anchors.shape[0]
    rays = _rays(rig, people2d, min_conf)
    out: dict[int, np.ndarray] = {}
    for c, (d, w) in enumerate(rays):
        if len(d) == 0 or K == 0:
            out[c] = np.zeros((len(d), K))
            continue
        dist = point_ray_distances(anchors[None], rig.centers[c], d[:, None])  # (P, K, J)
        ok = (w[:, None] > 0) & np.isfinite(anchors[None]).all(-1) & ~np.isnan(dist)
        ww = np.where(ok, w[:, None], 0.0)
        dd = np.where(ok, np.minimum(dist, 10.0 * max_dist_m), 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (dd * ww).sum(-1) / ww.sum(-1)
        aff = np.clip(1.0 - mean / max_dist_m, 0.0, 1.0)
        out[c] = np.where(ok.sum(-1) >= min_common_joints, aff, np.nan)
    return out


def cluster_people(affinity: dict[tuple[int, int], np.ndarray], counts: Sequence[int], *, min_affinity: float = 0.2,
                   min_linkage: float = 0.35, first: int | None = None) -> list[PersonCluster]:
    """Group 2D people of several cameras into people, greedily with cycle-consistent linkage.

    Args:
        affinity: ``{(a, b): (P_a, P_b)}`` from :func:`pairwise_affinity` (``a < b``).
        counts: number of 2D people per camera.
        min_affinity: pairs below this are never used to start a merge.
        min_linkage: a merge needs the mean affinity over all cross pairs of the two groups (pairs with NaN
            affinity left out) to be at least this, and no cross pair at zero affinity (cycle consistency).
        first: a "camera" whose edges are merged before all others (e.g. tracks' predictions acting as one more
            camera: each track takes its best view per camera before views pair up among themselves).

    Returns:
        Clusters (including single-view ones), largest first.
    """
    nodes = [(c, p) for c, n in enumerate(counts) for p in range(n)]
    index = {nd: i for i, nd in enumerate(nodes)}
    N = len(nodes)
    A = np.full((N, N), np.nan)
    for (a, b), M in affinity.items():
        for i in range(M.shape[0]):
            for j in range(M.shape[1]):
                u, v = index[(a, i)], index[(b, j)]
                A[u, v] = A[v, u] = M[i, j]
    edges = [(A[u, v], u, v) for u in range(N) for v in range(u + 1, N)
             if np.isfinite(A[u, v]) and A[u, v] >= min_affinity]
    edges.sort(key=lambda e: (first is None or first not in (nodes[e[1]][0], nodes[e[2]][0]), -e[0]))
    group = list(range(N))
    members: dict[int, list[int]] = {i: [i] for i in range(N)}
    for _, u, v in edges:
        gu, gv = group[u], group[v]
        if gu == gv:
            continue
        mu, mv = members[gu], members[gv]
        cams_u = {nodes[i][0] for i in mu}
        if any(nodes[i][0] in cams_u for i in mv):
            continue  # two people of one camera cannot be the same person
        cross = A[np.ix_(mu, mv)]
        vals = cross[np.isfinite(cross)]
        if vals.size == 0 or vals.mean() < min_linkage or vals.min() <= 0.0:
            continue
        members[gu] = mu + mv
        for i in mv:
            group[i] = gu
        del members[gv]
    clusters = []
    for mem in members.values():
        sub = A[np.ix_(mem, mem)]
        iu = np.triu_indices(len(mem), 1)
        vals = sub[iu][np.isfinite(sub[iu])]
        clusters.append(PersonCluster({nodes[i][0]: nodes[i][1] for i in mem},
                                      float(vals.mean()) if vals.size else 1.0))
    clusters.sort(key=lambda c: (-c.n_views, -c.affinity))
    return clusters


def associate_people(rig, people2d: Sequence[np.ndarray], *, min_conf: float = 0.1, max_ray_dist_m: float = 0.2,
                     min_common_joints: int = 3, min_affinity: float = 0.2, min_linkage: float = 0.35,
                     min_views: int = 2) -> list[PersonCluster]:
    """Find which 2D people of different cameras are the same person.

    Args:
        rig: calibrated rig of ``C`` cameras.
        people2d: per camera ``(P_c, J, 3)`` ``(u, v, confidence)`` raw pixels, NaN where missing.
        min_conf, max_ray_dist_m, min_common_joints: see :func:`pairwise_affinity`.
        min_affinity, min_linkage: see :func:`cluster_people`.
        min_views: clusters seen by fewer cameras are dropped.

    Returns:
        Clusters with at least ``min_views`` cameras, largest first.
    """
    people2d, _ = _check_people2d(rig, people2d)
    aff = pairwise_affinity(rig, people2d, min_conf=min_conf, max_ray_dist_m=max_ray_dist_m,
                            min_common_joints=min_common_joints)
    clusters = cluster_people(aff, [len(p) for p in people2d], min_affinity=min_affinity, min_linkage=min_linkage)
    return [c for c in clusters if c.n_views >= min_views]


def gather_clusters(people2d: Sequence[np.ndarray], clusters: Sequence[PersonCluster], n_cameras: int,
                    n_joints: int) -> np.ndarray:
    """Stack the 2D people of each cluster into ``(C, P, J, 3)`` (NaN for cameras not in a cluster)."""
    out = np.full((n_cameras, len(clusters), n_joints, 3), np.nan)
    for k, cl in enumerate(clusters):
        for c, p in cl.members.items():
            out[c, k] = people2d[c][p]
    return out


def reconstruct_frame(rig, people2d: Sequence[np.ndarray], *, clusters: Sequence[PersonCluster] | None = None,
                      flip_perm: np.ndarray | None = None, lr_pairs: Sequence[tuple[int, int]] | None = None,
                      min_conf: float = 0.1, reproj_threshold_px: float = 15.0, min_views: int = 2,
                      min_joints: int = 5, duplicate_dist_m: float = 0.3, **assoc_opts) -> Reconstruction:
    """Associate and triangulate the people of one frame, with optional left/right swap correction.

    Args:
        rig: calibrated rig (``C`` cameras).
        people2d: per camera ``(P_c, J, 3)`` raw pixels.
        clusters: precomputed clusters (default: :func:`associate_people`).
        lr_pairs: ``(left, right)`` joint index pairs; when given, per-view swaps against the 3D consensus are
            fixed before the final triangulation (:func:`mocap.reconstruct.swaps.fix_swaps`).
        flip_perm: ``(J,)`` left/right permutation (``JointSet.flip_permutation``), an alternative way to give
            the pairs; ignored when ``lr_pairs`` is given.
        min_conf, reproj_threshold_px, min_views: options of the robust triangulation.
        min_joints: people with fewer triangulated joints are dropped (fragments of false associations).
        duplicate_dist_m: of two people closer than this (mean joint distance, metres) only the one with more
            views is kept.
        **assoc_opts: options of :func:`associate_people`.

    Returns:
        :class:`Reconstruction`.
    """
    people2d, J = _check_people2d(rig, people2d)
    if clusters is None:
        clusters = associate_people(rig, people2d, min_conf=min_conf, min_views=min_views, **assoc_opts)
    C, P = len(rig), len(clusters)
    if P == 0:
        return Reconstruction(np.zeros((0, J, 4)), np.zeros((0, J)), np.zeros((0, J), int), [])
    obs = gather_clusters(people2d, clusters, C, J)  # (C, P, J, 3)
    swapped = np.zeros((P, C, 0), dtype=bool)
    if lr_pairs is None and flip_perm is not None:
        fp = np.asarray(flip_perm)
        lr_pairs = [(int(i), int(fp[i])) for i in range(len(fp)) if fp[i] > i]
    if lr_pairs:
        from mocap.reconstruct.swaps import fix_swaps

        uv, conf, sw = fix_swaps(rig, obs[..., :2], obs[..., 2], lr_pairs, min_conf=min_conf,
                                 reproj_threshold_px=reproj_threshold_px)
        obs = np.concatenate([uv, conf[..., None]], axis=-1)
        swapped = np.moveaxis(sw, 0, 1)
    res = triangulate(rig, obs[..., :2], obs[..., 2], min_views=min_views, min_conf=min_conf,
                      reproj_threshold_px=reproj_threshold_px)
    conf = np.clip(res.confidence, 0.0, 1.0)
    people = np.concatenate([res.X, conf[..., None]], axis=-1)
    people[~np.isfinite(res.X).all(-1)] = np.nan
    keep = _select_people(people, res.n_views, min_joints, duplicate_dist_m)
    return Reconstruction(people[keep], res.reproj_error_px[keep], res.n_views[keep],
                          [clusters[k] for k in keep], swapped[keep])


def _select_people(people: np.ndarray, n_views: np.ndarray, min_joints: int, duplicate_dist_m: float) -> list[int]:
    """Indices of people with enough joints, dropping near-duplicates (fewer total views loses)."""
    valid = np.isfinite(people[..., 0])
    cand = [k for k in range(len(people)) if valid[k].sum() >= min_joints]
    cand.sort(key=lambda k: -int(n_views[k].sum()))
    kept: list[int] = []
    for k in cand:
        dup = False
        for q in kept:
            both = valid[k] & valid[q]
            if both.sum() >= 2:
                d = np.linalg.norm(people[k, both, :3] - people[q, both, :3], axis=-1).mean()
                dup = d < duplicate_dist_m
            if dup:
                break
        if not dup:
            kept.append(k)
    return sorted(kept)


def reconstruct_people(rig, people2d: Sequence[np.ndarray], **opts) -> np.ndarray:
    """Associate the 2D people of all cameras and triangulate them: ``(P, J, 4)`` metres + confidence.

    See :func:`reconstruct_frame` for the options and a result with quality fields.
    """
    return reconstruct_frame(rig, people2d, **opts).people


__all__ = ["PersonCluster", "Reconstruction", "ray_distances", "pairwise_affinity", "point_ray_distances",
           "anchor_affinity", "cluster_people",
           "associate_people", "gather_clusters", "reconstruct_frame", "reconstruct_people"]
