"""Fit a body model to 3D keypoints: offline sequences (:func:`fit_sequence`) and live frames (:class:`OnlineFitter`).

Both share :class:`_Objective`: a confidence-weighted Geman-McClure keypoint loss (per-pair weights from
:mod:`mocap.body.correspondence`), soft joint-angle limits, a small pose and shape regulariser, and temporal
smoothness (to the neighbouring frames offline, to the previous frame online). Optimised with L-BFGS in torch.

Sequence fitting:
1. root orientation + position per frame from the torso (weighted Procrustes of the model's rest hips/shoulders
   onto the observed ones), so the fit starts untwisted;
2. the shape, once per person, from up to ``n_shape_frames`` frames spread over the sequence (with their poses);
3. the poses of all frames with that shape, in chunks of ``chunk`` frames batched together, each chunk warm-started
   from the previous chunk's last pose;
4. rotations clamped into the joint limits; per-keypoint residuals kept in ``quality["residual_m"]``.
Frames with fewer than ``min_points`` keypoints take the nearest fitted frame's pose (``quality["valid"]`` False).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import torch

from mocap.body.correspondence import Correspondence, build_correspondence
from mocap.body.model import BodyModel, RestState, matrix_to_rotvec_torch, rotvec_to_matrix_torch
from mocap.body.motion import BodyMotion
from mocap.body.priors import JointLimits, geman_mcclure, joint_limits
from mocap.errors import KeypointsError
from mocap.geometry.rotations import rotvec_to_quat_xyzw

log = logging.getLogger(__name__)


@dataclass
class FitConfig:
    """Fitting settings (weights are relative to the keypoint term, which is ~ (error / sigma)^2 per point)."""

    sigma: float = 0.05  # Geman-McClure scale, metres
    w_limits: float = 10.0  # joint-limit excess, per rad^2
    w_pose: float = 1e-3  # pull of local rotations towards rest, per rad^2
    w_shape: float = 1e-2  # shape regulariser
    w_smooth: float = 1e-3  # joint acceleration (offline), per (m / sigma)^2, mean over joints (untuned)
    w_smooth_online: float = 0.1  # joint velocity to the previous frame (online)
    shape_iters: int = 300
    pose_iters: int = 300
    online_iters: int = 20
    n_shape_frames: int = 12
    chunk: int = 120
    min_points: int = 4
    hands: bool | None = None  # fit fingers (None: when the keypoints include hand points)


def _kabsch(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation R and translation t minimising sum w |R src + t - dst|^2 for ``(N, 3)`` points."""
    w = w / w.sum()
    cs, cd = w @ src, w @ dst
    H = (src - cs).T @ ((dst - cd) * w[:, None])
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(Vt.T @ U.T))
    R = Vt.T @ np.diag([1, 1, d]) @ U.T
    return R, cd - R @ cs


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
                f"{where}: the body spans only {size:.3f} m; the units look wrong",
                hint="give positions in metres (e.g. `mocap fit --scale 100` for hectometres... or check the file)")


