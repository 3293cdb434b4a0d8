"""Live (online, causal) triangulation: a stateful per-frame object sharing the batch math, never using future frames.

:class:`OnlineTriangulator` is the online mode of mocap (the ROS fusion node and ``mocap live`` run it); the offline
mode is :func:`~mocap.reconstruct.sequence.triangulate_keypoints` over a whole clip. Per frame:

1. the motion model's prediction for this instant (constant velocity, :class:`~mocap.reconstruct.filters.
   GatedKalmanFilter`; or the previous output with the other filters) is the ``prior`` of
   :func:`~mocap.reconstruct.triangulation.triangulate`, which prefers view subsets that agree with it;
2. robust triangulation with Gauss-Newton refinement (the offline defaults);
3. the filter's ``step()``: with ``"kalman"`` (default) a measurement far from the prediction in the
   Mahalanobis sense (the test widens with the joint's own motion) is not used and the joint coasts on its
   prediction, confidence decaying (:func:`~mocap.reconstruct.filters.coasting_confidence`);
4. rigid bone lengths learned so far (:class:`~mocap.reconstruct.bones.RunningBoneLengths`, from past measured
   frames only) constrain the output (:func:`~mocap.reconstruct.bones.constrain_bone_lengths`).
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np

from mocap.errors import KeypointsError, MocapError
from mocap.reconstruct.filters import GatedKalmanFilter, OneEuroFilter, coasting_confidence
from mocap.reconstruct.triangulation import (
    AUTO_BASE_PX,
    AUTO_GATE,
    TriangulationResult,
    probe_view_errors,
    threshold_from_residuals,
    triangulate,
)

FILTERS = ("kalman", "one_euro", None)
#: step latencies kept for :meth:`OnlineTriangulator.latency_ms` (the most recent ones)
LATENCY_WINDOW = 1000


class OnlineTriangulator:
    """Triangulate and filter one multi-view frame at a time (one person), causally.

    Args:
        rig: the calibrated :class:`~mocap.cameras.CameraRig` (``C`` cameras, order of ``uv``'s first axis).
        joint_set: joint-set name of the keypoints (its rigid bones are constrained; any name works, an unknown
            one simply has no bones).
        filter: ``"kalman"`` (default: :class:`~mocap.reconstruct.filters.GatedKalmanFilter`, constant velocity
            with an innovation gate), ``"one_euro"`` or ``None``.
        filter_opts: keyword arguments of the filter class (e.g. ``process_noise``, ``gate_chi2``; ``min_cutoff``,
            ``beta``).
        use_prior: use the motion model's prediction (or the previous output) as ``prior`` for view selection.
        bones: constrain rigid bone lengths to the running estimate learned from the frames so far.
        bone_window: samples per bone of that running estimate (:class:`~mocap.reconstruct.bones.
            RunningBoneLengths`).
        bone_iterations: projection passes of :func:`~mocap.reconstruct.bones.constrain_bone_lengths` per frame.
        auto_window: view residuals kept for the ``"auto"`` threshold (about 30 frames of 33 joints x 4 cameras).
        **triangulate_opts: options of :func:`~mocap.reconstruct.triangulation.triangulate`. Defaults here are the
            offline mode's view policy: ``reproj_threshold_px="auto"``, ``soft_factor=3``, ``fallback_factor=2``,
            ``refine=True``; and ``raw_pixel_errors=False`` (reprojection errors in undistorted pixels, cheaper).
            ``"auto"`` is causal here: ``max(15 px, 3.5 x the median residual)`` over the last ``auto_window`` view
            residuals of this and earlier frames (every frame of the first 10, then every 5th;
            :func:`~mocap.reconstruct.triangulation.probe_view_errors`), where the offline mode takes the
            median over the whole clip; so a camera consistently a little off keeps its views online too.

    Attributes:
        latencies_s: the last :data:`LATENCY_WINDOW` step durations (seconds, wall clock); cleared by
            :meth:`reset`.
        last_result: the :class:`~mocap.reconstruct.triangulation.TriangulationResult` of the last frame (before
            filtering).
        measured: ``(J,)`` bool, joints whose output comes from this frame's measurement (the others coast on
            the motion model's prediction or are NaN).

    Example:
        >>> tri = OnlineTriangulator(rig, "coco17")  # doctest: +SKIP
        >>> xyzc = tri.step(uv, conf, t)  # (J, 4): x, y, z (metres), confidence  # doctest: +SKIP
    """

    def __init__(self, rig, joint_set: str = "coco17", filter: str | None = "kalman", filter_opts: dict | None = None,
                 use_prior: bool = True, bones: bool = True, bone_window: int = 300, bone_iterations: int = 3,
                 auto_window: int = 4096, **triangulate_opts) -> None:
        if filter not in FILTERS:
            raise MocapError(f"unknown filter {filter!r}; choose one of {FILTERS}")
        if len(rig) < 2:
            raise KeypointsError(f"online triangulation needs at least 2 cameras; the rig has {len(rig)}")
        self.rig = rig
        self.joint_set = joint_set
        self.filter_name = filter
        fo = dict(filter_opts or {})
        self.filter: GatedKalmanFilter | OneEuroFilter | None = None
        if filter == "kalman":
            self.filter = GatedKalmanFilter(**fo)
        elif filter == "one_euro":
            self.filter = OneEuroFilter(**fo)
        self.use_prior = use_prior
        self.opts = {"refine": True, "raw_pixel_errors": False, "reproj_threshold_px": "auto", "soft_factor": 3.0,
                     "fallback_factor": 2.0, **triangulate_opts}
        thr = self.opts["reproj_threshold_px"]
        self.auto = isinstance(thr, str)
        if self.auto and thr != "auto":
            raise MocapError(f"reproj_threshold_px={thr!r}: use a number, one per camera or 'auto'")
        self._residuals: deque[float] = deque(maxlen=int(auto_window))
        #: the reprojection threshold of the last frame, pixels (``"auto"``: resolved from the residuals so far)
        self.threshold_px: float | None = None if self.auto else thr
        self.bone_pairs: list[tuple[int, int]] = _rigid_bones_or_none(joint_set) if bones else []
        self.bone_iterations = int(bone_iterations)
        self.bone_lengths = None
        if self.bone_pairs:
            from mocap.reconstruct.bones import RunningBoneLengths

            self.bone_lengths = RunningBoneLengths(self.bone_pairs, window=bone_window)
        self.latencies_s: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.reset()

    def reset(self) -> None:
        """Forget the filter state, the prior, the learned bone lengths and the latencies (e.g. after a cut or
        when another person steps in)."""
        if self.filter is not None:
            self.filter.reset()
        if self.bone_lengths is not None:
            self.bone_lengths.reset()
        self.last: np.ndarray | None = None
        self.last_result: TriangulationResult | None = None
        self.measured: np.ndarray | None = None
        self._last_conf: np.ndarray | None = None
        self.latencies_s.clear()
        self._residuals.clear()
        self._frames = 0  # frames since the reset ("auto" probes the first 10, then every 5th)
        self._auto: tuple[float, float] = (AUTO_BASE_PX, float("nan"))

    def _prior(self, t: float, J: int) -> np.ndarray | None:
        if not self.use_prior:
            return None
        if isinstance(self.filter, GatedKalmanFilter):
            p = self.filter.predict(t)
            return p if p is not None and p.shape == (J, 3) else None
        return self.last if self.last is not None and self.last.shape[0] == J else None

    def step(self, uv: np.ndarray, conf: np.ndarray | None, t: float) -> np.ndarray:
        """Process one frame.

        Args:
            uv: ``(C, J, 2)`` raw pixels (NaN = not detected).
            conf: ``(C, J)`` confidences (or None).
            t: timestamp, seconds (increasing).

        Returns:
            ``(J, 4)``: filtered world ``(x, y, z)`` in metres and a confidence in [0, 1]: the mean confidence of
            the views used where this frame measured the joint, a decaying one where it coasts on the
            prediction; NaN (all four) where the joint has no estimate.
        """
        t0 = time.perf_counter()
        uv = np.asarray(uv, dtype=float)
        if uv.ndim != 3 or uv.shape[0] != len(self.rig) or uv.shape[2] != 2:
            raise KeypointsError(f"frame has shape {uv.shape}; expected ({len(self.rig)}, joints, 2)")
        J = uv.shape[1]
        res = triangulate(self.rig, uv, conf, prior=self._prior(t, J), **self._frame_opts(uv, conf))
        meas_conf = np.clip(res.confidence, 0.0, 1.0)
        X = res.X
        if self._last_conf is None or self._last_conf.shape != (J,):
            self._last_conf = np.full(J, np.nan)
        if isinstance(self.filter, GatedKalmanFilter):
            X = self.filter.step(X, t)
            measured = self.filter.measured & np.isfinite(res.X).all(-1)
            self._last_conf = np.where(measured, meas_conf, self._last_conf)
            c = np.where(measured, meas_conf,
                         coasting_confidence(self._last_conf, self.filter.age_s, self.filter.reset_after_s))
        else:
            if self.filter is not None:
                X = self.filter.step(X, t)
            measured = np.isfinite(res.X).all(-1)
            c = meas_conf
        if self.bone_lengths is not None:
            L = self.bone_lengths.update(np.where(measured[:, None], res.X, np.nan), meas_conf)
            if np.isfinite(L).any() and J > int(np.max(self.bone_pairs)):
                from mocap.reconstruct.bones import constrain_bone_lengths

                X = constrain_bone_lengths(X[None, None], L, self.bone_pairs, np.nan_to_num(c, nan=0.0)[None, None],
                                           iterations=self.bone_iterations)[0, 0]
        keep = np.isfinite(X).all(-1) & np.isfinite(c)
        out = np.concatenate([X, c[:, None]], axis=-1)
        out[~keep] = np.nan
        self.last = np.where(keep[:, None], X, self.last if self.last is not None and self.last.shape == X.shape
                             else np.nan)
        self.last_result = res
        self.measured = measured & keep
        self.latencies_s.append(time.perf_counter() - t0)
        return out

    def _frame_opts(self, uv: np.ndarray, conf: np.ndarray | None) -> dict:
        """The triangulation options of this frame: ``"auto"`` resolved from the residuals seen so far."""
        if not self.auto:
            return self.opts
        o = self.opts
        self._frames += 1
        if self._frames <= 10 or self._frames % 5 == 0:  # the residuals' median moves slowly: every 5th frame
            self._residuals.extend(probe_view_errors(self.rig, uv, conf, o.get("min_views", 2),
                                                     o.get("min_conf", 0.1)))
            self._auto = threshold_from_residuals(np.fromiter(self._residuals, float, len(self._residuals)))
        thr, scale = self._auto
        sf = float(o.get("soft_factor", 0.0))
        soft = sf * AUTO_GATE * scale if sf > 0 and np.isfinite(scale) else 0.0
        self.threshold_px = thr
        return {**o, "reproj_threshold_px": thr, "soft_limit_px": o.get("soft_limit_px", soft)}

    def latency_ms(self) -> dict[str, float]:
        """``{"p50", "p95", "max"}`` step latency in milliseconds over the last :data:`LATENCY_WINDOW` steps."""
        if not self.latencies_s:
            return {"p50": float("nan"), "p95": float("nan"), "max": float("nan")}
        a = np.asarray(self.latencies_s) * 1000
        return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "max": float(a.max())}


def triangulate_online(rig, kp2d, *, calib_source: str = "the calibration",
                       keypoints_source: str = "the keypoints", **opts):
    """The online (causal) mode over a recorded :class:`~mocap.keypoints.Keypoints2D`: one
    :class:`OnlineTriangulator` per person slot, stepped frame by frame at the keypoints' timestamps, exactly as
    the live path would have produced it (no frame ever sees a later one). The offline counterpart is
    :func:`~mocap.reconstruct.sequence.triangulate_keypoints`.

    Args:
        rig, kp2d, calib_source, keypoints_source: as :func:`~mocap.reconstruct.sequence.triangulate_keypoints`
            (person ``p`` must be the same person in every camera).
        **opts: :class:`OnlineTriangulator` options (``filter``, ``bones``...) and
            :func:`~mocap.reconstruct.triangulation.triangulate` options (``min_views``, ``min_conf``,
            ``reproj_threshold_px``, ``refine``).

    Returns:
        :class:`~mocap.keypoints.Keypoints3D` ``(T, P, J, 4)`` with the quality fields of the offline mode
        (``reproj_error_px``, ``n_views``, ``reason`` of each frame's triangulation) plus ``predicted``
        ``(T, P, J)``: joints output from the motion model's prediction, not from that frame's views; ``meta``
        holds ``view_error_px`` and ``used`` ``(C, T, P, J)``, ``camera_names``, ``empty_frames`` and
        ``latency_ms`` (per person slot).
    """
    from mocap.keypoints import Keypoints3D
    from mocap.reconstruct.sequence import match_cameras

    sub = match_cameras(rig, kp2d, calib_source, keypoints_source, stacklevel=3)
    T, C, P, J, _ = kp2d.data.shape
    out = np.full((T, P, J, 4), np.nan)
    err = np.full((T, P, J), np.nan)
    n_views = np.zeros((T, P, J), dtype=int)
    reason = np.zeros((T, P, J), dtype=np.int16)
    predicted = np.zeros((T, P, J), dtype=bool)
    view_err = np.full((C, T, P, J), np.nan)
    used = np.zeros((C, T, P, J), dtype=bool)
    latency = []
    for p in range(P):
        tri = OnlineTriangulator(sub, kp2d.joint_set, **opts)
        for t in range(T):
            d = kp2d.data[t, :, p]
            out[t, p] = tri.step(d[..., :2], d[..., 2], float(kp2d.timestamps[t]))
            r = tri.last_result
            err[t, p], n_views[t, p], reason[t, p] = r.reproj_error_px, r.n_views, r.reason
            view_err[:, t, p], used[:, t, p] = r.view_error_px, r.used
            predicted[t, p] = np.isfinite(out[t, p, :, 0]) & ~tri.measured
        latency.append(tri.latency_ms())
    empty = ~np.isfinite(kp2d.data[..., :2]).any(axis=(1, 2, 3, 4))
    meta = dict(kp2d.meta)
    meta.update({"view_error_px": view_err, "used": used, "camera_names": list(sub.names),
                 "empty_frames": np.flatnonzero(empty), "mode": "online", "latency_ms": latency})
    return Keypoints3D(out, kp2d.joint_set, timestamps=kp2d.timestamps.copy(), fps=kp2d.fps,
                       quality={"reproj_error_px": err, "n_views": n_views, "reason": reason,
                                "predicted": predicted}, meta=meta)


def _rigid_bones_or_none(joint_set: str) -> list[tuple[int, int]]:
    """Rigid bones of a registered joint set; none for an unknown name."""
    from mocap.reconstruct.bones import rigid_bones
    from mocap.skeletons.registry import UnknownJointSetError

    try:
        return rigid_bones(joint_set)
    except UnknownJointSetError:  # a custom joint set: nothing to constrain
        return []


__all__ = ["OnlineTriangulator", "triangulate_online", "FILTERS", "LATENCY_WINDOW"]
