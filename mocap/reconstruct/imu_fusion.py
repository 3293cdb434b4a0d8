"""IMU fusion: body-worn IMUs keep segment orientations (and occluded joints) right when vision loses them.

Inputs are what ``sensor_msgs/Imu`` carries: an orientation quaternion ``(x, y, z, w)`` (sensor frame -> the IMU's
own gravity-aligned world frame, whose heading is arbitrary) and an angular velocity in the sensor frame (rad/s).
Each IMU is attached to a body segment, a bone ``parent joint -> child joint`` of the keypoints' joint set.

Model: the segment's world orientation is ``R_seg = R_heading @ R_imu @ R_align`` where ``R_heading`` is a rotation
about the world Z axis (IMU world -> vision world) and ``R_align`` the sensor-to-segment mounting rotation.

1. Alignment (:func:`estimate_alignment_rotations`, :func:`estimate_alignment_directions`): from frames where vision
   sees the segment well, solve ``R_align`` by rotation averaging (chordal L2 mean) and ``R_heading`` by a
   yaw-only average, alternating. Keypoints give a bone *direction*, not its twist, so the direction variant
   solves the bone axis in the sensor frame instead of a full ``R_align`` (the twist does not move any joint).
2. Fusion (:class:`SegmentOrientationFilter`): an error-state Kalman filter on the segment orientation.
   Prediction uses the IMU (relative orientation between samples, or the gyro); updates use the vision bone
   direction when both joints are seen (and optionally the IMU's absolute orientation, weakly).
3. Reconstruction: an occluded child joint is ``parent + length * R_seg @ axis`` (bone length from visible frames);
   segments are processed parent-first, so chains (upper arm, forearm) work.

:func:`fuse_imu_keypoints` runs this offline over :class:`~mocap.keypoints.Keypoints3D` (alignment from all
visible frames); :class:`ImuFusionStep` is the live ``step()`` object (it aligns itself once enough visible frames
have been seen); both use the same per-frame code. :func:`simulate_imu` makes synthetic IMU streams for tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mocap.errors import KeypointsError, MocapError
from mocap.geometry.checks import check_shape
from mocap.geometry.rotations import (
    axis_angle_matrix,
    matrix_to_quat_xyzw,
    matrix_to_rotvec,
    quat_xyzw_to_matrix,
    rotvec_to_matrix,
)


# --------------------------------------------------------------------------- data
@dataclass
class ImuStream:
    """Samples of several body-worn IMUs (``sensor_msgs/Imu``-like).

    Attributes:
        timestamps: ``(N,)`` seconds (same clock as the keypoints).
        quat_xyzw: ``(N, S, 4)`` orientation, sensor frame -> IMU world frame (gravity-aligned Z up, any heading).
        gyro: ``(N, S, 3)`` angular velocity in the sensor frame, rad/s (NaN if the device gives none).
        names: ``S`` sensor names.
    """

    timestamps: np.ndarray
    quat_xyzw: np.ndarray
    gyro: np.ndarray
    names: list[str]

    def __post_init__(self) -> None:
        self.timestamps = np.asarray(self.timestamps, dtype=float).ravel()
        N = self.timestamps.shape[0]
        self.names = [str(n) for n in self.names]
        S = len(self.names)
        self.quat_xyzw = check_shape(np.asarray(self.quat_xyzw, dtype=float), (N, S, 4), "IMU quat_xyzw")
        self.gyro = check_shape(np.asarray(self.gyro, dtype=float), (N, S, 3), "IMU gyro")
        if N > 1 and np.any(np.diff(self.timestamps) <= 0):
            raise MocapError("IMU timestamps are not strictly increasing", hint="sort the samples by time")

    def index(self, name: str) -> int:
        """Index of the sensor called ``name``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise MocapError(f"no IMU named {name!r}; the stream has {self.names}") from None

    def resample(self, t: np.ndarray) -> ImuStream:
        """Orientations slerped and angular velocities interpolated at times ``t`` ``(M,)`` (seconds).

        Times outside the stream's span take the nearest sample.
        """
        from scipy.spatial.transform import Rotation, Slerp

        t = np.asarray(t, dtype=float).ravel()
        tc = np.clip(t, self.timestamps[0], self.timestamps[-1])
        S = len(self.names)
        q = np.empty((t.size, S, 4))
        g = np.empty((t.size, S, 3))
        for s in range(S):
            if self.timestamps.size == 1:
                q[:, s] = self.quat_xyzw[0, s]
                g[:, s] = self.gyro[0, s]
                continue
            q[:, s] = Slerp(self.timestamps, Rotation.from_quat(self.quat_xyzw[:, s]))(tc).as_quat()
            for k in range(3):
                g[:, s, k] = np.interp(tc, self.timestamps, self.gyro[:, s, k])
        return ImuStream(t, q, g, list(self.names))


