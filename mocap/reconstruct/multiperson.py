"""Multi-person reconstruction of a whole sequence (offline): associate, track, triangulate per track.

In 2D keypoints from independent cameras (OpenPose JSON, per-camera detectors) the person order is arbitrary in
every camera and every frame, so the person axis of :class:`~mocap.keypoints.Keypoints2D` cannot be triangulated
slot by slot. :func:`reconstruct_multiperson`:

1. runs :class:`~mocap.reconstruct.online_multiperson.OnlineMultiPerson` over the frames (the live path's
   association and tracking: views and tracks' predictions clustered together, stable ids), collecting every
   track's per-camera 2D observations;
2. stacks them into an *associated* ``(T, C, P_tracks, J, 3)`` array and triangulates it with
   :func:`mocap.reconstruct.sequence.triangulate_keypoints` (robust view selection, refinement, temporal and
   bone-length re-checks over the whole clip), so the quality fields mean exactly what they mean for
   single-person input;
3. fills joint gaps inside each track and, optionally, low-pass filters each track.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from mocap.errors import KeypointsError
from mocap.reconstruct.association import cluster_people, gather_clusters, pairwise_affinity, reconstruct_frame
from mocap.reconstruct.online_multiperson import PREDICTED, OnlineMultiPerson, _lr_pairs

if TYPE_CHECKING:
    from mocap.keypoints import Keypoints2D, Keypoints3D

#: Options used only by the per-frame association / reconstruction (the rest go to the final triangulation).
ASSOCIATION_OPTS = ("max_ray_dist_m", "min_common_joints", "min_affinity", "min_linkage", "max_track_dist_m")
FRAME_OPTS = ("min_joints", "duplicate_dist_m")
#: Options shared by both stages.
SHARED_OPTS = ("min_views", "min_conf", "reproj_threshold_px")


def _match_rig(rig, names: list[str], calib_source: str, keypoints_source: str):
    """The sub-rig of the keypoints' cameras (by name; by order when no name matches and the counts agree)."""
    from mocap.errors import MocapWarning

    if len(names) < 2:
        raise KeypointsError(
            f"{keypoints_source} has {len(names)} camera ({', '.join(names)}); triangulation needs at least 2",
            hint="pass the 2D keypoints of two or more calibrated cameras")
    missing = [n for n in names if n not in rig.names]
    if not missing:
        return rig.subset(names)
    if len(missing) == len(names) and len(names) == len(rig):
        warnings.warn(f"camera names of {keypoints_source} ({', '.join(names)}) do not match {calib_source} "
                      f"({', '.join(rig.names)}); matching them by order", MocapWarning, stacklevel=3)
        return rig
    raise KeypointsError(
        f"{keypoints_source} has {len(names)} cameras ({', '.join(names)}) but {calib_source} has {len(rig)} "
        f"({', '.join(rig.names)}); cameras {missing} are not in the calibration",
        hint="rename the keypoint folders/cameras to the calibration's camera names, or pass the calibration "
             "of the same rig")


def people_per_camera(kp2d: Keypoints2D) -> np.ndarray:
    """``(T, C)`` number of person slots with at least one finite joint, per frame and camera."""
    return np.isfinite(kp2d.data[..., :2]).all(-1).any(-1).sum(-1)


def needs_association(kp2d: Keypoints2D) -> bool:
    """True when the person axis of ``kp2d`` cannot be triangulated slot by slot.

    That is when any camera holds more than one person in some frame, or when in some frame the cameras put their
    (single) people in different slots (so slot ``p`` is not the same person everywhere).
    """
    present = np.isfinite(kp2d.data[..., :2]).all(-1).any(-1)  # (T, C, P)
    if (present.sum(-1) > 1).any():
        return True
    slots = np.where(present.any(-1), present.argmax(-1), -1)  # (T, C): the slot used, -1 for none
    for row in slots:
        used = row[row >= 0]
        if used.size and (used != used[0]).any():
            return True
    return False


