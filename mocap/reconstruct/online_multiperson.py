"""Online (causal) multi-person 3D reconstruction: association across views, tracking, triangulation per track.

:class:`OnlineMultiPerson` takes one synchronised frame of 2D people at a time (any person order per camera,
false detections, missing joints) and returns the people in 3D with stable ids, track states and per-joint
quality. Tracks take part in the cross-view association as 3D anchors (their predicted poses), their
predictions settle ambiguous view choices, and their bone lengths catch joints triangulated from views that
agree by accident. Only past frames are used. The offline path
(:func:`mocap.reconstruct.multiperson.reconstruct_multiperson`) runs this object over a sequence and
re-triangulates each track with whole-clip passes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from mocap.errors import KeypointsError
from mocap.reconstruct.association import anchor_affinity, cluster_people, pairwise_affinity
from mocap.reconstruct.tracking import person_distance
from mocap.reconstruct.triangulation import REASON_BONE, triangulate


def _lr_pairs(joint_set: str) -> list[tuple[int, int]]:
    from mocap.skeletons import get_joint_set

    try:
        js = get_joint_set(joint_set)
    except (KeyError, ValueError) as e:
        raise KeypointsError(f"fix_swaps needs the left/right joint pairs of joint set {joint_set!r} ({e})",
                             hint="pass lr_pairs=[(left, right), ...] explicitly") from None
    return [(int(a), int(b)) for a, b in js.lr_pairs]


#: Track states (the values of :class:`mocap.live.stream.TrackState`).
NEW, TRACKED, PREDICTED, LOST = "new", "tracked", "predicted", "lost"


@dataclass
class PersonTrack:
    """State of one tracked person in :class:`OnlineMultiPerson`.

    Attributes:
        key: internal key (creation order, never reused).
        id: public id once confirmed (see ``min_hits`` and ``confirm_views`` of :class:`OnlineMultiPerson`),
            else -1.
        X: ``(J, 3)`` last estimate per joint, metres (NaN where never seen); joints not measured move with the
            body.
        V: ``(J, 3)`` smoothed velocity per joint, m/s.
        seen_t: ``(J,)`` time each joint was last measured, seconds (-inf never).
        t: time of the last measurement, seconds.
        hits: frames with a measurement; misses: consecutive frames without one.
        state: ``"new"``, ``"tracked"``, ``"predicted"`` (see :data:`NEW` ...).
        max_views: most cameras that saw the person at once.
        bone_samples: the rigid bones' lengths in the last frames (``(B,)`` arrays, NaN where not sure).
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
    max_views: int = 0
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
        states: ``P`` track states (the values of :class:`mocap.live.stream.TrackState`): ``"new"`` (the first
            frame a person is output), ``"tracked"`` (measured this frame), ``"predicted"`` (not measured this
            frame, for at most ``coast_s``; extrapolated from the track).
        xyzc: ``(P, J, 4)`` world ``(x, y, z)`` metres + confidence in [0, 1]; NaN where unknown. Joints not
            measured this frame but within ``hold_s`` are output where they moved with the body, with confidence 0
            (and ``n_views`` 0).
        n_views: ``(P, J)`` views used per joint (0 where not measured this frame).
        reproj_error_px: ``(P, J)`` mean reprojection error over the views used, pixels (NaN where not measured).
        velocity: ``(P, J, 3)`` smoothed velocity, m/s.
        observations: ``(P, C, J, 3)`` the 2D ``(u, v, confidence)`` associated to each person (after left/right
            swap correction), NaN where none: what the offline pass re-triangulates.
        lost_ids: ids of tracks that ended at this frame (consumers must stop using them).
        keys: ``(P,)`` internal track keys of the people (never reused; tentative tracks have keys too).
        tentative: internal key -> ``(C, J, 3)`` 2D observations of each tentative track (not yet output)
            measured this frame; an offline pass keeps them for tracks confirmed later.
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
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    tentative: dict[int, np.ndarray] = field(default_factory=dict)