@dataclass
class ImuSegment:
    """An IMU attached to the bone ``parent -> child`` (joint indices of the keypoints' joint set).

    Attributes:
        sensor: IMU name in the :class:`ImuStream`.
        parent: joint index where the segment starts (e.g. the elbow for the forearm).
        child: joint index it points to (e.g. the wrist); reconstructed from the IMU when occluded.
        name: a label for reports (default ``"<sensor>"``).
    """

    sensor: str
    parent: int
    child: int
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or self.sensor


@dataclass
class ImuAlignment:
    """Calibration of one IMU to its segment: ``R_seg = R_heading @ R_imu @ R_align``.

    Attributes:
        R_heading: ``(3, 3)`` rotation about Z, IMU world -> vision world.
        R_align: ``(3, 3)`` sensor -> segment frame (identity when solved from bone directions).
        axis: ``(3,)`` unit bone direction (parent -> child) in the segment frame.
        length_m: bone length, metres (median over visible frames).
        residual_rad: RMS angle between the vision and the aligned IMU bone directions on the frames used.
        n_frames: number of frames used.
    """

    R_heading: np.ndarray
    R_align: np.ndarray
    axis: np.ndarray
    length_m: float
    residual_rad: float = float("nan")
    n_frames: int = 0

    def segment_rotation(self, R_imu: np.ndarray) -> np.ndarray:
        """Segment world orientations ``(..., 3, 3)`` from IMU orientations ``(..., 3, 3)``."""
        return self.R_heading @ np.asarray(R_imu, float) @ self.R_align


# --------------------------------------------------------------------------- rotation averaging and alignment
def yaw_matrix(angle: float) -> np.ndarray:
    """Rotation ``(3, 3)`` by ``angle`` radians about the world Z axis."""
    return axis_angle_matrix("Z", np.asarray(angle, dtype=float))


