"""Multi-person reconstruction of a whole sequence: associate across views, track over time, triangulate per track.

In 2D keypoints from independent cameras (OpenPose JSON, per-camera detectors) the person order is arbitrary in
every camera and every frame, so the person axis of :class:`~mocap.keypoints.Keypoints2D` cannot be triangulated
slot by slot. :func:`reconstruct_multiperson` does, per frame:

1. split each camera's people (the ``P`` axis, all-NaN slots dropped);
2. associate them across views (:func:`mocap.reconstruct.association.pairwise_affinity` +
   :func:`~mocap.reconstruct.association.cluster_people`); people seen by fewer than ``min_views`` cameras are
   dropped and counted;
3. triangulate the clusters (:func:`mocap.reconstruct.association.reconstruct_frame`, optional left/right swap
   correction), dropping fragments and duplicates;

then links the frames' people into stable tracks with :class:`mocap.reconstruct.tracking.PeopleTracker` (the
tracker behind :func:`~mocap.reconstruct.tracking.track_sequence`; used directly here because the 2D observations
of every person must follow it), stacks each track's per-camera 2D observations into an *associated*
``(T, C, P_tracks, J, 3)`` array, and triangulates that with
:func:`mocap.reconstruct.sequence.triangulate_keypoints` (robust view selection, refinement, temporal
re-check), so the quality fields mean exactly what they mean for single-person input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mocap.errors import KeypointsError
from mocap.reconstruct.association import cluster_people, gather_clusters, pairwise_affinity, reconstruct_frame
from mocap.reconstruct.tracking import PeopleTracker

if TYPE_CHECKING:
    from mocap.keypoints import Keypoints2D, Keypoints3D

#: Options used only by the per-frame association / reconstruction (the rest go to the final triangulation).
ASSOCIATION_OPTS = ("max_ray_dist_m", "min_common_joints", "min_affinity", "min_linkage")
FRAME_OPTS = ("min_joints", "duplicate_dist_m")
#: Options shared by both stages.
SHARED_OPTS = ("min_views", "min_conf", "reproj_threshold_px")


def _match_rig(rig, names: list[str], calib_source: str, keypoints_source: str):
    """The sub-rig of the keypoints' cameras (by name; by order when no name matches and the counts agree)."""
    import warnings

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


def _lr_pairs(joint_set: str) -> list[tuple[int, int]]:
    from mocap.skeletons import get_joint_set

    try:
        js = get_joint_set(joint_set)
    except (KeyError, ValueError) as e:
        raise KeypointsError(f"fix_swaps needs the left/right joint pairs of joint set {joint_set!r} ({e})",
                             hint="pass lr_pairs=[(left, right), ...] explicitly") from None
    return [(int(a), int(b)) for a, b in js.lr_pairs]


