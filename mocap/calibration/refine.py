"""Keep a rig's calibration right using the people it films: bundle adjustment on 2D keypoints, drift detection.

:func:`refine_from_keypoints` re-estimates every camera's pose (optionally its focal length) from confident 2D
keypoints of moving people that are already associated across cameras (``(T, C, P, J, 3)``; one person is
``P = 1``). Each person joint in each frame is a 3D point of the bundle adjustment; cameras and points are solved
together by Levenberg-Marquardt with the points eliminated per step (Schur complement), a Huber loss, and views
re-selected by robust triangulation between rounds (a detector's wrong joints never enter). People carry no
metric scale and no world frame: the refined rig is put back into the original calibration's frame by the
similarity that best maps its camera centres onto the original ones (scale from the original calibration), or
scaled so the person has a stated height.

Refusals (:class:`RefineRefused`) say why: too few frames with people seen by two cameras, a person who barely
moves (no depth spread to pin the rig), or a solve whose cameras stay uncertain.

:func:`camera_drift` (and its online twin :class:`DriftMonitor`) follows every camera's reprojection error against
the points triangulated by all cameras over time and names a camera whose error jumps (a bumped camera).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np

from mocap.calibration.bundle import rotvecs_to_matrices
from mocap.calibration.uncertainty import CameraUncertainty, pose_uncertainty
from mocap.cameras.rig import CameraRig
from mocap.errors import CalibrationError
from mocap.geometry.checks import check_shape
from mocap.geometry.projection import distort_normalized

log = logging.getLogger(__name__)

#: (ankle-knee + knee-hip + hip-shoulder) / stature for COCO-style joints (shoulder 0.818 H - ankle 0.039 H; see
#: :func:`person_height_m`).
LEG_TRUNK_FRACTION = 0.779

#: frames (with a person seen by >= 2 cameras) needed before refining.
MIN_FRAMES = 30
#: the people's centre must span at least this (metres, largest extent of the trajectory of the mean joint) ...
MIN_TRAVEL_M = 0.5
#: ... refusal thresholds on the solved cameras' standard deviations.
MAX_ROTATION_STD_DEG = 0.5
MAX_CENTER_STD_M = 0.05


class RefineRefused(CalibrationError):
    """The keypoints cannot constrain the rig (the message says why and what to record)."""


@dataclass
class RefineResult:
    """Outcome of :func:`refine_from_keypoints`.

    Attributes:
        rig: the refined cameras, in the original calibration's world frame.
        initial: the calibration it started from.
        before_px, after_px: camera name -> mean reprojection error of its views kept by robust triangulation,
            pixels, on the evaluation frames (``evaluated_on`` says which), with the initial and refined rig.
        rotation_change_deg, center_change_m: camera name -> how much the refinement moved each camera.
        uncertainty: camera name -> one-sigma pose (and focal) uncertainty after refinement (relative to
            ``reference``, scale fixed).
        n_frames, n_points, n_views: data used in the solve.
        scale: how the metric scale was set; evaluated_on: which frames the errors are over.
        warnings: notes (a camera that moved during the session, a weak solve).
    """

    rig: CameraRig
    initial: CameraRig
    before_px: dict[str, float]
    after_px: dict[str, float]
    rotation_change_deg: dict[str, float]
    center_change_m: dict[str, float]
    uncertainty: dict[str, CameraUncertainty]
    n_frames: int
    n_points: int
    n_views: int
    scale: str
    evaluated_on: str
    reference: str
    warnings: list[str] = field(default_factory=list)

    @property
    def mean_before_px(self) -> float:
        """Mean over cameras of :attr:`before_px`."""
        return float(np.nanmean(list(self.before_px.values())))

    @property
    def mean_after_px(self) -> float:
        """Mean over cameras of :attr:`after_px`."""
        return float(np.nanmean(list(self.after_px.values())))

    def lines(self) -> list[str]:
        """A human summary: before/after error and change per camera."""
        out = [f"reprojection error ({self.evaluated_on}): {self.mean_before_px:.2f} px -> {self.mean_after_px:.2f} px"
               f" ({self.n_frames} frames, {self.n_points} points, {self.n_views} views; scale {self.scale})"]
        for n in self.rig.names:
            u = self.uncertainty.get(n)
            sd = (f"; now +-{100 * float(u.center_m.max()):.1f} cm, +-{u.rotation_deg:.2f} deg"
                  if u is not None and n != self.reference else (" (reference)" if n == self.reference else ""))
            f0, f1 = self.initial[n].K[0, 0], self.rig[n].K[0, 0]
            foc = f", focal {f0:.1f} -> {f1:.1f} px" if abs(f1 - f0) > 1e-6 else ""
            out.append(f"  {n}: {self.before_px[n]:.2f} -> {self.after_px[n]:.2f} px; moved "
                       f"{100 * self.center_change_m[n]:.1f} cm, turned {self.rotation_change_deg[n]:.2f} deg{foc}{sd}")
        return out


# --------------------------------------------------------------------------- data preparation
def _as_array(keypoints, rig: CameraRig) -> np.ndarray:  # noqa: ANN001
    """``(T, C, P, J, 3)`` data with cameras in the rig's order (a Keypoints2D is matched by name)."""
    from mocap.keypoints import Keypoints2D

    if isinstance(keypoints, Keypoints2D):
        names = keypoints.camera_names
        if all(n in names for n in rig.names):
            return keypoints.select_cameras(rig.names).data
        if len(names) == len(rig):
            log.warning("keypoint cameras %s are not named like the calibration's %s; matching by order", names,
                        rig.names)
            return keypoints.data
        raise CalibrationError(f"the keypoints have cameras {names} but the calibration has {rig.names}",
                               hint="name the videos after the calibration's cameras")
    data = np.asarray(keypoints, float)
    if data.ndim == 4:
        data = data[:, :, None]
    return check_shape(data, ("T", len(rig), "P", "J", 3), "keypoints")


