"""Fast joints-only fitting core: analytic initialisation and batched Levenberg-Marquardt over frames.

No mesh skinning inside the loop. For a fixed shape every keypoint is a fixed linear function of the posed joints:

    pred_k = sum_j a[k, j] * p_j + G_j @ b[k, j]

where ``p_j`` / ``G_j`` are joint ``j``'s world position / rotation (forward kinematics on the joints only),
``a (K, J)`` the keypoint's attachment weights (1 on a joint for joint keypoints; vertex-regressor coefficient times
LBS weight for vertex landmarks) and ``b (K, J, 3)`` the rest-pose lever arms of the landmark vertices in each
joint's frame (``bind_rot @ (v_rest - bind_head)``, linear in SMPL-X betas; pose blendshapes are ignored).

With the local update ``L_j <- L_j exp(d_j)`` the Jacobian of ``pred_k`` is analytic:
``d pred_k / d d_j = -[v_kj]_x G_j`` with ``v_kj = sum_{m in subtree(j)} (a_km (p_m - p_j) + G_m b_km)``.
Normal equations are built per frame (``(T, n, n)``, n = 3 x active joints + 3) and solved batched.

Costs are in "centimetre units": a keypoint ``|error| = 1 cm`` at weight 1 costs 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mocap.body.correspondence import Correspondence
from mocap.body.model import BodyModel, rotvec_to_matrix_torch
from mocap.body.priors import JointLimits

UNIT = 0.01  # metres per cost unit


def mm3(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Batched 3x3 product ``A @ B`` (broadcasting batch dimensions). torch's batched matmul: with torch 2.13 on CPU
    it is ~5x faster than a broadcast multiply-and-sum for (100, 26, 3, 3) batches."""
    return torch.matmul(A, B)