def average_rotations(R: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Chordal L2 mean of rotations ``(N, 3, 3)``: the rotation nearest (Frobenius) to their weighted sum."""
    R = check_shape(np.asarray(R, dtype=float), (None, 3, 3), "rotations")
    w = np.ones(R.shape[0]) if weights is None else np.asarray(weights, dtype=float).ravel()
    M = np.einsum("n,nij->ij", w, R)
    U, _, Vt = np.linalg.svd(M)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    return U @ D @ Vt


def _yaw_of_sum(M: np.ndarray) -> float:
    """Yaw (radians) of the Z rotation nearest to ``M`` (3, 3) (maximises trace(Rz^T M))."""
    return float(np.arctan2(M[1, 0] - M[0, 1], M[0, 0] + M[1, 1]))


def estimate_alignment_rotations(R_vis: np.ndarray, R_imu: np.ndarray, weights: np.ndarray | None = None,
                                 iterations: int = 20) -> tuple[np.ndarray, np.ndarray, float]:
    """Solve ``R_vis ~ R_heading @ R_imu @ R_align`` by alternating rotation averaging.

    Args:
        R_vis: ``(N, 3, 3)`` segment orientations seen by vision (world).
        R_imu: ``(N, 3, 3)`` IMU orientations (sensor -> IMU world) at the same times.
        weights: ``(N,)`` optional weights (e.g. vision confidence).
        iterations: alternations per starting heading (four starting headings are tried).

    Returns:
        ``R_heading`` ``(3, 3)`` (about Z), ``R_align`` ``(3, 3)``, and the RMS residual angle (radians).
    """
    R_vis = check_shape(np.asarray(R_vis, dtype=float), (None, 3, 3), "R_vis")
    R_imu = check_shape(np.asarray(R_imu, dtype=float), (R_vis.shape[0], 3, 3), "R_imu")
    if R_vis.shape[0] == 0:
        raise MocapError("no frames to align the IMU with: vision never saw the segment")
    w = np.ones(R_vis.shape[0]) if weights is None else np.asarray(weights, dtype=float).ravel()
    best = None
    for psi0 in (0.0, 0.5 * np.pi, np.pi, 1.5 * np.pi):
        Rh = yaw_matrix(psi0)
        for _ in range(iterations):
            Ra = average_rotations(np.swapaxes(R_imu, 1, 2) @ Rh.T @ R_vis, w)
            Rh = yaw_matrix(_yaw_of_sum(np.einsum("n,nij->ij", w, R_vis @ Ra.T @ np.swapaxes(R_imu, 1, 2))))
        ang = np.linalg.norm(matrix_to_rotvec(np.swapaxes(R_vis, 1, 2) @ Rh @ R_imu @ Ra), axis=-1)
        rms = float(np.sqrt(np.sum(w * ang**2) / max(np.sum(w), 1e-12)))
        if best is None or rms < best[2]:
            best = (Rh, Ra, rms)
    return best


def estimate_alignment_directions(d_vis: np.ndarray, R_imu: np.ndarray, weights: np.ndarray | None = None,
                                  iterations: int = 30) -> tuple[np.ndarray, np.ndarray, float]:
    """Solve ``d_vis ~ R_heading @ R_imu @ a`` for the heading and the bone axis ``a`` in the sensor frame.

    Keypoints give a bone's direction, not its twist; this is the alignment that directions determine.

    Args:
        d_vis: ``(N, 3)`` unit bone directions seen by vision (world).
        R_imu: ``(N, 3, 3)`` IMU orientations at the same times.
        weights: ``(N,)`` optional weights.
        iterations: alternations per starting heading (four starting headings are tried).

    Returns:
        ``R_heading`` ``(3, 3)``, ``a`` ``(3,)`` unit axis in the sensor frame, RMS residual angle (radians).
        Needs the segment to move (vary its orientation) for the heading to be observable.
    """
    d = check_shape(np.asarray(d_vis, dtype=float), (None, 3), "d_vis")
    R_imu = check_shape(np.asarray(R_imu, dtype=float), (d.shape[0], 3, 3), "R_imu")
    if d.shape[0] == 0:
        raise MocapError("no frames to align the IMU with: vision never saw the segment")
    w = np.ones(d.shape[0]) if weights is None else np.asarray(weights, dtype=float).ravel()
    best = None
    for psi0 in (0.0, 0.5 * np.pi, np.pi, 1.5 * np.pi):
        psi = psi0
        for _ in range(iterations):
            Rh = yaw_matrix(psi)
            a = np.einsum("n,nji,nj->i", w, R_imu, d @ Rh)  # sum_n w R_imu^T Rh^T d
            a /= max(np.linalg.norm(a), 1e-12)
            b = R_imu @ a  # (N, 3)
            psi = float(np.arctan2(np.sum(w * (d[:, 1] * b[:, 0] - d[:, 0] * b[:, 1])),
                                   np.sum(w * (d[:, 0] * b[:, 0] + d[:, 1] * b[:, 1]))))
        Rh = yaw_matrix(psi)
        pred = (R_imu @ a) @ Rh.T
        ang = np.arccos(np.clip(np.sum(pred * d, axis=1), -1.0, 1.0))
        rms = float(np.sqrt(np.sum(w * ang**2) / max(np.sum(w), 1e-12)))
        if best is None or rms < best[2]:
            best = (Rh, a, rms)
    return best


# --------------------------------------------------------------------------- the filter
def _skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


class SegmentOrientationFilter:
    """Error-state Kalman filter on one segment's world orientation.

    State ``R`` ``(3, 3)`` with a world-frame error ``delta`` (``R_true = exp(delta) R``) of covariance ``P``
    ``(3, 3)`` in rad^2. IMU prediction adds ``gyro_sigma^2 dt``; vision bone directions and (optionally) absolute
    IMU orientations are measurements.

    Args:
        alignment: the segment's :class:`ImuAlignment`.
        gyro_sigma: process noise of the IMU propagation, rad/sqrt(s) (gyro noise + bias + mounting wobble).
        direction_sigma: noise of a vision bone direction (unit vector components, ~ position noise / length).
        imu_abs_sigma: noise of the IMU's absolute orientation as a measurement, rad (None = not used: the IMU
            heading drifts; vision corrects it).
    """

    def __init__(self, alignment: ImuAlignment, gyro_sigma: float = 0.05, direction_sigma: float = 0.08,
                 imu_abs_sigma: float | None = None) -> None:
        self.al = alignment
        self.gyro_sigma = gyro_sigma
        self.direction_sigma = direction_sigma
        self.imu_abs_sigma = imu_abs_sigma
        self.R: np.ndarray | None = None
        self.P = np.eye(3) * 1.0
        self._last_imu: np.ndarray | None = None

    def predict(self, R_imu: np.ndarray | None, gyro: np.ndarray | None, dt: float) -> None:
        """Propagate by one IMU sample: the relative IMU orientation since the last sample (or the gyro).

        Args:
            R_imu: ``(3, 3)`` IMU orientation now (or None); gyro: ``(3,)`` rad/s in the sensor frame (or None).
            dt: seconds since the last prediction.
        """
        have_q = R_imu is not None and np.isfinite(R_imu).all()
        if self.R is None:
            if have_q:
                self.R = self.al.segment_rotation(R_imu)
                self.P = np.eye(3) * (self.imu_abs_sigma or 0.2) ** 2
                self._last_imu = np.asarray(R_imu, float)
            return
        if have_q and self._last_imu is not None:
            # body-frame increment of the segment: R_align^T (R_imu_prev^T R_imu) R_align
            inc = self.al.R_align.T @ self._last_imu.T @ R_imu @ self.al.R_align
            self.R = self.R @ inc
        elif gyro is not None and np.isfinite(gyro).all():
            self.R = self.R @ rotvec_to_matrix(self.al.R_align.T @ np.asarray(gyro, float) * dt)
        self.P = self.P + np.eye(3) * self.gyro_sigma**2 * max(dt, 0.0)
        if have_q:
            self._last_imu = np.asarray(R_imu, float)
            if self.imu_abs_sigma is not None:
                self.update_orientation(self.al.segment_rotation(R_imu), self.imu_abs_sigma)

    def _correct(self, delta: np.ndarray) -> None:
        self.R = rotvec_to_matrix(delta) @ self.R
        U, _, Vt = np.linalg.svd(self.R)
        self.R = U @ Vt

    def update_direction(self, d: np.ndarray, sigma: float | None = None) -> None:
        """Vision update with a unit bone direction ``d`` ``(3,)`` (world)."""
        sigma = self.direction_sigma if sigma is None else sigma
        d = np.asarray(d, float)
        if self.R is None:
            return
        pred = self.R @ self.al.axis
        H = -_skew(pred)
        S = H @ self.P @ H.T + np.eye(3) * sigma**2
        K = self.P @ H.T @ np.linalg.inv(S)
        self._correct(K @ (d - pred))
        IKH = np.eye(3) - K @ H
        self.P = IKH @ self.P @ IKH.T + K @ K.T * sigma**2

    def update_orientation(self, R_meas: np.ndarray, sigma: float) -> None:
        """Update with a full orientation measurement ``(3, 3)`` (world) of noise ``sigma`` radians."""
        if self.R is None:
            self.R = np.asarray(R_meas, float)
            self.P = np.eye(3) * sigma**2
            return
        y = matrix_to_rotvec(R_meas @ self.R.T)
        K = self.P @ np.linalg.inv(self.P + np.eye(3) * sigma**2)
        self._correct(K @ y)
        self.P = (np.eye(3) - K) @ self.P


# --------------------------------------------------------------------------- per-frame fusion (shared)
@dataclass
class _SegState:
    seg: ImuSegment
    sensor_index: int
    filt: SegmentOrientationFilter | None = None
    pairs_d: list = field(default_factory=list)
    pairs_R: list = field(default_factory=list)
    lengths: list = field(default_factory=list)


def _chain_order(segments: list[ImuSegment]) -> list[int]:
    """Indices of ``segments`` ordered so that a segment hanging from another's child comes after it."""
    by_child = {s.child: i for i, s in enumerate(segments)}

    def depth(i: int, seen: frozenset = frozenset()) -> int:
        j = by_child.get(segments[i].parent)
        if j is None or j in seen or j == i:
            return 0
        return 1 + depth(j, seen | {i})

    return sorted(range(len(segments)), key=depth)