class _Objective:
    """Model + correspondence + limits, and the loss of a batch of frames."""

    def __init__(self, model: BodyModel, joint_names: list[str], config: FitConfig) -> None:
        self.model = model
        self.cfg = config
        self.corr: Correspondence = build_correspondence(model, joint_names)
        hands = self.corr.uses_hands if config.hands is None else config.hands
        self.limits: JointLimits = joint_limits(model, hands=hands)
        self.active = torch.as_tensor(self.limits.joints, device=model.device)
        self.t = dict(dtype=model.dtype, device=model.device)
        names = self.corr.names
        torso = [i for i, n in enumerate(names) if n in ("left_hip", "right_hip", "left_shoulder", "right_shoulder")]
        self.torso = np.array(torso if len(torso) >= 3 else range(len(names)))

    def full_pose(self, local: torch.Tensor) -> torch.Tensor:
        """``(B, J, 3)`` pose with the active joints' rotations ``(B, A, 3)`` and identity elsewhere."""
        B = local.shape[0]
        return torch.zeros(B, self.model.n_joints, 3, **self.t).index_copy(1, self.active, local)

    def predict(self, shape, rest, root_R, root_pos, local) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model.forward(shape, self.full_pose(local), root_pos,
                                 vertex_ids=self.corr.vertex_ids if self.corr.vertex_ids.numel() else None,
                                 rest=rest, root_rot=root_R)
        return self.corr.predict(out.joints, out.vertices), out.joints

    def rest_prediction(self, shape: torch.Tensor) -> np.ndarray:
        """``(K, 3)`` predicted keypoints at the rest pose with the root at the origin."""
        with torch.no_grad():
            eye = torch.eye(3, **self.t)[None]
            pred, _ = self.predict(shape[None], None, eye, torch.zeros(1, 3, **self.t),
                                   torch.zeros(1, len(self.active), 3, **self.t))
        return pred[0].cpu().numpy().astype(float)

    def init_root(self, shape: torch.Tensor, obs: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame root rotation ``(T, 3, 3)`` and position ``(T, 3)`` from the torso (Procrustes)."""
        P0 = self.rest_prediction(shape)
        T = len(obs)
        R = np.tile(np.eye(3), (T, 1, 1))
        t = np.zeros((T, 3))
        ok = np.zeros(T, bool)
        w = self.corr.weights.cpu().numpy()
        for f in range(T):
            sel = self.torso[conf[f, self.torso] > 0]
            if len(sel) < 3:
                sel = np.flatnonzero(conf[f] > 0)
            if len(sel) < 3:
                continue
            R[f], t[f] = _kabsch(P0[sel], obs[f, sel], w[sel] * conf[f, sel] + 1e-9)
            ok[f] = True
        if ok.any():
            src = np.flatnonzero(ok)
            for f in np.flatnonzero(~ok):
                g = src[np.argmin(np.abs(src - f))]
                R[f], t[f] = R[g], t[g]
        return R, t

    def loss(self, shape, rest, root_R0, droot, root_pos, local, obs, conf, prev_joints=None, shape_reg=False,
             sigma: float | None = None):
        """Scalar loss for a batch of frames (see module docstring); ``sigma`` overrides the robust scale."""
        cfg = self.cfg
        sig = cfg.sigma if sigma is None else sigma
        root_R = rotvec_to_matrix_torch(droot) @ root_R0
        pred, joints = self.predict(shape, rest, root_R, root_pos, local)
        d2 = ((pred - obs) ** 2).sum(-1)
        wc = self.corr.weights * conf
        data = (wc * geman_mcclure(d2, sig)).sum(-1) / wc.sum(-1).clamp_min(1e-6) / sig**2
        total = data.sum()
        total = total + cfg.w_limits * self.limits.penalty(local).sum() + cfg.w_pose * (local**2).sum()
        # temporal smoothness: joint accelerations within the batch (velocity to the previous frame online)
        if joints.shape[0] > 2:
            acc = joints[2:] - 2 * joints[1:-1] + joints[:-2]
            total = total + cfg.w_smooth * (acc**2).sum(-1).mean(-1).sum() / cfg.sigma**2
        if prev_joints is not None:
            vel = joints[:1] - prev_joints[-1:]
            total = total + cfg.w_smooth_online * (vel**2).sum(-1).mean() / cfg.sigma**2
        if shape_reg:
            total = total + cfg.w_shape * len(obs) * self.model.shape_penalty(shape)
        return total


def _lbfgs(params: list[torch.Tensor], closure_fn, iters: int, sigmas: tuple[float | None, ...] = (None,),
           lr: float = 0.05) -> None:
    """Minimise ``closure_fn(sigma)`` over ``params`` with Adam (robust to the poor conditioning of kinematic
    chains, where L-BFGS stalled in our tests), annealing the robust scale through ``sigmas`` (far points pull
    first) and the step size from ``lr`` to ``lr / 20``."""
    opt = torch.optim.Adam(params, lr=lr)
    n_stage = max(1, iters // len(sigmas))
    for i in range(max(iters, 1)):
        sig = sigmas[min(i // n_stage, len(sigmas) - 1)]
        for g in opt.param_groups:
            g["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * i / max(iters, 1))))
        opt.zero_grad()
        loss = closure_fn(sig)
        loss.backward()
        opt.step()


def _as_person_array(kp, person: int) -> tuple[np.ndarray, list[str], float, np.ndarray | None]:
    from mocap.keypoints.containers import Keypoints3D

    if isinstance(kp, Keypoints3D):
        from mocap.keypoints._common import joint_names as _names

        names = _names(kp.joint_set, kp.n_joints, kp.meta)
        return kp.person(int(kp.person_ids[person]) if person < kp.n_people else person), names, kp.fps, \
            kp.timestamps
    raise TypeError("fit_sequence expects a Keypoints3D (or call fit_arrays with an array and joint names)")


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
    data, names, fps, ts = _as_person_array(kp, person)
    return fit_arrays(data, names, model, fps=fps, timestamps=ts, config=config, progress=progress,
                      meta={"joint_set": kp.joint_set, "person_id": int(kp.person_ids[person])})


def fit_arrays(data: np.ndarray, joint_names: list[str], model: BodyModel, fps: float = 30.0,
               timestamps: np.ndarray | None = None, config: FitConfig | None = None, progress: bool = False,
               meta: dict | None = None) -> BodyMotion:
    """:func:`fit_sequence` on a plain array ``(T, J, 4)`` (xyz metres + confidence) with its joint names."""
    cfg = config or FitConfig()
    data = np.asarray(data, float)
    check_keypoints(data, list(joint_names))
    obj = _Objective(model, list(joint_names), cfg)
    t = obj.t
    sub = data[:, obj.corr.keypoints]
    fin = np.isfinite(sub).all(-1)
    conf_np = np.where(fin, np.nan_to_num(sub[..., 3], nan=0.0).clip(0, None), 0.0)
    obs_np = np.where(fin[..., None], np.nan_to_num(sub[..., :3]), 0.0)
    valid = (conf_np > 0).sum(1) >= cfg.min_points
    if not valid.any():
        raise KeypointsError(f"no frame has {cfg.min_points} or more usable keypoints",
                             hint="check the triangulation (confidences, NaN) or lower min_points")
    T = len(data)
    shape = model.default_shape().clone()
    R0_np, pos_np = obj.init_root(shape, obs_np, conf_np)
    obs = torch.as_tensor(obs_np, **t)
    conf = torch.as_tensor(conf_np, **t)
    R0 = torch.as_tensor(R0_np, **t)
    pos0 = torch.as_tensor(pos_np, **t)
    A = len(obj.active)
    vidx = np.flatnonzero(valid)

    # --- shape, once, from frames spread over the sequence
    sel = vidx[np.linspace(0, len(vidx) - 1, min(cfg.n_shape_frames, len(vidx))).round().astype(int)]
    sel = np.unique(sel)
    s_local = torch.zeros(len(sel), A, 3, **t, requires_grad=True)
    s_droot = torch.zeros(len(sel), 3, **t, requires_grad=True)
    s_pos = pos0[sel].clone().requires_grad_(True)
    s_shape = shape.clone()[None].requires_grad_(True)
    ob_s, cf_s, R0_s = obs[sel], conf[sel], R0[sel]
    if cfg.shape_iters > 0:
        rest_fixed = model.rest_state(s_shape.detach())
        _lbfgs([s_local, s_droot, s_pos],
               lambda sg: obj.loss(s_shape.detach(), rest_fixed, R0_s, s_droot, s_pos, s_local, ob_s, cf_s,
                                   sigma=sg), cfg.shape_iters // 2, (0.5, 0.2))
        _lbfgs([s_local, s_droot, s_pos, s_shape],
               lambda sg: obj.loss(s_shape, None, R0_s, s_droot, s_pos, s_local, ob_s, cf_s, shape_reg=True,
                                   sigma=sg), cfg.shape_iters, (0.1, cfg.sigma))
    shape = model.clamp_shape(s_shape.detach()[0])

    # --- poses, chunk by chunk, warm-started from the previous chunk's last frame
    with torch.no_grad():
        rest = model.rest_state(shape[None])
    local_all = torch.zeros(T, A, 3, **t)
    droot_all = torch.zeros(T, 3, **t)
    pos_all = pos0.clone()
    prev_local = None
    prev_joints = None
    chunks = [np.arange(i, min(i + cfg.chunk, T)) for i in range(0, T, cfg.chunk)]
    it = chunks
    if progress:
        from mocap.progress import track

        it = track(chunks, f"fitting {model.name}", total=len(chunks))
    for ch in it:
        idx = ch[valid[ch]]
        if len(idx) == 0:
            continue
        init = torch.zeros(len(idx), A, 3, **t) if prev_local is None else prev_local.expand(len(idx), -1, -1)
        lc = init.clone().requires_grad_(True)
        dr = torch.zeros(len(idx), 3, **t, requires_grad=True)
        ps = pos0[idx].clone().requires_grad_(True)
        ob, cf, r0 = obs[idx], conf[idx], R0[idx]
        pj = prev_joints
        sigmas = (0.5, 0.15, cfg.sigma) if prev_local is None else (0.15, cfg.sigma)
        _lbfgs([lc, dr, ps], lambda sg, a=(lc, dr, ps, ob, cf, r0, pj): obj.loss(
            shape[None], rest, a[5], a[1], a[2], a[0], a[3], a[4], prev_joints=a[6], sigma=sg), cfg.pose_iters, sigmas)
        local_all[idx] = lc.detach()
        droot_all[idx] = dr.detach()
        pos_all[idx] = ps.detach()
        prev_local = lc.detach()[-1:]
        with torch.no_grad():
            _, jts = obj.predict(shape[None], rest, rotvec_to_matrix_torch(dr[-1:]) @ r0[-1:], ps[-1:], lc[-1:])
        prev_joints = jts.detach()
    # frames without enough keypoints: nearest fitted frame
    for f in np.flatnonzero(~valid):
        g = vidx[np.argmin(np.abs(vidx - f))]
        local_all[f], droot_all[f], pos_all[f] = local_all[g], droot_all[g], pos_all[g]
    local_all = obj.limits.clamp(local_all)
    root_R = rotvec_to_matrix_torch(droot_all) @ R0
    return _to_motion(obj, shape, rest, root_R, pos_all, local_all, obs, conf, valid, fps, timestamps,
                      dict(meta or {}, config=asdict(cfg)))


def _to_motion(obj: _Objective, shape, rest: RestState, root_R, pos, local, obs, conf, valid, fps, timestamps,
               meta) -> BodyMotion:
    model = obj.model
    with torch.no_grad():
        pred, _ = obj.predict(shape[None], rest, root_R, pos, local)
        res = torch.linalg.norm(pred - obs, dim=-1)
        res = torch.where(conf > 0, res, torch.full_like(res, float("nan")))
        pose = obj.full_pose(local)
        pose[:, 0] = matrix_to_rotvec_torch(root_R)
    pose_np = pose.cpu().numpy().astype(float)
    pos_np = pos.cpu().numpy().astype(float)
    shape_np = shape.cpu().numpy().astype(float)
    quats = rotvec_to_quat_xyzw(pose_np)
    params: dict[str, np.ndarray] = {"pose_rotvec": pose_np}
    if model.name == "smplx":
        with torch.no_grad():
            j0 = rest.joints[0, 0].cpu().numpy().astype(float)
        params.update(poses=pose_np.reshape(len(pose_np), -1), trans=pos_np - j0, betas=shape_np,
                      gender=np.array(getattr(model, "gender", "neutral")), mocap_framerate=np.array(float(fps)),
                      surface_model_type=np.array("smplx"))
    else:
        params.update(phenotypes=shape_np, phenotype_labels=np.array(getattr(model, "phenotype_labels", ())))
    meta = dict(meta, keypoint_names=obj.corr.names, unmatched_keypoints=obj.corr.unmatched,
                limited_joints=obj.limits.names)
    return BodyMotion(
        model=model.name, joint_names=list(model.joint_names), parents=np.asarray(model.parents),
        rest_offsets=model.rest_offsets(shape), shape=shape_np, root_translation=pos_np,
        root_orientation=quats[:, 0], local_rotations=quats, fps=float(fps),
        timestamps=None if timestamps is None else np.asarray(timestamps, float), params=params,
        quality={"residual_m": res.cpu().numpy().astype(float), "valid": np.asarray(valid)}, meta=meta)


def motion_vertices(model: BodyModel, motion: BodyMotion, frames: np.ndarray | None = None) -> np.ndarray:
    """World mesh vertices ``(T', V, 3)`` of a fitted motion (all frames, or ``frames``)."""
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
    """Live fitting, one frame at a time, warm-started from the previous frame.

    Args:
        model: the body model.
        joint_names: names of the keypoints given to :meth:`step`.
        shape: ``(S,)`` fixed shape (default: the model's mean; or call :meth:`calibrate` on a few frames).
        config: :class:`FitConfig` (``online_iters`` L-BFGS iterations per frame).
        fps: nominal frame rate for the returned motions.
    """

    def __init__(self, model: BodyModel, joint_names: list[str], shape: np.ndarray | None = None,
                 config: FitConfig | None = None, fps: float = 30.0) -> None:
        self.cfg = config or FitConfig()
        self.obj = _Objective(model, list(joint_names), self.cfg)
        self.model = model
        self.joint_names = list(joint_names)
        self.fps = fps
        t = self.obj.t
        self.shape = model.default_shape().clone() if shape is None else torch.as_tensor(shape, **t)
        self._set_rest()
        self.reset()

    def _set_rest(self) -> None:
        with torch.no_grad():
            self.rest = self.model.rest_state(self.shape[None])

    def reset(self) -> None:
        """Forget the previous frame (the next one is initialised from its torso)."""
        self._prev: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._frame = 0

    def calibrate(self, frames: np.ndarray) -> np.ndarray:
        """Estimate the shape from a few frames ``(N, J, 4)`` (offline fit) and use it from now on."""
        cfg = FitConfig(**{**asdict(self.cfg), "pose_iters": 1})
        motion = fit_arrays(np.asarray(frames, float), self.joint_names, self.model, config=cfg)
        self.shape = torch.as_tensor(motion.shape, **self.obj.t)
        self._set_rest()
        return motion.shape

    def step(self, kp: np.ndarray) -> BodyMotion:
        """Fit one frame ``(J, 4)`` (xyz metres + confidence; NaN = missing) -> a one-frame :class:`BodyMotion`."""
        kp = np.asarray(kp, float)
        if kp.shape != (len(self.joint_names), 4):
            raise KeypointsError(f"online keypoints have shape {kp.shape}; expected ({len(self.joint_names)}, 4)")
        obj, t = self.obj, self.obj.t
        sub = kp[obj.corr.keypoints]
        fin = np.isfinite(sub).all(-1)
        conf_np = np.where(fin, np.nan_to_num(sub[:, 3]).clip(0, None), 0.0)[None]
        obs_np = np.where(fin[:, None], np.nan_to_num(sub[:, :3]), 0.0)[None]
        valid = (conf_np > 0).sum() >= self.cfg.min_points
        obs = torch.as_tensor(obs_np, **t)
        conf = torch.as_tensor(conf_np, **t)
        if not valid and self._prev is None:
            raise KeypointsError(f"frame {self._frame}: fewer than {self.cfg.min_points} usable keypoints and no "
                                 "previous frame to hold")
        if self._prev is None:
            R0, p0 = obj.init_root(self.shape, obs_np, conf_np)
            R0 = torch.as_tensor(R0, **t)
            pos = torch.as_tensor(p0, **t)
            local = torch.zeros(1, len(obj.active), 3, **t)
            prev_joints = None
        else:
            R0, pos, local, prev_joints = self._prev
        if valid:
            lc = local.clone().requires_grad_(True)
            dr = torch.zeros(1, 3, **t, requires_grad=True)
            ps = pos.clone().requires_grad_(True)
            sigmas = (self.cfg.sigma,) if self._prev is not None else (0.5, 0.15, self.cfg.sigma)
            iters = self.cfg.online_iters if self._prev is not None else 3 * self.cfg.online_iters
            _lbfgs([lc, dr, ps], lambda sg: obj.loss(self.shape[None], self.rest, R0, dr, ps, lc, obs, conf,
                                                     prev_joints=prev_joints, sigma=sg), iters, sigmas)
            with torch.no_grad():
                R0 = rotvec_to_matrix_torch(dr) @ R0
                local, pos = lc.detach(), ps.detach()
        local = obj.limits.clamp(local)
        with torch.no_grad():
            _, joints = obj.predict(self.shape[None], self.rest, R0, pos, local)
        self._prev = (R0, pos, local, joints)
        self._frame += 1
        return _to_motion(obj, self.shape, self.rest, R0, pos, local, obs, conf, np.array([valid]), self.fps,
                          np.array([(self._frame - 1) / self.fps]), {"online": True})
