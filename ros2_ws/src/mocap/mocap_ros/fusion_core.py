"""The fusion node's logic without ROS: synchronised 2D groups -> filtered 3D skeletons (+ optional body fit).

Thin over the library: :class:`mocap.reconstruct.OnlineTriangulator` (triangulate + filter, the same math as the
offline path), optionally :class:`mocap.reconstruct.imu_fusion.ImuFusionStep` (body-worn IMUs fill the joints vision
loses) and, optionally, :class:`mocap.body.fit.OnlineFitter`. The body fit can run apart from the
triangulation (:meth:`FusionCore.process` with ``fit=False``, later :meth:`FusionCore.fit`); :class:`LatestSlot`
hands the newest frame to it, so a slow fit never queues frames up.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mocap.errors import MocapError
from mocap.geometry.rotations import matrix_to_rotvec, quat_xyzw_to_matrix
from mocap.reconstruct import OnlineTriangulator
from mocap.reconstruct.association import reconstruct_frame
from mocap.reconstruct.filters import KalmanFilter, OneEuroFilter
from mocap.reconstruct.imu_fusion import ImuFusionStep, ImuSegment
from mocap.reconstruct.tracking import PeopleTracker
from mocap.skeletons import get_joint_set
from mocap_ros.skeleton import global_from_local, joint_orientations


@dataclass
class SkeletonResult:
    """One person's skeleton of one synchronised frame (arrays in the world frame, metres, xyzw)."""

    person_id: int
    joint_names: list[str]
    parents: np.ndarray
    X: np.ndarray  # (J, 3)
    conf: np.ndarray  # (J,)
    global_q: np.ndarray  # (J, 4)
    local_q: np.ndarray  # (J, 4)
    body_model: str = ""
    shape: np.ndarray | None = None
    root_translation: np.ndarray | None = None

    @property
    def local_rotvec(self) -> np.ndarray:
        """``(J, 3)`` local rotations as rotation vectors, radians."""
        return matrix_to_rotvec(quat_xyzw_to_matrix(self.local_q))


@dataclass
class FrameResult:
    """The output of one synchronised frame.

    Attributes:
        stamp: frame time, seconds.
        joint_set: joint-set name of the skeletons (the body model's when fitting).
        skeletons: one per (tracked) person.
        cameras: names of the cameras whose keypoints were fused (present in the group with a usable array).
        multi_person: True when the frame went through cross-view association + tracking.
        people: person id -> ``(J, 4)`` triangulated xyz + confidence, the input of :meth:`FusionCore.fit` (filled
            when the fit was deferred with ``process(..., fit=False)``).
        live_ids: ids of the tracks alive at this frame (fitters of other ids are dropped by the fit).
        epoch: :meth:`FusionCore.reset` count when the frame was processed (the fit resets its fitters on a change).
        fitted: True when the skeletons are the body model's.
    """

    stamp: float
    joint_set: str
    skeletons: list[SkeletonResult]
    warnings: list[str] = field(default_factory=list)
    process_s: float = 0.0
    cameras: list[str] = field(default_factory=list)
    multi_person: bool = False
    people: dict[int, np.ndarray] = field(default_factory=dict)
    live_ids: frozenset[int] = frozenset()
    epoch: int = 0
    fitted: bool = False


def _make_filter(name: str | None, opts: dict):
    if name in (None, "", "none"):
        return None
    if name == "one_euro":
        return OneEuroFilter(**opts)
    if name == "kalman":
        return KalmanFilter(**opts)
    raise ValueError(f"unknown filter {name!r}; choose one_euro, kalman or none")


