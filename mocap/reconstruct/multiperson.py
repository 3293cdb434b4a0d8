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

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment

from mocap.errors import KeypointsError
from mocap.reconstruct.association import (
    anchor_affinity,
    cluster_people,
    gather_clusters,
    pairwise_affinity,
    reconstruct_frame,
)
from mocap.reconstruct.tracking import person_distance
from mocap.reconstruct.triangulation import triangulate

if TYPE_CHECKING:
    from mocap.keypoints import Keypoints2D, Keypoints3D

#: Options used only by the per-frame association / reconstruction (the rest go to the final triangulation).
ASSOCIATION_OPTS = ("max_ray_dist_m", "min_common_joints", "min_affinity", "min_linkage", "max_track_dist_m")
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
    """Reconstruct several people seen by unsynchronised-order detectors in several calibrated cameras (offline).

    With ``track`` (the default), the frames are first run through :class:`OnlineMultiPerson` (the same
    association and tracking as the live path: views and track predictions clustered together, each track's
    2D observations collected); tracks measured in fewer than ``tracker_opts["min_hits"]`` frames (default 3)
    are dropped; each remaining track's observations form an *associated* ``(T, C, N, J, 3)`` array that is
    triangulated over the whole clip by :func:`mocap.reconstruct.sequence.triangulate_keypoints` (robust view
    selection, Gauss-Newton refinement, temporal and bone-length re-checks that look at past AND future frames);
    finally joint gaps of up to ``fill_gaps_frames`` inside a track are interpolated. Without ``track``, each
    frame is associated on its own and the person axis is not stable over time.

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
        tracker_opts: tracking options of :class:`OnlineMultiPerson` (``gate_m``, ``max_misses``, ``hold_s``,
            ``velocity_smoothing``, ``max_speed_mps``, ``max_track_dist_m``) and ``min_hits``: frames a track
            must be measured in to be kept.
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
    if track and fill_gaps_frames > 0 and kp3d.n_people:
        kp3d.data, filled = _fill_track_gaps(kp3d.data, fill_gaps_frames)
    kp3d.quality["filled"] = filled
    counts["tracked"] = np.isfinite(kp3d.data[..., 0]).any(-1).sum(-1).astype(int)
    kp3d.meta["association"] = {**counts, "tracks_dropped": int(n_dropped), "tracked_over_time": bool(track)}
    return kp3d


def _associate_tracks(rig, joint_set: str, data: np.ndarray, ts: np.ndarray, shared: dict, assoc: dict,
                      frame: dict, tracker_opts: dict, fix_swaps: bool, lr_pairs) -> tuple[np.ndarray, dict, int]:
    """Run :class:`OnlineMultiPerson` over the frames; the 2D of every kept track ``(T, C, N, J, 3)``, the
    per-frame counts and the number of tracks dropped as too short."""
    T, C, _, J, _ = data.shape
    min_frames = int(tracker_opts.pop("min_hits", 3))
    if min_frames < 1:
        raise KeypointsError(f"tracker option min_hits={min_frames}; expected >= 1")
    mp = OnlineMultiPerson(rig, joint_set, min_hits=1, fix_swaps=fix_swaps, lr_pairs=lr_pairs,
                           **{k: v for k, v in shared.items() if k != "refine"}, **assoc, **frame, **tracker_opts)
    counts = {"people_2d": np.isfinite(data[..., :2]).all(-1).any(-1).sum(-1).astype(int),
              **{k: np.zeros(T, int) for k in ("clusters", "single_view_dropped", "rejected", "people_3d")}}
    rows: list[dict[int, np.ndarray]] = []
    for t in range(T):
        out = mp.step(data[t], float(ts[t]))
        row = {int(i): out.observations[r] for r, i in enumerate(out.ids) if out.states[r] != PREDICTED}
        rows.append(row)
        counts["clusters"][t] = out.counts["clusters"]
        counts["single_view_dropped"][t] = out.counts["single_view"]
        counts["rejected"][t] = out.counts["rejected"]
        counts["people_3d"][t] = len(row)
    n_frames: dict[int, int] = {}
    first: dict[int, int] = {}
    for t, row in enumerate(rows):
        for i in row:
            n_frames[i] = n_frames.get(i, 0) + 1
            first.setdefault(i, t)
    keep = sorted((i for i in n_frames if n_frames[i] >= min_frames), key=lambda i: (first[i], i))
    out2d = np.full((T, C, len(keep), J, 3), np.nan)
    for n, i in enumerate(keep):
        for t, row in enumerate(rows):
            if i in row:
                out2d[t, :, n] = row[i]
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


# ---------------------------------------------------------------------------------------------- online
#: Track states (the values of :class:`mocap.live.stream.TrackState`).
NEW, TRACKED, PREDICTED, LOST = "new", "tracked", "predicted", "lost"


@dataclass
class PersonTrack:
    """State of one tracked person in :class:`OnlineMultiPerson`.

    Attributes:
        key: internal key (creation order, never reused).
        id: public id once confirmed (``hits >= min_hits``), else -1.
        X: ``(J, 3)`` last estimate per joint, metres (NaN where never seen).
        V: ``(J, 3)`` smoothed velocity per joint, m/s.
        seen_t: ``(J,)`` time each joint was last measured, seconds (-inf never).
        t: time of the last measurement, seconds.
        hits: frames with a measurement; misses: consecutive frames without one.
        state: ``"new"``, ``"tracked"``, ``"predicted"`` (see :data:`NEW` ...).
    """

    key: int
    X: np.ndarray
    V: np.ndarray
    seen_t: np.ndarray
    t: float
    hits: int = 1
    misses: int = 0
    id: int = -1
    state: str = NEW
    bone_samples: list = field(default_factory=list)

    def bone_lengths(self, min_samples: int) -> np.ndarray | None:
        """``(B,)`` median bone lengths over the kept samples (NaN for a bone seen in fewer than ``min_samples``
        frames), or None before any sample."""
        if not self.bone_samples:
            return None
        L = np.asarray(self.bone_samples)
        n = np.isfinite(L).sum(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(L, axis=0)
        return np.where(n >= min_samples, med, np.nan)

    def predict(self, t: float, hold_s: float) -> np.ndarray:
        """``(J, 3)`` joints extrapolated to ``t`` (constant velocity); NaN for joints unseen for over ``hold_s``."""
        X = self.X + self.V * (t - self.t)
        X[(t - self.seen_t) > hold_s] = np.nan
        return X


@dataclass
class MultiPersonFrame:
    """Output of :meth:`OnlineMultiPerson.step` for one frame (``P`` people, ``C`` cameras, ``J`` joints).

    Attributes:
        t: frame time, seconds.
        ids: ``(P,)`` stable person ids.
        states: ``P`` track states: ``"new"`` (first frame output), ``"tracked"`` (measured this frame),
            ``"predicted"`` (not measured; extrapolated from the track).
        xyzc: ``(P, J, 4)`` world ``(x, y, z)`` metres + confidence; NaN where unknown. Joints not measured this
            frame but seen within ``hold_s`` are extrapolated with confidence 0 (``n_views`` 0).
        n_views: ``(P, J)`` views used per joint (0 where not measured this frame).
        reproj_error_px: ``(P, J)`` mean reprojection error over the views used, pixels (NaN where not measured).
        velocity: ``(P, J, 3)`` smoothed velocity, m/s.
        observations: ``(P, C, J, 3)`` the 2D ``(u, v, confidence)`` associated to each person (after left/right
            swap correction), NaN where none: what the offline pass re-triangulates.
        lost_ids: ids of tracks that ended at this frame (consumers must stop using them).
        counts: per-frame counts: ``people_2d`` (2D people in all views), ``clusters`` (groups of >= min_views
            views), ``single_view`` (2D people no other view or track agreed with), ``rejected`` (groups dropped
            as fragments or duplicates), ``new_tracks``.
    """

    t: float
    ids: np.ndarray
    states: list[str]
    xyzc: np.ndarray
    n_views: np.ndarray
    reproj_error_px: np.ndarray
    velocity: np.ndarray
    observations: np.ndarray
    lost_ids: list[int]
    counts: dict[str, int]


class OnlineMultiPerson:
    """Frame-by-frame (causal) multi-person 3D reconstruction with stable ids.

    Per frame (:meth:`step`):

    1. every live track predicts its joints at the frame time (constant velocity; joints unseen for over
       ``hold_s`` are left out);
    2. the 2D people of all cameras and the tracks' predictions are clustered together
       (:func:`~mocap.reconstruct.association.cluster_people`): 2D-2D affinities from ray distances
       (:func:`~mocap.reconstruct.association.pairwise_affinity`), 2D-track affinities from point-to-ray
       distances (:func:`~mocap.reconstruct.association.anchor_affinity`); tracks act as one more "camera", so a
       cluster holds at most one track, and every pair of its members must agree (cycle consistency);
    3. clusters with at least ``min_views`` cameras are triangulated in one batch
       (:func:`~mocap.reconstruct.triangulation.triangulate`, robust view selection) with the track's prediction
       as the ``prior`` that settles ambiguous view subsets; optional per-view left/right swap correction first;
    4. clusters with a track update it; the others are matched to unclaimed tracks by 3D distance (gate
       ``gate_m``) or start new tracks (output once measured ``min_hits`` times); tracks not measured coast on
       their prediction and end (``lost``) after ``max_misses`` frames.

    Only the past is used. :func:`reconstruct_multiperson` runs this object over a whole sequence and then
    re-triangulates each track with the offline passes.

    Args:
        rig: calibrated :class:`~mocap.cameras.CameraRig` (``C`` cameras, the order of ``step``'s camera axis).
        joint_set: joint-set name of the 2D keypoints (left/right pairs for swap correction).
        min_views, min_conf, reproj_threshold_px: robust triangulation options.
        max_ray_dist_m: mean ray distance (metres) at which two views' affinity reaches 0.
        max_track_dist_m: mean point-to-ray distance at which a view's affinity to a track reaches 0.
        min_common_joints, min_affinity, min_linkage: clustering options
            (:func:`~mocap.reconstruct.association.cluster_people`).
        min_joints: clusters with fewer triangulated joints are fragments (dropped).
        duplicate_dist_m: of two people closer than this (mean joint distance) only one is kept.
        gate_m: largest mean joint distance between an unclaimed track's prediction and a new cluster that may
            still be linked to it.
        min_hits: measurements in consecutive frames before a track is output (and gets its id); a tentative
            track not measured in a frame ends.
        confirm_views: a new track first seen by at least this many cameras is output at once.
        bone_check: keep each track's rigid bone lengths (median over the last ``bone_window`` frames where both
            ends were seen by ``bone_min_views`` cameras, once ``bone_min_samples`` frames have one) and re-select
            the views of joints that break them (see :meth:`_bone_recheck`).
        bone_tolerance, bone_tolerance_m: a bone is inconsistent beyond ``max(tolerance * length,
            tolerance_m)``.
        max_misses: frames without a measurement after which a track ends.
        hold_s: a joint not measured for at most this long is output extrapolated (confidence 0); longer, NaN.
        anchor_s: a joint measured within this long takes part in the association (as the track's prediction).
        velocity_smoothing: weight of the newest velocity (0 = constant position).
        max_speed_mps: velocities are clipped to this speed.
        prior_radius_m: radius of the prediction prior in view selection.
        fix_swaps: correct per-view left/right swaps against the other views before triangulating.
        refine: Gauss-Newton refinement of the triangulated points (slower).

    Example:
        >>> mp = OnlineMultiPerson(rig, "coco17")  # doctest: +SKIP
        >>> out = mp.step(kp2d.data[t], kp2d.timestamps[t])  # (C, P, J, 3) -> MultiPersonFrame  # doctest: +SKIP
        >>> out.ids, out.xyzc.shape, out.states  # doctest: +SKIP
    """

    def __init__(self, rig, joint_set: str = "coco17", *, min_views: int = 2, min_conf: float = 0.1,
                 reproj_threshold_px: float = 15.0, max_ray_dist_m: float = 0.2, max_track_dist_m: float = 0.3,
                 min_common_joints: int = 3, min_affinity: float = 0.2, min_linkage: float = 0.35,
                 min_joints: int = 5, duplicate_dist_m: float = 0.3, gate_m: float = 0.5, min_hits: int = 2,
                 confirm_views: int = 3, bone_check: bool = True, bone_tolerance: float = 0.25,
                 bone_tolerance_m: float = 0.05, bone_window: int = 50, bone_min_samples: int = 5,
                 bone_min_views: int = 2, jump_m: float = 0.3,
                 max_misses: int = 10, hold_s: float = 0.2, anchor_s: float = 1.0, velocity_smoothing: float = 0.5,
                 max_speed_mps: float = 5.0, prior_radius_m: float = 0.15, fix_swaps: bool = False,
                 lr_pairs: Sequence[tuple[int, int]] | None = None, refine: bool = False) -> None:
        if len(rig) < 2:
            raise KeypointsError(f"multi-person reconstruction needs at least 2 cameras; the rig has {len(rig)}")
        if min_hits < 1 or max_misses < 0 or gate_m <= 0 or hold_s < 0:
            raise KeypointsError(f"tracker options min_hits={min_hits}, max_misses={max_misses}, gate_m={gate_m}, "
                                 f"hold_s={hold_s} are invalid; expected min_hits >= 1, max_misses >= 0, gate_m > 0, "
                                 "hold_s >= 0")
        self.rig = rig
        self.joint_set = joint_set
        self.tri_opts = {"min_views": int(min_views), "min_conf": float(min_conf),
                         "reproj_threshold_px": float(reproj_threshold_px), "refine": bool(refine),
                         "prior_radius_m": float(prior_radius_m), "raw_pixel_errors": False}
        self.assoc = {"max_ray_dist_m": float(max_ray_dist_m), "min_common_joints": int(min_common_joints)}
        self.max_track_dist_m = float(max_track_dist_m)
        self.cluster = {"min_affinity": float(min_affinity), "min_linkage": float(min_linkage)}
        self.min_joints = int(min_joints)
        self.duplicate_dist_m = float(duplicate_dist_m)
        self.gate_m = float(gate_m)
        self.min_hits = int(min_hits)
        self.confirm_views = int(confirm_views)
        self.bones: list[tuple[int, int]] = []
        if bone_check:
            from mocap.reconstruct.bones import rigid_bones

            try:
                self.bones = rigid_bones(joint_set)
            except (KeyError, ValueError):
                self.bones = []  # unknown joint set: no bone knowledge
        self.bone_tolerance = float(bone_tolerance)
        self.jump_m = float(jump_m)
        self.bone_tolerance_m = float(bone_tolerance_m)
        self.bone_window = int(bone_window)
        self.bone_min_samples = int(bone_min_samples)
        self.bone_min_views = int(bone_min_views)
        #: bone re-check counters: joints ``rechecked`` and ``dropped`` (no consistent view subset)
        self.bone_stats = {"rechecked": 0, "dropped": 0}
        self.max_misses = int(max_misses)
        self.hold_s = float(hold_s)
        self.anchor_s = max(float(anchor_s), self.hold_s)
        self.alpha = float(velocity_smoothing)
        self.max_speed = float(max_speed_mps)
        if fix_swaps and lr_pairs is None:
            lr_pairs = _lr_pairs(joint_set)
        self.lr_pairs = [tuple(map(int, p)) for p in lr_pairs] if fix_swaps and lr_pairs else None
        self.tracks: list[PersonTrack] = []
        self._next_key = 0
        self._next_id = 0
        self.last_keys: np.ndarray = np.zeros(0, dtype=int)

    def reset(self) -> None:
        """Forget every track (ids restart at 0)."""
        self.tracks = []
        self._next_key = 0
        self._next_id = 0

    # ------------------------------------------------------------------ one frame
    def _split(self, frame) -> list[np.ndarray]:
        C = len(self.rig)
        if isinstance(frame, np.ndarray) or not isinstance(frame, Sequence):
            a = np.asarray(frame, dtype=float)
            if a.ndim != 4 or a.shape[0] != C or a.shape[-1] != 3:
                raise KeypointsError(f"frame has shape {a.shape}; expected (C={C}, P, J, 3)")
            frame = list(a)
        if len(frame) != C:
            raise KeypointsError(f"got 2D people of {len(frame)} cameras; the rig has {C} "
                                 f"({', '.join(self.rig.names)})")
        out = []
        for c, p in enumerate(frame):
            p = np.asarray(p, dtype=float)
            if p.ndim != 3 or p.shape[-1] != 3:
                raise KeypointsError(f"camera '{self.rig.names[c]}': 2D people have shape {p.shape}; "
                                     "expected (P, J, 3)")
            out.append(p[np.isfinite(p[..., :2]).all(-1).any(-1)])
        return out

    def step(self, frame, t: float) -> MultiPersonFrame:
        """Process one synchronised frame.

        Args:
            frame: ``(C, P, J, 3)`` 2D people ``(u, v, confidence)`` in raw pixels, any person order per camera,
                all-NaN slots empty; or a list of ``C`` arrays ``(P_c, J, 3)``.
            t: frame time, seconds (increasing).

        Returns:
            :class:`MultiPersonFrame` with the output people (confirmed tracks) of this frame.
        """
        people2d = self._split(frame)
        J = next((p.shape[1] for p in people2d if p.size), self.tracks[0].X.shape[0] if self.tracks else 0)
        C = len(self.rig)
        tracks = self.tracks
        K = len(tracks)
        pred = np.stack([tr.predict(t, self.anchor_s) for tr in tracks]) if K else np.zeros((0, J, 3))
        counts_2d = [len(p) for p in people2d]
        aff = pairwise_affinity(self.rig, people2d, min_conf=self.tri_opts["min_conf"], **self.assoc)
        if K:
            for c, M in anchor_affinity(self.rig, people2d, pred, min_conf=self.tri_opts["min_conf"],
                                        max_dist_m=self.max_track_dist_m,
                                        min_common_joints=self.assoc["min_common_joints"]).items():
                aff[(c, C)] = M
        clusters = cluster_people(aff, counts_2d + [K], **self.cluster)
        # split the track node off each cluster
        groups: list[tuple[dict[int, int], int]] = []  # (camera -> person, track index or -1)
        single = 0
        for cl in clusters:
            views = {c: p for c, p in cl.members.items() if c < C}
            k = cl.members.get(C, -1)
            if len(views) >= self.tri_opts["min_views"]:
                groups.append((views, k))
            else:
                single += len(views)
        obs = np.full((C, len(groups), J, 3), np.nan)
        for g, (views, _) in enumerate(groups):
            for c, p in views.items():
                obs[c, g] = people2d[c][p]
        prior = np.full((len(groups), J, 3), np.nan)
        for g, (_, k) in enumerate(groups):
            if k >= 0:
                prior[g] = pred[k]
        if self.lr_pairs and len(groups):
            from mocap.reconstruct.swaps import fix_swaps

            uv, cf, _ = fix_swaps(self.rig, obs[..., :2], obs[..., 2], self.lr_pairs,
                                  min_conf=self.tri_opts["min_conf"],
                                  reproj_threshold_px=self.tri_opts["reproj_threshold_px"])
            obs = np.concatenate([uv, cf[..., None]], axis=-1)
        res = triangulate(self.rig, obs[..., :2], obs[..., 2], prior=prior, **self.tri_opts)
        if len(groups):
            self._bone_recheck(res, obs, prior, [tracks[k] if k >= 0 else None for _, k in groups])
        X = res.X
        valid = np.isfinite(X).all(-1)
        # fragments and duplicates
        ok = valid.sum(-1) >= self.min_joints
        order = sorted(range(len(groups)), key=lambda g: (groups[g][1] < 0, -int(res.n_views[g].sum())))
        kept: list[int] = []
        for g in order:
            if not ok[g]:
                continue
            if any(_mean_dist(X[g], X[q]) < self.duplicate_dist_m for q in kept):
                continue
            kept.append(g)
        rejected = len(groups) - len(kept)
        # update tracks
        claimed: dict[int, int] = {}  # track index -> group
        fresh = []
        for g in kept:
            k = groups[g][1]
            if k >= 0:
                claimed[k] = g
            else:
                fresh.append(g)
        free = [k for k in range(K) if k not in claimed]
        if fresh and free:
            cost = person_distance(X[fresh], pred[free])
            cost = np.where(np.isfinite(cost) & (cost <= self.gate_m), cost, 1e6)
            for r, c in zip(*linear_sum_assignment(cost), strict=True):
                if cost[r, c] < 1e6:
                    claimed[free[c]] = fresh[r]
            fresh = [g for g in fresh if g not in claimed.values()]
        for k, tr in enumerate(tracks):
            if k in claimed:
                self._update(tr, X[claimed[k]], t, res.n_views[claimed[k]])
            else:
                tr.misses += 1
        track_of_group = {g: k for k, g in claimed.items()}
        for g in fresh:
            tr = PersonTrack(self._next_key, X[g].copy(), np.zeros((J, 3)),
                             np.where(valid[g], t, -np.inf), t)
            if len(groups[g][0]) >= self.confirm_views:
                tr.hits = max(tr.hits, self.min_hits)
            self._add_bones(tr, X[g], res.n_views[g])
            self._next_key += 1
            tracks.append(tr)
            track_of_group[g] = len(tracks) - 1
        # life cycle and output
        for tr in tracks:
            if tr.id < 0 and tr.misses:  # a tentative track must be measured in consecutive frames
                tr.misses = self.max_misses + 1
        lost = [tr.id for tr in tracks if tr.misses > self.max_misses and tr.id >= 0]
        rows: list[int] = []
        for k, tr in enumerate(tracks):
            if tr.misses > self.max_misses:
                continue
            if tr.id < 0 and tr.hits >= self.min_hits:
                tr.id = self._next_id
                self._next_id += 1
                tr.state = NEW
            elif tr.id >= 0:
                tr.state = TRACKED if tr.misses == 0 else PREDICTED
            if tr.id >= 0:
                rows.append(k)
        group_of_track = {k: g for g, k in track_of_group.items()}
        P = len(rows)
        xyzc = np.full((P, J, 4), np.nan)
        n_views = np.zeros((P, J), dtype=int)
        err = np.full((P, J), np.nan)
        vel = np.zeros((P, J, 3))
        observations = np.full((P, C, J, 3), np.nan)
        for i, k in enumerate(rows):
            tr = tracks[k]
            g = group_of_track.get(k)
            held = tr.predict(t, self.hold_s)
            if g is not None:
                m = valid[g]
                xyzc[i, m, :3] = X[g, m]
                xyzc[i, m, 3] = np.clip(res.confidence[g, m], 0.0, 1.0)
                n_views[i] = res.n_views[g]
                err[i] = res.reproj_error_px[g]
                observations[i] = obs[:, g]
                fill = ~m & np.isfinite(held).all(-1)
            else:
                fill = np.isfinite(held).all(-1)
            xyzc[i, fill, :3] = held[fill]
            xyzc[i, fill, 3] = 0.0
            vel[i] = tr.V
        self.tracks = [tr for tr in tracks if tr.misses <= self.max_misses]
        self.last_keys = np.array([tracks[k].key for k in rows], dtype=int)
        counts = {"people_2d": int(sum(counts_2d)), "clusters": len(groups), "single_view": single,
                  "rejected": rejected, "new_tracks": len(fresh)}
        return MultiPersonFrame(float(t), np.array([tracks[k].id for k in rows], dtype=int),
                                [tracks[k].state for k in rows], xyzc, n_views, err, vel, observations, lost, counts)

    def _bone_recheck(self, res, obs: np.ndarray, pred: np.ndarray, owners: list) -> None:
        """Re-select the views of joints whose bones disagree with their track's lengths (in place on ``res``).

        Each track keeps the lengths of its rigid bones over its last frames (median). A joint blamed for
        inconsistent bones (:func:`~mocap.reconstruct.bones.inconsistent_joints`) is re-triangulated from every
        pair and triple of its views; among the subsets whose views all agree within the reprojection threshold,
        whose bones to the joint's trusted neighbours are consistent and whose point lies within ``gate_m`` of the
        track's prediction, the one with the most views (then the smallest error) is kept; with none the joint
        is dropped (and output from the track's prediction).
        """
        from mocap.reconstruct.bones import bone_deviation, inconsistent_joints
        from mocap.reconstruct.sequence import _view_subsets

        G, J = res.X.shape[:2]
        L = np.full((G, len(self.bones)), np.nan)
        fresh = np.zeros((G, J), dtype=bool)  # joints measured in the track's previous frame
        for g, tr in enumerate(owners):
            lengths = None if tr is None else tr.bone_lengths(self.bone_min_samples)
            if lengths is not None:
                L[g] = lengths
            if tr is not None and tr.misses == 0:
                fresh[g] = (tr.seen_t == tr.t) & np.isfinite(pred[g]).all(-1)
        tol = (self.bone_tolerance, self.bone_tolerance_m)
        with np.errstate(invalid="ignore"):
            bad = fresh & (np.linalg.norm(res.X - pred, axis=-1) > self.jump_m)
            if self.bones:
                bad |= inconsistent_joints(res.X[None], L, self.bones, *tol)[0]
        bad &= np.isfinite(res.X).all(-1)
        gi, ji = np.nonzero(bad)
        if gi.size == 0:
            return
        F = gi.size
        subsets = _view_subsets(len(self.rig))  # (S, C)
        S = len(subsets)
        uv = obs[:, gi, ji, :2]  # (C, F, 2)
        cf = obs[:, gi, ji, 2]
        uv_s = np.where(subsets.T[:, :, None, None], uv[:, None], np.nan)  # (C, S, F, 2)
        cf_s = np.where(subsets.T[:, :, None], cf[:, None], np.nan)
        sub = triangulate(self.rig, uv_s, cf_s, min_views=2, min_conf=self.tri_opts["min_conf"],
                          reproj_threshold_px=self.tri_opts["reproj_threshold_px"], raw_pixel_errors=False)
        usable = np.isfinite(uv_s).all(-1) & (np.nan_to_num(cf_s) >= self.tri_opts["min_conf"])  # (C, S, F)
        whole = (sub.n_views == usable.sum(0)) & (usable.sum(0) == subsets.sum(1)[:, None])  # (S, F)
        bones_ok = np.ones((S, F), dtype=bool)
        if self.bones:
            Xc = np.repeat(res.X[gi][None], S, axis=0)  # (S, F, J, 3)
            Xc[:, np.arange(F), ji] = sub.X
            with np.errstate(invalid="ignore"):
                dev = bone_deviation(Xc, L[gi], self.bones, *tol)  # (S, F, B)
            b = np.asarray(self.bones, dtype=int)
            ends = (b[None, :, 0] == ji[:, None]) | (b[None, :, 1] == ji[:, None])  # (F, B) bones at the joint
            other = np.where(b[None, :, 0] == ji[:, None], b[None, :, 1], b[None, :, 0])  # (F, B)
            trusted = ends & ~bad[gi[:, None], other]
            dev = np.where(trusted[None], dev, np.nan)
            with np.errstate(invalid="ignore"):
                bones_ok = ~(dev > 1.0).any(-1)  # NaN (no trusted bone) passes
        with np.errstate(invalid="ignore"):
            near = np.linalg.norm(sub.X - pred[gi, ji][None], axis=-1) <= self.jump_m
        near |= ~fresh[gi, ji][None]
        good = whole & bones_ok & near & np.isfinite(sub.X).all(-1)
        score = np.where(good, subsets.sum(1)[:, None] * 1e3 - np.nan_to_num(sub.reproj_error_px, nan=1e3), -np.inf)
        best = np.argmax(score, axis=0)  # (F,)
        found = np.isfinite(score[best, np.arange(F)])
        for f in range(F):
            g, j = gi[f], ji[f]
            if found[f]:
                s_ = best[f]
                res.X[g, j] = sub.X[s_, f]
                res.n_views[g, j] = int(subsets[s_].sum())
                res.reproj_error_px[g, j] = sub.reproj_error_px[s_, f]
                res.confidence[g, j] = sub.confidence[s_, f]
                res.used[:, g, j] = subsets[s_] & usable[:, s_, f]
            else:
                res.X[g, j] = np.nan
                res.n_views[g, j] = 0
                res.reproj_error_px[g, j] = np.nan
                res.confidence[g, j] = np.nan
                res.used[:, g, j] = False
            res.reason[g, j] = 0 if found[f] else 6
        self.bone_stats["rechecked"] += F
        self.bone_stats["dropped"] += int((~found).sum())

    def _update(self, tr: PersonTrack, X: np.ndarray, t: float, n_views: np.ndarray) -> None:
        """Take a measurement ``X (J, 3)``: measured joints replace the track's, with a smoothed velocity; joints
        not measured move with the body (the median displacement of the measured ones)."""
        seen = np.isfinite(X).all(-1)
        dt = t - tr.t
        had = np.isfinite(tr.X).all(-1)
        both = seen & had
        if dt > 0:
            v = np.zeros_like(X)
            v[both] = (X[both] - tr.X[both]) / dt
            sp = np.linalg.norm(v, axis=-1, keepdims=True)
            v = np.where(sp > self.max_speed, v * self.max_speed / np.maximum(sp, 1e-12), v)
            tr.V[both] = self.alpha * v[both] + (1 - self.alpha) * tr.V[both]
            tr.V[seen & ~had] = 0.0
        shift = np.median(X[both] - tr.X[both], axis=0) if both.any() else np.zeros(3)
        body_v = np.median(tr.V[seen], axis=0) if seen.any() else np.zeros(3)
        tr.X = np.where(seen[:, None], X, tr.X + shift)
        tr.V[~seen] = body_v
        tr.seen_t = np.where(seen, t, tr.seen_t)
        tr.t = t
        tr.hits += 1
        tr.misses = 0
        self._add_bones(tr, X, n_views)

    def _add_bones(self, tr: PersonTrack, X: np.ndarray, n_views: np.ndarray) -> None:
        """Keep the lengths of the bones whose ends were both seen by ``bone_min_views`` cameras."""
        if not self.bones:
            return
        b = np.asarray(self.bones, dtype=int)
        L = np.linalg.norm(X[b[:, 1]] - X[b[:, 0]], axis=-1)
        sure = (n_views[b[:, 0]] >= self.bone_min_views) & (n_views[b[:, 1]] >= self.bone_min_views)
        tr.bone_samples.append(np.where(sure, L, np.nan))
        if len(tr.bone_samples) > self.bone_window:
            del tr.bone_samples[0]


def _mean_dist(A: np.ndarray, B: np.ndarray) -> float:
    both = np.isfinite(A).all(-1) & np.isfinite(B).all(-1)
    return float(np.linalg.norm(A[both] - B[both], axis=-1).mean()) if both.sum() >= 2 else np.inf


__all__ = ["reconstruct_multiperson", "needs_association", "people_per_camera", "OnlineMultiPerson",
           "MultiPersonFrame", "PersonTrack", "NEW", "TRACKED", "PREDICTED", "LOST"]