class ImuFusionStep:
    """Live IMU + vision fusion, one frame at a time (one person).

    Args:
        segments: the IMU-to-segment mapping; chains (a segment whose parent joint is another's child) are
            processed parent-first whatever the order given.
        sensor_names: IMU names in the order of the per-frame ``quat``/``gyro`` arrays.
        alignments: optional ``{segment name: ImuAlignment}`` (e.g. from :func:`fuse_imu_keypoints` or a previous
            session). Segments without one align themselves after ``min_align_frames`` visible frames.
        min_align_frames: visible frames collected before self-alignment.
        min_conf: vision joints below this confidence count as not seen.
        max_residual_rad: a self-alignment whose RMS residual exceeds this is rejected (collecting continues).
        rotation_sigma: noise of vision segment orientations passed to :meth:`step` (radians).
        **filter_opts: options of :class:`SegmentOrientationFilter`.

    Example:
        >>> fuse = ImuFusionStep([ImuSegment("l_forearm", 7, 9)], ["l_forearm"])  # doctest: +SKIP
        >>> xyzc = fuse.step(xyzc_vision, quat_xyzw, gyro, t)  # (J, 4)  # doctest: +SKIP
    """

    def __init__(self, segments: Sequence[ImuSegment], sensor_names: Sequence[str],
                 alignments: dict[str, ImuAlignment] | None = None, min_align_frames: int = 30,
                 min_conf: float = 0.3, max_residual_rad: float = 0.35, rotation_sigma: float = 0.05,
                 **filter_opts) -> None:
        names = [str(n) for n in sensor_names]
        self.states: list[_SegState] = []
        for seg in segments:
            if seg.sensor not in names:
                raise MocapError(f"segment '{seg.name}' uses IMU '{seg.sensor}', which is not among {names}")
            st = _SegState(seg, names.index(seg.sensor))
            if alignments and seg.name in alignments:
                st.filt = SegmentOrientationFilter(alignments[seg.name], **filter_opts)
            self.states.append(st)
        self._order = _chain_order(list(segments))
        self.n_sensors = len(names)
        self.min_align_frames = min_align_frames
        self.min_conf = min_conf
        self.max_residual_rad = max_residual_rad
        self.rotation_sigma = rotation_sigma
        self.filter_opts = filter_opts
        self._t: float | None = None

    @property
    def alignments(self) -> dict[str, ImuAlignment]:
        """The segments' alignments so far."""
        return {st.seg.name: st.filt.al for st in self.states if st.filt is not None}

    def segment_rotations(self) -> np.ndarray:
        """``(S, 3, 3)`` current fused segment orientations (NaN for segments not yet aligned)."""
        out = np.full((len(self.states), 3, 3), np.nan)
        for i, st in enumerate(self.states):
            if st.filt is not None and st.filt.R is not None:
                out[i] = st.filt.R
        return out

    def _try_align(self, st: _SegState) -> None:
        if len(st.pairs_d) < self.min_align_frames:
            return
        Rh, a, rms = estimate_alignment_directions(np.array(st.pairs_d), np.array(st.pairs_R))
        if rms > self.max_residual_rad:
            st.pairs_d, st.pairs_R = st.pairs_d[-self.min_align_frames:], st.pairs_R[-self.min_align_frames:]
            return
        al = ImuAlignment(Rh, np.eye(3), a, float(np.median(st.lengths)), rms, len(st.pairs_d))
        st.filt = SegmentOrientationFilter(al, **self.filter_opts)

    def step(self, xyzc: np.ndarray, quat_xyzw: np.ndarray, gyro: np.ndarray | None, t: float,
             segment_rotations: np.ndarray | None = None) -> np.ndarray:
        """Fuse one frame.

        Args:
            xyzc: ``(J, 4)`` (or ``(J, 3)``) vision joints, world metres (+ confidence); NaN = not seen.
            quat_xyzw: ``(S, 4)`` IMU orientations at time ``t``; gyro: ``(S, 3)`` rad/s or None.
            t: timestamp, seconds.
            segment_rotations: optional ``(n_segments, 3, 3)`` full segment orientations from vision (e.g. a body
                model fit), NaN where unknown; used as orientation measurements by aligned segments.

        Returns:
            ``(J, 4)``: the vision joints, with occluded segment children reconstructed from the IMU (their
            confidence is the parent's times 0.5, marking them as inferred).
        """
        xyzc = np.asarray(xyzc, dtype=float)
        if xyzc.ndim != 2 or xyzc.shape[1] not in (3, 4):
            raise KeypointsError(f"vision joints have shape {xyzc.shape}; expected (J, 3) or (J, 4)")
        if xyzc.shape[1] == 3:
            xyzc = np.concatenate([xyzc, np.where(np.isfinite(xyzc).all(1), 1.0, np.nan)[:, None]], axis=1)
        q = check_shape(np.asarray(quat_xyzw, dtype=float), (self.n_sensors, 4), "IMU quat_xyzw")
        g = None if gyro is None else check_shape(np.asarray(gyro, dtype=float), (self.n_sensors, 3), "IMU gyro")
        dt = 0.0 if self._t is None else float(t) - self._t
        self._t = float(t)
        out = xyzc.copy()
        Rimu_all = np.full((self.n_sensors, 3, 3), np.nan)
        okq = np.isfinite(q).all(1)
        Rimu_all[okq] = quat_xyzw_to_matrix(q[okq])
        if segment_rotations is not None:
            segment_rotations = check_shape(np.asarray(segment_rotations, dtype=float), (len(self.states), 3, 3),
                                            "segment_rotations")
        for i in self._order:
            st = self.states[i]
            p, c = st.seg.parent, st.seg.child
            R_imu = Rimu_all[st.sensor_index]
            gy = None if g is None else g[st.sensor_index]
            pv, cv = xyzc[p], xyzc[c]
            seen = (np.isfinite(pv[:3]).all() and np.isfinite(cv[:3]).all()
                    and not (pv[3] < self.min_conf) and not (cv[3] < self.min_conf))
            d = None
            if seen:
                v = cv[:3] - pv[:3]
                n = np.linalg.norm(v)
                if n > 1e-6:
                    d = v / n
            if st.filt is None:
                if d is not None and np.isfinite(R_imu).all():
                    st.pairs_d.append(d)
                    st.pairs_R.append(R_imu)
                    st.lengths.append(n)
                    self._try_align(st)
                continue
            st.filt.predict(R_imu if np.isfinite(R_imu).all() else None, gy, dt)
            if segment_rotations is not None and np.isfinite(segment_rotations[i]).all():
                st.filt.update_orientation(segment_rotations[i], self.rotation_sigma)
            if d is not None:
                st.filt.update_direction(d)
            if not seen and st.filt.R is not None and np.isfinite(out[p, :3]).all() and not np.isfinite(
                    out[c, :3]).all():
                out[c, :3] = out[p, :3] + st.filt.al.length_m * (st.filt.R @ st.filt.al.axis)
                out[c, 3] = 0.5 * (out[p, 3] if np.isfinite(out[p, 3]) else 1.0)
        return out