class FusionCore:
    """Triangulate, filter and track people from synchronised per-camera ``(P, J, 3)`` arrays.

    Two paths, chosen per frame:

    - single person (the fast default, when every camera sees at most one person): the views are triangulated
      directly by :class:`mocap.reconstruct.OnlineTriangulator` (robust view selection, optional prior, filter);
    - several people (some camera sees more than one): the people are associated across views and triangulated by
      :func:`mocap.reconstruct.association.reconstruct_frame`, then filtered per track.

    In both paths :class:`mocap.reconstruct.tracking.PeopleTracker` gives each person a stable id (the
    ``person_id`` of the output); with ``track_min_hits=1`` the first person seen is id 0 at once. People whose
    track is still tentative (``track_min_hits > 1``) are not output.

    Args:
        rig: calibrated :class:`~mocap.cameras.CameraRig`; its camera names are the cameras used.
        joint_set: expected joint-set name of the 2D keypoints (its joint count is enforced).
        filter: ``"one_euro"``, ``"kalman"`` or ``"none"``.
        filter_opts: options of the filter class.
        triangulate_opts: options of :func:`mocap.reconstruct.triangulate` (``min_conf``, ``reproj_threshold_px``,
            ``refine``, ``min_views``).
        use_prior: use the previous output as the triangulation prior (single-person path).
        fitter_factory: optional callable returning a new :class:`mocap.body.fit.OnlineFitter` (one per tracked
            person; its model's skeleton replaces the keypoints').
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
    """

    def __init__(self, rig, joint_set: str, filter: str = "one_euro", filter_opts: dict | None = None,
                 triangulate_opts: dict | None = None, use_prior: bool = True, fitter_factory=None,
                 min_joints: int = 3, multi_person: bool = True, tracker_opts: dict | None = None,
                 association_opts: dict | None = None, imu_segments: dict[str, str] | None = None,
                 imu_opts: dict | None = None, imu_max_age_s: float = 0.1) -> None:
        self.rig = rig
        self.cameras = list(rig.names)
        self.joint_set = get_joint_set(joint_set)
        self.J = len(self.joint_set.joints)
        self.parents = np.asarray(self.joint_set.parents, int)
        self.bones = [(p, c) for c, p in enumerate(self.parents) if p >= 0]
        self.filter_name = None if filter in ("none", "", None) else filter
        self.filter_opts = dict(filter_opts or {})
        self.topts = dict(triangulate_opts or {})
        self.tri = OnlineTriangulator(rig, self.joint_set.name, filter=self.filter_name, filter_opts=self.filter_opts,
                                      use_prior=use_prior, **self.topts)
        self.fitter_factory = fitter_factory
        self.min_joints = int(min_joints)
        self.multi_person = bool(multi_person)
        self.tracker = PeopleTracker(**{"min_hits": 1, **(tracker_opts or {})})
        aopts = {k: self.topts[k] for k in ("min_conf", "reproj_threshold_px", "min_views") if k in self.topts}
        self.assoc_opts = {"lr_pairs": list(self.joint_set.lr_pairs), "min_joints": self.min_joints, **aopts,
                           **(association_opts or {})}
        self._filters: dict[int, object] = {}  # track key -> filter (multi-person path)
        self._fitters: dict[int, object] = {}  # person id -> OnlineFitter (touched by fit() only)
        self._spare = fitter_factory() if fitter_factory is not None else None  # built now: no first-frame stall
        self._model_name = str(getattr(self._spare.model, "name", "") or "") if self._spare is not None else ""
        self._epoch = 0  # reset() count; fit() resets its fitters when a frame carries a newer one
        self._fit_epoch = 0
        #: body-fit counters: ``fitted`` frames, ``cold_starts`` (a fitter without a previous frame: new person or
        #: after a reset), ``fit_s`` total fit wall time, ``fit_cpu_s`` its CPU time (thread), ``max_fit_s`` the
        #: slowest frame (wall); wall >> CPU means the fit was waiting for a core
        self.fit_stats = {"fitted": 0, "cold_starts": 0, "fit_s": 0.0, "fit_cpu_s": 0.0, "max_fit_s": 0.0}
        self.imu_sensors = list(imu_segments or {})
        self.imu_segments = [self._imu_segment(n, spec) for n, spec in (imu_segments or {}).items()]
        self.imu_opts = dict(imu_opts or {})
        self.imu_max_age_s = float(imu_max_age_s)
        self._imu_buf: dict[str, deque] = {n: deque(maxlen=1000) for n in self.imu_sensors}
        self.imu_fusion = ImuFusionStep(self.imu_segments, self.imu_sensors, **self.imu_opts) \
            if self.imu_segments else None
        #: IMU counters: ``samples`` received, ``filled`` joints rebuilt from IMUs, ``dropped`` samples out of order
        self.imu_stats = {"samples": 0, "filled": 0, "dropped": 0}

    def _imu_segment(self, sensor: str, spec: str) -> ImuSegment:
        parts = [x.strip() for x in str(spec).split(":")]
        names = list(self.joint_set.joints)
        if len(parts) != 2 or any(x not in names for x in parts):
            raise MocapError(f"IMU {sensor!r}: segment {spec!r} must be 'parent:child' with two joint names of "
                             f"{self.joint_set.name} ({', '.join(names)})", hint="e.g. left_elbow:left_wrist")
        return ImuSegment(sensor, names.index(parts[0]), names.index(parts[1]), name=sensor)

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

    def reset(self) -> None:
        """Forget filter, tracker and fitter state (after a clock jump or a long gap).

        The fitters are reset by the next :meth:`fit` (which may run on another thread), not here.
        """
        self.tri.reset()
        self.tracker.reset()
        if self.imu_fusion is not None:  # keep the IMU alignments: the straps did not move
            self.imu_fusion = ImuFusionStep(self.imu_segments, self.imu_sensors, alignments=self.imu_fusion.alignments,
                                            **self.imu_opts)
        self._filters.clear()
        self._epoch += 1

    def check_frame(self, camera: str, kp: np.ndarray) -> str | None:
        """A warning if one camera's ``(P, J, 3)`` array cannot be used (wrong joint count), else None."""
        if kp.ndim != 3 or kp.shape[1] != self.J:
            return (f"camera {camera!r}: keypoints have {kp.shape[1] if kp.ndim == 3 else '?'} joints but joint set "
                    f"{self.joint_set.name} has {self.J}; check the camera node's detector/joint_set; camera ignored")
        return None

    @property
    def fits(self) -> bool:
        """True when a body model is fitted (``fitter_factory`` given)."""
        return self.fitter_factory is not None

    def process(self, stamp: float, frames: dict[str, np.ndarray | None], fit: bool = True) -> FrameResult:
        """Reconstruct one synchronised frame. ``frames``: camera -> ``(P, J, 3)`` or None (missing).

        With a body model and ``fit=False`` the result holds the triangulated skeletons (keypoint joint set) and
        ``people``; pass it to :meth:`fit` (on any one thread) for the body model's skeletons.
        """
        t0 = time.perf_counter()
        warnings: list[str] = []
        used = [c for c in self.cameras if frames.get(c) is not None]
        multi = self.multi_person and any(len(frames[c]) > 1 for c in used)
        people = self._associate(frames) if multi else self._single(stamp, frames)
        people = people[np.isfinite(people[..., :3]).all(-1).sum(-1) >= self.min_joints]
        ids = self.tracker.step(people, stamp)
        if multi and self.filter_name is not None:  # the single path is filtered by its OnlineTriangulator
            people = np.stack([self._filtered(int(k), xyzc, stamp) for k, xyzc in
                               zip(self.tracker.last_keys, people, strict=True)]) if len(people) else people
        skeletons, todo = [], {}
        for xyzc, pid in zip(people, ids.tolist(), strict=True):
            if pid < 0:  # tentative track
                continue
            todo[int(pid)] = xyzc
            skeletons.append(self._keypoint_skeleton(int(pid), xyzc))
        self._forget_lost()
        res = FrameResult(stamp, self.joint_set.name, skeletons, warnings, time.perf_counter() - t0, used, multi,
                          people=todo, live_ids=frozenset(tr.id for tr in self.tracker.tracks), epoch=self._epoch)
        if fit and self.fits:
            res = self.fit(res)
            res.process_s = time.perf_counter() - t0
        return res

    def fit(self, res: FrameResult) -> FrameResult:
        """The body model's skeletons of a frame from :meth:`process` (``fit=False``); call from one thread only.

        Each tracked person keeps a warm-started :class:`~mocap.body.fit.OnlineFitter` (a fitter starts cold only for
        a new person or after :meth:`reset`); fitters of tracks no longer alive are dropped. A person whose fit
        fails is left out with a warning. Returns a new :class:`FrameResult` (``fitted=True``).
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
        skeletons = [sk for pid, xyzc in res.people.items()
                     if (sk := self._fitted_skeleton(pid, xyzc, warnings)) is not None]
        dt = time.perf_counter() - t0
        st = self.fit_stats
        st["fitted"] += 1
        st["fit_s"] += dt
        st["fit_cpu_s"] += time.thread_time() - c0
        st["max_fit_s"] = max(st["max_fit_s"], dt)
        return FrameResult(res.stamp, self._out_joint_set, skeletons, res.warnings + warnings, res.process_s + dt,
                           res.cameras, res.multi_person, res.people, res.live_ids, res.epoch, fitted=True)

    # ------------------------------------------------------------------ the two paths
    def _single(self, stamp: float, frames: dict[str, np.ndarray | None]) -> np.ndarray:
        """``(0 or 1, J, 4)``: the most confident detection of every camera, triangulated and filtered."""
        C = len(self.cameras)
        uvc = np.full((C, self.J, 3), np.nan)
        for c, name in enumerate(self.cameras):
            kp = frames.get(name)
            if kp is None or len(kp) == 0:
                continue
            uvc[c] = kp[int(np.argmax(np.nan_to_num(kp[:, :, 2]).sum(1)))] if kp.shape[0] > 1 else kp[0]
        xyzc = self.tri.step(uvc[..., :2], uvc[..., 2], stamp)
        if self.imu_fusion is not None and np.isfinite(xyzc[:, :3]).all(-1).any():
            q, g = self.imu_at(stamp)
            seen = np.isfinite(xyzc[:, :3]).all(-1)
            xyzc = self.imu_fusion.step(xyzc, q, g, stamp)
            self.imu_stats["filled"] += int((np.isfinite(xyzc[:, :3]).all(-1) & ~seen).sum())
        return xyzc[None] if np.isfinite(xyzc[:, :3]).all(-1).any() else np.zeros((0, self.J, 4))

    def _associate(self, frames: dict[str, np.ndarray | None]) -> np.ndarray:
        """``(P, J, 4)``: the people of every camera associated across views and triangulated (unfiltered)."""
        empty = np.zeros((0, self.J, 3))
        people2d = [np.asarray(frames[c], float) if frames.get(c) is not None else empty for c in self.cameras]
        return reconstruct_frame(self.rig, people2d, **self.assoc_opts).people

    def _filtered(self, key: int, xyzc: np.ndarray, stamp: float) -> np.ndarray:
        f = self._filters.get(key)
        if f is None:
            f = self._filters[key] = _make_filter(self.filter_name, self.filter_opts)
        X = f.step(xyzc[:, :3], stamp)
        out = np.concatenate([X, xyzc[:, 3:]], axis=-1)
        out[~np.isfinite(X).all(-1)] = np.nan
        return out

    def _forget_lost(self) -> None:
        keys = {tr.key for tr in self.tracker.tracks}
        for k in [k for k in self._filters if k not in keys]:
            del self._filters[k]

    @property
    def _out_joint_set(self) -> str:
        return self._model_name or self.joint_set.name

    def _keypoint_skeleton(self, pid: int, xyzc: np.ndarray) -> SkeletonResult:
        X, conf = xyzc[:, :3], xyzc[:, 3]
        g, loc = joint_orientations(X, self.parents)
        return SkeletonResult(pid, list(self.joint_set.joints), self.parents, X, conf, g, loc)

    def _fitted_skeleton(self, pid: int, xyzc: np.ndarray, warnings: list[str]) -> SkeletonResult | None:
        fitter = self._fitters.get(pid)
        if fitter is None:
            fitter, self._spare = (self._spare or self.fitter_factory()), None
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
        Xb = motion.world_joints()[0]
        return SkeletonResult(pid, list(motion.joint_names), par, Xb, np.ones(len(par)),
                              global_from_local(loc, par), loc, body_model=str(motion.model),
                              shape=np.asarray(motion.shape, float), root_translation=motion.root_translation[0])



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
