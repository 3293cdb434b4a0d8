"""Fit a body model to 3D keypoints: offline sequences (:func:`fit_arrays`, :func:`fit_sequence`) and live frames
(:class:`OnlineFitter`).

Joints only (see :mod:`mocap.body.solver`): no mesh is skinned inside the loop.

Sequence fitting:
1. pose initialised analytically per frame (torso Procrustes for the root, then per joint the rotation that aligns
   the keypoints of its subtree, within the joint limits);
2. the shape, once per person, from up to ``shape_frames`` frames spread over the sequence: ``shape_rounds`` rounds
   of (pose LM, one Gauss-Newton shape step);
3. all frames' poses by batched Levenberg-Marquardt: Geman-McClure (IRLS), confidence- and pair-weighted keypoint
   errors, joint-limit penalties, a small prior towards the analytic pose, temporal smoothness to the neighbours;
4. rotations clamped into the joint limits; per-keypoint residuals kept in ``quality["residual_m"]``, the largest
   limit excess per frame before that clamp (what the optimiser reached under the limit penalty) in
   ``quality["limit_excess_unclamped_deg"]`` and after it (0 up to rounding) in ``quality["limit_excess_deg"]``.
Frames with fewer than ``min_points`` keypoints take the nearest fitted frame's pose (``quality["valid"]`` False).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch

from mocap.body.correspondence import build_correspondence
from mocap.body.model import BodyModel
from mocap.body.motion import BodyMotion
from mocap.body.priors import joint_limits
from mocap.body.solver import Problem, Weights, log_so3
from mocap.errors import KeypointsError
from mocap.geometry.rotations import rotvec_to_quat_xyzw

log = logging.getLogger(__name__)

SHAPE_PRIOR_STD = {"smplx": 1.0, "anny": 0.15}
SHAPE_EPS = {"smplx": 1.0, "anny": 0.05}
COLD_TOL = 1e-3  # online cold starts / re-initialisations: LM stops once a step lowers the cost by <= 0.1 %
SHAPE_TOL = 1e-3  # shape rounds stop once no shape parameter moves more than this fraction of its SHAPE_EPS


@dataclass
class FitConfig:
    """Fitting settings. Weights are relative to the keypoint term, where a 1 cm error at weight 1 costs 1."""

    sigma: float = 0.05  # Geman-McClure scale, metres
    w_limits: float = 400.0  # per rad^2 beyond a joint limit
    w_prior: float = 2.0  # per rad^2 away from the analytic initial pose
    w_smooth: float = 5.0  # offline: per rad^2 of local-rotation acceleration (0 = off; independent poses)
    w_smooth_pos: float = 0.5  # offline: per cm^2 of root acceleration
    w_smooth_online: float = 5.0  # online: per rad^2 of change from the previous frame
    iters: int = 12  # LM iterations, sequence
    estimate_shape: bool = True
    shape_frames: int = 16
    shape_rounds: int = 8
    shape_pose_iters: int = 6
    online_iters: int = 3
    online_tol: float = 0.0  # online: stop the LM iterations once an accepted step lowers the cost by <= this fraction
    reinit_m: float = 0.06  # online: re-initialise a frame whose mean keypoint residual exceeds this (metres)
    chunk: int = 256
    min_points: int = 4
    hands: bool | None = None  # fit fingers (None: when the keypoints include hand points; finger joints that no
    # keypoint constrains, e.g. the bends below mediapipe33's knuckles, stay at the rest pose and are not solved for)
    threads: int | None = 1  # torch threads while fitting a sequence (tiny batched ops: 1 is fastest, and robust to
    # load); restored afterwards. The online fitter never changes them (process-wide: set them once at start-up)

    def weights(self, online: bool = False) -> Weights:
        return Weights(limits=self.w_limits, prior=self.w_prior,
                       smooth=self.w_smooth_online if online else self.w_smooth,
                       smooth_pos=0.0 if online else self.w_smooth_pos, gm_sigma=self.sigma)


@contextmanager
def _threads(n: int | None):
    """Run with ``n`` torch threads (restored afterwards); None leaves torch's setting alone."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def check_keypoints(data: np.ndarray, names: list[str], where: str = "keypoints") -> None:
    """Reject keypoints the fitter cannot use, with a message that says what to do.

    Args:
        data: ``(T, J, 4)`` world xyz metres + confidence.
        names: the ``J`` joint names.
    """
    if data.ndim != 3 or data.shape[-1] != 4:
        raise KeypointsError(f"{where} have shape {data.shape}; expected (frames, joints, 4)")
    if data.shape[1] != len(names):
        raise KeypointsError(f"{where} have {data.shape[1]} joints but the joint set has {len(names)}")
    xyz = data[..., :3]
    ok = np.isfinite(xyz).all(-1)
    if not ok.any():
        raise KeypointsError(f"{where}: every frame is empty (all NaN)", hint="check the triangulation output")
    ext = []
    for t in range(len(data)):
        if ok[t].sum() >= 3:
            p = xyz[t][ok[t]]
            ext.append(np.linalg.norm(p.max(0) - p.min(0)))
    if ext:
        size = float(np.median(ext))
        if size > 5.0:
            raise KeypointsError(
                f"{where}: the body spans {size:.1f} units; in metres that is not a person (millimetres?)",
                hint="convert to metres (e.g. `mocap fit --scale 0.001` for millimetres)")
        if size < 0.2:
            raise KeypointsError(
                f"{where}: the body spans only {size:.3f} m; the units look wrong (centimetres read as metres "
                "would be 100x too large, so check the file's unit)",
                hint="give positions in metres (`mocap fit --scale S` multiplies them by S)")