def fuse_imu_keypoints(kp3d, imu: ImuStream, segments: Sequence[ImuSegment], *, person: int = 0,
                       min_conf: float = 0.3, segment_rotations: dict[str, np.ndarray] | None = None,
                       **filter_opts):
    """Offline IMU + vision fusion of one person's 3D keypoints.

    Alignment (heading and bone axis per IMU) is solved from every frame where vision sees both joints of the
    segment; the bone length is their median distance. Where vision also gives full segment orientations
    (``segment_rotations``), the full mounting ``R_align`` is solved by rotation averaging instead, and those
    orientations update the filter too. Then :class:`ImuFusionStep` runs over the frames with
    these alignments, reconstructing occluded children.

    Args:
        kp3d: :class:`~mocap.keypoints.Keypoints3D` ``(T, P, J, 4)``.
        imu: :class:`ImuStream`; resampled to the keypoints' timestamps (slerp).
        segments: IMU-to-segment mapping (chains are processed parent-first).
        person: person index in ``kp3d``.
        min_conf: vision joints below this confidence count as not seen.
        segment_rotations: optional ``{segment name: (T, 3, 3)}`` vision segment orientations (NaN = unknown).
        **filter_opts: options of :class:`SegmentOrientationFilter` (and ``rotation_sigma`` of
            :class:`ImuFusionStep`).

    Returns:
        ``(kp3d_out, report)``: a copy of ``kp3d`` with the person's occluded joints filled (quality field
        ``"imu_filled"`` ``(T, P, J)`` bool); ``report`` has ``"alignments"`` ``{segment: ImuAlignment}`` and
        ``"segment_quat_xyzw"`` ``(T, S, 4)`` fused segment orientations.

    Raises:
        MocapError: a segment never seen by vision (nothing to align with) or a joint index out of range.
    """
    from mocap.keypoints import Keypoints3D

    J = kp3d.n_joints
    for seg in segments:
        if not (0 <= seg.parent < J and 0 <= seg.child < J):
            raise MocapError(f"segment '{seg.name}' joints ({seg.parent}, {seg.child}) are outside 0..{J - 1} of "
                             f"joint set '{kp3d.joint_set}'")
    data = kp3d.data[:, person]
    ts = kp3d.timestamps
    imu_r = imu.resample(ts)
    R_all = quat_xyzw_to_matrix(imu_r.quat_xyzw)  # (T, S, 3, 3)
    alignments: dict[str, ImuAlignment] = {}
    for seg in segments:
        s = imu.index(seg.sensor)
        a, b = data[:, seg.parent], data[:, seg.child]
        v = b[:, :3] - a[:, :3]
        n = np.linalg.norm(v, axis=1)
        seen = np.isfinite(n) & (n > 1e-6) & ~(a[:, 3] < min_conf) & ~(b[:, 3] < min_conf)
        seen &= np.isfinite(R_all[:, s]).all((1, 2))
        if seen.sum() < 3:
            raise MocapError(f"segment '{seg.name}' (joints {seg.parent}->{seg.child}) is seen by vision in "
                             f"{int(seen.sum())} frames; at least 3 are needed to align IMU '{seg.sensor}'",
                             hint="record a few seconds where the limb is visible and moving")
        d = v[seen] / n[seen, None]
        Rv = None if not segment_rotations or seg.name not in segment_rotations else check_shape(
            np.asarray(segment_rotations[seg.name], dtype=float), (kp3d.n_frames, 3, 3),
            f"segment_rotations['{seg.name}']")
        if Rv is not None and np.isfinite(Rv).all((1, 2)).sum() >= 3:
            okr = np.isfinite(Rv).all((1, 2)) & np.isfinite(R_all[:, s]).all((1, 2))
            Rh, Ra, rms = estimate_alignment_rotations(Rv[okr], R_all[okr, s])
            both = seen & okr
            ax = np.einsum("nji,nj->i", Rv[both], v[both] / n[both, None]) if both.any() else np.array([1.0, 0, 0])
            ax /= max(np.linalg.norm(ax), 1e-12)
            alignments[seg.name] = ImuAlignment(Rh, Ra, ax, float(np.median(n[seen])), rms, int(okr.sum()))
        else:
            Rh, ax, rms = estimate_alignment_directions(d, R_all[seen, s])
            alignments[seg.name] = ImuAlignment(Rh, np.eye(3), ax, float(np.median(n[seen])), rms, int(seen.sum()))
    seg_R = None
    if segment_rotations:
        seg_R = np.full((kp3d.n_frames, len(segments), 3, 3), np.nan)
        for i, seg in enumerate(segments):
            if seg.name in segment_rotations:
                seg_R[:, i] = segment_rotations[seg.name]
    fuse = ImuFusionStep(segments, imu.names, alignments=alignments, min_conf=min_conf, **filter_opts)
    out = np.empty_like(data)
    quats = np.full((kp3d.n_frames, len(segments), 4), np.nan)
    for t in range(kp3d.n_frames):
        out[t] = fuse.step(data[t], imu_r.quat_xyzw[t], imu_r.gyro[t], ts[t], None if seg_R is None else seg_R[t])
        Rs = fuse.segment_rotations()
        ok = np.isfinite(Rs).all((1, 2))
        quats[t, ok] = matrix_to_quat_xyzw(Rs[ok])
    new = kp3d.data.copy()
    new[:, person] = out
    filled = np.zeros(kp3d.data.shape[:3], dtype=bool)
    filled[:, person] = ~np.isfinite(data[..., :3]).all(-1) & np.isfinite(out[..., :3]).all(-1)
    quality = dict(kp3d.quality)
    for k, v in list(quality.items()):
        quality[k] = np.asarray(v).copy()
    quality["imu_filled"] = filled
    res = Keypoints3D(new, kp3d.joint_set, timestamps=ts.copy(), fps=kp3d.fps, person_ids=kp3d.person_ids.copy(),
                      quality=quality, meta=dict(kp3d.meta))
    return res, {"alignments": alignments, "segment_quat_xyzw": quats}