def reconstruct_multiperson(rig, kp2d: Keypoints2D, *, max_people: int | None = None, track: bool = True,
                            fill_gaps_frames: int = 5, hold_frames: int | None = None,
                            smooth_hz: float | None = None, fix_swaps: bool = False,
                            lr_pairs: list[tuple[int, int]] | None = None, tracker_opts: dict | None = None,
                            calib_source: str = "the calibration", keypoints_source: str = "the keypoints",
                            **triangulate_opts) -> Keypoints3D:
    """Reconstruct several people seen by unsynchronised-order detectors in several calibrated cameras (offline).

    With ``track`` (the default), the frames are first run through :class:`OnlineMultiPerson` (the same
    association and tracking as the live path: views and track predictions clustered together, each track's
    2D observations collected, including the frames before a track was confirmed); tracks never confirmed or
    measured in fewer than ``tracker_opts["min_frames"]`` frames (default 3) are dropped; each remaining
    track's observations form an *associated* ``(T, C, N, J, 3)`` array that is triangulated over the whole
    clip by :func:`mocap.reconstruct.sequence.triangulate_keypoints` (robust view selection, Gauss-Newton
    refinement, temporal and bone-length re-checks that look at past AND future frames); finally joint gaps of
    up to ``fill_gaps_frames`` inside a track are interpolated and, with ``smooth_hz``, each track is low-pass
    filtered. Without ``track``, each
    frame is associated on its own and the person axis is not stable over time.

    Args:
        rig: calibrated :class:`~mocap.cameras.CameraRig` (a superset of ``kp2d``'s cameras, matched by name).
        kp2d: ``(T, C, P, J, 3)`` 2D keypoints, ``(u, v, confidence)`` raw pixels, NaN where missing. The person
            axis may be in any order, independently per camera and per frame.
        max_people: keep at most this many tracks (the ones present in the most frames); None keeps all.
        track: link people over time into stable ids. False keeps each frame's people in association order
            (person index not stable over time; ids ``0..P-1``; the temporal re-check is then off by default).
        fill_gaps_frames: joint gaps of at most this many frames inside a track are filled, the joint moving with
            the rest of the body (its offset from the body's path interpolated; confidence 0, quality ``"filled"``
            1); 0 = off. Only with ``track``.
        hold_frames: before a joint's first and after its last measurement in a track, while the body is still
            measured, the joint is held where it moves with the body for up to this many frames (as filled
            points, as the online pass outputs a joint it lost); None = the online pass's horizon
            (``tracker_opts["hold_s"]``, default 0.5 s, in frames) but at most ``fill_gaps_frames`` (so
            ``fill_gaps_frames=0`` adds no point at all); 0 = off. Only with ``track``.
        smooth_hz: low-pass every track with a zero-phase Butterworth filter of this cut-off (after gap
            filling; gaps that remain stay NaN); None = off. Only with ``track``.
        fix_swaps: correct per-view left/right swaps against the other views before triangulating
            (pairs from the joint set, or ``lr_pairs``).
        lr_pairs: ``(left, right)`` joint index pairs for ``fix_swaps``.
        tracker_opts: tracking options of :class:`OnlineMultiPerson` (``gate_m``, ``min_hits``, ``max_misses``,
            ``confirm_views``, ``velocity_smoothing``, ``max_speed_mps``, ...) and ``min_frames`` (default 3):
            frames a track must be measured in to be kept.
        calib_source, keypoints_source: names used in error messages.
        **triangulate_opts: ``min_views``, ``min_conf``, ``reproj_threshold_px`` (both stages);
            ``max_ray_dist_m``, ``min_common_joints``, ``min_affinity``, ``min_linkage`` (association);
            ``min_joints``, ``duplicate_dist_m`` (per-frame selection); anything else (``refine``,
            ``temporal_check``, ``bone_check``, ...) goes to :func:`~mocap.reconstruct.sequence.triangulate_keypoints`.

    Returns:
        :class:`~mocap.keypoints.Keypoints3D` ``(T, P_tracks, J, 4)`` with ``person_ids`` ``0..N-1`` (tracks in
        order of appearance), quality fields ``"reproj_error_px"``, ``"n_views"``, ``"reason"`` (as
        :func:`~mocap.reconstruct.sequence.triangulate_keypoints`) and ``"filled"``; ``meta`` as
        ``triangulate_keypoints`` (``view_error_px``, ``used``, ``camera_names``, ``empty_frames``) plus
        ``"association"``: per-frame counts ``people_2d`` ``(T, C)``, ``clusters`` ``(T,)`` (groups of at least
        ``min_views`` cameras), ``single_view_dropped`` ``(T,)`` (2D people no other camera or track agreed
        with), ``rejected`` ``(T,)`` (groups dropped as fragments or duplicates), ``people_3d`` ``(T,)`` (people
        measured), ``tracked`` ``(T,)`` (people in the output), and totals ``tracks_dropped`` (too short, or cut
        by ``max_people``).

    Raises:
        KeypointsError: fewer than 2 cameras, cameras not in the calibration, bad options.
    """
    from mocap.keypoints import Keypoints2D
    from mocap.reconstruct.sequence import triangulate_keypoints

    if not isinstance(kp2d, Keypoints2D):
        raise KeypointsError(f"{keypoints_source} must be Keypoints2D (T, C, P, J, 3), got {type(kp2d).__name__}")
    if max_people is not None and max_people < 1:
        raise KeypointsError(f"max_people={max_people}; expected a positive count or None")
    if fill_gaps_frames < 0:
        raise KeypointsError(f"fill_gaps_frames={fill_gaps_frames}; expected >= 0")
    if hold_frames is None:
        hold_s = float((tracker_opts or {}).get("hold_s", OnlineMultiPerson.DEFAULT_HOLD_S))
        hold_frames = min(int(round(hold_s * kp2d.fps)), fill_gaps_frames)
    if hold_frames < 0:
        raise KeypointsError(f"hold_frames={hold_frames}; expected >= 0")
    names = list(kp2d.camera_names)
    sub = _match_rig(rig, names, calib_source, keypoints_source)
    opts = dict(triangulate_opts)
    shared = {k: opts[k] for k in SHARED_OPTS if k in opts}
    assoc = {k: opts.pop(k) for k in ASSOCIATION_OPTS if k in opts}
    frame = {k: opts.pop(k) for k in FRAME_OPTS if k in opts}
    if fix_swaps and lr_pairs is None:
        lr_pairs = _lr_pairs(kp2d.joint_set)
    data = np.asarray(kp2d.data, dtype=float)
    ts = np.asarray(kp2d.timestamps, dtype=float)
    if track:
        assoc2d, counts, n_dropped = _associate_tracks(sub, kp2d.joint_set, data, ts, shared, assoc, frame,
                                                       dict(tracker_opts or {}), fix_swaps, lr_pairs)
    else:
        assoc2d, counts = _associate_frames(sub, data, shared, assoc, frame, lr_pairs if fix_swaps else None)
        n_dropped = 0
        opts.setdefault("temporal_check", False)  # slot p is not the same person in the next frame
    if max_people is not None and assoc2d.shape[2] > max_people:
        seen = np.isfinite(assoc2d[..., :2]).all(-1).any(axis=(1, 3)).sum(0)  # frames per track
        keep = np.sort(np.argsort(-seen, kind="stable")[:max_people])
        n_dropped += assoc2d.shape[2] - keep.size
        assoc2d = assoc2d[:, :, keep]
    ids = np.arange(assoc2d.shape[2])

    meta = dict(kp2d.meta)
    meta.pop("person_ids", None)  # per-camera detector ids do not survive association
    kp_assoc = Keypoints2D(assoc2d, kp2d.joint_set, names, ts.copy(), kp2d.fps, meta)
    if assoc2d.shape[2] == 0:  # nobody reconstructed: an empty result, not an error
        kp3d = _empty_result(kp_assoc, sub)
    else:
        kp3d = triangulate_keypoints(sub, kp_assoc, calib_source=calib_source, keypoints_source=keypoints_source,
                                     **opts)
    kp3d.person_ids = ids
    filled = np.zeros(kp3d.data.shape[:3], dtype=np.int8)
    if track and (fill_gaps_frames > 0 or hold_frames > 0) and kp3d.n_people:
        kp3d.data, filled = _fill_track_gaps(kp3d.data, fill_gaps_frames, hold_frames)
    if track and smooth_hz and kp3d.n_people:
        from mocap.reconstruct.filters import butterworth_filter

        kp3d.data[..., :3] = butterworth_filter(kp3d.data[..., :3], kp3d.fps, cutoff_hz=smooth_hz)
        kp3d.meta["filter"] = f"butterworth {smooth_hz:g} Hz zero-phase per track"

    kp3d.quality["filled"] = filled
    counts["tracked"] = np.isfinite(kp3d.data[..., 0]).any(-1).sum(-1).astype(int)
    kp3d.meta["association"] = {**counts, "tracks_dropped": int(n_dropped), "tracked_over_time": bool(track)}
    return kp3d