def _problem(model: BodyModel, names: list[str], cfg: FitConfig, joint_set: str | None) -> Problem:
    corr = build_correspondence(model, names, joint_set)
    hands = corr.uses_hands if cfg.hands is None else cfg.hands
    return Problem(model, corr, joint_limits(model, hands=hands))


def _observations(prob: Problem, data: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """``obs (T, K, 3)``, ``w (T, K)`` (confidence x pair weight, 0 = missing), ``conf (T, K)`` numpy."""
    sub = data[:, prob.corr.keypoints]
    fin = np.isfinite(sub).all(-1)
    conf = np.where(fin, np.nan_to_num(sub[..., 3], nan=0.0).clip(0, None), 0.0)
    obs = np.where(fin[..., None], np.nan_to_num(sub[..., :3]), 0.0)
    t = dict(dtype=prob.dt, device=prob.dev)
    w = torch.as_tensor(conf, **t) * prob.corr.weights.to(prob.dt)[None]
    return torch.as_tensor(obs, **t), w, conf


def _estimate_shape(prob: Problem, obs: torch.Tensor, w: torch.Tensor, frames: np.ndarray, cfg: FitConfig) -> None:
    name = prob.model.name
    o, ww = obs[frames], w[frames]
    L, p0 = prob.init_pose(o, ww)
    wts = cfg.weights()
    L, p0 = prob.lm(L, p0, o, ww, cfg.shape_pose_iters, wts)
    for _ in range(cfg.shape_rounds):
        old = prob.shape.clone()
        L, p0, shape, _ = prob.shape_pose_step(L, p0, o, ww, SHAPE_PRIOR_STD.get(name, 1.0), wts,
                                              SHAPE_EPS.get(name, 0.05))
        prob.set_shape(shape)
        # a rejected step leaves shape and poses unchanged, so every further round would repeat it exactly;
        # a negligible step means converged
        if float((shape.to(old.dtype) - old).abs().max()) <= SHAPE_TOL * SHAPE_EPS.get(name, 0.05):
            break


def fit_sequence(kp, model: BodyModel, person: int = 0, config: FitConfig | None = None,
                 progress: bool = False) -> BodyMotion:
    """Fit ``model`` to the 3D keypoints of one person of a :class:`~mocap.keypoints.containers.Keypoints3D`.

    Args:
        kp: the keypoints (``data (T, P, J, 4)``, metres).
        model: a :class:`~mocap.body.model.BodyModel` (``AnnyModel()`` or ``SmplxModel()``).
        person: person index ``p`` in ``kp.data``.
        config: :class:`FitConfig`.
        progress: show a progress bar over the chunks.

    Returns:
        the :class:`~mocap.body.motion.BodyMotion`.
    """
    from mocap.keypoints._common import joint_names as _names

    if not 0 <= person < kp.data.shape[1]:
        raise KeypointsError(f"person index {person} out of range: the keypoints hold {kp.data.shape[1]} people")
    names = _names(kp.joint_set, kp.data.shape[2], getattr(kp, "meta", None))
    data = kp.data[:, person]
    pid = int(kp.person_ids[person]) if getattr(kp, "person_ids", None) is not None else person
    return fit_arrays(data, names, model, fps=kp.fps, timestamps=kp.timestamps, config=config, progress=progress,
                      meta={"joint_set": kp.joint_set, "person_id": pid}, joint_set=kp.joint_set)


def fit_arrays(data: np.ndarray, joint_names: list[str], model: BodyModel, fps: float = 30.0,
               timestamps: np.ndarray | None = None, config: FitConfig | None = None, progress: bool = False,
               meta: dict | None = None, joint_set: str | None = None, shape: np.ndarray | None = None
               ) -> BodyMotion:
    """:func:`fit_sequence` on a plain array ``(T, J, 4)`` (xyz metres + confidence) with its joint names.

    Args:
        joint_set: the registered joint-set name of the data, when known (decides approximate pairs).
        shape: a fixed shape ``(S,)`` (skips shape estimation).
    """
    cfg = config or FitConfig()
    data = np.asarray(data, float)
    check_keypoints(data, list(joint_names))
    with _threads(cfg.threads):
        return _fit_arrays(data, list(joint_names), model, fps, timestamps, cfg, progress, meta, joint_set, shape)


def _fit_arrays(data, joint_names, model, fps, timestamps, cfg, progress, meta, joint_set, shape) -> BodyMotion:
    prob = _problem(model, list(joint_names), cfg, joint_set)
    obs, w, conf = _observations(prob, data)
    valid = (conf > 0).sum(1) >= cfg.min_points
    if not valid.any():
        raise KeypointsError(f"no frame has {cfg.min_points} or more usable keypoints",
                             hint="check the triangulation (confidences, NaN) or lower min_points")
    vidx = np.flatnonzero(valid)
    T = len(data)
    if shape is not None:
        prob.set_shape(torch.as_tensor(np.asarray(shape, float), dtype=model.dtype, device=model.device))
    elif cfg.estimate_shape and cfg.shape_rounds > 0:
        sel = np.unique(vidx[np.linspace(0, len(vidx) - 1, min(cfg.shape_frames, len(vidx))).round().astype(int)])
        _estimate_shape(prob, obs, w, sel, cfg)
    L_all = torch.eye(3, dtype=prob.dt, device=prob.dev).repeat(T, model.n_joints, 1, 1)
    p_all = torch.zeros(T, 3, dtype=prob.dt, device=prob.dev)
    chunks = [vidx[i:i + cfg.chunk] for i in range(0, len(vidx), cfg.chunk)]
    it = chunks
    if progress and len(chunks) > 1:
        from mocap.progress import track

        it = track(chunks, f"fitting {model.name}", total=len(chunks))
    wts = cfg.weights()
    unclamped = torch.zeros(T, dtype=prob.dt, device=prob.dev)
    for idx in it:
        L, p0 = prob.init_pose(obs[idx], w[idx])
        L, p0 = prob.lm(L, p0, obs[idx], w[idx], cfg.iters, wts, smooth="sequence")
        with torch.no_grad():
            unclamped[idx] = prob.violation_deg(L)
        L_all[idx], p_all[idx] = prob.clamp(L), p0
    for f in np.flatnonzero(~valid):
        g = vidx[np.argmin(np.abs(vidx - f))]
        L_all[f], p_all[f], unclamped[f] = L_all[g], p_all[g], unclamped[g]
    return _to_motion(prob, L_all, p_all, obs, conf, valid, fps, timestamps, dict(meta or {}, config=asdict(cfg)),
                      unclamped_deg=unclamped)


def _to_motion(prob: Problem, L: torch.Tensor, p0: torch.Tensor, obs: torch.Tensor, conf: np.ndarray,
               valid: np.ndarray, fps: float, timestamps, meta: dict, rest_offsets: np.ndarray | None = None,
               pred: torch.Tensor | None = None, unclamped_deg: torch.Tensor | None = None) -> BodyMotion:
    model = prob.model
    with torch.no_grad():
        if pred is None:
            pred = prob.predict_reduced(*prob.fk_reduced(L, p0))
        res = torch.linalg.norm(pred - obs, dim=-1).cpu().numpy()
        viol = prob.violation_deg(L).cpu().numpy()
        viol_pre = viol if unclamped_deg is None else unclamped_deg.cpu().numpy()
    res = np.where(conf > 0, res, np.nan)
    pose_np = log_so3(L).cpu().numpy()
    pos_np = p0.cpu().numpy()
    shape_np = prob.shape.cpu().numpy().astype(float)
    quats = rotvec_to_quat_xyzw(pose_np)
    params: dict[str, np.ndarray] = {"pose_rotvec": pose_np}
    if model.name == "smplx":
        j0 = prob.q[0, 0].cpu().numpy()
        params.update(poses=pose_np.reshape(len(pose_np), -1), trans=pos_np - j0, betas=shape_np,
                      gender=np.array(getattr(model, "gender", "neutral")), mocap_framerate=np.array(float(fps)),
                      surface_model_type=np.array("smplx"))
    else:
        params.update(phenotypes=shape_np, phenotype_labels=np.array(getattr(model, "phenotype_labels", ())))
    meta = dict(meta, keypoint_names=prob.corr.names, unmatched_keypoints=prob.corr.unmatched,
                limited_joints=prob.limits.names)
    if rest_offsets is None:
        rest_offsets = model.rest_offsets(prob.shape)
    return BodyMotion(
        model=model.name, joint_names=list(model.joint_names), parents=np.asarray(model.parents),
        rest_offsets=rest_offsets, shape=shape_np, root_translation=pos_np,
        root_orientation=quats[:, 0], local_rotations=quats, fps=float(fps),
        timestamps=None if timestamps is None else np.asarray(timestamps, float), params=params,
        quality={"residual_m": res, "valid": np.asarray(valid), "limit_excess_deg": viol,
                 "limit_excess_unclamped_deg": np.asarray(viol_pre, float)}, meta=meta)


def motion_vertices(model: BodyModel, motion: BodyMotion, frames: np.ndarray | None = None) -> np.ndarray:
    """World mesh vertices ``(T', V, 3)`` of a fitted motion (all frames, or ``frames``), with full LBS."""
    frames = np.arange(motion.n_frames) if frames is None else np.asarray(frames)
    t = dict(dtype=model.dtype, device=model.device)
    shape = torch.as_tensor(motion.shape, **t)[None]
    pose = torch.as_tensor(motion.params["pose_rotvec"][frames], **t)
    pos = torch.as_tensor(motion.root_translation[frames], **t)
    out = []
    with torch.no_grad():
        rest = model.rest_state(shape)
        for i in range(0, len(frames), 32):
            o = model.forward(shape, pose[i:i + 32], pos[i:i + 32], vertex_ids="all", rest=rest)
            out.append(o.vertices.cpu().numpy().astype(float))
    return np.concatenate(out)


class OnlineFitter:
    """Live fitting, one frame at a time, warm-started from the previous frame (fixed shape).

    It never changes torch's thread count: ``torch.set_num_threads`` acts on the whole process, and a live
    application steps fitters from worker threads while other threads run. Set it once at start-up (tiny batched
    ops: 1 thread is fastest and robust to load; ``FitConfig.threads`` is used by the offline fit only).

    Args:
        model: the body model.
        joint_names: names of the keypoints given to :meth:`step`.
        shape: ``(S,)`` fixed shape (default: the model's mean; or call :meth:`calibrate` on a few frames).
        config: :class:`FitConfig` (``online_iters`` LM iterations per frame).
        fps: nominal frame rate for the returned motions.
        joint_set: registered joint-set name of the keypoints, when known.
    """

    def __init__(self, model: BodyModel, joint_names: list[str], shape: np.ndarray | None = None,
                 config: FitConfig | None = None, fps: float = 30.0, joint_set: str | None = None) -> None:
        self.cfg = config or FitConfig()
        self.model = model
        self.joint_names = list(joint_names)
        self.fps = fps
        self.prob = _problem(model, self.joint_names, self.cfg, joint_set)
        self.joint_set = joint_set
        if shape is not None:
            self._set_shape(np.asarray(shape, float))
        else:
            self._offsets = model.rest_offsets(self.prob.shape)
        self.reset()

    def _set_shape(self, shape: np.ndarray) -> None:
        self.prob.set_shape(torch.as_tensor(shape, dtype=self.model.dtype, device=self.model.device))
        self._offsets = self.model.rest_offsets(self.prob.shape)

    @property
    def shape(self) -> np.ndarray:
        return self.prob.shape.cpu().numpy().astype(float)

    def reset(self) -> None:
        """Forget the previous frame (the next one is initialised analytically)."""
        self._prev: tuple[torch.Tensor, torch.Tensor] | None = None
        self._frame = 0

    def calibrate(self, frames: np.ndarray) -> np.ndarray:
        """Estimate the shape from a few frames ``(N, J, 4)`` and use it from now on; returns it ``(S,)``."""
        data = np.asarray(frames, float)
        check_keypoints(data, self.joint_names)
        obs, w, conf = _observations(self.prob, data)
        ok = np.flatnonzero((conf > 0).sum(1) >= self.cfg.min_points)
        if not len(ok):
            raise KeypointsError(f"calibration: no frame has {self.cfg.min_points} or more usable keypoints")
        _estimate_shape(self.prob, obs, w, ok[: self.cfg.shape_frames], self.cfg)
        self._offsets = self.model.rest_offsets(self.prob.shape)
        return self.shape

    def step(self, kp: np.ndarray) -> BodyMotion:
        """Fit one frame ``(J, 4)`` (xyz metres + confidence; NaN = missing) -> a one-frame :class:`BodyMotion`."""
        kp = np.asarray(kp, float)
        if kp.shape != (len(self.joint_names), 4):
            raise KeypointsError(f"online keypoints have shape {kp.shape}; expected ({len(self.joint_names)}, 4)")
        return self._step(kp)

    def _step(self, kp: np.ndarray) -> BodyMotion:
        prob, cfg = self.prob, self.cfg
        obs, w, conf = _observations(prob, kp[None])
        valid = bool((conf > 0).sum() >= cfg.min_points)
        if not valid and self._prev is None:
            raise KeypointsError(f"frame {self._frame}: fewer than {cfg.min_points} usable keypoints and no "
                                 "previous frame to hold")
        clamp = True
        if self._prev is None:
            L, p0 = prob.init_pose(obs, w)
            L, p0 = prob.lm(L, p0, obs, w, max(cfg.iters, 8), cfg.weights(), tol=COLD_TOL)
        else:
            L, p0 = self._prev
            clamp = False  # the held pose is already inside the limits
            if valid:
                clamp = True
                prev = (prob.local_rotvec(L), p0)
                L, p0 = prob.lm(L, p0, obs, w, cfg.online_iters, cfg.weights(online=True), phi0=prev[0],
                                smooth="online", prev=prev, lam=1e-4, tol=cfg.online_tol)
                err = _mean_residual(prob, L, p0, obs, w, prob._last_kin)
                if err > cfg.reinit_m:  # lost track (fast motion, a new person): start again from the keypoints
                    L2, p2 = prob.init_pose(obs, w)
                    L2, p2 = prob.lm(L2, p2, obs, w, 6, cfg.weights(), tol=COLD_TOL)
                    if _mean_residual(prob, L2, p2, obs, w, prob._last_kin) < err:
                        L, p0 = L2, p2
        with torch.no_grad():
            unclamped = prob.violation_deg(L)
        if clamp:
            L = prob.clamp(L)
        self._prev = (L, p0)
        self._frame += 1
        with torch.no_grad():
            pred = prob.predict_reduced(*prob.fk_reduced(L, p0))
        return _to_motion(prob, L, p0, obs, conf, np.array([valid]), self.fps,
                          np.array([(self._frame - 1) / self.fps]), {"online": True}, rest_offsets=self._offsets,
                          pred=pred, unclamped_deg=unclamped)


def _mean_residual(prob: Problem, L: torch.Tensor, p0: torch.Tensor, obs: torch.Tensor, w: torch.Tensor,
                   kin: tuple[torch.Tensor, torch.Tensor] | None = None) -> float:
    """Weighted mean keypoint distance (metres) over all frames (``kin``: :meth:`Problem.fk_reduced` of the pose
    when already known)."""
    with torch.no_grad():
        d = torch.linalg.norm(prob.predict_reduced(*(prob.fk_reduced(L, p0) if kin is None else kin)) - obs, dim=-1)
    return float((w * d).sum() / w.sum().clamp_min(1e-12))


_CFG_FIELDS = {f.name for f in fields(FitConfig)}


def fit_keypoints3d(kp3d, model: str | BodyModel = "anny", person: int = 0, progress: bool = False,
                    **opts) -> BodyMotion:
    """Fit a body model to one person of a :class:`~mocap.keypoints.containers.Keypoints3D` (the pipeline's call).

    Args:
        kp3d: 3D keypoints ``data (T, P, J, 4)`` metres, any registered joint set (coco17, body25, halpe26,
            mediapipe33, coco_wholebody133, smplx55...).
        model: ``"anny"`` (default, no download), ``"smplx"`` (needs models/smplx/) or a :class:`BodyModel`.
        person: person index in ``kp3d.data``.
        progress: show a progress bar.
        **opts: :class:`FitConfig` fields (``iters``, ``w_smooth``, ``estimate_shape``...) and, for SMPL-X,
            ``path``, ``gender``, ``allow_pickle``; ``device``.

    Returns:
        the fitted :class:`~mocap.body.motion.BodyMotion` (save it with ``.save(path)``).
    """
    from mocap.body import load_model

    unknown = set(opts) - _CFG_FIELDS - {"path", "gender", "allow_pickle", "device"}
    if unknown:
        raise TypeError(f"fit_keypoints3d: unknown options {sorted(unknown)}")
    cfg = FitConfig(**{k: v for k, v in opts.items() if k in _CFG_FIELDS})
    if isinstance(model, str):
        mkw = {k: v for k, v in opts.items() if k in ("path", "gender", "allow_pickle", "device")}
        model = load_model(model, **mkw)
    return fit_sequence(kp3d, model, person=person, config=cfg, progress=progress)