def _project(Rs: np.ndarray, ts: np.ndarray, Ks: np.ndarray, dists: list[np.ndarray], models: list[str],
             X: np.ndarray) -> np.ndarray:
    """Project points ``X`` ``(N, C, 3)`` (one copy per camera slot) with per-camera params -> ``(N, C, 2)``."""
    out = np.empty(X.shape[:2] + (2,))
    for c in range(X.shape[1]):
        Xc = X[:, c] @ Rs[c].T + ts[c]
        z = np.where(np.abs(Xc[:, 2:3]) < 1e-9, 1e-9, Xc[:, 2:3])
        xy = distort_normalized(Xc[:, :2] / z, dists[c], models[c])
        K = Ks[c]
        out[:, c, 0] = K[0, 0] * xy[:, 0] + K[0, 1] * xy[:, 1] + K[0, 2]
        out[:, c, 1] = K[1, 1] * xy[:, 1] + K[1, 2]
    return out


class _Problem:
    """Cameras (rvec, t[, f]) and points ``(N, 3)`` observed in an ``(N, C)`` slot table."""

    def __init__(self, rig: CameraRig, uv: np.ndarray, use: np.ndarray, X: np.ndarray, fixed: int,
                 focal: bool) -> None:
        self.rig, self.uv, self.use, self.fixed = rig, uv, use, fixed
        self.p = 7 if focal else 6
        self.cam = np.array([np.concatenate([c.rvec, c.t, [c.K[0, 0]]]) for c in rig])
        self.X = X.copy()
        self.aspect = np.array([c.K[1, 1] / c.K[0, 0] for c in rig])

    def params(self, cam: np.ndarray) -> tuple:
        Rs = rotvecs_to_matrices(cam[:, :3])
        Ks = []
        for c, k in enumerate(self.rig):
            K = k.K.copy()
            if self.p == 7:
                K[0, 0], K[1, 1] = cam[c, 6], cam[c, 6] * self.aspect[c]
            Ks.append(K)
        return Rs, cam[:, 3:6], np.stack(Ks), [c.dist for c in self.rig], [c.model for c in self.rig]

    def residuals(self, cam: np.ndarray, X: np.ndarray) -> np.ndarray:
        Rs, ts, Ks, ds, ms = self.params(cam)
        Xs = np.broadcast_to(X[:, None], (len(X), len(self.rig), 3))
        r = _project(Rs, ts, Ks, ds, ms, Xs) - self.uv
        return np.where(self.use[..., None], r, 0.0)

    def jacobians(self, cam: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Residuals ``(N, C, 2)``, camera Jacobian ``(N, C, 2, p)`` and point Jacobian ``(N, C, 2, 3)``."""
        r = self.residuals(cam, X)
        Jc = np.zeros(r.shape + (self.p,))
        for k in range(self.p):
            h = 1e-6 * max(1.0, float(np.abs(cam[:, k]).max())) if k < 6 else 1e-3
            d = np.zeros_like(cam)
            d[:, k] = h
            Jc[..., k] = (self.residuals(cam + d, X) - self.residuals(cam - d, X)) / (2 * h)
        Jp = np.zeros(r.shape + (3,))
        for k in range(3):
            d = np.zeros(3)
            d[k] = 1e-6
            Jp[..., k] = (self.residuals(cam, X + d) - self.residuals(cam, X - d)) / 2e-6
        return r, Jc, Jp


def _huber_w(e: np.ndarray, k: float) -> np.ndarray:
    return np.where(e <= k, 1.0, k / np.maximum(e, 1e-12))


def _cost(r: np.ndarray, use: np.ndarray, k: float) -> float:
    e = np.linalg.norm(r, axis=-1)[use]
    return float(np.sum(np.where(e <= k, 0.5 * e * e, k * e - 0.5 * k * k)))


def _inv3(M: np.ndarray) -> np.ndarray:
    """Inverses of ``(N, 3, 3)`` matrices by the adjugate (LAPACK's batched inverse is slow for tiny blocks)."""
    a, b, c = M[:, 0, 0], M[:, 0, 1], M[:, 0, 2]
    d, e, f = M[:, 1, 0], M[:, 1, 1], M[:, 1, 2]
    g, h, i = M[:, 2, 0], M[:, 2, 1], M[:, 2, 2]
    A = np.stack([np.stack([e * i - f * h, c * h - b * i, b * f - c * e], -1),
                  np.stack([f * g - d * i, a * i - c * g, c * d - a * f], -1),
                  np.stack([d * h - e * g, b * g - a * h, a * e - b * d], -1)], -2)
    det = a * A[:, 0, 0] + b * A[:, 1, 0] + c * A[:, 2, 0]
    return A / np.where(np.abs(det) > 1e-300, det, 1e-300)[:, None, None]


def _schur_step(r, Jc, Jp, w, free: np.ndarray, lam: float):  # noqa: ANN001, ANN202
    """One damped Gauss-Newton step (points eliminated). Returns (camera step (C, p), point step (N, 3), S)."""
    ww = w[..., None, None]
    U = np.einsum("ncki,nckj->cij", Jc * ww, Jc)
    V = np.einsum("ncki,nckj->nij", Jp * ww, Jp)
    W = np.einsum("ncki,nckj->ncij", Jc * ww, Jp)
    gc = np.einsum("ncki,nck->ci", Jc * ww, r)
    gp = np.einsum("ncki,nck->ni", Jp * ww, r)
    C, p = U.shape[0], U.shape[1]
    Vd = V + lam * np.einsum("nii->ni", V)[..., None] * np.eye(3) + 1e-12 * np.eye(3)
    Vinv = _inv3(Vd)
    Y = np.einsum("ncij,njk->ncik", W, Vinv)
    S = -np.einsum("ncik,ndjk->cidj", Y, W).reshape(C * p, C * p)
    Ud = U + lam * np.einsum("cii->ci", U)[..., None] * np.eye(p)
    for c in range(C):
        S[c * p:(c + 1) * p, c * p:(c + 1) * p] += Ud[c]
    rhs = (gc - np.einsum("ncik,nk->ci", Y, gp)).reshape(-1)
    idx = np.concatenate([np.arange(c * p, (c + 1) * p) for c in np.flatnonzero(free)])
    dc = np.zeros(C * p)
    Sf = S[np.ix_(idx, idx)]
    dc[idx] = -np.linalg.lstsq(Sf + 1e-12 * np.eye(len(idx)) * np.trace(Sf) / len(idx), rhs[idx], rcond=None)[0]
    dc = dc.reshape(C, p)
    dX = -np.einsum("nij,nj->ni", Vinv, gp + np.einsum("ncij,ci->nj", W, dc))
    return dc, dX, S, idx


def _solve(prob: _Problem, huber_px: float, iterations: int = 30) -> tuple[float, np.ndarray]:
    """Levenberg-Marquardt on the Huber cost. Returns the final cost and the (undamped) reduced matrix."""
    free = np.ones(len(prob.rig), bool)
    free[prob.fixed] = False
    lam = 1e-3
    cam, X = prob.cam, prob.X
    r = prob.residuals(cam, X)
    cost = _cost(r, prob.use, huber_px)
    for _ in range(iterations):
        r, Jc, Jp = prob.jacobians(cam, X)
        w = np.where(prob.use, _huber_w(np.linalg.norm(r, axis=-1), huber_px), 0.0)
        improved = False
        for _ in range(8):
            dc, dX, _, _ = _schur_step(r, Jc, Jp, w, free, lam)
            cam1, X1 = cam.copy(), X + dX
            cam1[:, :prob.p] += dc
            c1 = _cost(prob.residuals(cam1, X1), prob.use, huber_px)
            if np.isfinite(c1) and c1 < cost:
                rel = (cost - c1) / max(cost, 1e-12)
                cam, X, cost = cam1, X1, c1
                lam = max(lam / 3, 1e-9)
                improved = True
                break
            lam *= 4
        if not improved or rel < 1e-7:
            break
    prob.cam, prob.X = cam, X
    r, Jc, Jp = prob.jacobians(cam, X)
    w = np.where(prob.use, _huber_w(np.linalg.norm(r, axis=-1), huber_px), 0.0)
    _, _, S, idx = _schur_step(r, Jc, Jp, w, free, 0.0)
    return cost, (S, idx, r, w)


# --------------------------------------------------------------------------- gauge: back to the original frame
def similarity(A: np.ndarray, B: np.ndarray, with_scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama: ``s, R, t`` minimising ``|B - (s R A + t)|^2`` over points ``A``, ``B`` ``(N, 3)``."""
    ma, mb = A.mean(0), B.mean(0)
    a, b = A - ma, B - mb
    U, S, Vt = np.linalg.svd(b.T @ a / len(A))
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    R = U @ D @ Vt
    s = float(np.trace(np.diag(S) @ D) / (a ** 2).sum(1).mean()) if with_scale else 1.0
    return s, R, mb - s * R @ ma


def _rig_from(prob: _Problem, cam: np.ndarray) -> CameraRig:
    Rs, ts, Ks, _, _ = prob.params(cam)
    out = prob.rig.copy()
    for c, k in enumerate(out.cameras):
        k.R, k.t, k.K = Rs[c].copy(), np.asarray(ts[c], float).copy(), Ks[c].copy()
    return out


def _evaluate(rig: CameraRig, data: np.ndarray, min_conf: float, threshold: float) -> dict[str, float]:
    """Per-camera mean reprojection error of the views robust triangulation keeps, pixels."""
    from mocap.reconstruct.triangulation import triangulate

    uv = np.moveaxis(data[..., :2], 1, 0)
    conf = np.moveaxis(data[..., 2], 1, 0)
    res = triangulate(rig, uv, conf, min_conf=min_conf, reproj_threshold_px=threshold, refine=True)
    e = np.where(res.used, res.view_error_px, np.nan).reshape(len(rig), -1)
    with np.errstate(invalid="ignore"):
        return {n: float(np.nanmean(e[c])) if np.isfinite(e[c]).any() else float("nan")
                for c, n in enumerate(rig.names)}


#: joints used by default (by name): the body's, whose position detectors agree on across views (face and hand
#: landmarks carry view-dependent biases that a rig would bend to fit).
BODY_JOINTS = ("nose", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
               "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
               "right_heel", "left_foot_index", "right_foot_index", "left_big_toe", "right_big_toe", "neck",
               "mid_hip", "pelvis")


def body_joint_indices(joint_set: str | None, n_joints: int) -> np.ndarray:
    """Indices of :data:`BODY_JOINTS` in a joint set (all joints when the set's names are unknown)."""
    if joint_set:
        from mocap.keypoints._common import joint_names

        try:
            names = joint_names(joint_set, n_joints)
        except Exception:  # an unknown joint set: use every joint
            names = []
        idx = [i for i, n in enumerate(names) if n in BODY_JOINTS]
        if len(idx) >= 6:
            return np.array(idx)
    return np.arange(n_joints)


def person_height_m(X: np.ndarray, joint_set: str | list[str]) -> float:
    """Median standing height (metres) implied by 3D keypoints ``(T, J, 3)`` of one person.

    Uses the legs and trunk (ankle-knee, knee-hip, hip-shoulder, both sides), whose sum is about the shoulder height
    above the ankle, 0.779 of the stature (anthropometric tables: ankle 0.039 H, shoulder 0.818 H). An
    approximation: good to a few per cent for adults, worse for a detector whose "hip" or "shoulder" sits elsewhere.

    Args:
        X: ``(T, J, 3)`` metres; joint_set: its joint-set name, or the ``J`` joint names.

    Raises:
        CalibrationError: the joint set has no named hips, knees, ankles and shoulders.
    """
    from mocap.keypoints._common import joint_names

    names = list(joint_set) if not isinstance(joint_set, str) else joint_names(joint_set, X.shape[-2])
    try:
        idx = {k: names.index(k) for k in ("left_ankle", "left_knee", "left_hip", "left_shoulder", "right_ankle",
                                            "right_knee", "right_hip", "right_shoulder")}
    except ValueError:
        raise CalibrationError(f"joint set {joint_set!r} lacks named ankles, knees, hips and shoulders: cannot use "
                               "a person's height for the scale", hint="use the calibration's scale instead") from None
    total = 0.0
    for side in ("left", "right"):
        chain = [idx[f"{side}_{j}"] for j in ("ankle", "knee", "hip", "shoulder")]
        seg = np.linalg.norm(np.diff(X[:, chain], axis=1), axis=-1)  # (T, 3)
        total += np.nanmedian(seg, axis=0).sum()
    return float(total / 2 / LEG_TRUNK_FRACTION)


# --------------------------------------------------------------------------- the refinement
def refine_from_keypoints(rig: CameraRig, keypoints, *, min_conf: float = 0.5, refine_focal: bool = False,  # noqa: ANN001
                          height: float | None = None, joint_set: str | None = None, reference: str | None = None,
                          max_frames: int = 400, min_frames: int = MIN_FRAMES, min_travel_m: float = MIN_TRAVEL_M,
                          huber_px: float = 3.0, rounds: int = 3, holdout: bool = True,
                          joints: str | np.ndarray = "body") -> RefineResult:
    """Refine camera poses (and optionally focal lengths) from associated 2D keypoints of moving people.

    Args:
        rig: the current calibration (its cameras' intrinsics are kept, except ``fx``/``fy`` with ``refine_focal``).
        keypoints: :class:`~mocap.keypoints.Keypoints2D` (cameras matched by name) or an array
            ``(T, C, P, J, 3)`` / ``(T, C, J, 3)`` of ``(u, v, confidence)`` in raw pixels (NaN = missing) whose
            person index is the same person in every camera.
        min_conf: detections below this confidence are not used.
        refine_focal: also refine each camera's focal length (aspect ratio kept).
        height: the person's standing height (metres) sets the scale (needs ``joint_set`` with hips, knees, ankles
            and shoulders); default: the original calibration's scale.
        reference: camera held fixed during the solve (default: the first); the result is then moved back to the
            original world frame by a similarity over all camera centres.
        max_frames: at most this many frames enter the solve (evenly spread).
        min_frames, min_travel_m: refusal thresholds (see :class:`RefineRefused`).
        huber_px: Huber loss threshold, pixels.
        rounds: view re-selection rounds (robust triangulation with a shrinking threshold, then a solve).
        holdout: fit on even frames and report errors on odd ones (honest before/after numbers).
        joints: ``"body"`` (default: the joints of :data:`BODY_JOINTS` when the joint set is known), ``"all"``,
            or joint indices.

    Returns:
        :class:`RefineResult`.

    Raises:
        RefineRefused: too few frames, a static person, or cameras the data cannot pin down (message says which).
    """
    from mocap.reconstruct.triangulation import triangulate

    data = _as_array(keypoints, rig)
    if joint_set is None and hasattr(keypoints, "joint_set"):
        joint_set = keypoints.joint_set
    J = data.shape[3]
    sel = (body_joint_indices(joint_set, J) if isinstance(joints, str) and joints == "body"
           else np.arange(J) if isinstance(joints, str) else np.asarray(joints, int))
    names = None
    if joint_set:
        from mocap.keypoints._common import joint_names

        try:
            names = [joint_names(joint_set, J)[i] for i in sel]
        except Exception:  # unknown joint set: no names (a height then cannot be used)
            names = None
    data = data[:, :, :, sel]
    T, C = data.shape[:2]
    if C < 2:
        raise RefineRefused("refinement needs at least 2 cameras")
    fixed = rig.names.index(reference) if reference else 0
    conf = np.where(np.isfinite(data[..., 2]), data[..., 2], 0.0)
    ok = np.isfinite(data[..., :2]).all(-1) & (conf >= min_conf)  # (T, C, P, J)
    seen2 = (ok.sum(1) >= 2)  # (T, P, J)
    good_frames = np.flatnonzero(seen2.sum((1, 2)) >= 6)
    if len(good_frames) < min_frames:
        raise RefineRefused(
            f"only {len(good_frames)} frames have a person seen by 2+ cameras with 6+ confident joints (need "
            f">= {min_frames})", hint="record people walking through the whole capture volume for 10+ seconds")
    fit_frames = good_frames[::2] if holdout and len(good_frames) >= 2 * min_frames else good_frames
    eval_frames = good_frames[1::2] if holdout and len(good_frames) >= 2 * min_frames else good_frames
    if len(fit_frames) > max_frames:
        fit_frames = fit_frames[np.linspace(0, len(fit_frames) - 1, max_frames).round().astype(int)]
    sub = data[fit_frames]  # (F, C, P, J, 3)
    uv = np.moveaxis(sub[..., :2], 1, 0)  # (C, F, P, J, 2)
    cf = np.moveaxis(np.where(ok[fit_frames], conf[fit_frames], 0.0), 1, 0)
    # is there motion? the spread of the people's centres over the fit frames
    tri = triangulate(rig, uv, cf, min_conf=min_conf, reproj_threshold_px=60.0)
    Xs = tri.X  # (F, P, J, 3)
    with np.errstate(invalid="ignore"):
        centres = np.nanmedian(Xs, axis=2).reshape(-1, 3)
    centres = centres[np.isfinite(centres).all(1)]
    travel = float(np.max(np.ptp(centres, axis=0))) if len(centres) >= 2 else 0.0
    if travel < min_travel_m:
        raise RefineRefused(
            f"the people barely move (their centre spans {travel:.2f} m over {len(fit_frames)} frames; need "
            f">= {min_travel_m:.2f} m): a static person cannot pin the cameras down",
            hint="record someone walking across the whole capture volume, near and far from each camera")
    N = int(np.prod(Xs.shape[:-1]))
    uvN = np.moveaxis(uv.reshape(C, N, 2), 0, 1)  # (N, C, 2)
    cfN = cf.reshape(C, N).T
    cur = rig.copy()
    threshold = 60.0
    prob = None
    for rnd in range(max(1, rounds)):
        tri = triangulate(cur, uv, cf, min_conf=min_conf, reproj_threshold_px=threshold, refine=True)
        X0 = tri.X.reshape(N, 3)
        use = np.moveaxis(tri.used.reshape(C, N), 0, 1) & (cfN >= min_conf)
        keep = np.isfinite(X0).all(1) & (use.sum(1) >= 2)
        prob = _Problem(cur, uvN[keep], use[keep], X0[keep], fixed, refine_focal)
        _, (S, idx, r, w) = _solve(prob, huber_px)
        cur = _rig_from(prob, prob.cam)
        e = np.linalg.norm(r, axis=-1)[prob.use]
        sigma = 1.4826 * float(np.median(e))
        threshold = max(5.0 * sigma, 4.0)
        log.info("refine round %d: %d points, %d views, robust sigma %.2f px, next threshold %.1f px", rnd + 1,
                 int(keep.sum()), int(prob.use.sum()), sigma, threshold)
    # uncertainty (reference camera fixed; the scale direction is removed by the pseudo-inverse)
    from mocap.calibration.uncertainty import _scaled_pinv

    p = prob.p
    m = int(prob.use.sum()) * 2
    n_par = len(idx) + 3 * len(prob.X)
    s2 = float(np.sum(w[..., None] * r * r) / max(m - n_par, 1))
    cov_f = np.zeros((C * p, C * p))
    cov_f[np.ix_(idx, idx)] = s2 * _scaled_pinv(S[np.ix_(idx, idx)], 1e-10)
    # back into the original frame: similarity over camera centres (scale from the calibration), or the height
    new = cur
    s, R, t = similarity(new.centers, rig.centers, with_scale=True)
    scale_note = "from the original calibration (similarity over the camera centres)"
    if height is not None:
        if names is None:
            raise CalibrationError("a height needs the keypoints' joint set", hint="pass joint_set")
        Xr = triangulate(new, uv, cf, min_conf=min_conf, reproj_threshold_px=threshold, refine=True).X
        h = np.nanmedian([person_height_m(Xr[:, q], names) for q in range(Xr.shape[1])])
        s = float(height / h)
        _, R, t = similarity(s * new.centers, rig.centers, with_scale=False)
        scale_note = f"from the stated height {height:.2f} m"
    out = new.transformed(R, t / s, scale=s) if s > 0 else new
    out.meta = dict(rig.meta)
    out.meta["refined"] = (f"refined from people's 2D keypoints ({len(fit_frames)} frames), scale {scale_note}")
    unc: dict[str, CameraUncertainty] = {}
    for c, cam in enumerate(out.cameras):
        u = CameraUncertainty(cam.name, dist=np.zeros(len(cam.dist)), relative_to=rig.names[fixed],
                              sigma_px=float(np.sqrt(s2)), focal=(cam.K[0, 0], cam.K[1, 1]))
        blk = cov_f[c * p:(c + 1) * p, c * p:(c + 1) * p]
        if c != fixed:
            u.rotation_deg, cc = pose_uncertainty(prob.cam[c, :3], prob.cam[c, 3:6], blk[:6, :6])
            u.center_cov = (s * s) * R @ cc @ R.T
        if p == 7:
            u.fx = float(np.sqrt(max(blk[6, 6], 0.0)))
            u.fy = u.fx * prob.aspect[c]
        u.fixed = tuple(["cx", "cy", "dist"] + ([] if p == 7 else ["fx", "fy"]))
        unc[cam.name] = u
    weak = [f"{n} +-{100 * float(u.center_m.max()):.1f} cm / +-{u.rotation_deg:.2f} deg" for n, u in unc.items()
            if n != rig.names[fixed] and (u.rotation_deg > MAX_ROTATION_STD_DEG
                                          or float(u.center_m.max()) > MAX_CENTER_STD_M)]
    if weak:
        raise RefineRefused("the motion does not constrain the rig: camera uncertainty after refinement "
                            f"{', '.join(weak)} (limits +-{100 * MAX_CENTER_STD_M:.0f} cm, "
                            f"+-{MAX_ROTATION_STD_DEG} deg)",
                            hint="record people moving through the whole volume, seen by every camera")
    thr_eval = 15.0
    before = _evaluate(rig, data[eval_frames], min_conf, thr_eval)
    after = _evaluate(out, data[eval_frames], min_conf, thr_eval)
    rot = {c0.name: float(np.degrees(np.arccos(np.clip((np.trace(c0.R.T @ c1.R) - 1) / 2, -1, 1))))
           for c0, c1 in zip(rig, out)}
    mv = {c0.name: float(np.linalg.norm(c0.center - c1.center)) for c0, c1 in zip(rig, out)}
    held = "frames not used for the fit" if eval_frames is not good_frames else "all frames"
    return RefineResult(out, rig, before, after, rot, mv, unc, len(fit_frames), int(len(prob.X)),
                        int(prob.use.sum()), scale_note, held, rig.names[fixed])





# --------------------------------------------------------------------------- a camera that moved during a session
@dataclass
class DriftEvent:
    """A camera whose reprojection error jumped: it probably moved (bumped, loosened mount)."""

    camera: str
    detected_s: float
    changed_s: float
    before_px: float
    after_px: float

    def message(self) -> str:
        """One line naming the camera, the time and the fix."""
        return (f"{self.camera} moved at {self.changed_s:.2f} s (its reprojection error went from "
                f"{self.before_px:.1f} px to {self.after_px:.1f} px; noticed at {self.detected_s:.2f} s): fix the "
                f"mount, then refine the calibration on the frames after it (`mocap calibrate refine`) or recalibrate")


class DriftMonitor:
    """Online bumped-camera detector: feed every frame's per-camera reprojection error, get events.

    Each camera's error is compared with its own baseline (the median of its first ``baseline_s`` seconds); an
    alarm is raised when the median over the last ``window_s`` seconds exceeds
    ``max(factor * baseline, baseline + min_jump_px)``. The batch function :func:`camera_drift` runs this same
    detector over a whole recording.

    Args:
        cameras: camera names; fps: frame rate, Hz.
    """

    def __init__(self, cameras: list[str], fps: float, window_s: float = 0.25, baseline_s: float = 2.0,
                 factor: float = 2.5, min_jump_px: float = 5.0) -> None:
        self.cameras, self.fps = list(cameras), float(fps)
        self.window = max(3, int(round(window_s * fps)))
        self.baseline_n = max(self.window, int(round(baseline_s * fps)))
        self.factor, self.min_jump = factor, min_jump_px
        self.history: list[np.ndarray] = []
        self.baseline: np.ndarray | None = None
        self.alarmed: set[int] = set()
        self.frame = 0

    def step(self, errors: np.ndarray) -> list[DriftEvent]:
        """Per-camera error of one frame ``(C,)`` (pixels, NaN = no view) -> events raised at this frame."""
        e = check_shape(np.asarray(errors, float), (len(self.cameras),), "errors")
        self.frame += 1
        if self.baseline is None:
            self.history.append(e)
            if len(self.history) == self.baseline_n:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    self.baseline = np.nanmedian(np.array(self.history), axis=0)
                self.history = []
            return []
        self.history = [*self.history[-(self.window - 1):], e]
        if len(self.history) < self.window:
            return []
        recent = np.array(self.history)
        out = []
        for c, name in enumerate(self.cameras):
            base = float(self.baseline[c])
            col = recent[:, c]
            if c in self.alarmed or not np.isfinite(base) or np.isfinite(col).sum() * 2 <= self.window:
                continue
            now = float(np.nanmedian(col))
            thr = max(self.factor * base, base + self.min_jump)
            if now > thr:
                over = np.flatnonzero(~(col <= thr))
                first = self.frame - self.window + (int(over[0]) if len(over) else 0)
                self.alarmed.add(c)
                out.append(DriftEvent(name, (self.frame - 1) / self.fps, first / self.fps, base, now))
        return out


def view_errors_over_time(rig: CameraRig, keypoints, min_conf: float = 0.3,  # noqa: ANN001
                          threshold_px: float = 15.0) -> np.ndarray:
    """Per frame and camera, the median reprojection error of its views against points triangulated robustly by
    all cameras (a moved camera's views are outvoted, and their error grows): ``(T, C)`` pixels, NaN = none."""
    from mocap.reconstruct.triangulation import triangulate

    data = _as_array(keypoints, rig)
    uv = np.moveaxis(data[..., :2], 1, 0)
    conf = np.moveaxis(data[..., 2], 1, 0)
    res = triangulate(rig, uv, conf, min_conf=min_conf, reproj_threshold_px=threshold_px)
    e = np.moveaxis(res.view_error_px, 0, 1).reshape(data.shape[0], len(rig), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(e, axis=-1)


def camera_drift(rig: CameraRig, keypoints, fps: float | None = None, **monitor) -> tuple[np.ndarray,  # noqa: ANN001
                                                                                            list[DriftEvent]]:
    """Per-camera reprojection trend over a recording and the cameras that moved during it.

    Args:
        rig: the calibration; keypoints: as :func:`refine_from_keypoints`; fps: frame rate (default: the
            keypoints' own).
        **monitor: options of :class:`DriftMonitor` (``window_s``, ``factor``, ``min_jump_px``, ...).

    Returns:
        ``(T, C)`` per-frame error per camera (pixels) and the events (each camera at most once).
    """
    fps = float(fps if fps is not None else getattr(keypoints, "fps", 30.0))
    series = view_errors_over_time(rig, keypoints)
    mon = DriftMonitor(rig.names, fps, **monitor)
    events = []
    for row in series:
        events += mon.step(row)
    return series, events



def sync_keypoints(rig: CameraRig, kp2d, min_confidence: float = 0.5, min_offset: float = 0.5):  # noqa: ANN001, ANN201
    """Resample the 2D tracks of cameras confidently out of sync (as ``mocap run`` does before triangulating):
    an unsynchronised camera would otherwise bend the refined rig. Returns ``(keypoints, {camera: offset})``."""
    from mocap.sources.offset import apply_offsets, estimate_offsets_calibrated

    if kp2d.n_cameras < 3 or kp2d.n_frames < 20:
        return kp2d, {}
    est = estimate_offsets_calibrated(rig, kp2d, max_offset_frames=max(2, min(30, kp2d.n_frames // 3)))
    off = [e.offset_frames if e.confidence >= min_confidence and abs(e.offset_frames) >= min_offset else 0.0
           for e in est]
    return (apply_offsets(kp2d, off) if any(off) else kp2d), dict(zip(kp2d.camera_names, off))


def refine_for_pipeline(rig: CameraRig, kp2d, out_dir, **options):  # noqa: ANN001, ANN201
    """The ``mocap run --refine-calib`` step: refine the rig on the session's own (synchronised) 2D keypoints,
    write ``calib_refined.toml`` into ``out_dir`` and return ``(rig to use, info)``.

    A refusal (the motion cannot constrain the rig) or a refinement that does not lower the reprojection error
    keeps the original rig, and ``info["kept_original"]`` says why; nothing is lost either way.
    """
    from pathlib import Path

    from mocap.cameras.formats import write_calibration

    try:
        res = refine_from_keypoints(rig, kp2d, **options)
    except RefineRefused as e:
        log.warning("calibration refinement refused: %s; keeping the calibration", e)
        return rig, {"kept_original": str(e)}
    for line in res.lines():
        log.info(line)
    info = {"before_px": res.before_px, "after_px": res.after_px, "rotation_change_deg": res.rotation_change_deg,
            "center_change_m": res.center_change_m}
    if not res.mean_after_px < res.mean_before_px:
        info["kept_original"] = (f"refinement did not lower the reprojection error ({res.mean_before_px:.2f} -> "
                                 f"{res.mean_after_px:.2f} px)")
        log.warning("calibration refinement: %s; keeping the calibration", info["kept_original"])
        return rig, info
    for cam, u in zip(res.rig, res.uncertainty.values()):
        cam.meta["uncertainty"] = u.as_meta()
    path = Path(out_dir) / "calib_refined.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_calibration(res.rig, path)
    info["path"] = str(path)
    return res.rig, info

__all__ = ["DriftEvent", "DriftMonitor", "RefineRefused", "RefineResult", "camera_drift", "person_height_m",
           "refine_for_pipeline", "refine_from_keypoints", "similarity", "sync_keypoints",
           "view_errors_over_time"]