def mv3(A: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Batched ``A @ v`` for ``(..., 3, 3)`` and ``(..., 3)``."""
    return torch.matmul(A, v[..., None])[..., 0]


def skew(v: torch.Tensor) -> torch.Tensor:
    """``(..., 3)`` -> ``(..., 3, 3)`` cross-product matrices."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], -1).reshape(v.shape + (3,))


_LOG_A = torch.tensor([7, 2, 3])
_LOG_B = torch.tensor([5, 6, 1])
_LOG_D = torch.tensor([0, 4, 8])


def log_so3(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(..., 3, 3)`` -> rotation vectors ``(..., 3)`` radians (robust near 0 and pi)."""
    flat = R.reshape(R.shape[:-2] + (9,))
    w = 0.5 * (flat[..., _LOG_A] - flat[..., _LOG_B])  # (R21 - R12, R02 - R20, R10 - R01) / 2
    s = w.norm(dim=-1)
    c = ((flat[..., _LOG_D].sum(-1) - 1) / 2).clamp(-1, 1)
    theta = torch.atan2(s, c)
    scale = torch.where(s > 1e-7, theta / s.clamp_min(1e-12), torch.ones_like(s))
    out = w * scale[..., None]
    near_pi = (s < 1e-3) & (c < 0)
    if bool(near_pi.any()):
        B = (R[near_pi] + torch.eye(3, dtype=R.dtype, device=R.device)) / 2
        d = torch.diagonal(B, dim1=-2, dim2=-1)
        col = torch.argmax(d, -1)
        a = B[torch.arange(len(B)), :, col] / d.gather(-1, col[:, None]).clamp_min(1e-12).sqrt()
        a = a / a.norm(dim=-1, keepdim=True)
        sign = torch.where((a * w[near_pi]).sum(-1) < 0, -1.0, 1.0).to(R.dtype)
        out[near_pi] = a * sign[:, None] * theta[near_pi][:, None]
    return out


def right_jacobian_inv(phi: torch.Tensor) -> torch.Tensor:
    """``(..., 3)`` -> ``(..., 3, 3)``: ``d log(exp(phi) exp(d)) / d d`` at ``d = 0``."""
    th = phi.norm(dim=-1).clamp(max=3.0)
    K = skew(phi)
    big = th > 1e-4
    ths = torch.where(big, th, torch.ones_like(th))
    coef = torch.where(big, 1 / ths**2 - (1 + torch.cos(ths)) / (2 * ths * torch.sin(ths)),
                       torch.full_like(th, 1 / 12))
    eye = torch.eye(3, dtype=phi.dtype, device=phi.device)
    return eye + 0.5 * K + coef[..., None, None] * mm3(K, K)


def kabsch_batched(src: torch.Tensor, dst: torch.Tensor, w: torch.Tensor, reg: float = 0.0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted rigid fits ``R (T,3,3), t (T,3)`` minimising ``sum w |R src + t - dst|^2``; src/dst ``(T, N, 3)``,
    w ``(T, N)``. ``reg`` > 0 favours the identity when the points are (nearly) collinear."""
    ws = w.sum(1, keepdim=True).clamp_min(1e-12)
    cs = (w[..., None] * src).sum(1) / ws
    cd = (w[..., None] * dst).sum(1) / ws
    M = ((dst - cd[:, None]) * w[..., None]).transpose(1, 2) @ (src - cs[:, None])  # sum w d s^T
    R = _rot_from_cross(M, reg)
    return R, cd - torch.einsum("tij,tj->ti", R, cs)


def _rot_from_cross(M: torch.Tensor, reg: float) -> torch.Tensor:
    """Rotation maximising ``tr(R^T M)`` (+ ``reg * scale * tr(R)``), batched ``(T, 3, 3)``."""
    if reg > 0:
        sc = torch.linalg.matrix_norm(M, keepdim=True).clamp_min(1e-12)
        M = M + reg * sc * torch.eye(3, dtype=M.dtype, device=M.device)
    U, _, Vh = torch.linalg.svd(M)
    d = torch.sign(torch.linalg.det(U @ Vh))
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    return U @ D @ Vh


@dataclass
class Weights:
    """Relative weights of the fitting terms (cost units: a 1 cm keypoint error at weight 1 costs 1)."""

    limits: float = 400.0  # per rad^2 of excess beyond a joint limit
    prior: float = 2.0  # per rad^2 away from the initial (analytic) pose
    smooth: float = 0.0  # per rad^2 of local-rotation acceleration (offline) / velocity (online)
    smooth_pos: float = 0.0  # per cm^2 of root-position acceleration (offline) / velocity (online)
    gm_sigma: float = 0.05  # Geman-McClure scale, metres


def _levels(parents: np.ndarray) -> list[np.ndarray]:
    from mocap.body.model import kinematic_levels

    return kinematic_levels(parents)


class Problem:
    """A model + correspondence + limits, precomputed for joints-only fitting (float64).

    Args:
        model: the body model.
        corr: keypoint correspondence (``K`` keypoints).
        limits: joint limits; those of their joints that some keypoint constrains (+ the root) are the optimised
            ones (``self.limits``); the others keep the identity.
    """

    def __init__(self, model: BodyModel, corr: Correspondence, limits: JointLimits) -> None:
        self.model = model
        self.corr = corr
        self.limits = limits
        self.dt = torch.float64
        self.dev = model.device
        t = dict(dtype=self.dt, device=self.dev)
        J = model.n_joints
        par = np.asarray(model.parents)
        anc = np.zeros((J, J), bool)  # anc[m, j]: j is m or an ancestor of m
        for m in range(J):
            j = m
            while j >= 0:
                anc[m, j] = True
                j = par[j]
        self.anc = torch.as_tensor(anc, **t)
        # shape-independent attachment weights a (K, J): joint keypoints + skinned vertex landmarks
        a = corr.joint_coef.to(self.dt).clone()
        lever = torch.zeros_like(a, dtype=torch.bool)  # (k, j): a landmark vertex skinned to j (has a lever arm)
        self._vid = corr.vertex_ids
        if corr.vertex_ids.numel():
            w, idx = model.skinning(corr.vertex_ids)
            self._skin_w, self._skin_idx = w.to(self.dt), idx
            vc = corr.vertex_coef.to(self.dt)
            av = torch.zeros_like(a)
            for kk in range(idx.shape[1]):
                av.index_add_(1, idx[:, kk], vc * self._skin_w[None, :, kk])
            a = a + av
            lever = av.abs() > 0
        self.a = a
        # optimise only the limited joints some keypoint depends on: a keypoint attached strictly below the joint,
        # or a landmark's lever arm on it (e.g. mediapipe's knuckles turn on the hands, but nothing constrains the
        # finger bends: solving for them would only inflate the normal equations)
        att = (a.abs() > 0).cpu().numpy()
        lev = lever.cpu().numpy()
        below = anc & ~np.eye(J, dtype=bool)  # below[m, j]: m strictly inside j's subtree
        observed = (att.any(0) @ below.astype(int) > 0) | lev.any(0)  # (J,)
        limits = limits.subset(observed[limits.joints]) if len(limits.joints) else limits
        self.limits = limits
        self.ix = torch.as_tensor(np.concatenate([[0], limits.joints]).astype(int), device=self.dev)  # optimised
        self.nA = len(self.ix)
        self.lim_frames = limits.frames.to(self.dt)
        self.lim_lo = limits.lo.to(self.dt)
        self.lim_hi = limits.hi.to(self.dt)
        self.a_sum = a.sum(1)  # (K,)
        self.anc_a = a @ self.anc[:, self.ix]  # (K, nA): attachment weight within each joint's subtree
        self.anc_ix = self.anc[:, self.ix].contiguous()
        # keypoint-joint pairs with a lever arm (vertex landmarks); joints-only keypoints need none
        self._levels = [(torch.as_tensor(ix, device=self.dev), torch.as_tensor(par[ix], device=self.dev))
                        for ix in _levels(par)]
        self._pairs()
        self._init_masks(par)
        self.set_shape(model.default_shape())

    def _init_masks(self, par: np.ndarray) -> None:
        """Per optimised joint, the keypoints that initialise its rotation: those attached inside its subtree at the
        nearest generation below it that has any (``near``), and one generation more (``far``, for the twist)."""
        depth = np.zeros(len(par), int)
        for j in range(1, len(par)):
            depth[j] = depth[par[j]] + 1
        a = (self.a.abs() > 0).cpu().numpy()
        anc = self.anc.cpu().numpy().astype(bool)
        ix = self.ix.cpu().numpy()
        K = a.shape[0]
        gen = np.full((K, len(ix)), np.inf)
        for k in range(K):
            att = np.flatnonzero(a[k])
            for c, j in enumerate(ix):
                if len(att) and anc[att, j].all():
                    gen[k, c] = depth[att].max() - depth[j]
        near = np.zeros_like(gen, bool)
        far = np.zeros_like(gen, bool)
        for c in range(len(ix)):
            g = gen[:, c]
            pos = g[(g >= 1) & np.isfinite(g)]
            d = pos.min() if len(pos) else 0
            near[:, c] = g <= d
            far[:, c] = g <= d + 1
        self._near = torch.as_tensor(near, dtype=self.dt, device=self.dev)
        self._far = torch.as_tensor(far, dtype=self.dt, device=self.dev)

    # ----- shape-dependent data -----
    def rest(self, shapes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest joints ``q (B, J, 3)`` and pair lever arms ``pb (B, N, 3)`` for shapes ``(B, S)``."""
        m = self.model
        with torch.no_grad():
            shapes = shapes.to(m.dtype).reshape(-1, m.n_shape)
            rs = m.rest_state(shapes)
            q = rs.joints.to(self.dt)
            B = q.shape[0]
            pb = torch.zeros(B, len(self.pk), 3, dtype=self.dt, device=self.dev)
            if self._vid.numel():
                v = m.rest_vertices(shapes, self._vid).to(self.dt).expand(B, -1, -1)  # (B, V', 3)
                h = rs.bind_heads.to(self.dt).expand(B, -1, -1)
                idx = self._skin_idx
                off = v[:, :, None] - h[:, idx]  # (B, V', Kw, 3)
                if rs.bind_rot is not None:
                    off = mv3(rs.bind_rot.to(self.dt).expand(B, -1, -1, -1)[:, idx], off)
                flat = off.reshape(B, -1, 3).permute(1, 0, 2).reshape(off.shape[1] * off.shape[2], B * 3)
                pb = torch.sparse.mm(self._vsp, flat).reshape(-1, B, 3).permute(1, 0, 2).contiguous()
        return q, pb

    def set_shape(self, shape: torch.Tensor) -> None:
        """Fix the shape ``(S,)`` used by :meth:`fk` / :meth:`predict`."""
        self.shape = shape.detach().to(self.model.dtype).reshape(-1).clone()
        q, pb = self.rest(self.shape[None])
        self.q, self.pb = q, pb[0]
        self._set_reduced()

    def _restrict_levels(self) -> None:
        """FK levels restricted to the joints the keypoints and optimised joints depend on."""
        need = (self.anc[self.pj].sum(0) > 0) | (self.anc[self.ix].sum(0) > 0)
        self._fk_levels = []
        for ix, par in self._levels[1:]:
            keep = need[ix]
            if bool(keep.any()):
                self._fk_levels.append((ix[keep], par[keep]))

    def _pairs(self) -> None:
        """Sparse (keypoint, joint) attachment pairs: ``pk, pj (N,)``, ``pa (N,)``, ``pb (N, 3)``, and the maps
        ``C0 (K, N)`` (pair -> keypoint) and ``C (K*nA, N)`` (pair -> keypoint x ancestor joint)."""
        pk, pj = torch.nonzero(self.a.abs() > 0, as_tuple=True)
        self.pk, self.pj = pk, pj
        self.pa = self.a[pk, pj]
        K, N = self.a.shape[0], len(pk)
        # sparse map from (landmark vertex, skinning slot) lever arms to pair lever arms
        if self._vid.numel():
            pair_of = {(int(k), int(j)): n for n, (k, j) in enumerate(zip(pk.tolist(), pj.tolist()))}
            vc = self.corr.vertex_coef.to(self.dt).cpu().numpy()
            wsk = self._skin_w.cpu().numpy()
            idx = self._skin_idx.cpu().numpy()
            Kw = idx.shape[1]
            rows, cols, vals = [], [], []
            for k, vv in zip(*np.nonzero(vc)):
                for kk in range(Kw):
                    if wsk[vv, kk] > 0:
                        rows.append(pair_of[(int(k), int(idx[vv, kk]))])
                        cols.append(vv * Kw + kk)
                        vals.append(vc[k, vv] * wsk[vv, kk])
            self._vsp = torch.sparse_coo_tensor(torch.as_tensor(np.array([rows, cols])), torch.as_tensor(vals),
                                                (N, idx.shape[0] * Kw), dtype=self.dt, device=self.dev,
                                                check_invariants=True).coalesce()
        C0 = torch.zeros(K, N, dtype=self.dt, device=self.dev)
        C0[pk, torch.arange(N, device=self.dev)] = 1.0
        self.C0 = C0
        C = C0[:, None, :] * self.anc_ix[pj].T[None]  # (K, nA, N)
        self.C = C.reshape(K * self.nA, N)
        # C is very sparse (a pair feeds its keypoint's row of each ancestor): as (row, pair) index lists
        self._C_row, self._C_pair = (ix.to(self.dev) for ix in torch.nonzero(self.C, as_tuple=True))
        self._restrict_levels()
        self._reduce()

    def _reduce(self) -> None:
        """The fitting loop's compact kinematics. Only the optimised joints ``ix`` ever rotate (every other joint
        keeps the identity), so a joint ``j`` moves rigidly with its nearest optimised ancestor-or-self ``c``:
        ``G_j = G_c``, ``p_j = p_c + G_c (q_j - q_c)``. Every pair ``(k, j)`` is re-attached to ``(k, c)`` with
        the lever ``b + a (q_j - q_c)`` (pairs on the same ``(k, c)`` merged), and forward kinematics runs over the
        ``nA`` optimised joints only (levels of the reduced tree). Exact under that invariant."""
        par = np.asarray(self.model.parents)
        ixl = self.ix.cpu().numpy().tolist()
        pos = {j: c for c, j in enumerate(ixl)}

        def owner(j: int) -> int:  # nearest optimised ancestor-or-self, as a position in ix
            while j not in pos:
                j = int(par[j])
            return pos[j]

        rpar = np.array([-1] + [owner(int(par[j])) for j in ixl[1:]], int)
        depth = np.zeros(len(ixl), int)
        for c in range(1, len(ixl)):  # ix is in parent-before-child order (joint index order)
            depth[c] = depth[rpar[c]] + 1
        self._r_levels = [(torch.as_tensor(np.flatnonzero(depth == d), device=self.dev),
                           torch.as_tensor(rpar[depth == d], device=self.dev)) for d in range(1, depth.max() + 1)]
        self._r_par = torch.as_tensor(np.maximum(rpar, 0), device=self.dev)
        # forward kinematics on 4x4 transforms in depth order: each level is a slice, its parents in the level above
        order = np.argsort(depth, kind="stable")
        rank = np.argsort(order)
        self._r_order = torch.as_tensor(order, device=self.dev)
        self._r_unorder = torch.as_tensor(rank, device=self.dev)
        bounds = np.searchsorted(depth[order], np.arange(depth.max() + 2))
        self._r_slices = []
        for d in range(1, depth.max() + 1):
            lo, hi = int(bounds[d]), int(bounds[d + 1])
            prev_lo = int(bounds[d - 1])
            self._r_slices.append((lo, hi, torch.as_tensor(rank[rpar[order[lo:hi]]] - prev_lo, device=self.dev)))
        self._r_root = (0, int(bounds[1]))
        self._ix_sorted = self.ix[self._r_order]
        pc = np.array([owner(int(j)) for j in self.pj.tolist()], int)  # pair -> owner
        keys = sorted(set(zip(self.pk.tolist(), pc.tolist())))
        kid = {kc: r for r, kc in enumerate(keys)}
        self._r_of_pair = torch.as_tensor([kid[(int(k), int(c))] for k, c in zip(self.pk.tolist(), pc)],
                                          device=self.dev)
        self._r_owner_joint = torch.as_tensor(np.asarray(ixl)[pc], device=self.dev)  # (N,) q index of the owner
        self.rk = torch.as_tensor([k for k, _ in keys], device=self.dev)
        self.rc = torch.as_tensor([c for _, c in keys], device=self.dev)
        R = len(keys)
        self.ra = torch.zeros(R, dtype=self.dt, device=self.dev).index_add_(0, self._r_of_pair, self.pa)
        K = self.a.shape[0]
        anc_r = self.anc[self.ix][:, self.ix]  # (nA, nA): anc_r[c, c2] = ix[c2] is ancestor-or-self of ix[c]
        Cr = torch.zeros(K, self.nA, R, dtype=self.dt, device=self.dev)
        Cr[self.rk, :, torch.arange(R, device=self.dev)] = anc_r[self.rc]
        self._rC_row, self._rC_pair = (t.to(self.dev) for t in torch.nonzero(Cr.reshape(K * self.nA, R),
                                                                              as_tuple=True))
        self._eye3 = torch.eye(3, dtype=self.dt, device=self.dev)
        self._Jpos = (self.a_sum[None, :, None, None] * self._eye3) / UNIT  # (1, K, 3, 3) root-position columns
        A = self.nA - 1
        idx = 3 + torch.arange(3 * A, device=self.dev).reshape(A, 3)
        self._hb_idx = (idx[:, :, None], idx[:, None, :])
        self._gb_idx = idx.reshape(-1)

    def _set_reduced(self) -> None:
        """Shape-dependent data of the compact kinematics: offsets ``(nA, 3)`` and merged levers ``(R, 3)``."""
        q = self.q[0]
        qi = q[self.ix]
        self._r_off = qi - qi[self._r_par]
        base = torch.eye(4, dtype=self.dt, device=self.dev).repeat(1, self.nA, 1, 1)
        base[0, :, :3, 3] = self._r_off[self._r_order]
        self._loc_base = base
        lev = self.pb + self.pa[:, None] * (q[self.pj] - q[self._r_owner_joint])
        self.rb = torch.zeros(len(self.rk), 3, dtype=self.dt, device=self.dev).index_add_(0, self._r_of_pair, lev)

    def fk_reduced(self, L: torch.Tensor, p0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Positions ``(T, nA, 3)`` and rotations ``(T, nA, 3, 3)`` of the optimised joints only (the other joints
        of ``L (T, J, 3, 3)`` must be the identity, as everywhere in the fitting loop)."""
        T = len(L)
        loc = self._loc_base.repeat(T, 1, 1, 1)  # (T, nA, 4, 4) local transforms [L_c off_c; 0 1], depth order
        loc[:, :, :3, :3] = L[:, self._ix_sorted]
        loc[:, 0, :3, 3] = p0
        lo, hi = self._r_root
        out = [loc[:, lo:hi]]
        for lo, hi, up in self._r_slices:
            out.append(out[-1][:, up] @ loc[:, lo:hi])
        W = torch.cat(out, 1)[:, self._r_unorder]
        return W[..., :3, 3], W[..., :3, :3]

    def _red_points(self, P: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
        """``(T, R, 3)``: ``a_r p_c + G_c b_r`` per reduced pair."""
        return self.ra[:, None] * P[:, self.rc] + (G[:, self.rc] @ self.rb[..., None])[..., 0]

    def predict_reduced(self, P: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
        """Keypoints ``(T, K, 3)`` from :meth:`fk_reduced`."""
        pp = self._red_points(P, G)
        out = torch.zeros(pp.shape[:-2] + (self.C0.shape[0], 3), dtype=pp.dtype, device=pp.device)
        return out.index_add_(-2, self.rk, pp)

    # ----- kinematics -----
    def fk(self, L: torch.Tensor, p0: torch.Tensor, q: torch.Tensor | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
        """World joints ``P (T, J, 3)`` and rotations ``G (T, J, 3, 3)`` from local rotations ``L (T, J, 3, 3)``
        and root positions ``p0 (T, 3)``."""
        q = (self.q if q is None else q)[0]
        T, J = L.shape[:2]
        off = q.clone()
        off[1:] = q[1:] - q[self.model.parents[1:]]
        G = L.clone()  # joints outside the needed set keep a valid (meaningless) value
        P = torch.zeros(T, J, 3, dtype=L.dtype, device=L.device)
        G[:, 0] = L[:, 0]
        P[:, 0] = p0
        for ix, par in self._fk_levels:
            Gp = G[:, par]
            G[:, ix] = mm3(Gp, L[:, ix])
            P[:, ix] = P[:, par] + mv3(Gp, off[ix])
        return P, G

    def predict(self, P: torch.Tensor, G: torch.Tensor, pb: torch.Tensor | None = None) -> torch.Tensor:
        """Keypoints ``(T, K, 3)`` (``pb``: pair lever arms of another shape)."""
        pp = self._pair_points(P, G, pb)
        out = torch.zeros(pp.shape[:-2] + (self.C0.shape[0], 3), dtype=pp.dtype, device=pp.device)
        return out.index_add_(-2, self.pk, pp)  # = C0 @ pp (each pair feeds its keypoint)

    def _pair_points(self, P: torch.Tensor, G: torch.Tensor, pb: torch.Tensor | None = None) -> torch.Tensor:
        """``(T, N, 3)``: ``a_p p_j + G_j b_p`` per attachment pair."""
        return self.pa[:, None] * P[:, self.pj] + mv3(G[:, self.pj], self.pb if pb is None else pb)

    def local_rotvec(self, L: torch.Tensor) -> torch.Tensor:
        """``(T, A, 3)`` rotation vectors of the limited joints."""
        return log_so3(L[:, self.ix[1:]])

    def clamp(self, L: torch.Tensor) -> torch.Tensor:
        """Local rotations with the limited joints projected into their limits."""
        L = L.clone()
        L[:, self.ix[1:]] = self._clamp_rot(L[:, self.ix[1:]])
        return L

    def _clamp_rot(self, R: torch.Tensor) -> torch.Tensor:
        """Rotations ``R (T, A, 3, 3)`` of the limited joints projected into their limits."""
        r = mv3(self.lim_frames, log_so3(R))
        r = torch.maximum(torch.minimum(r, self.lim_hi), self.lim_lo)
        return rotvec_to_matrix_torch(mv3(self.lim_frames.transpose(-1, -2), r))

    def violation_deg(self, L: torch.Tensor) -> torch.Tensor:
        """Largest excess beyond the limits per frame ``(T,)`` degrees."""
        r = mv3(self.lim_frames, self.local_rotvec(L))
        ex = torch.relu(r - self.lim_hi) + torch.relu(self.lim_lo - r)
        return torch.rad2deg(ex.amax((-1, -2))) if ex.numel() else torch.zeros(len(L), dtype=self.dt)

    # ----- initialisation -----
    def init_pose(self, obs: torch.Tensor, w: torch.Tensor, n_sweeps: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
        """Analytic pose: torso Procrustes for the root, then per joint (level by level) the rotation about the
        joint that best aligns the keypoints of its subtree, clamped into the limits.

        Args:
            obs: ``(T, K, 3)`` observed keypoints (anything where ``w == 0``).
            w: ``(T, K)`` weights.
            n_sweeps: passes down the tree (the first aligns each bone to its nearest keypoints, the next ones also
                use one generation more, which fixes the twist once the children are bent).

        Returns:
            local rotations ``(T, J, 3, 3)`` and root positions ``(T, 3)``.
        """
        T, J = len(obs), self.model.n_joints
        L = torch.eye(3, dtype=self.dt, device=self.dev).repeat(T, J, 1, 1)
        p0 = torch.zeros(T, 3, dtype=self.dt, device=self.dev)
        P, G = self.fk(L, p0)
        pred = self.predict(P, G)
        torso = [i for i, n in enumerate(self.corr.names)
                 if n in ("left_hip", "right_hip", "left_shoulder", "right_shoulder", "neck", "mid_hip", "pelvis",
                          "spine1", "spine2", "spine3")]
        wt = w.clone()
        if len(torso) >= 3:
            mask = torch.zeros(wt.shape[1], dtype=torch.bool, device=self.dev)
            mask[torso] = True
            has = ((w[:, torso] > 0).sum(1) >= 3)[:, None]
            wt = torch.where(has & ~mask[None], torch.zeros_like(wt), wt)
        R, t = kabsch_batched(pred, obs, wt, reg=1e-3)
        L[:, 0] = R
        p0 = t  # the root sat at the origin
        sweeps = [(self._near, 0.05)] + [(self._far, 0.02)] * max(0, n_sweeps - 1)
        for mask, reg in sweeps:
            L = self._sweep(L, p0, obs, w, mask, reg)
        return L, p0

    def _sweep_plan(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per model tree level that holds optimised joints: their model indices, their positions in ``ix`` and
        the positions in ``ix`` of the optimised joints that carry their parents' rotations (cached)."""
        if not hasattr(self, "_plan"):
            pos = {int(j): c for c, j in enumerate(self.ix.tolist()) if c > 0}
            self._plan = []
            for ix, _ in self.model._levels()[1:]:
                ids = [int(j) for j in ix.tolist() if int(j) in pos]
                if ids:
                    cols = torch.as_tensor([pos[j] for j in ids], device=self.dev)
                    self._plan.append((torch.as_tensor(ids, device=self.dev), cols, self._r_par[cols]))
        return self._plan

    def _sweep(self, L, p0, obs, w, mask, reg):
        T = len(L)
        for jj, cols, rpar in self._sweep_plan():
            P, G = self.fk_reduced(L, p0)
            pred = self.predict_reduced(P, G)
            inside = mask[:, cols]  # (K, n)
            pj = P[:, cols]  # (T, n, 3)
            src = pred[:, None] - pj[:, :, None]  # (T, n, K, 3)
            dst = obs[:, None] - pj[:, :, None]
            ww = w[:, None] * inside.T[None]  # (T, n, K)
            M = (dst * ww[..., None]).transpose(-1, -2) @ src  # (T, n, 3, 3) = sum_k w dst src^T
            Rd = _rot_from_cross(M.reshape(-1, 3, 3), reg).reshape(T, len(cols), 3, 3)
            # a joint's parent rotates with its nearest optimised ancestor (every other joint is the identity)
            L[:, jj] = G[:, rpar].transpose(-1, -2) @ (Rd @ G[:, cols])
            # all limited joints again, not only this level's: re-projecting rotations whose limit box reaches past
            # pi (log wraps) gives better initial poses on synthetic data
            L = self.clamp(L)
        return L

    # ----- Levenberg-Marquardt -----
    def _terms(self, L, p0, obs, w, phi0, smooth_target, wts: Weights, jac: bool, irls: bool = False, kin=None,
               phi=None):
        """Cost per frame ``(T,)`` and scaled residuals (+ normal equations ``H (T, n, n)``, ``g (T, n)`` when
        ``jac``). ``irls``: ``w`` is the confidence and the Geman-McClure IRLS weights are applied here (the
        weights used are kept in ``self._last_w``). ``kin``: :meth:`fk_reduced` of ``(L, p0)`` when already known
        (the compact kinematics used are kept in ``self._last_kin``); ``phi``: :meth:`local_rotvec` of ``L`` when
        already known (kept in ``self._last_phi``)."""
        P, G = self.fk_reduced(L, p0) if kin is None else kin
        self._last_kin = (P, G)
        pp = self._red_points(P, G)  # (T, R, 3)
        pred = torch.zeros(pp.shape[:-2] + (obs.shape[-2], 3), dtype=pp.dtype, device=pp.device)
        pred.index_add_(-2, self.rk, pp)
        e = (pred - obs) / UNIT  # (T, K, 3)
        e2 = (e * e).sum(-1)
        if irls:
            s2 = (wts.gm_sigma / UNIT) ** 2
            w = w * (s2 / (s2 + e2)) ** 2
            self._last_w = w
        phi = self.local_rotvec(L) if phi is None else phi
        self._last_phi = phi
        r = mv3(self.lim_frames, phi)
        ex = r - torch.maximum(torch.minimum(r, self.lim_hi), self.lim_lo)
        dp = phi - phi0
        cost = (w * e2).sum(-1) + wts.limits * (ex * ex).sum((-1, -2)) + wts.prior * (dp * dp).sum((-1, -2))
        if smooth_target is not None:
            s_phi, s_pos = smooth_target
            ds = phi - s_phi
            dpos = (p0 - s_pos) / UNIT
            cost = cost + wts.smooth * (ds * ds).sum((-1, -2)) + wts.smooth_pos * (dpos * dpos).sum(-1)
        if not jac:
            return cost, e
        T, K = e.shape[:2]
        nA = self.nA
        S = torch.zeros(T, K * nA, 3, dtype=self.dt, device=self.dev)
        S.index_add_(1, self._rC_row, pp[:, self._rC_pair])  # = C @ pp, C being 0/1 and sparse
        v = S.reshape(T, K, nA, 3) - self.anc_a[None, :, :, None] * P[:, None]  # (T, K, nA, 3)
        # d pred / d d_j = -[v]_x G_j, rows c, columns i: -(skew(v) @ G_j)[c, i]
        Gr = G[:, None]  # (T, 1, nA, 3(b), 3(i))
        vx, vy, vz = (v[..., c, None] for c in range(3))
        Jr = torch.stack([vz * Gr[..., 1, :] - vy * Gr[..., 2, :],
                          vx * Gr[..., 2, :] - vz * Gr[..., 0, :],
                          vy * Gr[..., 0, :] - vx * Gr[..., 1, :]], 2)  # (T, K, 3(c), nA, 3(i))
        Jk = torch.cat([Jr.reshape(T, K, 3, 3 * nA) / UNIT, self._Jpos.expand(T, -1, -1, -1)], -1)  # (T, K, 3, n)
        Jf = Jk.reshape(T, K * 3, -1)
        Jw = (Jk * w[:, :, None, None]).reshape(T, K * 3, -1)
        JwT = Jw.transpose(1, 2)
        H = JwT @ Jf
        g = (JwT @ e.reshape(T, K * 3, 1))[..., 0]
        Ji = right_jacobian_inv(phi)  # (T, A, 3, 3)
        JiT = Ji.transpose(-1, -2)
        Jl = (self.lim_frames @ Ji) * (ex != 0)[..., None].to(self.dt)
        JlT = Jl.transpose(-1, -2)
        JiTJi = JiT @ Ji
        Hb = wts.limits * (JlT @ Jl) + wts.prior * JiTJi
        gb = wts.limits * (JlT @ ex[..., None])[..., 0] + wts.prior * (JiT @ dp[..., None])[..., 0]
        if smooth_target is not None:
            Hb = Hb + wts.smooth * JiTJi
            gb = gb + wts.smooth * (JiT @ ds[..., None])[..., 0]
            n = H.shape[-1]
            H[:, n - 3:, n - 3:] += wts.smooth_pos / UNIT**2 * self._eye3
            g[:, n - 3:] += wts.smooth_pos / UNIT * dpos
        H[:, self._hb_idx[0], self._hb_idx[1]] += Hb
        g[:, self._gb_idx] += gb.reshape(T, -1)
        self._last_J = (Jk, w)
        return cost, e, H, g

    def _apply(self, L, p0, delta):
        T = len(L)
        n = delta.shape[-1]
        d = delta[:, : n - 3].reshape(T, self.nA, 3)
        L = L.clone()
        L[:, self.ix] = mm3(L[:, self.ix], rotvec_to_matrix_torch(d))
        return L, p0 + delta[:, n - 3:]

    def lm(self, L: torch.Tensor, p0: torch.Tensor, obs: torch.Tensor, conf: torch.Tensor, iters: int,
           wts: Weights, phi0: torch.Tensor | None = None, smooth: str | None = None,
           prev: tuple[torch.Tensor, torch.Tensor] | None = None, lam: float = 1e-3, tol: float = 0.0,
           ) -> tuple[torch.Tensor, torch.Tensor]:
        """Levenberg-Marquardt on all frames at once (per-frame damping and step acceptance).

        Args:
            L, p0: initial local rotations ``(T, J, 3, 3)`` and root positions ``(T, 3)``.
            obs: ``(T, K, 3)`` observed keypoints; conf ``(T, K)`` confidence x pair weight (0 = missing).
            iters: iterations.
            wts: term weights.
            phi0: ``(T, A, 3)`` prior centre (default: the initial pose).
            smooth: ``"sequence"`` (pull to the mean of the neighbouring frames) or ``"online"`` (to ``prev``).
            prev: online: previous frame's ``(phi (1, A, 3), root position (1, 3))``.
            tol: one frame: stop early once an accepted step lowers the cost by no more than this fraction.

        The compact kinematics (:meth:`fk_reduced`) of the returned pose are left in ``self._last_kin``.
        """
        phi0 = self.local_rotvec(L) if phi0 is None else phi0
        T = len(L)
        lam_t = torch.full((T,), lam, dtype=self.dt, device=self.dev)
        kin = phi = None
        for it in range(iters):
            target = None
            if smooth == "sequence" and T >= 3 and (wts.smooth > 0 or wts.smooth_pos > 0):
                phi = self.local_rotvec(L)
                sp = torch.cat([phi[1:2], (phi[:-2] + phi[2:]) / 2, phi[-2:-1]])
                spos = torch.cat([p0[1:2], (p0[:-2] + p0[2:]) / 2, p0[-2:-1]])
                target = (sp, spos)
            elif smooth == "online" and prev is not None:
                target = prev
            # IRLS weights of the Geman-McClure loss at the current residuals
            cost, _, H, g = self._terms(L, p0, obs, conf, phi0, target, wts, jac=True, irls=True, kin=kin,
                                        phi=phi)
            kin, phi = self._last_kin, self._last_phi
            w = self._last_w
            diag = torch.diagonal(H, dim1=-2, dim2=-1)
            Hd = H + torch.diag_embed(lam_t[:, None] * diag + 1e-6)
            delta = -torch.linalg.solve(Hd, g[..., None])[..., 0]
            Ln, pn = self._apply(L, p0, delta)
            new_cost, _ = self._terms(Ln, pn, obs, w, phi0, target, wts, jac=False)
            ok = new_cost <= cost
            if T == 1:  # one frame (online): plain control flow, no blending
                if bool(ok[0]):
                    L, p0, kin, phi = Ln, pn, self._last_kin, self._last_phi
                    lam_t = (lam_t / 3).clamp_min(1e-7)
                    # converged: the accepted step barely lowered the cost (the next one would change nothing)
                    if tol > 0 and it + 1 < iters and float(cost[0] - new_cost[0]) <= tol * float(cost[0]):
                        break
                else:
                    lam_t = lam_t * 5
                continue
            Pn, Gn = self._last_kin
            L = torch.where(ok[:, None, None, None], Ln, L)
            p0 = torch.where(ok[:, None], pn, p0)
            kin = (torch.where(ok[:, None, None], Pn, kin[0]), torch.where(ok[:, None, None, None], Gn, kin[1]))
            phi = torch.where(ok[:, None, None], self._last_phi, phi)
            lam_t = torch.where(ok, (lam_t / 3).clamp_min(1e-7), lam_t * 5)
        self._last_kin = kin if kin is not None else self.fk_reduced(L, p0)
        return L, p0

    # ----- shape -----
    def shape_pose_step(self, L: torch.Tensor, p0: torch.Tensor, obs: torch.Tensor, conf: torch.Tensor,
                        prior_std: float, wts: Weights, eps: float, lam: float = 1e-2
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One joint Gauss-Newton step on the shape and all frames' poses (poses eliminated by a per-frame Schur
        complement, so the shared shape sees how the poses would compensate). Shape Jacobian by finite differences
        (exact for SMPL-X betas). Returns ``(L, p0, shape, cost)`` after the step (or unchanged when it would not
        lower the cost)."""
        S = self.model.n_shape
        s0 = self.shape.to(self.dt)
        mean = self.model.default_shape().to(self.dt)
        reg = 1.0 / prior_std**2
        s2 = (wts.gm_sigma / UNIT) ** 2
        with torch.no_grad():
            P, G = self.fk(L, p0)
            r2 = (((self.predict(P, G) - obs) / UNIT) ** 2).sum(-1)
        w = conf * (s2 / (s2 + r2)) ** 2
        phi0 = self.local_rotvec(L)
        cost, e, Hpp, gp = self._terms(L, p0, obs, w, phi0, None, wts, jac=True)
        Jk, _ = self._last_J
        T, K = e.shape[:2]
        shapes = torch.cat([s0[None], s0[None] + eps * torch.eye(S, dtype=self.dt, device=self.dev)])
        q, b = self.rest(shapes)
        base = self.predict(*self.fk(L, p0, q[:1]), b[0])
        Js = torch.stack([(self.predict(*self.fk(L, p0, q[i:i + 1]), b[i]) - base) / eps
                          for i in range(1, S + 1)], -1) / UNIT  # (T, K, 3, S)
        Jsf = Js.reshape(T, K * 3, S)
        Jw = (Jk * w[:, :, None, None]).reshape(T, K * 3, -1)
        Hps = Jw.transpose(1, 2) @ Jsf  # (T, n, S)
        Hss = (Jsf * w.repeat_interleave(3, 1)[..., None]).transpose(1, 2) @ Jsf  # (T, S, S)
        gs = (Jsf.transpose(1, 2) @ (w[..., None] * e).reshape(T, K * 3, 1))[..., 0]  # (T, S)
        Hd = Hpp + torch.diag_embed(lam * torch.diagonal(Hpp, dim1=-2, dim2=-1) + 1e-6)
        X = torch.linalg.solve(Hd, torch.cat([Hps, gp[..., None]], -1))  # H^-1 [Hps | gp]
        A = (Hss - Hps.transpose(1, 2) @ X[..., :S]).sum(0) + reg * torch.eye(S, dtype=self.dt, device=self.dev)
        rhs = (gs - (Hps.transpose(1, 2) @ X[..., S:])[..., 0]).sum(0) + reg * (s0 - mean)
        ds = -torch.linalg.solve(A + 1e-6 * torch.eye(S, dtype=self.dt, device=self.dev), rhs)
        dp = -(X[..., S:] + X[..., :S] @ ds[None, :, None])[..., 0]
        old_cost = cost.sum() + reg * ((s0 - mean) ** 2).sum()
        for step in (1.0, 0.5, 0.25):
            new_shape = self.model.clamp_shape((s0 + step * ds).to(self.model.dtype))
            Ln, pn = self._apply(L, p0, step * dp)
            keep = (self.shape.clone(), self.q, self.pb, self._r_off, self.rb, self._loc_base)
            self.set_shape(new_shape)
            c, _ = self._terms(Ln, pn, obs, w, phi0, None, wts, jac=False)
            c = c.sum() + reg * ((new_shape.to(self.dt) - mean) ** 2).sum()
            if c <= old_cost:
                return Ln, pn, new_shape, c
            self.shape, self.q, self.pb, self._r_off, self.rb, self._loc_base = keep
        return L, p0, self.shape.clone(), old_cost

    # ----- shape -----