class OnlineMultiPerson:
    """Frame-by-frame (causal) multi-person 3D reconstruction with stable ids.

    Per frame (:meth:`step`):

    1. every live track predicts its joints at the frame time (constant velocity; joints unseen for over
       ``anchor_s`` are left out);
    2. the 2D people of all cameras and the tracks' predictions are clustered together
       (:func:`~mocap.reconstruct.association.cluster_people`): 2D-2D affinities from ray distances
       (:func:`~mocap.reconstruct.association.pairwise_affinity`), 2D-track affinities from point-to-ray
       distances (:func:`~mocap.reconstruct.association.anchor_affinity`); tracks act as one more "camera", so a
       cluster holds at most one track, and every pair of its members must agree (cycle consistency); tracks'
       edges are merged first, so a track claims its views before views pair up among themselves;
    3. clusters with at least ``min_views`` cameras are triangulated in one batch
       (:func:`~mocap.reconstruct.triangulation.triangulate`, robust view selection) with the track's prediction
       as the ``prior`` that settles ambiguous view subsets; optional per-view left/right swap correction first;
    4. joints that break their track's bone lengths or jump away from a fresh prediction get their views
       re-selected (:meth:`_bone_recheck`); joints of tracked people left empty are completed from detections
       no group uses (:meth:`_complete`); fragments and duplicates are dropped;
    5. clusters with a track update it; the others are matched to unclaimed tracks by 3D distance (gate
       ``gate_m``) or start new tracks (output once confirmed: ``min_hits``, ``confirm_views``); tracks not
       measured coast on their prediction (output for ``coast_s``) and end (``lost``) after ``max_misses``
       frames.

    Only the past is used. :func:`reconstruct_multiperson` runs this object over a whole sequence and then
    re-triangulates each track with the offline passes.

    Args:
        rig: calibrated :class:`~mocap.cameras.CameraRig` (``C`` cameras, the order of ``step``'s camera axis).
        joint_set: joint-set name of the 2D keypoints (rigid bones for the bone check, left/right pairs for swap
            correction; an unknown name switches those off).
        min_views, min_conf, reproj_threshold_px, refine: options of the robust triangulation
            (:func:`~mocap.reconstruct.triangulation.triangulate`).
        prior_radius_m: radius of the track's prediction used as the triangulation ``prior``.
        max_ray_dist_m: mean ray distance (metres) at which two views' affinity reaches 0.
        max_track_dist_m: mean point-to-ray distance (metres) at which a view's affinity to a track reaches 0.
        min_common_joints, min_affinity, min_linkage: clustering options
            (:func:`~mocap.reconstruct.association.cluster_people`).
        min_joints: groups with fewer triangulated joints are fragments (dropped).
        duplicate_dist_m: of two groups closer than this (mean joint distance) only one is kept (a track's
            first, then the one with more views).
        gate_m: largest mean joint distance between an unclaimed track's prediction and a group without a track
            that may still be linked to it.
        min_hits: measurements in consecutive frames before a track is output (and gets its id); a tentative
            track not measured in a frame ends.
        confirm_views: a track seen by at least this many cameras at once (all cameras of a smaller rig) is
            output after ``min_hits`` frames, at once when it starts that way; one never seen by that many needs
            ``min_hits_few_views`` frames (two views agreeing by chance, e.g. two false detections, rarely keep
            doing so).
        min_hits_few_views: see ``confirm_views``.
        max_misses: frames without a measurement after which a track ends (``lost``).
        hold_s: a joint of a measured person that was not measured for at most this long is output where it
            moved with the rest of the body (confidence 0, 0 views); longer, NaN.
        coast_s: a person not measured for at most this long is output from the track's prediction (state
            ``"predicted"``); longer, not output (the track lives on for the association until ``max_misses``).
        anchor_s: joints measured within this long take part in the association (as the track's prediction).
        velocity_smoothing: weight of the newest velocity (0 = constant position).
        max_speed_mps: velocities are clipped to this speed.
        bone_check: keep each track's rigid bone lengths (:func:`~mocap.reconstruct.bones.rigid_bones`; median
            over the last ``bone_window`` frames where both ends were seen by ``bone_min_views`` cameras, used
            once ``bone_min_samples`` frames have one) and re-select the views of joints that break them
            (:meth:`_bone_recheck`).
        bone_tolerance, bone_tolerance_m: a bone is inconsistent beyond ``max(tolerance * length,
            tolerance_m)``.
        jump_m: a joint measured this far (metres) from a prediction fresh from the previous frame is re-checked
            too, and a re-selected view subset must lie within it.
        complete: fill joints of tracked people that the clustered views did not give from nearby detections
            (:meth:`_complete`).
        complete_radius_m: search radius of :meth:`_complete` around the prediction (metres, projected).
        fix_swaps: correct per-view left/right swaps against the other views before triangulating
            (:func:`~mocap.reconstruct.swaps.fix_swaps`; pairs from the joint set or ``lr_pairs``).
        lr_pairs: ``(left, right)`` joint index pairs for ``fix_swaps``.

    Attributes:
        tracks: the live :class:`PersonTrack` s (tentative ones included).
        stats: counters: joints ``rechecked`` (bone/jump), ``dropped`` (no acceptable view subset), ``completed``.

    Example:
        >>> mp = OnlineMultiPerson(rig, "coco17")  # doctest: +SKIP
        >>> out = mp.step(kp2d.data[t], kp2d.timestamps[t])  # (C, P, J, 3) -> MultiPersonFrame  # doctest: +SKIP
        >>> out.ids, out.xyzc.shape, out.states  # doctest: +SKIP
    """

    #: default ``hold_s`` (the offline pass holds joints at a track's edges as long)
    DEFAULT_HOLD_S = 0.5

    def __init__(self, rig, joint_set: str = "coco17", *, min_views: int = 2, min_conf: float = 0.1,
                 reproj_threshold_px: float = 15.0, refine: bool = False, prior_radius_m: float = 0.15,
                 max_ray_dist_m: float = 0.2, max_track_dist_m: float = 0.3, min_common_joints: int = 3,
                 min_affinity: float = 0.2, min_linkage: float = 0.35, min_joints: int = 5,
                 duplicate_dist_m: float = 0.3, gate_m: float = 0.5, min_hits: int = 2, confirm_views: int = 3,
                 min_hits_few_views: int = 5, max_misses: int = 10, hold_s: float = DEFAULT_HOLD_S,
                 coast_s: float = 0.2,
                 anchor_s: float = 1.0, velocity_smoothing: float = 0.5, max_speed_mps: float = 5.0,
                 bone_check: bool = True, bone_tolerance: float = 0.25, bone_tolerance_m: float = 0.05,
                 bone_window: int = 50, bone_min_samples: int = 5, bone_min_views: int = 2, jump_m: float = 0.3,
                 complete: bool = True, complete_radius_m: float = 0.2, fix_swaps: bool = False,
                 lr_pairs: Sequence[tuple[int, int]] | None = None) -> None:
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
        self.min_hits_few_views = max(int(min_hits_few_views), self.min_hits)
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
        self.stats = {"rechecked": 0, "dropped": 0, "completed": 0}
        self.complete = bool(complete)
        self.complete_radius_m = float(complete_radius_m)
        self.max_misses = int(max_misses)
        self.hold_s = float(hold_s)
        self.coast_s = float(coast_s)
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
    def _split(self, frame) -> tuple[list[np.ndarray], int | None]:
        """Per camera the people with at least one finite joint, and the joint count (None if unknown)."""
        C = len(self.rig)
        J = None
        if isinstance(frame, np.ndarray) or not isinstance(frame, Sequence):
            a = np.asarray(frame, dtype=float)
            if a.ndim != 4 or a.shape[0] != C or a.shape[-1] != 3:
                raise KeypointsError(f"frame has shape {a.shape}; expected (C={C}, P, J, 3)")
            frame, J = list(a), a.shape[2]
        if len(frame) != C:
            raise KeypointsError(f"got 2D people of {len(frame)} cameras; the rig has {C} "
                                 f"({', '.join(self.rig.names)})")
        out = []
        for c, p in enumerate(frame):
            p = np.asarray(p, dtype=float)
            if p.size == 0:
                p = p.reshape(0, J or 0, 3)
            if p.ndim != 3 or p.shape[-1] != 3:
                raise KeypointsError(f"camera '{self.rig.names[c]}': 2D people have shape {p.shape}; "
                                     "expected (P, J, 3)")
            if p.shape[0]:
                if J is not None and p.shape[1] != J:
                    raise KeypointsError(f"camera '{self.rig.names[c]}' has {p.shape[1]} joints per person, "
                                         f"other cameras {J}")
                J = p.shape[1]
            out.append(p[np.isfinite(p[..., :2]).all(-1).any(-1)])
        if self.tracks:
            J0 = self.tracks[0].X.shape[0]
            if J is not None and J != J0:
                raise KeypointsError(f"frame has {J} joints per person but the tracks have {J0}; call reset() "
                                     "when the joint set changes")
            J = J0
        return [p if len(p) else np.zeros((0, J or 0, 3)) for p in out], J

    def step(self, frame, t: float) -> MultiPersonFrame:
        """Process one synchronised frame.

        Args:
            frame: ``(C, P, J, 3)`` 2D people ``(u, v, confidence)`` in raw pixels, any person order per camera,
                all-NaN slots empty; or a list of ``C`` arrays ``(P_c, J, 3)``.
            t: frame time, seconds (increasing).

        Returns:
            :class:`MultiPersonFrame` with the output people (confirmed tracks) of this frame.
        """
        people2d, J = self._split(frame)
        C = len(self.rig)
        if J is None:  # nobody anywhere and no track: nothing to do
            return MultiPersonFrame(float(t), np.zeros(0, dtype=int), [], np.zeros((0, 0, 4)), np.zeros((0, 0), int),
                                    np.zeros((0, 0)), np.zeros((0, 0, 3)), np.zeros((0, C, 0, 3)), [],
                                    {"people_2d": 0, "clusters": 0, "single_view": 0, "rejected": 0, "new_tracks": 0})
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
        clusters = cluster_people(aff, counts_2d + [K], first=C, **self.cluster)
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
            owners = [tracks[k] if k >= 0 else None for _, k in groups]
            L, recent = self._track_priors(prior, owners)
            self._bone_recheck(res, obs, prior, L, recent)
            if self.complete:
                self._complete(res, obs, prior, L, owners, people2d)
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
                tr.max_views = max(tr.max_views, len(groups[claimed[k]][0]))
            else:
                tr.misses += 1
        track_of_group = {g: k for k, g in claimed.items()}
        for g in fresh:
            tr = PersonTrack(self._next_key, X[g].copy(), np.zeros((J, 3)),
                             np.where(valid[g], t, -np.inf), t)
            tr.max_views = len(groups[g][0])
            if tr.max_views >= min(self.confirm_views, C):
                tr.hits = max(tr.hits, self.min_hits)  # seen by enough cameras: confirmed at once
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
            strong = tr.max_views >= min(self.confirm_views, C)
            if tr.id < 0 and tr.hits >= (self.min_hits if strong else self.min_hits_few_views):
                tr.id = self._next_id
                self._next_id += 1
                tr.state = NEW
            elif tr.id >= 0:
                tr.state = TRACKED if tr.misses == 0 else PREDICTED
            if tr.id >= 0 and (tr.misses == 0 or t - tr.t <= self.coast_s):
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
        tentative = {tracks[k].key: obs[:, g] for g, k in track_of_group.items()
                     if tracks[k].id < 0 and tracks[k].misses <= self.max_misses}
        counts = {"people_2d": int(sum(counts_2d)), "clusters": len(groups), "single_view": single,
                  "rejected": rejected, "new_tracks": len(fresh)}
        return MultiPersonFrame(float(t), np.array([tracks[k].id for k in rows], dtype=int),
                                [tracks[k].state for k in rows], xyzc, n_views, err, vel, observations, lost, counts,
                                self.last_keys.copy(), tentative)

    def _track_priors(self, pred: np.ndarray, owners: list) -> tuple[np.ndarray, np.ndarray]:
        """Per group: the owner track's bone lengths ``(G, B)`` (NaN unknown) and ``(G, J)`` joints measured in
        the track's previous frame (their prediction is fresh)."""
        G, J = pred.shape[:2]
        L = np.full((G, len(self.bones)), np.nan)
        fresh = np.zeros((G, J), dtype=bool)
        for g, tr in enumerate(owners):
            lengths = None if tr is None else tr.bone_lengths(self.bone_min_samples)
            if lengths is not None:
                L[g] = lengths
            if tr is not None and tr.misses == 0:
                fresh[g] = (tr.seen_t == tr.t) & np.isfinite(pred[g]).all(-1)
        return L, fresh

    def _bone_recheck(self, res, obs: np.ndarray, pred: np.ndarray, L: np.ndarray, fresh: np.ndarray) -> None:
        """Re-select the views of joints that break their track's bones or jump away from it (in place).

        A joint is re-checked when :func:`~mocap.reconstruct.bones.inconsistent_joints` blames it for bones
        that disagree with its track's lengths, or when it lands more than ``jump_m`` from a fresh prediction.
        Its views are re-triangulated pair by pair and triple by triple (:meth:`_select_views`); with no
        acceptable subset it is dropped (and output from the track's prediction).
        """
        from mocap.reconstruct.bones import inconsistent_joints

        with np.errstate(invalid="ignore"):
            bad = fresh & (np.linalg.norm(res.X - pred, axis=-1) > self.jump_m)
            if self.bones:
                bad |= inconsistent_joints(res.X[None], L, self.bones, self.bone_tolerance, self.bone_tolerance_m)[0]
        bad &= np.isfinite(res.X).all(-1)
        gi, ji = np.nonzero(bad)
        if gi.size:
            self._select_views(res, obs[:, gi, ji], gi, ji, bad, pred, fresh, L)
            self.stats["rechecked"] += gi.size

    def _complete(self, res, obs: np.ndarray, pred: np.ndarray, L: np.ndarray, owners: list,
                  people2d: list[np.ndarray]) -> None:
        """Fill joints of tracked people that nothing measured from nearby detections (in place).

        For a joint the track saw within ``anchor_s`` but this frame's clustered views did not triangulate,
        every view offers the detection of that joint nearest the projection of the track's prediction (within
        ``complete_radius_m`` at that depth) among the 2D people of that view whose joint no group uses (a
        fragment, or a person no other view agreed with). The candidates are then selected
        like re-checked joints (:meth:`_select_views`: views that agree, bones consistent, near the prediction).
        """
        G, J = pred.shape[:2]
        C = len(self.rig)
        todo = ~np.isfinite(res.X).all(-1) & np.isfinite(pred).all(-1)
        todo &= np.array([tr is not None for tr in owners])[:, None]
        gi, ji = np.nonzero(todo)
        if gi.size == 0:
            return
        cand = np.full((C, gi.size, 3), np.nan)
        for c, cam in enumerate(self.rig):
            q = cam.project(pred[gi, ji])  # (F, 2)
            depth = (pred[gi, ji] - cam.center) @ cam.R[2]
            r_px = cam.K[0, 0] * self.complete_radius_m / np.maximum(depth, 1e-6)
            for f, j in enumerate(ji):
                if not np.isfinite(q[f]).all():
                    continue
                pool = people2d[c][:, j]
                taken = obs[c, :, j, :2]  # the joint as used by every group in this view
                taken = taken[np.isfinite(taken).all(-1)]
                if not len(pool):
                    continue
                ok = np.isfinite(pool[:, :2]).all(-1) & (np.nan_to_num(pool[:, 2]) >= self.tri_opts["min_conf"])
                if len(taken):
                    ok &= np.min(np.linalg.norm(pool[:, None, :2] - taken[None], axis=-1), axis=1) > 1.0
                d = np.linalg.norm(pool[:, :2] - q[f], axis=-1)
                d = np.where(ok & (d <= r_px[f]), d, np.inf)
                if np.isfinite(d).any():
                    cand[c, f] = pool[int(np.argmin(d))]
        done = self._select_views(res, cand, gi, ji, np.zeros((G, J), dtype=bool), pred,
                                  np.ones((G, J), dtype=bool), L, drop=False)
        for f in np.flatnonzero(done):
            obs[:, gi[f], ji[f]] = cand[:, f]
        self.stats["completed"] += int(done.sum())

    def _select_views(self, res, cand: np.ndarray, gi: np.ndarray, ji: np.ndarray, bad: np.ndarray, pred: np.ndarray,
                      near_pred: np.ndarray, L: np.ndarray, drop: bool = True) -> np.ndarray:
        """Pick, for joints ``(gi, ji)``, the best subset of their candidate views ``cand (C, F, 3)``.

        Every pair and triple of views is triangulated; a subset qualifies when all its views agree within the
        reprojection threshold, its point keeps the bones to the joint's trusted (not ``bad``) neighbours within
        tolerance, and (where ``near_pred``) lies within ``jump_m`` of the prediction. The qualifying subset with
        the most views, then the smallest error, replaces the joint in ``res``; joints without one are dropped
        when ``drop``. Returns ``(F,)`` bool: joints given a subset.
        """
        from mocap.reconstruct.bones import bone_deviation
        from mocap.reconstruct.sequence import _view_subsets

        F = gi.size
        subsets = _view_subsets(len(self.rig))  # (S, C)
        S = len(subsets)
        min_conf = self.tri_opts["min_conf"]
        uv_s = np.where(subsets.T[:, :, None, None], cand[:, None, :, :2], np.nan)  # (C, S, F, 2)
        cf_s = np.where(subsets.T[:, :, None], cand[:, None, :, 2], np.nan)
        sub = triangulate(self.rig, uv_s, cf_s, min_views=2, min_conf=min_conf,
                          reproj_threshold_px=self.tri_opts["reproj_threshold_px"], raw_pixel_errors=False)
        usable = np.isfinite(uv_s).all(-1) & (np.nan_to_num(cf_s) >= min_conf)  # (C, S, F)
        size = subsets.sum(1)
        good = (sub.n_views == usable.sum(0)) & (usable.sum(0) == size[:, None]) & np.isfinite(sub.X).all(-1)
        if self.bones:
            Xc = np.repeat(res.X[gi][None], S, axis=0)  # (S, F, J, 3)
            Xc[:, np.arange(F), ji] = sub.X
            with np.errstate(invalid="ignore"):
                dev = bone_deviation(Xc, L[gi], self.bones, self.bone_tolerance, self.bone_tolerance_m)  # (S, F, B)
            b = np.asarray(self.bones, dtype=int)
            at = (b[None, :, 0] == ji[:, None]) | (b[None, :, 1] == ji[:, None])  # (F, B) bones at the joint
            other = np.where(b[None, :, 0] == ji[:, None], b[None, :, 1], b[None, :, 0])
            trusted = at & ~bad[gi[:, None], other] & np.isfinite(res.X[gi[:, None], other]).all(-1)
            with np.errstate(invalid="ignore"):
                good &= ~(np.where(trusted[None], dev, np.nan) > 1.0).any(-1)  # NaN (no trusted bone) passes
        with np.errstate(invalid="ignore"):
            far = np.linalg.norm(sub.X - pred[gi, ji][None], axis=-1) > self.jump_m
        good &= ~(far & near_pred[gi, ji][None])
        score = np.where(good, size[:, None] * 1e3 - np.nan_to_num(sub.reproj_error_px, nan=1e3), -np.inf)
        best = np.argmax(score, axis=0)
        found = np.isfinite(score[best, np.arange(F)])
        for f in range(F):
            g, j, s = gi[f], ji[f], best[f]
            if found[f]:
                res.X[g, j] = sub.X[s, f]
                res.n_views[g, j] = int(size[s])
                res.reproj_error_px[g, j] = sub.reproj_error_px[s, f]
                res.confidence[g, j] = sub.confidence[s, f]
                res.used[:, g, j] = usable[:, s, f]
                res.reason[g, j] = 0
            elif drop:
                res.X[g, j] = np.nan
                res.n_views[g, j] = 0
                res.reproj_error_px[g, j] = np.nan
                res.confidence[g, j] = np.nan
                res.used[:, g, j] = False
                res.reason[g, j] = REASON_BONE
        if drop:
            self.stats["dropped"] += int((~found).sum())
        return found

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


__all__ = ["OnlineMultiPerson", "MultiPersonFrame", "PersonTrack", "NEW", "TRACKED", "PREDICTED", "LOST"]