def reconstruct_multiperson(rig, kp2d: Keypoints2D, *, max_people: int | None = None, track: bool = True,
                            fill_gaps_frames: int = 5, fix_swaps: bool = False,
                            lr_pairs: list[tuple[int, int]] | None = None, tracker_opts: dict | None = None,
                            calib_source: str = "the calibration", keypoints_source: str = "the keypoints",
                            **triangulate_opts) -> Keypoints3D:
    """Reconstruct several people seen by unsynchronised-order detectors in several calibrated cameras.

    Args:
        rig: calibrated :class:`~mocap.cameras.CameraRig` (a superset of ``kp2d``'s cameras, matched by name).
        kp2d: ``(T, C, P, J, 3)`` 2D keypoints, ``(u, v, confidence)`` raw pixels, NaN where missing. The person
            axis may be in any order, independently per camera and per frame.
        max_people: keep at most this many tracks (the ones present in the most frames); None keeps all.
        track: link people over time into stable ids. False keeps each frame's people in association order
            (person index not stable over time; ids ``0..P-1``; the temporal re-check is then off by default).
        fill_gaps_frames: joint gaps of at most this many frames inside a track are interpolated linearly
            (confidence 0, quality ``"filled"`` 1); 0 = off. Only with ``track``.
        fix_swaps: correct per-view left/right swaps against the other views before triangulating
            (pairs from the joint set, or ``lr_pairs``).
        lr_pairs: ``(left, right)`` joint index pairs for ``fix_swaps``.
        tracker_opts: options of :class:`~mocap.reconstruct.tracking.PeopleTracker` (``gate_m``, ``min_hits``,
            ``max_misses``, ...).
        calib_source, keypoints_source: names used in error messages.
        **triangulate_opts: ``min_views``, ``min_conf``, ``reproj_threshold_px`` (both stages);
            ``max_ray_dist_m``, ``min_common_joints``, ``min_affinity``, ``min_linkage`` (association);
            ``min_joints``, ``duplicate_dist_m`` (per-frame selection); anything else (``refine``,
            ``temporal_check``, ...) goes to :func:`~mocap.reconstruct.sequence.triangulate_keypoints`.

    Returns:
        :class:`~mocap.keypoints.Keypoints3D` ``(T, P_tracks, J, 4)`` with ``person_ids`` from the tracker,
        quality fields ``"reproj_error_px"``, ``"n_views"``, ``"reason"`` (as
        :func:`~mocap.reconstruct.sequence.triangulate_keypoints`) and ``"filled"``; ``meta`` as
        ``triangulate_keypoints`` (``view_error_px``, ``used``, ``camera_names``, ``empty_frames``) plus
        ``"association"``: per-frame counts ``people_2d`` ``(T, C)``, ``clusters`` ``(T,)`` (people seen by
        at least ``min_views`` cameras), ``single_view_dropped`` ``(T,)`` (2D people no other camera agreed
        with), ``rejected`` ``(T,)`` (clusters dropped as fragments or duplicates), ``people_3d`` ``(T,)``,
        ``tracked`` ``(T,)`` (people in the output), and totals ``tracks_dropped`` (never confirmed or cut by
        ``max_people``).

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
    names = list(kp2d.camera_names)
    sub = _match_rig(rig, names, calib_source, keypoints_source)
    opts = dict(triangulate_opts)
    shared = {k: opts[k] for k in SHARED_OPTS if k in opts}
    assoc = {k: opts.pop(k) for k in ASSOCIATION_OPTS if k in opts}
    frame = {k: opts.pop(k) for k in FRAME_OPTS if k in opts}
    min_views = int(shared.get("min_views", 2))
    min_conf = float(shared.get("min_conf", 0.1))
    if fix_swaps and lr_pairs is None:
        lr_pairs = _lr_pairs(kp2d.joint_set)
    pairs = list(lr_pairs) if fix_swaps and lr_pairs else None

    data = np.asarray(kp2d.data, dtype=float)
    T, C, _, J, _ = data.shape
    present = np.isfinite(data[..., :2]).all(-1).any(-1)  # (T, C, P)
    counts = {"people_2d": present.sum(-1).astype(int), "clusters": np.zeros(T, int),
              "single_view_dropped": np.zeros(T, int), "rejected": np.zeros(T, int), "people_3d": np.zeros(T, int)}
    frames3d: list[np.ndarray] = []
    frames_obs: list[np.ndarray] = []  # per frame (P_t, C, J, 3): the 2D observations of each 3D person
    for t in range(T):
        people2d = [data[t, c][present[t, c]] for c in range(C)]
        aff = pairwise_affinity(sub, people2d, min_conf=min_conf,
                                **{k: assoc[k] for k in ("max_ray_dist_m", "min_common_joints") if k in assoc})
        clusters = cluster_people(aff, [len(p) for p in people2d],
                                  **{k: assoc[k] for k in ("min_affinity", "min_linkage") if k in assoc})
        multi = [cl for cl in clusters if cl.n_views >= min_views]
        counts["clusters"][t] = len(multi)
        counts["single_view_dropped"][t] = sum(cl.n_views for cl in clusters if cl.n_views < min_views)
        rec = reconstruct_frame(sub, people2d, clusters=multi, lr_pairs=pairs, **shared, **frame)
        counts["rejected"][t] = len(multi) - len(rec.clusters)
        counts["people_3d"][t] = len(rec.clusters)
        obs = np.moveaxis(gather_clusters(people2d, rec.clusters, C, J), 0, 1)  # (P_t, C, J, 3)
        if pairs and rec.swapped.size:
            from mocap.reconstruct.swaps import apply_swaps

            uv, cf = apply_swaps(obs[..., :2], obs[..., 2], rec.swapped, pairs)
            obs = np.concatenate([uv, cf[..., None]], axis=-1)
        frames3d.append(rec.people)
        frames_obs.append(obs)

    ts = np.asarray(kp2d.timestamps, dtype=float)
    if track:
        assoc2d, ids, n_dropped = _track(frames3d, frames_obs, ts, C, J, tracker_opts or {})
    else:
        P = max((len(p) for p in frames3d), default=0)
        assoc2d = np.full((T, C, P, J, 3), np.nan)
        for t, obs in enumerate(frames_obs):
            assoc2d[t, :, :len(obs)] = np.moveaxis(obs, 0, 1)
        ids, n_dropped = np.arange(P), 0
        opts.setdefault("temporal_check", False)  # slot p is not the same person in the next frame
    if max_people is not None and assoc2d.shape[2] > max_people:
        seen = np.isfinite(assoc2d[..., :2]).all(-1).any(axis=(1, 3)).sum(0)  # frames per track
        keep = np.sort(np.argsort(-seen, kind="stable")[:max_people])
        n_dropped += assoc2d.shape[2] - keep.size
        assoc2d, ids = assoc2d[:, :, keep], ids[keep]

    meta = dict(kp2d.meta)
    meta.pop("person_ids", None)  # per-camera detector ids do not survive association
    kp_assoc = Keypoints2D(assoc2d, kp2d.joint_set, names, ts.copy(), kp2d.fps, meta)
    if assoc2d.shape[2] == 0:  # nobody reconstructed: an empty result, not an error
        kp3d = _empty_result(kp_assoc, sub)
    else:
        kp3d = triangulate_keypoints(sub, kp_assoc, calib_source=calib_source, keypoints_source=keypoints_source,
                                     **opts)
    kp3d.person_ids = np.asarray(ids, dtype=int)
    filled = np.zeros(kp3d.data.shape[:3], dtype=np.int8)
    if track and fill_gaps_frames > 0 and kp3d.n_people:
        kp3d.data, filled = _fill_track_gaps(kp3d.data, fill_gaps_frames)
    kp3d.quality["filled"] = filled
    counts["tracked"] = np.isfinite(kp3d.data[..., 0]).any(-1).sum(-1).astype(int)
    kp3d.meta["association"] = {**counts, "tracks_dropped": int(n_dropped), "tracked_over_time": bool(track)}
    return kp3d


def _track(frames3d: list[np.ndarray], frames_obs: list[np.ndarray], ts: np.ndarray, C: int, J: int,
           tracker_opts: dict) -> tuple[np.ndarray, np.ndarray, int]:
    """Link the frames' people into tracks; returns the associated 2D ``(T, C, N, J, 3)``, ids ``(N,)``, dropped."""
    tracker = PeopleTracker(**tracker_opts)
    rows: list[dict[int, np.ndarray]] = []
    key_to_id: dict[int, int] = {}
    all_keys: set[int] = set()
    for people, obs, t in zip(frames3d, frames_obs, ts, strict=True):
        a = people if len(people) else np.zeros((0, J, 4))
        ids = tracker.step(a, float(t))
        row = {}
        for r, k in enumerate(tracker.last_keys.tolist()):
            if k >= 0:
                row[k] = obs[r]
                all_keys.add(k)
                if ids[r] >= 0:
                    key_to_id[k] = int(ids[r])
        rows.append(row)
    order = sorted(key_to_id, key=lambda k: key_to_id[k])
    out = np.full((len(rows), C, len(order), J, 3), np.nan)
    for n, k in enumerate(order):
        for t, row in enumerate(rows):
            if k in row:
                out[t, :, n] = row[k]
    return out, np.array([key_to_id[k] for k in order], dtype=int), len(all_keys) - len(order)


def _fill_track_gaps(data: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Linearly fill interior NaN runs of at most ``max_gap`` frames per (track, joint); filled points get
    confidence 0. Returns the new ``(T, P, J, 4)`` data and the ``(T, P, J)`` int8 mask of filled points."""
    from mocap.reconstruct.filters import fill_gaps

    out = data.copy()
    before = np.isfinite(data[..., :3]).all(-1)
    xyz = fill_gaps(data[..., :3], max_gap, "linear")
    after = np.isfinite(xyz).all(-1)
    filled = after & ~before
    out[..., :3] = np.where(before[..., None], data[..., :3], xyz)
    out[filled, 3] = 0.0
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


__all__ = ["reconstruct_multiperson", "needs_association", "people_per_camera"]