# --------------------------------------------------------------------------- synthetic IMUs
def simulate_imu(R_seg: np.ndarray, timestamps: np.ndarray, *, R_align: np.ndarray | None = None,
                 heading_rad: float = 0.0, orientation_noise_rad: float = 0.01, yaw_drift_rad_s: float = 0.01,
                 gyro_noise: float = 0.01, gyro_bias: np.ndarray | float = 0.0,
                 rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic IMU readings of a sensor strapped to a segment (for tests and benchmarks).

    The true sensor orientation is ``R_imu = R_heading^T R_seg R_align^T`` (so ``R_seg = R_heading R_imu
    R_align``); the reported orientation adds a heading drift (rotation about the IMU world Z growing at
    ``yaw_drift_rad_s``) and white noise; the gyro is the true body-frame rate plus bias and noise.

    Args:
        R_seg: ``(T, 3, 3)`` true segment orientations (world); timestamps: ``(T,)`` seconds.
        R_align: ``(3, 3)`` sensor -> segment mounting (default identity).
        heading_rad: IMU world heading relative to the vision world, radians.
        orientation_noise_rad, yaw_drift_rad_s: orientation noise (per axis) and heading drift rate.
        gyro_noise, gyro_bias: angular velocity noise sigma and bias (rad/s).
        rng: random generator.

    Returns:
        ``quat_xyzw`` ``(T, 4)`` and ``gyro`` ``(T, 3)`` rad/s in the sensor frame.
    """
    rng = rng or np.random.default_rng(0)
    R_seg = check_shape(np.asarray(R_seg, dtype=float), (None, 3, 3), "R_seg")
    ts = np.asarray(timestamps, dtype=float).ravel()
    T = R_seg.shape[0]
    Ra = np.eye(3) if R_align is None else np.asarray(R_align, float)
    Rh = yaw_matrix(heading_rad)
    R_true = Rh.T @ R_seg @ Ra.T
    w = np.zeros((T, 3))
    if T > 1:
        dts = np.diff(ts)
        w[:-1] = matrix_to_rotvec(np.swapaxes(R_true[:-1], 1, 2) @ R_true[1:]) / dts[:, None]
        w[-1] = w[-2]
    gyro = w + np.asarray(gyro_bias, float) + rng.normal(0.0, gyro_noise, (T, 3))
    drift = yaw_matrix(yaw_drift_rad_s * (ts - ts[0]))
    R_rep = drift @ R_true @ rotvec_to_matrix(rng.normal(0.0, orientation_noise_rad, (T, 3)))
    return matrix_to_quat_xyzw(R_rep), gyro


__all__ = [
    "ImuStream", "ImuSegment", "ImuAlignment", "yaw_matrix", "average_rotations", "estimate_alignment_rotations",
    "estimate_alignment_directions", "SegmentOrientationFilter", "ImuFusionStep", "fuse_imu_keypoints",
    "simulate_imu",
]
