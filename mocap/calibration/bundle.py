"""Robust bundle adjustment of camera extrinsics and board poses (optionally intrinsics).

``scipy.optimize.least_squares`` with a sparse Jacobian pattern (``jac_sparsity``), a robust loss and
``x_scale="jac"``. Parameters: world-to-camera rotation vector + translation of every camera except the fixed
one (the gauge), board-to-world rotation vector + translation per frame, and with ``refine_intrinsics`` the
focal lengths, principal point and distortion of every camera. Residuals are pixel errors (u, v) per corner.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix

from mocap.calibration.detection import BoardDetection
from mocap.calibration.uncertainty import (
    CameraUncertainty,
    distortion_corner_std,
    pose_uncertainty,
    residual_sigma2,
    schur_covariance,
)
from mocap.cameras.camera import Camera
from mocap.cameras.rig import CameraRig
from mocap.geometry.projection import distort_normalized
from mocap.geometry.rotations import matrix_to_rotvec

log = logging.getLogger(__name__)


def rotvecs_to_matrices(rv: np.ndarray) -> np.ndarray:
    """Rodrigues formula, vectorised: ``(N, 3)`` rotation vectors -> ``(N, 3, 3)`` matrices."""
    rv = np.asarray(rv, float).reshape(-1, 3)
    th = np.linalg.norm(rv, axis=1)
    small = th < 1e-12
    k = rv / np.where(small, 1.0, th)[:, None]
    Kx = np.zeros((len(rv), 3, 3))
    Kx[:, 0, 1], Kx[:, 0, 2] = -k[:, 2], k[:, 1]
    Kx[:, 1, 0], Kx[:, 1, 2] = k[:, 2], -k[:, 0]
    Kx[:, 2, 0], Kx[:, 2, 1] = -k[:, 1], k[:, 0]
    s, c = np.sin(th)[:, None, None], np.cos(th)[:, None, None]
    R = np.eye(3)[None] + s * Kx + (1 - c) * (Kx @ Kx)
    R[small] = np.eye(3)
    return R


@dataclass
class BundleResult:
    """Outcome of :func:`bundle_adjust`.

    Attributes:
        rig: refined cameras (the initial ones when the solve diverged).
        board_poses: ``(F, 4, 4)`` board-to-world transforms per frame (solve order).
        initial_rms, final_rms: RMS pixel error over all corners before / over the inlier corners after.
        inliers: ``(M,)`` corners kept by the ``"trim"`` loss (all True otherwise).
        camera_rms: camera name -> RMS pixel error after.
        residuals: ``(M, 2)`` final pixel residuals per observed corner; ``obs_camera`` ``(M,)`` camera index.
        converged: False when the solve diverged and the initial estimate was kept.
        seconds: solver wall time.
        uncertainty: camera name -> one-sigma parameter uncertainty (see :mod:`mocap.calibration.uncertainty`;
            poses relative to the fixed camera); empty when not computed or the solve diverged.
    """

    rig: CameraRig
    board_poses: np.ndarray
    initial_rms: float
    final_rms: float
    camera_rms: dict[str, float]
    residuals: np.ndarray
    obs_camera: np.ndarray
    converged: bool
    seconds: float
    nfev: int = 0
    warnings: list[str] = field(default_factory=list)
    inliers: np.ndarray | None = None
    uncertainty: dict[str, CameraUncertainty] = field(default_factory=dict)

    @property
    def n_outliers(self) -> int:
        """Corners dropped by the ``"trim"`` loss."""
        return 0 if self.inliers is None else int((~self.inliers).sum())


def _pack_T(T: np.ndarray) -> np.ndarray:
    return np.concatenate([matrix_to_rotvec(T[:3, :3]), T[:3, 3]])


#: board poses needed before the cluster-robust (per board pose) covariance is trusted.
MIN_CLUSTERS = 10

#: problems whose Jacobian has at most this many entries (rows x parameters) use dense steps (exact, few
#: iterations); larger ones the sparse LSMR solver (memory and QR time).
DENSE_MAX_ENTRIES = 4_000_000


def _solve(fun, x0: np.ndarray, sparsity, loss: str, f_scale: float, max_nfev: int, tol: float):  # noqa: ANN001
    """``least_squares`` with a finite-difference Jacobian that uses the sparsity pattern.

    Small problems take exact (dense) trust-region steps, which converge in a few iterations where LSMR's inexact
    steps can stall for hundreds; large ones keep the sparse LSMR solver (memory).
    """
    if sparsity.shape[0] * sparsity.shape[1] > DENSE_MAX_ENTRIES:
        return least_squares(fun, x0, jac_sparsity=sparsity, loss=loss, f_scale=f_scale, x_scale="jac",
                             method="trf", max_nfev=max_nfev, xtol=tol, ftol=tol)
    from scipy.optimize._numdiff import approx_derivative, group_columns

    groups = group_columns(sparsity)

    def jac(x, *_):
        return approx_derivative(fun, x, sparsity=(sparsity, groups)).toarray()

    if loss == "linear" and sparsity.shape[0] >= sparsity.shape[1]:  # MINPACK LM: QR steps, fast on tall J
        return least_squares(fun, x0, jac=jac, x_scale="jac", method="lm", max_nfev=max_nfev, xtol=tol, ftol=tol)
    return least_squares(fun, x0, jac=jac, loss=loss, f_scale=f_scale, x_scale="jac", method="trf",
                         tr_solver="exact", max_nfev=max_nfev, xtol=tol, ftol=tol)


def bundle_adjust(rig: CameraRig, board_poses: list[np.ndarray],
                  observations: list[tuple[int, int, BoardDetection]], fixed_camera: int = 0,
                  refine_intrinsics: bool | list[bool] = False, loss: str = "trim", f_scale: float = 1.0,
                  max_nfev: int = 200, diverge_factor: float = 10.0, fix_cameras: bool = False,
                  dist_free: list[np.ndarray] | None = None, center_free: list[bool] | None = None,
                  tol: float = 1e-8, trim_sigma: float = 4.0, trim_min_px: float = 1.0,
                  aspect_fixed: list[bool] | None = None, uncertainty: bool = True) -> BundleResult:
    """Jointly refine camera poses and board poses by minimising pixel reprojection error.

    Args:
        rig: initial cameras (intrinsics used as given unless ``refine_intrinsics``).
        board_poses: ``F`` initial board-to-world ``(4, 4)`` transforms.
        observations: ``(camera index, frame index into board_poses, detection)`` triples.
        fixed_camera: camera whose pose is held fixed (removes the gauge freedom).
        refine_intrinsics: also optimise fx, fy, cx, cy and distortion: for every camera (``True``), or per camera
            (a list of ``C`` booleans; cameras with supplied intrinsics keep them fixed).
        fix_cameras: hold every camera fixed and solve board poses only (scores a given calibration).
        dist_free: per camera, a boolean mask over its distortion coefficients: which ones are refined with
            ``refine_intrinsics`` (default: all). Fixed ones keep their value (a reduced model keeps them 0).
        center_free: per camera, whether the principal point is refined (default: yes); held at its initial
            value for cameras whose views cover too little of the image to locate it.
        aspect_fixed: per camera, whether ``fy / fx`` is held at its initial value (one focal parameter).
        uncertainty: also estimate every parameter's standard deviation (``result.uncertainty``).
        tol: ``ftol`` and ``xtol`` of the solver.
        loss: ``"trim"`` (default: least squares, then corners whose error exceeds
            ``max(trim_sigma * robust sigma, trim_min_px)`` are dropped and the problem solved again; fast and
            unbiased), or a scipy loss (``"huber"``, ``"soft_l1"``, ``"cauchy"``, ``"linear"``) with inlier scale
            ``f_scale`` pixels.
        diverge_factor: a final RMS this many times the initial (or NaN) counts as divergence: the initial
            estimate is kept and a warning says so.
    """
    t0 = time.perf_counter()
    C, F = len(rig), len(board_poses)
    cams = [c.copy() for c in rig.cameras]
    cam_idx = np.concatenate([np.full(d.n, c) for c, _, d in observations]).astype(int)
    frm_idx = np.concatenate([np.full(d.n, f) for _, f, d in observations]).astype(int)
    obj = np.concatenate([d.object_points for _, _, d in observations])
    uv = np.concatenate([d.image_points for _, _, d in observations])
    M = len(uv)
    free = [] if fix_cameras else [c for c in range(C) if c != fixed_camera]
    if dist_free is None:
        dist_free = [np.ones(len(c.dist), bool) for c in cams]
    dist_free = [np.asarray(m, bool) for m in dist_free]
    center_free = [True] * C if center_free is None else [bool(b) for b in center_free]
    refine = [bool(b) for b in refine_intrinsics] if isinstance(refine_intrinsics, list | tuple) else \
        [bool(refine_intrinsics)] * C
    if len(refine) != C:
        raise ValueError(f"refine_intrinsics has {len(refine)} entries for {C} cameras")
    aspect_fixed = [False] * C if aspect_fixed is None else [bool(b) for b in aspect_fixed]
    n_k = [(1 if aspect_fixed[c] else 2) + (2 if center_free[c] else 0) for c in range(C)]
    n_int = [n_k[c] + int(m.sum()) if refine[c] else 0 for c, m in enumerate(dist_free)]
    # parameter layout
    off_cam = {c: 6 * k for k, c in enumerate(free)}
    off_board = 6 * len(free)
    off_int = off_board + 6 * F
    int_off = np.concatenate([[0], np.cumsum(n_int)])[:-1] + off_int
    n_par = off_int + int(sum(n_int))
    x0 = np.zeros(n_par)
    for c in free:
        x0[off_cam[c]:off_cam[c] + 6] = np.concatenate([cams[c].rvec, cams[c].t])
    for f, T in enumerate(board_poses):
        x0[off_board + 6 * f: off_board + 6 * f + 6] = _pack_T(T)
    for c in range(C):
        if refine[c]:
            K = cams[c].K
            kk = [K[0, 0]] + ([] if aspect_fixed[c] else [K[1, 1]]) + ([K[0, 2], K[1, 2]] if center_free[c] else [])
            x0[int_off[c]:int_off[c] + n_int[c]] = np.concatenate([kk, cams[c].dist[dist_free[c]]])
    masks = [cam_idx == c for c in range(C)]
    aspect = [c.K[1, 1] / c.K[0, 0] for c in cams]

    def unpack(x):
        Rc, tc, Ks, Ds = [], [], [], []
        for c in range(C):
            if c not in off_cam:
                Rc.append(cams[c].R)
                tc.append(cams[c].t)
            else:
                p = x[off_cam[c]:off_cam[c] + 6]
                Rc.append(rotvecs_to_matrices(p[:3])[0])
                tc.append(p[3:])
            if refine[c]:
                q = x[int_off[c]:int_off[c] + n_int[c]]
                k0 = n_k[c]
                fy = q[0] * aspect[c] if aspect_fixed[c] else q[1]
                cx, cy = (q[k0 - 2], q[k0 - 1]) if center_free[c] else (cams[c].K[0, 2], cams[c].K[1, 2])
                Ks.append(np.array([[q[0], 0, cx], [0, fy, cy], [0, 0, 1.0]]))
                d = np.asarray(cams[c].dist, float).copy()
                d[dist_free[c]] = q[k0:]
                Ds.append(d)
            else:
                Ks.append(cams[c].K)
                Ds.append(cams[c].dist)
        b = x[off_board:off_int].reshape(F, 6)
        return Rc, tc, rotvecs_to_matrices(b[:, :3]), b[:, 3:], Ks, Ds

    def residuals(x):
        Rc, tc, Rb, tb, Ks, Ds = unpack(x)
        Xw = np.einsum("mij,mj->mi", Rb[frm_idx], obj) + tb[frm_idx]
        out = np.empty((M, 2))
        for c in range(C):
            m = masks[c]
            Xc = Xw[m] @ Rc[c].T + tc[c]
            z = Xc[:, 2:3]
            z = np.where(np.abs(z) < 1e-9, 1e-9, z)
            xy = distort_normalized(Xc[:, :2] / z, Ds[c], cams[c].model)
            K = Ks[c]
            out[m, 0] = K[0, 0] * xy[:, 0] + K[0, 2]
            out[m, 1] = K[1, 1] * xy[:, 1] + K[1, 2]
        return (out - uv).ravel()

    rr, cc = [], []
    rows = np.arange(M)

    def block(r: np.ndarray, col0: np.ndarray | int, width: int) -> None:
        for k in range(width):
            for rk in (2 * r, 2 * r + 1):
                rr.append(rk)
                cc.append(np.broadcast_to(col0 + k, rk.shape))

    block(rows, off_board + 6 * frm_idx, 6)
    for c in free:
        block(rows[masks[c]], off_cam[c], 6)
    for c in range(C):
        if refine[c]:
            block(rows[masks[c]], int(int_off[c]), n_int[c])
    rr_a, cc_a = np.concatenate(rr), np.concatenate(cc)
    A = coo_matrix((np.ones(len(rr_a), np.int8), (rr_a, cc_a)), shape=(2 * M, n_par)).tocsr()

    r0 = residuals(x0)
    rms0 = float(np.sqrt(np.mean(r0.reshape(-1, 2) ** 2) * 2)) if M else float("nan")
    warn: list[str] = []
    converged = True
    inlier = np.ones(M, bool)
    trim = loss == "trim"
    try:
        x, nfev = x0, 0
        for stage in range(2 if trim else 1):
            rows_keep = np.repeat(inlier, 2)

            def fun(x, rows_keep=rows_keep):
                return residuals(x)[rows_keep]

            sol = _solve(fun, x, A[rows_keep], "linear" if trim else loss, f_scale, max_nfev, tol)
            x, nfev = sol.x, nfev + sol.nfev
            if trim and stage == 0:  # drop corners far off the first fit (blurred / wrong corners), solve again
                e = np.linalg.norm(residuals(x).reshape(-1, 2), axis=1)
                thresh = max(trim_sigma * 1.4826 * float(np.median(e)), trim_min_px)
                inlier = e <= thresh
                if inlier.all():
                    break
                log.info("bundle adjustment: %d of %d corners over %.2f px dropped", (~inlier).sum(), M, thresh)
        r1 = residuals(x)
        rms1 = float(np.sqrt(np.mean(np.sum(r1.reshape(-1, 2)[inlier] ** 2, axis=1))))
    except (ValueError, np.linalg.LinAlgError) as e:
        x, nfev, r1, rms1 = x0, 0, r0, float("nan")
        warn.append(f"bundle adjustment failed ({e}); keeping the initial estimate")
        converged = False
    if converged and (not np.isfinite(rms1) or rms1 > diverge_factor * max(rms0, 1.0)):
        warn.append(f"bundle adjustment diverged (RMS {rms0:.2f} px -> {rms1:.3g} px); keeping the initial "
                    "estimate: check the board definition, the intrinsics and the frame synchronisation")
        x, r1, rms1, converged = x0, r0, rms0, False
    unc: dict[str, CameraUncertainty] = {}
    if uncertainty and converged and M:
        layout = (off_cam, off_board, F, int_off, n_k, refine, center_free, aspect_fixed, dist_free)
        unc = _uncertainty(residuals, x, A, inlier, cams, layout, fixed_camera, fix_cameras,
                           [uv[masks[c] & inlier] for c in range(C)], frm_idx[inlier])
    Rc, tc, Rb, tb, Ks, Ds = unpack(x)
    out_cams = []
    for c in range(C):
        nc = cams[c].copy()
        nc.R, nc.t, nc.K, nc.dist = Rc[c].copy(), np.asarray(tc[c], float).copy(), Ks[c].copy(), np.asarray(Ds[c])
        out_cams.append(nc)
    T = np.tile(np.eye(4), (F, 1, 1))
    T[:, :3, :3], T[:, :3, 3] = Rb, tb
    res = r1.reshape(-1, 2)
    cam_rms = {cams[c].name: float(np.sqrt(np.mean(np.sum(res[masks[c] & inlier] ** 2, axis=1))))
               if (masks[c] & inlier).any() else float("nan") for c in range(C)}
    dt = time.perf_counter() - t0
    log.info("bundle adjustment: %d cameras, %d frames, %d corners: RMS %.3f -> %.3f px in %.2f s",
             C, F, M, rms0, rms1, dt)
    return BundleResult(CameraRig(out_cams, dict(rig.meta)), T, rms0, rms1, cam_rms, res, cam_idx, converged, dt,
                        nfev, warn, inlier, unc)


def _uncertainty(residuals, x: np.ndarray, A, inlier: np.ndarray, cams: list[Camera], layout: tuple,  # noqa: ANN001
                 fixed_camera: int, fix_cameras: bool, seen: list[np.ndarray], frames: np.ndarray,
                 robust: bool = True) -> dict[str, CameraUncertainty]:
    """Per-camera standard deviations from the Jacobian at ``x`` (board poses eliminated by Schur complement)."""
    from scipy.optimize._numdiff import approx_derivative, group_columns

    off_cam, off_board, F, int_off, n_k, refine, center_free, aspect_fixed, dist_free = layout
    rows_keep = np.repeat(inlier, 2)
    S = A[rows_keep]

    def fun(p: np.ndarray) -> np.ndarray:
        return residuals(p)[rows_keep]

    r = fun(x)
    J = approx_derivative(fun, x, method="3-point", sparsity=(S, group_columns(S)))
    n = len(x)
    keep = np.array([i for i in range(n) if not off_board <= i < off_board + 6 * F], int)
    blocks = off_board + np.arange(6 * F).reshape(F, 6)
    cov = schur_covariance(J, keep, blocks, residual_sigma2(r, n))
    if robust and F >= MIN_CLUSTERS:  # correlated errors within a board pose: the larger of the two estimates
        cov_r = schur_covariance(J, keep, blocks, 1.0, clusters=np.repeat(frames, 2), r=r)
        s = np.sqrt(np.clip(np.diag(cov_r), 0, None) / np.clip(np.diag(cov), 1e-300, None))
        s = np.maximum(s, 1.0)
        cov = cov * s[:, None] * s[None, :]
    pos = {int(i): k for k, i in enumerate(keep)}
    ref = "" if fix_cameras else cams[fixed_camera].name
    out = {}
    for c, cam in enumerate(cams):
        u = CameraUncertainty(cam.name, dist=np.zeros(len(cam.dist)), relative_to=ref,
                              sigma_px=float(np.sqrt(residual_sigma2(r, n))), focal=(cam.K[0, 0], cam.K[1, 1]))
        fixed = []
        if c in off_cam:
            idx = [pos[off_cam[c] + i] for i in range(6)]
            u.rotation_deg, u.center_cov = pose_uncertainty(x[off_cam[c]:off_cam[c] + 3],
                                                            x[off_cam[c] + 3:off_cam[c] + 6], cov[np.ix_(idx, idx)])
        else:
            fixed += ["rotation", "center"]
        if refine[c]:
            o = int(int_off[c])
            sd = np.sqrt(np.clip(np.diag(cov)[[pos[o + i] for i in range(n_k[c] + int(dist_free[c].sum()))]], 0,
                                 None))
            u.fx = float(sd[0])
            u.fy = float(sd[0] * cam.K[1, 1] / cam.K[0, 0]) if aspect_fixed[c] else float(sd[1])
            if center_free[c]:
                u.cx, u.cy = float(sd[n_k[c] - 2]), float(sd[n_k[c] - 1])
            else:
                fixed += ["cx", "cy"]
            u.dist[dist_free[c]] = sd[n_k[c]:]
            di = [pos[o + n_k[c] + i] for i in range(int(dist_free[c].sum()))]
            q = x[o:o + n_k[c] + int(dist_free[c].sum())]
            fy = q[0] * cam.K[1, 1] / cam.K[0, 0] if aspect_fixed[c] else q[1]
            cx, cy = (q[n_k[c] - 2], q[n_k[c] - 1]) if center_free[c] else (cam.K[0, 2], cam.K[1, 2])
            K = np.array([[q[0], 0, cx], [0, fy, cy], [0, 0, 1.0]])
            d = np.asarray(cam.dist, float).copy()
            d[dist_free[c]] = q[n_k[c]:]
            u.distortion_px = distortion_corner_std(cov[np.ix_(di, di)], dist_free[c], K, cam.size, d, cam.model)
            if len(seen[c]):
                u.distortion_seen_px = distortion_corner_std(cov[np.ix_(di, di)], dist_free[c], K, cam.size, d,
                                                             cam.model, at_px=seen[c])
            u.focal = (float(q[0]), float(fy))
            fixed += [f"dist{i}" for i in np.flatnonzero(~dist_free[c])]
        else:
            fixed += ["fx", "fy", "cx", "cy", "dist"]
        u.fixed = tuple(fixed)
        out[cam.name] = u
    return out


__all__ = ["BundleResult", "bundle_adjust", "rotvecs_to_matrices", "Camera"]
