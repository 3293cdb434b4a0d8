"""Triangulation of whole sequences: :func:`triangulate_keypoints` over :class:`~mocap.keypoints.Keypoints2D`.

On top of the per-point robust triangulation of :mod:`mocap.reconstruct.triangulation`,
it adds two passes over sequences: a temporal one (points that jump away from the running
median of their neighbouring frames are re-selected with that median as ``prior``, and dropped if they still jump),
then a bone-length one (each person's rigid bone lengths are estimated; joints that most of their bones disagree
with get their views re-selected among all pairs and triples, scored by reprojection error and bone consistency
with the trusted neighbouring joints, and are dropped if no subset is consistent). Dropped points carry a reason
code (see :data:`mocap.reconstruct.triangulation.REASONS`).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

from mocap.errors import KeypointsError
from mocap.reconstruct.triangulation import (
    REASON_BONE,
    REASON_OK,
    REASON_TEMPORAL,
    TriangulationResult,
    _coef,
    _finite,
    _rig_geometry,
    _solve_sym3,
    _undistort,
    triangulate,
)

if TYPE_CHECKING:
    from mocap.keypoints import Keypoints3D


def running_median(X: np.ndarray, half_window: int) -> np.ndarray:
    """NaN-aware running median along axis 0 of ``X`` ``(T, ...)`` over ``2 * half_window + 1`` frames."""
    from numpy.lib.stride_tricks import sliding_window_view

    T = X.shape[0]
    pad = np.concatenate([np.full((half_window,) + X.shape[1:], np.nan), X,
                          np.full((half_window,) + X.shape[1:], np.nan)])
    win = sliding_window_view(pad, 2 * half_window + 1, axis=0)  # (T, ..., W)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(win, axis=-1)[:T]


def _neighbours(finite: np.ndarray, reverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """For ``finite`` ``(T, N)``: per frame the index of the nearest finite frame before it and the one before that
    (after it, with ``reverse``); -1 where none."""
    T = finite.shape[0]
    idx = np.where(finite, np.arange(T)[:, None], -1)
    if reverse:
        idx = np.where(finite, (T - 1 - np.arange(T))[:, None], -1)[::-1]
    run = np.maximum.accumulate(idx, axis=0)
    p1 = np.full(idx.shape, -1)
    p1[1:] = run[:-1]
    cols = np.arange(idx.shape[1])[None]
    p2 = np.where(p1 >= 0, p1[np.maximum(p1, 0), cols], -1)
    if reverse:  # back to forward frame indices
        p1, p2 = p1[::-1], p2[::-1]
        p1 = np.where(p1 >= 0, T - 1 - p1, -1)
        p2 = np.where(p2 >= 0, T - 1 - p2, -1)
    return p1, p2


def temporal_outliers(X: np.ndarray, fps: float, tolerance_m: float = 0.15, motion_factor: float = 1.0,
                      max_gap_s: float = 0.1) -> np.ndarray:
    """Isolated jumps along axis 0 of ``X`` ``(T, ..., 3)`` (metres): points that neither side of the trajectory
    predicts.

    From each side, the two nearest finite frames (within ``max_gap_s``) extrapolate the point at constant
    velocity (one frame: constant position). A side disagrees when the point is farther from its prediction than
    ``tolerance_m + motion_factor * s``, where ``s`` is the distance the joint itself travelled on that side over
    as many frames as the extrapolation spans: a fast joint gets a proportionally wider test, since its velocity
    can change more from one frame to the next. A point is an outlier only when BOTH sides exist and disagree:
    a genuine change of motion (a jump starting, or the first frame of a clip) agrees with one side, a wrong
    point (a spike that comes back) with neither.

    Returns:
        ``(T, ...)`` bool.
    """
    X = np.asarray(X, dtype=float)
    T = X.shape[0]
    flat = X.reshape(T, -1, 3)
    fin = _finite(flat)
    gap = max(2, int(round(max_gap_s * fps)))
    t = np.arange(T)[:, None]
    cols = np.arange(flat.shape[1])[None]
    disagree = []
    for reverse in (False, True):
        n1, n2 = _neighbours(fin, reverse)
        has1 = (n1 >= 0) & (np.abs(t - n1) <= gap)
        has2 = has1 & (n2 >= 0) & (np.abs(t - n2) <= gap)
        X1 = flat[np.maximum(n1, 0), cols]
        X2 = flat[np.maximum(n2, 0), cols]
        span = np.where(has2, (t - n1) / np.where(has2, n1 - n2, 1), 0.0)[..., None]
        step = np.where(has2[..., None], X1 - X2, 0.0)
        pred = X1 + step * span
        travelled = np.linalg.norm(step * np.abs(span), axis=-1)
        d = np.linalg.norm(flat - pred, axis=-1)
        disagree.append(has1 & fin & (d > tolerance_m + motion_factor * travelled))
    return (disagree[0] & disagree[1]).reshape(X.shape[:-1])


def _temporal_recheck(rig, uv: np.ndarray, conf: np.ndarray, res: TriangulationResult, fps: float,
                      opts: dict, outlier_m: float | None = None) -> TriangulationResult:
    """Second pass for points far from the running median of their time neighbours (axis 1 of ``uv``); points that
    are afterwards :func:`temporal_outliers` (tolerance ``outlier_m``) are dropped (:data:`REASON_TEMPORAL`)."""
    radius = float(opts.get("prior_radius_m", 0.15))
    half = max(2, int(round(0.05 * fps)))
    ref = running_median(res.X, half)
    d = np.linalg.norm(res.X - ref, axis=-1)
    redo = _finite(ref) & ~(d <= radius)
    res.meta["temporal_rechecked"] = 0
    if redo.any():
        idx = np.nonzero(redo)
        o = {k: v for k, v in opts.items() if k != "prior"}
        o["prior_radius_m"] = radius
        sub = triangulate(rig, uv[(slice(None),) + idx], None if conf is None else conf[(slice(None),) + idx],
                          prior=ref[idx], **o)
        # keep the new result only where it is closer to the reference (or the old one was dropped)
        d_new = np.linalg.norm(sub.X - ref[idx], axis=-1)
        better = np.isfinite(d_new) & ~(d_new >= d[idx])
        _assign(res, idx, sub, better)
        res.meta["temporal_rechecked"] = int(better.sum())
    if outlier_m is not None and outlier_m > 0:
        out = temporal_outliers(res.X, fps, tolerance_m=outlier_m)
        _drop(res, np.nonzero(out), REASON_TEMPORAL)
        res.meta["temporal_outliers"] = int(out.sum())
    return res


_SUBSETS: dict[int, np.ndarray] = {}


def _view_subsets(C: int) -> np.ndarray:
    """``(K, C)`` bool: every pair and triple of ``C`` cameras."""
    if C not in _SUBSETS:
        rows = [c for k in (2, 3) for c in itertools.combinations(range(C), k) if k <= C]
        m = np.zeros((len(rows), C), dtype=bool)
        for i, r in enumerate(rows):
            m[i, list(r)] = True
        _SUBSETS[C] = m
    return _SUBSETS[C]


def _drop(res: TriangulationResult, sel: tuple, reason: int) -> None:
    """Drop the points ``sel`` (index tuple into the batch shape) with ``reason``."""
    res.X[sel] = np.nan
    res.reason[sel] = reason
    res.n_views[sel] = 0
    res.reproj_error_px[sel] = np.nan
    res.confidence[sel] = np.nan
    res.used[(slice(None),) + sel] = False
    res.view_error_px[(slice(None),) + sel] = np.nan


def _assign(res: TriangulationResult, sel: tuple, sub: TriangulationResult, take: np.ndarray) -> None:
    """Copy the points ``take`` (bool over ``sub``'s flat batch) of ``sub`` into ``res`` at ``sel``."""
    s = tuple(i[take] for i in sel)
    res.X[s] = sub.X[take]
    res.reproj_error_px[s] = sub.reproj_error_px[take]
    res.n_views[s] = sub.n_views[take]
    res.reason[s] = sub.reason[take]
    res.confidence[s] = sub.confidence[take]
    res.used[(slice(None),) + s] = sub.used[:, take]
    res.view_error_px[(slice(None),) + s] = sub.view_error_px[:, take]


def _bone_neighbours(bones: list[tuple[int, int]], J: int) -> tuple[np.ndarray, np.ndarray]:
    """Per joint, its bones' other ends ``(J, D)`` and bone indices ``(J, D)`` (-1 padded, D = max degree)."""
    lists: list[list[tuple[int, int]]] = [[] for _ in range(J)]
    for k, (a, c) in enumerate(bones):
        lists[a].append((c, k))
        lists[c].append((a, k))
    D = max(1, max(len(v) for v in lists))
    other = np.full((J, D), -1)
    bone = np.full((J, D), -1)
    for j, v in enumerate(lists):
        for d, (o, k) in enumerate(v):
            other[j, d], bone[j, d] = o, k
    return other, bone


def _bone_recheck(rig, uv: np.ndarray, conf: np.ndarray, res: TriangulationResult, joint_set, opts: dict,
                  rel_tol: float = 0.25, abs_tol_m: float = 0.05, min_samples: int = 5) -> TriangulationResult:
    """Bone-length pass over ``res`` (batch ``(T, P, J)``): re-select the views of joints that most of their rigid
    bones disagree with, or drop them (:data:`REASON_BONE`). See :func:`triangulate_keypoints`."""
    from mocap.reconstruct.bones import estimate_bone_lengths, inconsistent_joints, rigid_bones

    if res.X.ndim != 4:
        return res
    T, P, J, _ = res.X.shape
    try:
        bones = rigid_bones(joint_set)
    except Exception:  # an unknown joint set: nothing to check against
        return res
    bones = [(a, c) for a, c in bones if a < J and c < J]
    if not bones or T < min_samples:
        return res
    b = np.asarray(bones)
    # robust per-person lengths: median over confident frames (all frames where too few are confident)
    L = estimate_bone_lengths(res.X, bones, res.confidence, min_conf=0.5)
    L_all = estimate_bone_lengths(res.X, bones)
    seen = np.isfinite(res.X[:, :, b[:, 0], 0]) & np.isfinite(res.X[:, :, b[:, 1], 0])  # (T, P, B)
    c = np.nan_to_num(res.confidence, nan=0.0)
    n_conf = np.count_nonzero(seen & (c[:, :, b[:, 0]] >= 0.5) & (c[:, :, b[:, 1]] >= 0.5), axis=0)
    L = np.where(n_conf >= min_samples, L, L_all)
    L[np.count_nonzero(seen, axis=0) < min_samples] = np.nan
    if not np.isfinite(L).any():
        return res
    other, bone_of = _bone_neighbours(bones, J)
    thr = float(opts.get("reproj_threshold_px", 15.0))
    min_conf = float(opts.get("min_conf", 0.1))
    geo = _rig_geometry(rig)
    subsets = _view_subsets(geo.C)
    size = subsets.sum(1)
    thr2 = (thr / geo.f[:, None, None]) ** 2  # (C, 1, 1)
    tri_opts = {k: v for k, v in opts.items() if k not in ("prior", "prior_radius_m")}
    n_redone = n_dropped = 0
    checked = np.zeros(res.X.shape[:3], dtype=bool)  # each point is re-selected at most once
    for _ in range(4):  # rounds: a fixed joint can expose its distal neighbour (ankle, then heel)
        flag = inconsistent_joints(res.X, L, bones, rel_tol, abs_tol_m) & (res.reason == REASON_OK) & ~checked
        if not flag.any():
            break
        checked |= flag
        trusted = _finite(res.X) & ~flag & (res.reason == REASON_OK)
        t, p, j = np.nonzero(flag)
        # reference: the trusted neighbours across the joint's inconsistent bones (M, D, 3), expected lengths (M, D)
        o, k = other[j], bone_of[j]
        has = (o >= 0) & trusted[t[:, None], p[:, None], np.maximum(o, 0)]
        Lk = np.where(has, L[p[:, None], np.maximum(k, 0)], np.nan)
        Xn = np.where(has[..., None], res.X[t[:, None], p[:, None], np.maximum(o, 0)], np.nan)
        cur = np.abs(np.linalg.norm(res.X[t, p, j][:, None] - Xn, axis=-1) - Lk) / np.maximum(rel_tol * Lk, abs_tol_m)
        has &= cur > 1.0
        Lk[~has] = np.nan
        Xn[~has] = np.nan
        live = has.any(1)  # without a trusted reference there is nothing to check against: left as is
        if not live.any():
            continue
        t, p, j, Xn, Lk = t[live], p[live], j[live], Xn[live], Lk[live]
        M = t.size
        sel = (t, p, j)
        uvs = uv[:, t, p, j]  # (C, M, 2)
        cfs = conf[:, t, p, j]
        xy = _undistort(rig, uvs)
        x, y = xy[..., 0], xy[..., 1]
        cand = np.isfinite(x) & np.isfinite(y) & np.isfinite(cfs) & (cfs >= min_conf) & (cfs > 0)
        x, y = np.where(cand, x, 0.0), np.where(cand, y, 0.0)
        w = np.where(cand, cfs, 0.0)
        G = np.matmul(geo.basis_t, _coef(x, y) * (w * w)[:, None, :])  # (C, 9, M)
        valid = ~np.any(subsets[:, :, None] & ~cand[None], axis=1)  # (K, M): every view of the subset detected
        Xs = _solve_sym3(np.einsum("kc,cim->ikm", subsets.astype(float), G))  # (3, K, M)
        K = subsets.shape[0]
        px, py, z = geo.project(Xs.reshape(3, K * M))
        e2 = (px.reshape(-1, K, M) - x[:, None]) ** 2 + (py.reshape(-1, K, M) - y[:, None]) ** 2
        ok_view = (e2 <= thr2) & (z.reshape(-1, K, M) > 1e-9)
        in_sub = subsets.T[:, :, None]  # (C, K, 1)
        passes = valid & ~np.any(in_sub & ~ok_view, axis=0) & np.isfinite(Xs[0])
        mean_e = (geo.f[:, None, None] * np.sqrt(np.where(in_sub & ok_view, e2, 0.0))).sum(0) / size[:, None]
        # bone consistency with the trusted neighbours: (K, M, D) deviations in tolerance units
        lengths = np.linalg.norm(Xs.transpose(1, 2, 0)[:, :, None, :] - Xn[None], axis=-1)
        dev = np.abs(lengths - Lk[None]) / np.maximum(rel_tol * Lk[None], abs_tol_m)
        fin = np.isfinite(dev)
        dev_max = np.where(fin, dev, -np.inf).max(axis=2)
        dev_mean = np.where(fin, dev, 0.0).sum(axis=2) / np.maximum(fin.sum(axis=2), 1)
        feasible = passes & (dev_max <= 1.0)
        cost = mean_e / thr + dev_mean - 0.25 * (size[:, None] - 2)
        cost[~feasible] = np.inf
        best = np.argmin(cost, axis=0)
        ar = np.arange(M)
        found = np.isfinite(cost[best, ar])
        # final points: the chosen subset plus every other view that agrees with its point, refined as usual
        Xb = Xs[:, best, ar]
        e2b, zb = geo.sq_errors(Xb, x, y)
        ext = subsets[best].T | (cand & (e2b <= thr2[:, :, 0]) & (zb > 1e-9))
        done = ~found

        tol = np.maximum(rel_tol * Lk, abs_tol_m)
        for views in (ext, subsets[best].T):
            todo = ~done
            if not todo.any():
                break
            sub = triangulate(rig, uvs, np.where(views, cfs, 0.0), **tri_opts)
            d = np.abs(np.linalg.norm(sub.X[:, None] - Xn, axis=-1) - Lk) / tol
            good = todo & (sub.reason == REASON_OK) & ~np.any(d > 1.0, axis=1) & np.isfinite(sub.X[:, 0])
            if good.any():
                _assign(res, sel, sub, good)
                done |= good
        n_redone += int((done & found).sum())
        gone = ~done | ~found
        if gone.any():
            _drop(res, tuple(i[gone] for i in sel), REASON_BONE)
            n_dropped += int(gone.sum())
    res.meta["bone_lengths_m"] = L
    res.meta["bone_rechecked"] = n_redone
    res.meta["bone_dropped"] = n_dropped
    return res


# --------------------------------------------------------------------------- containers
def match_cameras(rig, kp2d, calib_source: str = "the calibration", keypoints_source: str = "the keypoints",
                  stacklevel: int = 2):
    """The cameras of ``rig`` in the order of ``kp2d.camera_names`` (matched by name; by order, with a warning,
    when no name matches but the counts agree).

    Raises:
        KeypointsError: fewer than 2 cameras, or cameras that are not in the calibration.
    """
    import warnings

    from mocap.errors import MocapWarning

    names = list(kp2d.camera_names)
    if kp2d.n_cameras < 2:
        raise KeypointsError(
            f"{keypoints_source} has {kp2d.n_cameras} camera ({', '.join(names)}); triangulation needs at least 2",
            hint="pass the 2D keypoints of two or more calibrated cameras")
    missing = [n for n in names if n not in rig.names]
    if not missing:
        return rig.subset(names)
    if len(missing) == len(names) and len(names) == len(rig):
        warnings.warn(
            f"camera names of {keypoints_source} ({', '.join(names)}) do not match {calib_source} "
            f"({', '.join(rig.names)}); matching them by order", MocapWarning, stacklevel=stacklevel + 1)
        return rig
    raise KeypointsError(
        f"{keypoints_source} has {len(names)} cameras ({', '.join(names)}) but {calib_source} has {len(rig)} "
        f"({', '.join(rig.names)}); cameras {missing} are not in the calibration",
        hint="rename the keypoint folders/cameras to the calibration's camera names, or pass the calibration "
             "of the same rig")


def triangulate_keypoints(rig, kp2d, *, calib_source: str = "the calibration", keypoints_source: str = "the keypoints",
                          temporal_check: bool = True, temporal_outlier_m: float | None = 0.15,
                          bone_check: bool = True, bone_tolerance: float = 0.25, bone_tolerance_m: float = 0.05,
                          **opts) -> Keypoints3D:
    """Triangulate :class:`~mocap.keypoints.Keypoints2D` (people already associated across cameras).

    Cameras are matched by name (the keypoints' cameras are looked up in the rig, any order). If no name
    matches but the counts agree, cameras are matched by order with a warning.

    Args:
        rig: the calibrated :class:`~mocap.cameras.CameraRig`.
        kp2d: ``data (T, C, P, J, 3)``; person ``p`` must be the same person in every camera.
        calib_source, keypoints_source: names used in error messages (e.g. the file paths).
        temporal_check: re-triangulate points that jump away from the running median of their neighbours
            (+-0.05 s), preferring view subsets that agree with it (see ``prior`` in :func:`triangulate`). This
            resolves single-frame ambiguities such as two cameras confusing the same wrong joint.
        temporal_outlier_m: with ``temporal_check``, drop isolated jumps (reason :data:`REASON_TEMPORAL`):
            points that neither the preceding nor the following frames predict within this tolerance (metres)
            plus the distance the joint itself moves (:func:`temporal_outliers`): typically a joint seen by two
            cameras, one of them wrong, which no single frame can detect. Genuine fast motion agrees with at least
            one side and is kept. ``None`` keeps them all.
        bone_check: after those passes, estimate each person's rigid bone lengths (upper arm, forearm, thigh,
            shank, face and foot links: :func:`~mocap.reconstruct.bones.rigid_bones`; median over confident
            frames) and re-check joints that most of their bones disagree with (deviation above
            ``max(bone_tolerance * length, bone_tolerance_m)``): every pair and triple of their detected views is
            triangulated, subsets that pass the reprojection threshold and keep the bones to the trusted
            neighbouring joints within tolerance are scored by reprojection error and bone deviation, and the
            best one (plus the views that agree with it) is kept; with none, the joint is dropped (reason
            :data:`REASON_BONE`). This catches runs of frames where two cameras agree on a wrong point (e.g.
            both took the other ankle), which neither a single frame nor the temporal check can see.
        bone_tolerance, bone_tolerance_m: relative and absolute (metres) bone-length tolerance of ``bone_check``.
        **opts: options of :func:`triangulate` (``min_views``, ``min_conf``, ``reproj_threshold_px``, ``refine``);
            offline, ``refine`` defaults to True here (Gauss-Newton on the pixel error: ~5 % lower error).

    Returns:
        :class:`~mocap.keypoints.Keypoints3D` ``(T, P, J, 4)`` with quality fields ``"reproj_error_px"``,
        ``"n_views"`` and ``"reason"`` (see :data:`REASONS`), and in ``meta``: ``"view_error_px"`` and ``"used"``
        ``(C, T, P, J)`` (arrays: pop them before saving the metadata as JSON), ``"camera_names"``,
        ``"empty_frames"`` (indices of frames with no detection at all).

    Raises:
        KeypointsError: fewer than 2 cameras, or cameras that do not match the calibration.
    """
    from mocap.keypoints import Keypoints3D

    sub = match_cameras(rig, kp2d, calib_source, keypoints_source, stacklevel=3)
    data = kp2d.data
    uv = np.moveaxis(data[..., :2], 1, 0)  # (C, T, P, J, 2)
    cf = np.moveaxis(data[..., 2], 1, 0)
    opts = {"refine": True, "reproj_threshold_px": "auto", "soft_factor": 3.0, "fallback_factor": 2.0, **opts}
    res = triangulate(sub, uv, cf, **opts)
    opts.update(res.meta.get("resolved", {}))  # the passes below use the threshold (and soft limit) resolved here
    if temporal_check and kp2d.n_frames >= 3:
        res = _temporal_recheck(sub, uv, cf, res, kp2d.fps, opts, temporal_outlier_m)
    if bone_check:
        with np.errstate(invalid="ignore", divide="ignore"):
            res = _bone_recheck(sub, uv, cf, res, kp2d.joint_set, opts, bone_tolerance, bone_tolerance_m)
    conf = np.where(np.isfinite(res.confidence), np.clip(res.confidence, 0.0, 1.0), np.nan)
    out = np.concatenate([res.X, conf[..., None]], axis=-1)
    empty = ~np.isfinite(data[..., :2]).any(axis=(1, 2, 3, 4))
    meta = dict(kp2d.meta)
    meta.update({"view_error_px": res.view_error_px, "used": res.used, "camera_names": list(sub.names),
                 "empty_frames": np.flatnonzero(empty), "triangulation": res.meta})
    return Keypoints3D(out, kp2d.joint_set, timestamps=kp2d.timestamps.copy(), fps=kp2d.fps,
                       quality={"reproj_error_px": res.reproj_error_px, "n_views": res.n_views,
                                "reason": res.reason.astype(np.int16)},
                       meta=meta)


__all__ = ["triangulate_keypoints", "match_cameras", "running_median", "temporal_outliers"]
