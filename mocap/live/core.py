"""The online core: synchronised per-camera 2D keypoints -> filtered, tracked 3D skeletons (+ optional body fit).

One object, :class:`FusionCore`, used by the ROS 2 fusion node and by ``mocap live`` alike (build it with
:meth:`FusionCore.from_params` so both read the same options). Its output is the skeleton-stream contract of
:mod:`mocap.live.stream`: every :meth:`FusionCore.process` returns a :class:`FrameResult` holding a
:class:`~mocap.live.stream.SkeletonFrame` (people with tracking state, positions, local/global orientations,
velocities, views used and reprojection error per joint, frame index) and, when it is new or changed, the
:class:`~mocap.live.stream.SkeletonDescription` to hand to consumers first.

Thin over the library, causal (no future frames), the same math as the offline path:
:class:`mocap.reconstruct.OnlineTriangulator` (triangulate + filter) or, with several people per camera,
:func:`mocap.reconstruct.association.reconstruct_frame` + a filter per track; :class:`~mocap.reconstruct.tracking.
PeopleTracker` for stable ids; optionally :class:`mocap.reconstruct.imu_fusion.ImuFusionStep` (body-worn IMUs fill
the joints vision loses) and :class:`mocap.body.fit.OnlineFitter`. The body fit can run apart from the triangulation
(:meth:`FusionCore.process` with ``fit=False``, later :meth:`FusionCore.fit`); :class:`LatestSlot` hands the newest
frame to it, so a slow fit never queues frames up.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mocap.errors import MocapError
from mocap.live.params import CORE_PARAMS
from mocap.live.stream import PersonSkeleton, SkeletonDescription, SkeletonFrame, TrackState, identity_quats
from mocap.reconstruct import OnlineTriangulator
from mocap.reconstruct.association import reconstruct_frame
from mocap.reconstruct.filters import GatedKalmanFilter, OneEuroFilter
from mocap.reconstruct.imu_fusion import ImuFusionStep, ImuSegment
from mocap.reconstruct.tracking import PeopleTracker
from mocap.skeletons import get_joint_set
from mocap.skeletons.orientations import global_from_local, joint_orientations, offsets_in_parent_frames

FILTERS = ("one_euro", "kalman", "none")


def make_filter(name: str | None, **opts) -> OneEuroFilter | GatedKalmanFilter | None:
    """A new stateful 3D filter by name: ``"one_euro"`` (:class:`~mocap.reconstruct.filters.OneEuroFilter`),
    ``"kalman"`` (:class:`~mocap.reconstruct.filters.GatedKalmanFilter`, as the single-person path's
    :class:`~mocap.reconstruct.OnlineTriangulator`), or None for ``"none"`` / ``""`` / None."""
    if name in (None, "", "none"):
        return None
    if name == "one_euro":
        return OneEuroFilter(**opts)
    if name == "kalman":
        return GatedKalmanFilter(**opts)
    raise MocapError(f"unknown filter {name!r}", hint=f"choose one of {', '.join(FILTERS)}")


def make_fitter_factory(body_model: str, body_model_path: str = "", fps: float = 30.0, fit_threads: int = 1,
                        fit_reinit_m: float = 0.1) -> Callable[[str], Any] | None:
    """A callable ``joint_set -> OnlineFitter`` (one per tracked person; the model is loaded once, now), or None
    when ``body_model`` is empty.

    ``fit_threads`` > 0 sets torch's thread count process-wide (the fit's small batched ops are fastest on one
    thread). A person's fit is re-initialised only when its mean keypoint residual exceeds ``fit_reinit_m``: a
    re-initialisation costs 50-70 ms, and at the offline default (6 cm) it fired about once per 60 frames on a CMU
    clip without lowering the residual.
    """
    if not body_model:
        return None
    if body_model not in ("anny", "smplx"):
        raise MocapError(f"body_model must be '', 'anny' or 'smplx', not {body_model!r}")
    import torch

    from mocap.body.fit import FitConfig, OnlineFitter

    if body_model == "anny":
        from mocap.body.anny_model import AnnyModel

        model = AnnyModel()
    else:
        from mocap.body.smplx_model import SmplxModel

        model = SmplxModel(body_model_path or None)
    threads = int(fit_threads)
    if threads > 0:
        torch.set_num_threads(threads)
    cfg = FitConfig(threads=threads if threads > 0 else None, reinit_m=float(fit_reinit_m))

    def factory(joint_set: str) -> OnlineFitter:
        return OnlineFitter(model, list(get_joint_set(joint_set).joints), config=cfg, fps=fps, joint_set=joint_set)

    factory.model = model  # type: ignore[attr-defined]
    return factory


@dataclass
class FrameResult:
    """The output of one synchronised frame.

    Attributes:
        frame: the stream frame (:class:`~mocap.live.stream.SkeletonFrame`): people in the order lost after a
            reset, new/tracked, predicted, lost.
        descriptions: skeleton descriptions that are new or changed with this frame (hand them to consumers before
            ``frame``); :meth:`FusionCore.description` gives the current one at any time.
        warnings: problems of this frame (a camera with the wrong joint count, a failed fit), one line each.
        process_s: processing time, seconds.
        multi_person: True when the frame went through cross-view association + tracking.
        people: person id -> ``(J, 4)`` triangulated xyz + confidence of the people measured this frame, the input
            of :meth:`FusionCore.fit` (the body fit may be deferred with ``process(..., fit=False)``).
        live_ids: ids of the tracks alive at this frame (fitters of other ids are dropped by the fit).
        epoch: :meth:`FusionCore.reset` count when the frame was processed (the fit resets its fitters on a change).
        fitted: True when the skeletons are the body model's.
    """

    frame: SkeletonFrame
    descriptions: list[SkeletonDescription] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    process_s: float = 0.0
    multi_person: bool = False
    people: dict[int, np.ndarray] = field(default_factory=dict)
    live_ids: frozenset[int] = frozenset()
    epoch: int = 0
    fitted: bool = False

    @property
    def stamp(self) -> float:
        """Capture time of the frame, seconds."""
        return self.frame.stamp

    @property
    def joint_set(self) -> str:
        """Joint set of the skeletons (the body model's when fitted)."""
        return self.frame.joint_set

    @property
    def cameras(self) -> list[str]:
        """Cameras whose keypoints went into this frame."""
        return self.frame.cameras

    @property
    def skeletons(self) -> list[PersonSkeleton]:
        """The people of the frame (``frame.people``)."""
        return self.frame.people


class FusionCore:
    """Triangulate, filter and track people from synchronised per-camera ``(P, J, 3)`` arrays.

    Two paths, chosen per frame:

    - single person (the fast default, when every camera sees at most one person): the views are triangulated
      directly by :class:`mocap.reconstruct.OnlineTriangulator` (robust view selection, optional prior, filter);
    - several people (some camera sees more than one): the people are associated across views and triangulated by
      :func:`mocap.reconstruct.association.reconstruct_frame`, then filtered per track.

    In both paths :class:`mocap.reconstruct.tracking.PeopleTracker` gives each person a stable id (the
    ``person_id`` of the output); with ``track_min_hits=1`` the first person seen is id 0 at once. People whose
    track is still tentative (``track_min_hits > 1``) are not output. Output states (:class:`TrackState`): ``new``
    on the first frame of an id, ``tracked`` while measured, ``predicted`` (only with ``predict_s`` > 0) while no
    camera sees a live track (positions extrapolated by the tracker, joint confidences half the last ones), and
    ``lost`` once, with no joints, when the tracker retires an id (``track_max_misses`` frames unseen). After
    :meth:`reset` every id output before is reported ``lost`` first in the next frame's list, and ids restart at 0.
    Velocities are backward differences of a person's consecutive output positions (NaN across gaps > 0.25 s).

    Args:
        rig: calibrated :class:`~mocap.cameras.CameraRig`; its camera names are the cameras used.
        joint_set: joint-set name of the 2D keypoints (its joint count is enforced), or None / ``""`` to adopt the
            first frame's (:meth:`check_frame` with ``joint_set``); mixed joint sets are refused.
        filter: ``"kalman"`` (default), ``"one_euro"`` or ``"none"``.
        filter_opts: options of the filter class.
        triangulate_opts: options of :class:`mocap.reconstruct.OnlineTriangulator` and
            :func:`mocap.reconstruct.triangulate` (``min_conf``, ``reproj_threshold_px``, ``soft_factor``,
            ``fallback_factor``, ``refine``, ``min_views``, ``bones``); OnlineTriangulator's defaults otherwise.
        use_prior: use the previous output as the triangulation prior (single-person path).
        fitter_factory: optional callable ``joint_set -> OnlineFitter`` (:func:`make_fitter_factory`; one fitter per
            tracked person; its model's skeleton replaces the keypoints').
        min_joints: fewer reconstructed joints than this -> no skeleton for that person.
        multi_person: allow the multi-person path (False: always fuse the most confident detection per camera).
        tracker_opts: options of :class:`~mocap.reconstruct.tracking.PeopleTracker` (``gate_m``, ``min_hits``,
            ``max_misses``); default ``min_hits=1``.
        association_opts: extra options of :func:`~mocap.reconstruct.association.reconstruct_frame`.
        imu_segments: optional body-worn IMUs, sensor name -> ``"parent:child"`` joint names of the bone it is strapped
            to (e.g. ``{"/imu/left_forearm": "left_elbow:left_wrist"}``). Feed samples with :meth:`add_imu`; on the
            single-person path every frame then goes through :class:`~mocap.reconstruct.imu_fusion.ImuFusionStep`,
            which aligns each IMU to its bone from frames where vision sees both joints and afterwards rebuilds the
            child joint when vision loses it (parent + bone length * fused orientation; confidence half the
            parent's). The multi-person path is not IMU-fused (which person wears the IMU is unknown).
        imu_opts: options of :class:`~mocap.reconstruct.imu_fusion.ImuFusionStep` (``min_align_frames``,
            ``min_conf``, ``max_residual_rad``, filter options).
        imu_max_age_s: a sensor whose newest sample is older than this at a frame counts as silent (NaN sample).
        predict_s: output live tracks that no camera sees this frame as ``predicted`` for up to this long (0: off).
        world_frame: frame name given to the skeleton descriptions.
    """

    def __init__(self, rig, joint_set: str | None = None, filter: str = "kalman", filter_opts: dict | None = None,
                 triangulate_opts: dict | None = None, use_prior: bool = True, fitter_factory=None,
                 min_joints: int = 3, multi_person: bool = True, tracker_opts: dict | None = None,
                 association_opts: dict | None = None, imu_segments: dict[str, str] | None = None,
                 imu_opts: dict | None = None, imu_max_age_s: float = 0.1, predict_s: float = 0.0,
                 world_frame: str = "world") -> None:
        if filter not in (*FILTERS, "", None):
            raise MocapError(f"unknown filter {filter!r}", hint=f"choose one of {', '.join(FILTERS)}")
        self.rig = rig
        self.cameras = list(rig.names)
        self.filter_name = None if filter in ("none", "", None) else filter
        self.filter_opts = dict(filter_opts or {})
        self.topts = dict(triangulate_opts or {})
        self.use_prior = bool(use_prior)
        self.fitter_factory = fitter_factory
        self.min_joints = int(min_joints)
        self.multi_person = bool(multi_person)
        self.tracker = PeopleTracker(**{"min_hits": 1, **(tracker_opts or {})})
        self._association_opts = dict(association_opts or {})
        self.predict_s = float(predict_s)
        self.world_frame = world_frame
        self._filters: dict[int, object] = {}  # track key -> filter (multi-person path)
        self._fitters: dict[int, object] = {}  # person id -> OnlineFitter (touched by fit() only)
        self._spare = None  # a fitter built ahead (no first-frame stall)
        model = getattr(fitter_factory, "model", None)
        self._model_name = str(getattr(model, "name", "") or "")
        self._epoch = 0  # reset() count; fit() resets its fitters when a frame carries a newer one
        self._fit_epoch = 0
        self._frame_index = 0
        self._last: dict[int, tuple[float, np.ndarray, np.ndarray]] = {}  # id -> (stamp, X, conf) last output
        self._last_fit: dict[int, tuple[float, np.ndarray]] = {}  # id -> (stamp, X) last fitted output
        self._reset_lost: set[int] = set()  # ids output before a reset(), still to be reported lost
        self._descriptions: dict[int, SkeletonDescription] = {}  # person id (-1: everybody) -> description
        self._fit_descriptions: dict[int, SkeletonDescription] = {}
        self._described_joints = -1  # finite joints of the frame the keypoint description was made from
        #: body-fit counters: ``fitted`` frames, ``cold_starts`` (a fitter without a previous frame: new person or
        #: after a reset), ``fit_s`` total fit wall time, ``fit_cpu_s`` its CPU time (thread), ``max_fit_s`` the
        #: slowest frame (wall); wall >> CPU means the fit was waiting for a core
        self.fit_stats = {"fitted": 0, "cold_starts": 0, "fit_s": 0.0, "fit_cpu_s": 0.0, "max_fit_s": 0.0}
        self._imu_specs = dict(imu_segments or {})
        self.imu_sensors = list(self._imu_specs)
        self.imu_opts = dict(imu_opts or {})
        self.imu_max_age_s = float(imu_max_age_s)
        self._imu_buf: dict[str, deque] = {n: deque(maxlen=1000) for n in self.imu_sensors}
        #: IMU counters: ``samples`` received, ``filled`` joints rebuilt from IMUs, ``dropped`` samples out of order
        self.imu_stats = {"samples": 0, "filled": 0, "dropped": 0}
        self.joint_set = None
        self.J = 0
        if joint_set:
            self._configure(joint_set)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_params(cls, rig, params: Mapping[str, Any] | None = None, cameras: list[str] | None = None,
                    world_frame: str = "world", **overrides) -> FusionCore:
        """Build a core from flat options named as in :data:`CORE_PARAMS` (the ROS node's parameters).

        Args:
            rig: a :class:`~mocap.cameras.CameraRig` or a calibration file (any format mocap reads).
            params: options; keys that are not core options (e.g. the node's topics) are ignored, missing ones take
                the defaults of :data:`CORE_PARAMS`.
            cameras: use only these cameras of the rig (None or empty: all), in this order.
            world_frame: frame name of the skeleton descriptions.
            **overrides: more options (must be core options).

        Raises:
            MocapError: an unknown override, camera, filter, body model or IMU segment.
        """
        bad = [k for k in overrides if k not in CORE_PARAMS]
        if bad:
            raise MocapError(f"unknown core option(s) {bad}", hint=f"known: {', '.join(CORE_PARAMS)}")
        p = {**CORE_PARAMS, **{k: v for k, v in (params or {}).items() if k in CORE_PARAMS}, **overrides}
        if isinstance(rig, str | Path):
            if not str(rig):
                raise MocapError("no calibration file given", hint="set 'calibration' to a calibration file (any "
                                 "format mocap reads, e.g. calibration.toml)")
            from mocap.cameras.formats import read_calibration

            src, rig = str(rig), read_calibration(rig)
        else:
            src = "the calibration"
        cams = [c for c in (cameras or []) if c]
        if cams:
            unknown = [c for c in cams if c not in rig.names]
            if unknown:
                raise MocapError(f"cameras {unknown} are not in {src} (it has {list(rig.names)})",
                                 hint="pass camera names as in the calibration file")
            rig = rig.subset(cams)
        fopts = {"min_cutoff": float(p["filter_min_cutoff"]), "beta": float(p["filter_beta"]),
                 "d_cutoff": float(p["filter_d_cutoff"])} if p["filter"] == "one_euro" else {}
        thr = float(p["reproj_threshold_px"])
        topts = {"min_conf": float(p["min_conf"]), "reproj_threshold_px": thr if thr > 0 else "auto",
                 "soft_factor": float(p["soft_factor"]), "fallback_factor": float(p["fallback_factor"]),
                 "refine": bool(p["refine"]), "min_views": max(2, int(p["min_views"])), "bones": bool(p["bones"])}
        tracker = {"gate_m": float(p["track_gate_m"]), "min_hits": int(p["track_min_hits"]),
                   "max_misses": int(p["track_max_misses"])}
        imu_topics = [t for t in p["imu_topics"] if t]
        imu_segs = [s for s in p["imu_segments"] if s]
        if len(imu_topics) != len(imu_segs):
            raise MocapError(f"imu_topics has {len(imu_topics)} entries but imu_segments {len(imu_segs)}",
                             hint="give one 'parent:child' joint pair per IMU")
        factory = make_fitter_factory(p["body_model"], p["body_model_path"], float(p["fps"]), int(p["fit_threads"]),
                                      float(p["fit_reinit_m"]))
        return cls(rig, p["joint_set"] or None, filter=p["filter"], filter_opts=fopts, triangulate_opts=topts,
                   use_prior=bool(p["use_prior"]), fitter_factory=factory, multi_person=bool(p["multi_person"]),
                   tracker_opts=tracker, imu_segments=dict(zip(imu_topics, imu_segs, strict=True)),
                   imu_opts={"min_align_frames": int(p["imu_min_align_frames"])},
                   imu_max_age_s=float(p["imu_max_age_s"]), predict_s=float(p["predict_s"]), world_frame=world_frame)

    def _configure(self, joint_set: str) -> None:
        """Set the keypoint joint set and build what depends on it."""
        try:
            js = get_joint_set(joint_set)
        except (KeyError, ValueError, MocapError) as e:
            raise MocapError(f"unknown joint set {joint_set!r} ({e})") from None
        self.joint_set = js
        self.J = len(js.joints)
        self.parents = np.asarray(js.parents, int)
        self.bones = [(p, c) for c, p in enumerate(self.parents) if p >= 0]
        self.tri = OnlineTriangulator(self.rig, js.name, filter=self.filter_name, filter_opts=self.filter_opts,
                                      use_prior=self.use_prior, **self.topts)
        aopts = {k: self.topts[k] for k in ("min_conf", "reproj_threshold_px", "min_views") if k in self.topts}
        if isinstance(aopts.get("reproj_threshold_px"), str):  # "auto": the multi-person path keeps the base
            from mocap.reconstruct.triangulation import AUTO_BASE_PX

            aopts["reproj_threshold_px"] = AUTO_BASE_PX
        self.assoc_opts = {"lr_pairs": list(js.lr_pairs), "min_joints": self.min_joints, **aopts,
                           **self._association_opts}
        self.imu_segments = [self._imu_segment(n, spec) for n, spec in self._imu_specs.items()]
        self.imu_fusion = ImuFusionStep(self.imu_segments, self.imu_sensors, **self.imu_opts) \
            if self.imu_segments else None
        if self.fitter_factory is not None and self._spare is None:
            self._spare = self.fitter_factory(js.name)
            if not self._model_name:
                self._model_name = str(getattr(self._spare.model, "name", "") or "")

    def _imu_segment(self, sensor: str, spec: str) -> ImuSegment:
        parts = [x.strip() for x in str(spec).split(":")]
        names = list(self.joint_set.joints)
        if len(parts) != 2 or any(x not in names for x in parts):
            raise MocapError(f"IMU {sensor!r}: segment {spec!r} must be 'parent:child' with two joint names of "
                             f"{self.joint_set.name} ({', '.join(names)})", hint="e.g. left_elbow:left_wrist")
        return ImuSegment(sensor, names.index(parts[0]), names.index(parts[1]), name=sensor)

    # ------------------------------------------------------------------ IMUs
    def add_imu(self, sensor: str, stamp: float, quat_xyzw, gyro=None) -> bool:
        """Store one IMU sample (``sensor_msgs/Imu``): orientation ``(4,)`` xyzw (NaN if the device gives none),
        angular velocity ``(3,)`` rad/s in the sensor frame (or None), ``stamp`` seconds on the cameras' clock.

        Returns False (sample ignored) for a sensor not in ``imu_segments`` or a stamp older than the newest one.
        """
        buf = self._imu_buf.get(sensor)
        if buf is None:
            return False
        if buf and stamp <= buf[-1][0]:
            self.imu_stats["dropped"] += 1
            return False
        q = np.asarray(quat_xyzw, float).reshape(4)
        g = np.full(3, np.nan) if gyro is None else np.asarray(gyro, float).reshape(3)
        n = np.linalg.norm(q)
        buf.append((float(stamp), q / n if np.isfinite(n) and n > 1e-9 else np.full(4, np.nan), g))
        self.imu_stats["samples"] += 1
        return True

    def imu_at(self, stamp: float) -> tuple[np.ndarray, np.ndarray]:
        """``(S, 4)`` orientations (slerped between the samples around ``stamp``) and ``(S, 3)`` angular velocities
        of the IMU sensors at ``stamp``; NaN for a sensor without a sample within ``imu_max_age_s``."""
        S = len(self.imu_sensors)
        q, g = np.full((S, 4), np.nan), np.full((S, 3), np.nan)
        for s, name in enumerate(self.imu_sensors):
            buf = self._imu_buf[name]
            if not buf:
                continue
            ts = [b[0] for b in buf]
            k = bisect.bisect_left(ts, stamp)
            if k < len(buf) and ts[k] == stamp:
                q[s], g[s] = buf[k][1], buf[k][2]
            elif 0 < k < len(buf):  # bracketed: interpolate
                (t0, q0, g0), (t1, q1, g1) = buf[k - 1], buf[k]
                if t1 - t0 <= 2 * self.imu_max_age_s:
                    a = (stamp - t0) / (t1 - t0)
                    q[s], g[s] = _slerp(q0, q1, a), (1 - a) * g0 + a * g1
            else:  # before the first or after the newest sample: the nearest, if recent enough
                t0, q0, g0 = buf[min(k, len(buf) - 1)]
                if abs(stamp - t0) <= self.imu_max_age_s:
                    q[s], g[s] = q0, g0
        return q, g

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget filter, tracker and fitter state (after a clock jump or a long gap); the people output so far
        are reported ``lost`` at the start of the next frame's people.

        The fitters are reset by the next :meth:`fit` (which may run on another thread), not here.
        """
        if self.joint_set is not None:
            self.tri.reset()
            if self.imu_fusion is not None:  # keep the IMU alignments: the straps did not move
                self.imu_fusion = ImuFusionStep(self.imu_segments, self.imu_sensors,
                                                alignments=self.imu_fusion.alignments, **self.imu_opts)
        self.tracker.reset()
        self._filters.clear()
        self._reset_lost |= set(self._last)  # reported lost with the next frame; ids restart from 0
        self._last.clear()
        self._epoch += 1

    def check_frame(self, camera: str, kp: np.ndarray, joint_set: str = "") -> str | None:
        """A warning if one camera's ``(P, J, 3)`` array cannot be used, else None.

        ``joint_set``: the joint-set name the camera sends (e.g. ``Keypoints2D.joint_set``); a core without a joint
        set adopts the first one it is given. Refused: a joint set other than the core's, a wrong joint count.
        """
        if joint_set and self.joint_set is None:
            self._configure(joint_set)
        if self.joint_set is None:
            return (f"camera {camera!r}: keypoints without a joint-set name and no joint set configured; "
                    "camera ignored (set joint_set)")
        if joint_set and joint_set != self.joint_set.name:
            return (f"camera {camera!r}: sends joint set {joint_set} but the fusion uses {self.joint_set.name} "
                    "(adopted from the first camera heard, or configured); mixed joint sets cannot be fused; "
                    "camera ignored (give every camera node the same detector/joint_set)")
        if kp.ndim != 3 or kp.shape[1] != self.J or kp.shape[2] != 3:
            return (f"camera {camera!r}: keypoints have {kp.shape[1] if kp.ndim == 3 else '?'} joints but joint set "
                    f"{self.joint_set.name} has {self.J}; check the camera node's detector/joint_set; camera ignored")
        return None

    @property
    def fits(self) -> bool:
        """True when a body model is fitted (``fitter_factory`` given)."""
        return self.fitter_factory is not None

    @property
    def frame_index(self) -> int:
        """Index the next processed frame gets."""
        return self._frame_index

    def description(self, person_id: int = -1, fitted: bool | None = None) -> SkeletonDescription | None:
        """The current skeleton description of ``person_id`` (its own, else the one for everybody), or None
        before the first person was output. ``fitted``: the body model's (default: when fitting)."""
        table = self._fit_descriptions if (self.fits if fitted is None else fitted) else self._descriptions
        return table.get(person_id, table.get(-1))

    # ------------------------------------------------------------------ per frame
    def process(self, stamp: float, frames: dict[str, np.ndarray | None], fit: bool = True) -> FrameResult:
        """Reconstruct one synchronised frame. ``frames``: camera -> ``(P, J, 3)`` or None (missing).

        Every camera's array goes through :meth:`check_frame` (unusable ones are left out with a warning). With a
        body model and ``fit=False`` the result holds the triangulated skeletons (keypoint joint set) and
        ``people``; pass it to :meth:`fit` (on any one thread) for the body model's skeletons.
        """
        t0 = time.perf_counter()
        warnings: list[str] = []
        frames = dict(frames)
        for c in self.cameras:
            kp = frames.get(c)
            if kp is not None:
                kp = np.asarray(kp, float)
                problem = self.check_frame(c, kp)
                if problem:
                    warnings.append(problem)
                frames[c] = None if problem else kp
        index = self._frame_index
        self._frame_index += 1
        used = [c for c in self.cameras if frames.get(c) is not None]
        if self.joint_set is None:
            frame = SkeletonFrame(stamp, index, [], "", used)
            return FrameResult(frame, [], warnings, time.perf_counter() - t0, epoch=self._epoch)
        multi = self.multi_person and any(len(frames[c]) > 1 for c in used)
        people, nviews, err = self._associate(frames) if multi else self._single(stamp, frames)
        keep = np.isfinite(people[..., :3]).all(-1).sum(-1) >= self.min_joints
        people, nviews, err = people[keep], nviews[keep], err[keep]
        ids = self.tracker.step(people, stamp)
        if multi and self.filter_name is not None:  # the single path is filtered by its OnlineTriangulator
            people = np.stack([self._filtered(int(k), xyzc, stamp) for k, xyzc in
                               zip(self.tracker.last_keys, people, strict=True)]) if len(people) else people
        out = [_lost_person(pid, self.J) for pid in sorted(self._reset_lost)]
        self._reset_lost.clear()
        todo = {}
        for xyzc, nv, er, pid in zip(people, nviews, err, ids.tolist(), strict=True):
            if pid < 0:  # tentative track
                continue
            todo[int(pid)] = xyzc
            state = TrackState.TRACKED if pid in self._last else TrackState.NEW
            out.append(self._keypoint_person(int(pid), xyzc, nv, er, stamp, state))
        out += self._predicted_and_lost(stamp, set(todo))
        self._forget_lost()
        descriptions = self._describe_keypoints(out)
        res = FrameResult(SkeletonFrame(stamp, index, out, self.joint_set.name, used), descriptions, warnings,
                          time.perf_counter() - t0, multi, people=todo,
                          live_ids=frozenset(tr.id for tr in self.tracker.tracks), epoch=self._epoch)
        if fit and self.fits:
            res = self.fit(res)
            res.process_s = time.perf_counter() - t0
        return res

    def fit(self, res: FrameResult) -> FrameResult:
        """The body model's skeletons of a frame from :meth:`process` (``fit=False``); call from one thread only.

        Each tracked person keeps a warm-started :class:`~mocap.body.fit.OnlineFitter` (a fitter starts cold only for
        a new person or after :meth:`reset`); fitters of tracks no longer alive are dropped. A person whose fit
        fails is left out with a warning; ``predicted`` people are left out (nothing to fit), ``lost`` ones are
        passed on. Returns a new :class:`FrameResult` (``fitted=True``) with the body model's description when it
        is new or changed.
        """
        if not self.fits:
            raise RuntimeError("FusionCore.fit needs a fitter_factory")
        t0, c0 = time.perf_counter(), time.thread_time()
        if res.epoch != self._fit_epoch:
            self._fit_epoch = res.epoch
            for f in self._fitters.values():
                f.reset()
        for i in [i for i in self._fitters if i not in res.live_ids]:
            del self._fitters[i]
        warnings: list[str] = []
        descriptions: list[SkeletonDescription] = []
        people = []
        for p in res.frame.people:
            if p.state is TrackState.LOST:
                self._last_fit.pop(p.person_id, None)
                J = self.description(fitted=True).n_joints if self.description(fitted=True) else 0
                people.append(_lost_person(p.person_id, J))
            elif p.person_id in res.people:
                sk = self._fitted_person(p, res.people[p.person_id], res.stamp, warnings, descriptions)
                if sk is not None:
                    people.append(sk)
        dt = time.perf_counter() - t0
        st = self.fit_stats
        st["fitted"] += 1
        st["fit_s"] += dt
        st["fit_cpu_s"] += time.thread_time() - c0
        st["max_fit_s"] = max(st["max_fit_s"], dt)
        f = res.frame
        frame = SkeletonFrame(f.stamp, f.frame_index, people, self._model_name or f.joint_set, f.cameras,
                              f.latency_s)
        return FrameResult(frame, descriptions, res.warnings + warnings, res.process_s + dt, res.multi_person,
                           res.people, res.live_ids, res.epoch, fitted=True)

    # ------------------------------------------------------------------ the two paths
    def _single(self, stamp: float, frames: dict[str, np.ndarray | None]) -> tuple[np.ndarray, ...]:
        """``(0 or 1, J, 4)`` people, ``(.., J)`` views used and reprojection errors: the most confident detection of
        every camera, triangulated and filtered."""
        C = len(self.cameras)
        uvc = np.full((C, self.J, 3), np.nan)
        for c, name in enumerate(self.cameras):
            kp = frames.get(name)
            if kp is None or len(kp) == 0:
                continue
            uvc[c] = kp[int(np.argmax(np.nan_to_num(kp[:, :, 2]).sum(1)))] if kp.shape[0] > 1 else kp[0]
        xyzc = self.tri.step(uvc[..., :2], uvc[..., 2], stamp)
        tri = self.tri.last_result
        nviews = np.where(np.isfinite(xyzc[:, 0]), tri.n_views, 0)
        err = np.where(np.isfinite(xyzc[:, 0]), tri.reproj_error_px, np.nan)
        if self.imu_fusion is not None and np.isfinite(xyzc[:, :3]).all(-1).any():
            q, g = self.imu_at(stamp)
            seen = np.isfinite(xyzc[:, :3]).all(-1)
            xyzc = self.imu_fusion.step(xyzc, q, g, stamp)
            self.imu_stats["filled"] += int((np.isfinite(xyzc[:, :3]).all(-1) & ~seen).sum())
        if not np.isfinite(xyzc[:, :3]).all(-1).any():
            return np.zeros((0, self.J, 4)), np.zeros((0, self.J), int), np.zeros((0, self.J))
        return xyzc[None], nviews[None], err[None]

    def _associate(self, frames: dict[str, np.ndarray | None]) -> tuple[np.ndarray, ...]:
        """``(P, J, 4)`` people of every camera associated across views and triangulated (unfiltered), with their
        ``(P, J)`` views used and reprojection errors."""
        empty = np.zeros((0, self.J, 3))
        people2d = [np.asarray(frames[c], float) if frames.get(c) is not None else empty for c in self.cameras]
        rec = reconstruct_frame(self.rig, people2d, **self.assoc_opts)
        return rec.people, rec.n_views, rec.reproj_error_px

    def _filtered(self, key: int, xyzc: np.ndarray, stamp: float) -> np.ndarray:
        f = self._filters.get(key)
        if f is None:
            f = self._filters[key] = make_filter(self.filter_name, **self.filter_opts)
        X = f.step(xyzc[:, :3], stamp)
        out = np.concatenate([X, xyzc[:, 3:]], axis=-1)
        out[~(np.isfinite(X).all(-1) & np.isfinite(xyzc[:, :3]).all(-1))] = np.nan  # measured joints only
        return out

    def _forget_lost(self) -> None:
        keys = {tr.key for tr in self.tracker.tracks}
        for k in [k for k in self._filters if k not in keys]:
            del self._filters[k]

    # ------------------------------------------------------------------ output
    def _velocity(self, prev: tuple | None, stamp: float, X: np.ndarray) -> np.ndarray:
        if prev is None or not 0 < stamp - prev[0] <= 0.25 or prev[1].shape != X.shape:
            return np.full(X.shape, np.nan)
        return (X - prev[1]) / (stamp - prev[0])

    def _keypoint_person(self, pid: int, xyzc: np.ndarray, nviews: np.ndarray, err: np.ndarray, stamp: float,
                         state: TrackState) -> PersonSkeleton:
        X = xyzc[:, :3]
        ok = np.isfinite(X).all(-1)
        conf = np.where(ok, np.nan_to_num(xyzc[:, 3], nan=0.0), 0.0)
        g, loc = joint_orientations(X, self.parents)
        vel = self._velocity(self._last.get(pid), stamp, X)
        self._last[pid] = (stamp, X.copy(), conf.copy())
        return PersonSkeleton(pid, X, conf, loc, g, state, float(conf.mean()) if len(conf) else 0.0, vel,
                              np.where(ok, nviews, 0), np.where(ok, err, np.nan))

    def _predicted_and_lost(self, stamp: float, measured: set[int]) -> list[PersonSkeleton]:
        out = []
        alive = {tr.id: tr for tr in self.tracker.tracks if tr.id >= 0}
        if self.predict_s > 0:
            for pid, tr in alive.items():
                if pid in measured or pid not in self._last or not 0 < stamp - tr.t <= self.predict_s:
                    continue
                X = tr.predict(stamp)
                ok = np.isfinite(X).all(-1)
                conf = np.where(ok, 0.5 * self._last[pid][2], 0.0)
                g, loc = joint_orientations(X, self.parents)
                out.append(PersonSkeleton(pid, X, conf, loc, g, TrackState.PREDICTED, float(conf.mean()),
                                          np.where(ok[:, None], tr.V, np.nan)))
        for pid in [p for p in self._last if p not in alive]:
            del self._last[pid]
            out.append(_lost_person(pid, self.J))
        return out

    def _describe_keypoints(self, people: list[PersonSkeleton]) -> list[SkeletonDescription]:
        """A (new) description of the keypoint skeleton when this frame has a more complete person than the one
        the current description was made from (rest offsets from that person's pose, see
        :func:`~mocap.skeletons.orientations.offsets_in_parent_frames`)."""
        best = max((p for p in people if p.state in (TrackState.NEW, TrackState.TRACKED)),
                   key=lambda p: int(p.valid().sum()), default=None)
        if best is None or int(best.valid().sum()) <= self._described_joints:
            return []
        self._described_joints = int(best.valid().sum())
        js = self.joint_set
        d = SkeletonDescription(js.name, list(js.joints), self.parents,
                                offsets_in_parent_frames(best.positions, self.parents, best.global_quat_xyzw),
                                frame_id=self.world_frame)
        self._descriptions[-1] = d
        return [d]

    def _fitted_person(self, p: PersonSkeleton, xyzc: np.ndarray, stamp: float, warnings: list[str],
                       descriptions: list[SkeletonDescription]) -> PersonSkeleton | None:
        pid = p.person_id
        fitter = self._fitters.get(pid)
        if fitter is None:
            fitter, self._spare = (self._spare or self.fitter_factory(self.joint_set.name)), None
            self._fitters[pid] = fitter
        if getattr(fitter, "_prev", None) is None:
            self.fit_stats["cold_starts"] += 1
        try:
            motion = fitter.step(xyzc)
        except MocapError as e:
            warnings.append(f"person {pid}: body fit skipped ({e})")
            return None
        loc = np.asarray(motion.local_rotations[0], float)
        par = np.asarray(motion.parents, int)
        X = motion.world_joints()[0]
        d = SkeletonDescription(self._model_name or str(motion.model), list(motion.joint_names), par,
                                np.asarray(motion.rest_offsets, float), body_model=str(motion.model),
                                shape=np.asarray(motion.shape, float), frame_id=self.world_frame)
        common = self._fit_descriptions.get(-1)
        if common is None:
            self._fit_descriptions[-1] = d
            descriptions.append(d)
        elif not _same_description(common, d):
            own = self._fit_descriptions.get(pid)
            if own is None or not _same_description(own, d):
                d.person_id = pid
                self._fit_descriptions[pid] = d
                descriptions.append(d)
        vel = self._velocity(self._last_fit.get(pid), stamp, X)
        self._last_fit[pid] = (stamp, X.copy())
        J = len(par)
        return PersonSkeleton(pid, X, np.ones(J), loc, global_from_local(loc, par), p.state, p.confidence, vel,
                              root_translation=np.asarray(motion.root_translation[0], float))


def _lost_person(pid: int, J: int) -> PersonSkeleton:
    """The ``lost`` message of a retired id: no joints (NaN positions, confidence 0)."""
    return PersonSkeleton(pid, np.full((J, 3), np.nan), np.zeros(J), identity_quats(J), identity_quats(J),
                          TrackState.LOST, 0.0)


def _same_description(a: SkeletonDescription, b: SkeletonDescription) -> bool:
    return (a.joint_names == b.joint_names and np.allclose(a.rest_offsets, b.rest_offsets, atol=1e-6)
            and (a.shape is None) == (b.shape is None) and (a.shape is None or np.allclose(a.shape, b.shape)))


def _slerp(q0: np.ndarray, q1: np.ndarray, a: float) -> np.ndarray:
    """Spherical interpolation of unit quaternions ``(4,)`` (xyzw) at fraction ``a`` in [0, 1]."""
    d = float(np.dot(q0, q1))
    if d < 0:
        q1, d = -q1, -d
    if d > 0.9995:
        q = q0 + a * (q1 - q0)
        return q / np.linalg.norm(q)
    th = np.arccos(min(d, 1.0))
    return (np.sin((1 - a) * th) * q0 + np.sin(a * th) * q1) / np.sin(th)


class LatestSlot:
    """A hand-off slot of size one: :meth:`put` replaces an item not yet taken (counted in ``skipped``).

    The fusion node puts every triangulated frame here and fits only what :meth:`take` gives when the executor
    is idle: the newest frame, so a slow fit never builds a queue (the fitted output lags by at most the fit in
    progress plus its own fit). Thread-safe.

    Attributes:
        put_count, taken, skipped: item counters (``put_count == taken + skipped + (1 if pending else 0)``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: Any = None
        self._full = False
        self.put_count = self.taken = self.skipped = 0

    def put(self, item: Any) -> bool:
        """Store ``item``; returns True when it replaced an older item that was never taken."""
        with self._lock:
            replaced = self._full
            self.skipped += int(replaced)
            self.put_count += 1
            self._item, self._full = item, True
        return replaced

    def take(self) -> Any:
        """The newest item (and empty the slot), or None when empty."""
        with self._lock:
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            self.taken += 1
            return item

    @property
    def pending(self) -> bool:
        return self._full


__all__ = ["CORE_PARAMS", "FILTERS", "FrameResult", "FusionCore", "LatestSlot", "make_filter", "make_fitter_factory"]