def _associate_tracks(rig, joint_set: str, data: np.ndarray, ts: np.ndarray, shared: dict, assoc: dict,
                      frame: dict, tracker_opts: dict, fix_swaps: bool, lr_pairs) -> tuple[np.ndarray, dict, int]:
    """Run :class:`OnlineMultiPerson` over the frames; the 2D of every kept track ``(T, C, N, J, 3)``, the
    per-frame counts and the number of tracks dropped (never confirmed, or measured in too few frames).

    A track's frames before its confirmation are kept (the online object reports them as tentative)."""
    T, C, _, J, _ = data.shape
    min_frames = int(tracker_opts.pop("min_frames", 3))
    mp = OnlineMultiPerson(rig, joint_set, fix_swaps=fix_swaps, lr_pairs=lr_pairs,
                           **{k: v for k, v in shared.items() if k != "refine"}, **assoc, **frame, **tracker_opts)
    counts = {"people_2d": np.isfinite(data[..., :2]).all(-1).any(-1).sum(-1).astype(int),
              **{k: np.zeros(T, int) for k in ("clusters", "single_view_dropped", "rejected", "people_3d")}}
    rows: list[dict[int, np.ndarray]] = []
    confirmed: set[int] = set()
    for t in range(T):
        out = mp.step(data[t], float(ts[t]))
        row = {int(k): out.observations[r] for r, k in enumerate(out.keys) if out.states[r] != PREDICTED}
        row.update(out.tentative)
        confirmed.update(int(k) for k in out.keys)
        rows.append(row)
        counts["clusters"][t] = out.counts["clusters"]
        counts["single_view_dropped"][t] = out.counts["single_view"]
        counts["rejected"][t] = out.counts["rejected"]
        counts["people_3d"][t] = sum(1 for k in row if k in confirmed)
    n_frames: dict[int, int] = {}
    first: dict[int, int] = {}
    for t, row in enumerate(rows):
        for k in row:
            n_frames[k] = n_frames.get(k, 0) + 1
            first.setdefault(k, t)
    keep = sorted((k for k in confirmed if n_frames.get(k, 0) >= min_frames), key=lambda k: (first[k], k))
    out2d = np.full((T, C, len(keep), J, 3), np.nan)
    for n, k in enumerate(keep):
        for t, row in enumerate(rows):
            if k in row:
                out2d[t, :, n] = row[k]
    return out2d, counts, len(n_frames) - len(keep)


