"""Live triangulation: a stateful per-frame triangulate-and-filter object sharing the batch math.

:class:`OnlineTriangulator` calls :func:`~mocap.reconstruct.triangulation.triangulate` on one frame and then a
filter's ``step()`` (:class:`~mocap.reconstruct.filters.OneEuroFilter` or
:class:`~mocap.reconstruct.filters.KalmanFilter`), exactly the functions the offline path uses. The previous
output serves as the ``prior`` that resolves ambiguous view subsets (the batch path uses a temporal median).
"""

from __future__ import annotations

import time

import numpy as np

from mocap.errors import KeypointsError, MocapError
from mocap.reconstruct.filters import KalmanFilter, OneEuroFilter
from mocap.reconstruct.triangulation import TriangulationResult, triangulate

FILTERS = ("one_euro", "kalman", None)


class OnlineTriangulator:
    """Triangulate and filter one multi-view frame at a time (one person).

    Args:
        rig: the calibrated :class:`~mocap.cameras.CameraRig` (``C`` cameras, order of ``uv``'s first axis).
        joint_set: joint-set name of the keypoints (kept for the output; any name).
        filter: ``"one_euro"``, ``"kalman"`` or ``None``.
        filter_opts: keyword arguments of the filter class (e.g. ``min_cutoff``, ``beta``).
        use_prior: use the previous output as ``prior`` for robust view selection.
        **triangulate_opts: options of :func:`~mocap.reconstruct.triangulation.triangulate` (default here
            ``raw_pixel_errors=False``: reprojection errors in undistorted pixels, cheaper).

    Example:
        >>> tri = OnlineTriangulator(rig, "coco17", filter="one_euro")  # doctest: +SKIP
        >>> xyzc = tri.step(uv, conf, t)  # (J, 4): x, y, z (metres), confidence  # doctest: +SKIP
    """

    def __init__(self, rig, joint_set: str = "coco17", filter: str | None = "one_euro", filter_opts: dict | None = None,
                 use_prior: bool = True, **triangulate_opts) -> None:
        if filter not in FILTERS:
            raise MocapError(f"unknown filter {filter!r}; choose one of {FILTERS}")
        if len(rig) < 2:
            raise KeypointsError(f"online triangulation needs at least 2 cameras; the rig has {len(rig)}")
        self.rig = rig
        self.joint_set = joint_set
        self.filter_name = filter
        fo = dict(filter_opts or {})
        self.filter: OneEuroFilter | KalmanFilter | None = None
        if filter == "one_euro":
            self.filter = OneEuroFilter(**fo)
        elif filter == "kalman":
            self.filter = KalmanFilter(**fo)
        self.use_prior = use_prior
        self.opts = {"raw_pixel_errors": False, **triangulate_opts}
        self.last: np.ndarray | None = None
        self.last_result: TriangulationResult | None = None
        self.latencies_s: list[float] = []

    def reset(self) -> None:
        """Forget the filter state and the prior (e.g. after a cut)."""
        if self.filter is not None:
            self.filter.reset()
        self.last = None

    def step(self, uv: np.ndarray, conf: np.ndarray | None, t: float) -> np.ndarray:
        """Process one frame.

        Args:
            uv: ``(C, J, 2)`` raw pixels (NaN = not detected).
            conf: ``(C, J)`` confidences (or None).
            t: timestamp, seconds.

        Returns:
            ``(J, 4)``: filtered world ``(x, y, z)`` in metres and the mean confidence of the views used
            (NaN where the joint could not be triangulated).
        """
        t0 = time.perf_counter()
        uv = np.asarray(uv, dtype=float)
        if uv.ndim != 3 or uv.shape[0] != len(self.rig) or uv.shape[2] != 2:
            raise KeypointsError(f"frame has shape {uv.shape}; expected ({len(self.rig)}, joints, 2)")
        prior = self.last if (self.use_prior and self.last is not None and self.last.shape[0] == uv.shape[1]) \
            else None
        res = triangulate(self.rig, uv, conf, prior=prior, **self.opts)
        X = res.X
        if self.filter is not None:
            X = self.filter.step(X, t)
        keep = np.isfinite(X).all(-1)
        self.last = np.where(keep[:, None], X, self.last if self.last is not None else np.nan)
        self.last_result = res
        out = np.concatenate([X, res.confidence[:, None]], axis=-1)
        out[~keep] = np.nan
        self.latencies_s.append(time.perf_counter() - t0)
        return out

    def latency_ms(self) -> dict[str, float]:
        """``{"p50", "p95", "max"}`` step latency in milliseconds so far."""
        if not self.latencies_s:
            return {"p50": float("nan"), "p95": float("nan"), "max": float("nan")}
        a = np.asarray(self.latencies_s) * 1000
        return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "max": float(a.max())}


__all__ = ["OnlineTriangulator", "FILTERS"]