def _associate_frames(rig, data: np.ndarray, shared: dict, assoc: dict, frame: dict,
                      pairs) -> tuple[np.ndarray, dict]:
    """Associate every frame on its own (no tracking): ``(T, C, P_max, J, 3)`` in association order + counts."""
    T, C, _, J, _ = data.shape
    present = np.isfinite(data[..., :2]).all(-1).any(-1)  # (T, C, P)
    min_views = int(shared.get("min_views", 2))
    min_conf = float(shared.get("min_conf", 0.1))
    tri = {k: v for k, v in shared.items() if k != "refine"}
    counts = {"people_2d": present.sum(-1).astype(int),
              **{k: np.zeros(T, int) for k in ("clusters", "single_view_dropped", "rejected", "people_3d")}}
    frames_obs = []
    for t in range(T):
        people2d = [data[t, c][present[t, c]] for c in range(C)]
        aff = pairwise_affinity(rig, people2d, min_conf=min_conf,
                                **{k: assoc[k] for k in ("max_ray_dist_m", "min_common_joints") if k in assoc})
        clusters = cluster_people(aff, [len(p) for p in people2d],
                                  **{k: assoc[k] for k in ("min_affinity", "min_linkage") if k in assoc})
        multi = [cl for cl in clusters if cl.n_views >= min_views]
        counts["clusters"][t] = len(multi)
        counts["single_view_dropped"][t] = sum(cl.n_views for cl in clusters if cl.n_views < min_views)
        rec = reconstruct_frame(rig, people2d, clusters=multi, lr_pairs=pairs, **tri, **frame)
        counts["rejected"][t] = len(multi) - len(rec.clusters)
        counts["people_3d"][t] = len(rec.clusters)
        obs = np.moveaxis(gather_clusters(people2d, rec.clusters, C, J), 0, 1)  # (P_t, C, J, 3)
        if pairs and rec.swapped.size:
            from mocap.reconstruct.swaps import apply_swaps

            uv, cf = apply_swaps(obs[..., :2], obs[..., 2], rec.swapped, pairs)
            obs = np.concatenate([uv, cf[..., None]], axis=-1)
        frames_obs.append(obs)
    P = max((len(o) for o in frames_obs), default=0)
    out = np.full((T, C, P, J, 3), np.nan)
    for t, obs in enumerate(frames_obs):
        out[t, :, :len(obs)] = np.moveaxis(obs, 0, 1)
    return out, counts


def body_path(xyz: np.ndarray) -> np.ndarray:
    """The translation of a person's body over time: ``(T, 3)`` from ``xyz (T, J, 3)``.

    The per-frame step is the median displacement of the joints present in both frames (robust to a few
    wrong joints and independent of which joints are present), accumulated from the first frame; NaN where a
    frame shares no joint with the previous one (the path restarts at the next frame with joints).
    """
    T = xyz.shape[0]
    path = np.full((T, 3), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for t in range(T):
            if not np.isfinite(xyz[t]).all(-1).any():
                continue
            step = np.nanmedian(xyz[t] - xyz[t - 1], axis=0) if t else np.full(3, np.nan)
            if t and np.isfinite(path[t - 1]).all() and np.isfinite(step).all():
                path[t] = path[t - 1] + step
            else:
                path[t] = np.nanmean(xyz[t], axis=0)
    return path


def _fill_track_gaps(data: np.ndarray, max_gap: int, max_hold: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fill interior NaN runs of at most ``max_gap`` frames per (track, joint) so that the joint moves with the
    body: its offset from :func:`body_path` is interpolated linearly across the gap (plain linear interpolation
    where the body path breaks inside the gap). Before a joint's first and after its last measurement, while the
    body itself is measured, the joint is held at its offset from the body path for up to ``max_hold`` frames
    (what the online pass outputs for a joint it lost: ``OnlineMultiPerson(hold_s=)``). Filled points get
    confidence 0.

    Returns the new ``(T, P, J, 4)`` data and the ``(T, P, J)`` int8 mask of filled points.
    """
    out = data.copy()
    T, P, J, _ = data.shape
    filled = np.zeros((T, P, J), dtype=bool)
    for p in range(P):
        xyz = data[:, p, :, :3]
        ok = np.isfinite(xyz).all(-1)  # (T, J)
        if ok.sum() < 2:
            continue
        path = body_path(xyz)
        for j in range(J):
            idx = np.flatnonzero(ok[:, j])
            for a, b in zip(idx[:-1], idx[1:], strict=True):
                if not 1 < b - a <= max_gap + 1:
                    continue
                w = ((np.arange(a + 1, b) - a) / (b - a))[:, None]
                seg = path[a:b + 1]
                if np.isfinite(seg).all():
                    off = (1 - w) * (xyz[a, j] - path[a]) + w * (xyz[b, j] - path[b])
                    out[a + 1:b, p, j, :3] = path[a + 1:b] + off
                else:
                    out[a + 1:b, p, j, :3] = (1 - w) * xyz[a, j] + w * xyz[b, j]
                out[a + 1:b, p, j, 3] = 0.0
                filled[a + 1:b, p, j] = True
            if max_hold <= 0 or not idx.size:
                continue
            for end, step in ((idx[0], -1), (idx[-1], 1)):  # hold before the first / after the last measurement
                off = xyz[end, j] - path[end]
                t = end + step
                while 0 <= t < T and abs(t - end) <= max_hold and np.isfinite(path[t]).all():
                    out[t, p, j, :3] = path[t] + off
                    out[t, p, j, 3] = 0.0
                    filled[t, p, j] = True
                    t += step
    return out, filled.astype(np.int8)


def _empty_result(kp_assoc: Keypoints2D, rig) -> Keypoints3D:
    """A ``(T, 0, J, 4)`` result with the fields of :func:`triangulate_keypoints` (nobody was reconstructed)."""
    from mocap.keypoints import Keypoints3D

    T, C, _, J, _ = kp_assoc.data.shape
    z = np.zeros((T, 0, J))
    meta = dict(kp_assoc.meta)
    meta.update({"view_error_px": np.full((C, T, 0, J), np.nan), "used": np.zeros((C, T, 0, J), bool),
                 "camera_names": list(rig.names), "empty_frames": np.arange(T), "triangulation": {}})
    return Keypoints3D(np.zeros((T, 0, J, 4)), kp_assoc.joint_set, kp_assoc.timestamps.copy(), kp_assoc.fps,
                       np.zeros(0, int), {"reproj_error_px": z.copy(), "n_views": z.astype(int),
                                          "reason": z.astype(np.int16)}, meta)


__all__ = ["reconstruct_multiperson", "needs_association", "people_per_camera", "body_path", "OnlineMultiPerson"]


def assign_2d_to_people(rig, kp2d: Keypoints2D, kp3d, *, max_median_px: float = 40.0,
                        min_common_joints: int = 4) -> Keypoints2D:
    """Re-order each camera's 2D people into the slots of the reconstructed 3D people.

    For every frame and camera, each 3D person is projected and matched one-to-one (Hungarian) to the camera's 2D
    detections by the median pixel distance over the joints both have; a match further than ``max_median_px``
    (or sharing fewer than ``min_common_joints`` joints) is left out. The result's person ``p`` is the 3D person
    ``p`` in every camera: what people-based calibration refinement (:mod:`mocap.calibration.refine`) needs.

    Args:
        rig: the calibration, cameras in the order of ``kp2d``.
        kp2d: 2D detections ``(T, C, P2, J, 3)``, per-camera person order arbitrary.
        kp3d: 3D people ``(T, P, J, 4)`` (:class:`~mocap.keypoints.Keypoints3D`) of the same frames and joint set.
        max_median_px: gate on the median reprojection distance of a match, pixels.
        min_common_joints: joints a match must share.

    Returns:
        :class:`~mocap.keypoints.Keypoints2D` ``(T, C, P, J, 3)``; NaN where a person has no match in a camera.
    """
    from scipy.optimize import linear_sum_assignment

    from mocap.keypoints import Keypoints2D

    d2 = np.asarray(kp2d.data, float)
    X = np.asarray(kp3d.data, float)[..., :3]
    T, C, _, J, _ = d2.shape
    if X.shape[0] != T or X.shape[2] != J:
        raise KeypointsError(f"2D keypoints ({T} frames, {J} joints) and 3D people ({X.shape[0]} frames, "
                             f"{X.shape[2]} joints) do not describe the same frames and joint set")
    P = X.shape[1]
    out = np.full((T, C, P, J, 3), np.nan)
    proj = rig.project(X)  # (C, T, P, J, 2)
    for t in range(T):
        for c in range(C):
            det = d2[t, c]  # (P2, J, 3)
            ok_det = np.isfinite(det[..., :2]).all(-1)
            if not ok_det.any():
                continue
            uv = proj[c, t]  # (P, J, 2)
            dist = np.linalg.norm(uv[:, None] - det[None, ..., :2], axis=-1)  # (P, P2, J)
            both = np.isfinite(dist)
            n_common = both.sum(-1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                cost = np.nanmedian(np.where(both, dist, np.nan), axis=-1)
            bad = (n_common < min_common_joints) | ~np.isfinite(cost) | (cost > max_median_px)
            if bad.all():
                continue
            cost = np.where(bad, 1e9, cost)
            rows, cols = linear_sum_assignment(cost)
            for p, d in zip(rows, cols):
                if not bad[p, d]:
                    out[t, c, p] = det[d]
    meta = {k: v for k, v in kp2d.meta.items() if k not in ("person_ids", "track_ids_2d")}
    meta["assigned_to_3d"] = True
    return Keypoints2D(out, kp2d.joint_set, list(kp2d.camera_names), np.asarray(kp2d.timestamps).copy(), kp2d.fps,
                       meta)
