"""Depth fusion for RGB-D cameras: lift 2D keypoints with a depth image and fuse with triangulation.

Every 3D estimate carries a covariance, and estimates are combined by inverse-covariance (information) weighting:

- :func:`lift_keypoints`: one RGB-D camera. The depth near each keypoint is sampled robustly (a window around the
  pixel; zeros/holes rejected; the near-surface cluster kept so background pixels do not bleed in), converted to
  metres, optionally pushed from the body surface to the joint centre, and back-projected along the pixel's ray.
  Its covariance combines depth noise ``sigma_z = k z^2 + sigma_0`` (stereo / structured light) along the ray with
  lateral noise from the 2D pixel noise.
- :func:`triangulation_covariance`: the covariance of a triangulated point from the view geometry (projection
  Jacobians of the views used) and the pixel noise implied by its reprojection error.
- :func:`fuse_estimates`: information-weighted fusion of any number of ``(X, cov)`` estimates, NaN-aware.
- :func:`fuse_depth_frame` (one frame), :func:`fuse_depth_keypoints` (a batch over
  :class:`~mocap.keypoints.Keypoints2D` and depth frames) and :class:`DepthFusionStep` (live) share that math.
  A single RGB-D camera works (no triangulation); with two or more cameras, depth estimates that contradict a
  triangulated point (Mahalanobis gate) are dropped, since a depth pixel can belong to an occluder.

The depth image must be registered to the colour camera (RealSense "aligned depth"): same optical centre and
orientation, possibly another resolution with the same field of view (pixel coordinates are scaled).

:func:`render_capsule_depth` renders synthetic depth images of a capsule body for tests and benchmarks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mocap.errors import KeypointsError, MocapError
from mocap.geometry.checks import check_shape

#: Typical distance (metres) from the visible body surface to the joint centre, per COCO-17 joint (limb radii).
COCO17_SURFACE_OFFSET_M = np.array([0.0, 0.0, 0.0, 0.02, 0.02, 0.05, 0.05, 0.04, 0.04, 0.03, 0.03, 0.08, 0.08,
                                    0.05, 0.05, 0.04, 0.04])


@dataclass
class DepthNoiseModel:
    """Noise of a depth sensor and of the 2D keypoints used to lift it.

    Attributes:
        k: depth noise growth, 1/metres: ``sigma_z = k z^2 + sigma_0`` (stereo/structured light; ~0.001-0.004 for
            RealSense D4xx at 848x480).
        sigma_0: depth noise floor, metres.
        sigma_px: 2D keypoint noise, pixels (divided by the confidence, clipped at ``min_conf``).
        min_conf: confidences are clipped to this before dividing.
    """

    k: float = 0.002
    sigma_0: float = 0.005
    sigma_px: float = 3.0
    min_conf: float = 0.1

    def sigma_z(self, z: np.ndarray) -> np.ndarray:
        """Depth standard deviation ``(...)`` in metres at depths ``z`` ``(...)`` (metres)."""
        z = np.asarray(z, dtype=float)
        return self.k * z * z + self.sigma_0


# --------------------------------------------------------------------------- depth sampling
def sample_depth(depth: np.ndarray, uv: np.ndarray, depth_scale: float = 0.001, window: int = 7,
                 percentile: float = 20.0, band_m: float = 0.06, image_size: tuple[int, int] | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Robust depth near each keypoint.

    In a ``window x window`` patch around each pixel, zeros, NaNs and pixels outside the image are rejected. The
    ``percentile``-th depth of the rest marks the nearest surface; the median of the depths within ``band_m``
    behind it is returned. Taking the near cluster avoids background bleeding at silhouette edges (a keypoint on
    a forearm often has wall pixels in its window).

    Args:
        depth: ``(H, W)`` depth image, raw units (uint16 millimetres for RealSense) or float.
        uv: ``(J, 2)`` pixel coordinates in the colour image (NaN = no keypoint).
        depth_scale: metres per raw depth unit (0.001 for millimetres; 1.0 for float metres).
        window: patch size in depth pixels (odd).
        percentile: percentile of the valid depths taken as the near surface.
        band_m: depth band behind the near surface kept for the median, metres.
        image_size: ``(width, height)`` of the colour image that ``uv`` refers to; when it differs from the depth
            image's, ``uv`` is scaled (registered depth at another resolution). Default: the depth image's.

    Returns:
        ``z`` ``(J,)`` depth in metres (NaN where no valid pixel), ``spread`` ``(J,)`` the median absolute
        deviation of the kept depths (metres), ``n_valid`` ``(J,)`` the number of kept pixels.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise MocapError(f"depth image has shape {depth.shape}; expected (height, width)")
    uv = check_shape(np.asarray(uv, dtype=float), (None, 2), "keypoints uv")
    H, W = depth.shape
    if image_size is not None and (int(image_size[0]), int(image_size[1])) != (W, H):
        uv = uv * np.array([W / float(image_size[0]), H / float(image_size[1])])
    r = max(int(window) // 2, 0)
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    ok_uv = np.isfinite(uv).all(1)
    ui = np.round(np.where(ok_uv, uv[:, 0], -1e6)).astype(np.int64)[:, None] + dx.ravel()[None]
    vi = np.round(np.where(ok_uv, uv[:, 1], -1e6)).astype(np.int64)[:, None] + dy.ravel()[None]
    inside = (ui >= 0) & (ui < W) & (vi >= 0) & (vi < H)
    vals = depth[np.clip(vi, 0, H - 1), np.clip(ui, 0, W - 1)].astype(float) * float(depth_scale)
    valid = inside & np.isfinite(vals) & (vals > 0)
    v = np.where(valid, vals, np.nan)
    J = uv.shape[0]
    z = np.full(J, np.nan)
    spread = np.full(J, np.nan)
    n = np.zeros(J, dtype=int)
    has = valid.any(1)
    if has.any():
        vh = v[has]
        near = np.nanpercentile(vh, percentile, axis=1)
        keep = np.isfinite(vh) & (vh <= near[:, None] + band_m)
        kept = np.where(keep, vh, np.nan)
        med = np.nanmedian(kept, axis=1)
        z[has] = med
        spread[has] = np.nanmedian(np.abs(kept - med[:, None]), axis=1)
        n[has] = keep.sum(1)
    return z, spread, n


# --------------------------------------------------------------------------- lifting
def lift_keypoints(camera, depth: np.ndarray, depth_scale: float, uv: np.ndarray, conf: np.ndarray | None = None, *,
                   noise: DepthNoiseModel | None = None, surface_offset_m: float | np.ndarray = 0.0,
                   window: int = 7, percentile: float = 20.0, band_m: float = 0.06, min_conf: float = 0.1,
                   max_depth_m: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Lift one RGB-D camera's 2D keypoints to world 3D points with covariances.

    Args:
        camera: the colour :class:`~mocap.cameras.Camera` (intrinsics, distortion, world pose).
        depth: ``(H, W)`` depth image registered to the colour camera, raw units (uint16 or float).
        depth_scale: metres per raw depth unit (RealSense: 0.001).
        uv: ``(J, 2)`` raw (distorted) pixel coordinates in the colour image; NaN = missing.
        conf: ``(J,)`` confidences (default 1 where ``uv`` is finite).
        noise: depth and pixel noise (default :class:`DepthNoiseModel`).
        surface_offset_m: scalar or ``(J,)`` distance from the visible surface to the joint centre, metres (added
            along the viewing ray; see :data:`COCO17_SURFACE_OFFSET_M`).
        window, percentile, band_m: robust depth sampling (see :func:`sample_depth`).
        min_conf: keypoints below this confidence are not lifted.
        max_depth_m: depths beyond this are treated as invalid.

    Returns:
        ``X`` ``(J, 3)`` world points in metres and ``cov`` ``(J, 3, 3)`` world covariances in m^2; NaN where the
        keypoint is missing, unconfident or has no valid depth.
    """
    noise = noise or DepthNoiseModel()
    uv = check_shape(np.asarray(uv, dtype=float), (None, 2), "keypoints uv", f"camera '{camera.name}'")
    J = uv.shape[0]
    c = np.where(np.isfinite(uv).all(1), 1.0, np.nan) if conf is None else np.asarray(conf, dtype=float).ravel()
    if c.shape != (J,):
        raise KeypointsError(f"camera '{camera.name}': {c.shape[0]} confidences for {J} keypoints")
    off = np.broadcast_to(np.asarray(surface_offset_m, dtype=float), (J,))
    z_s, spread, _ = sample_depth(depth, uv, depth_scale, window, percentile, band_m, image_size=camera.size)
    z_s = np.where((z_s > 0) & (z_s <= max_depth_m), z_s, np.nan)
    ok = np.isfinite(uv).all(1) & np.isfinite(c) & (c >= min_conf) & np.isfinite(z_s)
    xy = camera.undistort_normalized(uv)
    ray = np.concatenate([xy, np.ones((J, 1))], axis=1)  # (J, 3), z component 1
    unit = ray / np.linalg.norm(ray, axis=1, keepdims=True)
    Xc = ray * z_s[:, None] + unit * off[:, None]
    # covariance in the camera frame: Xc = z * (x, y, 1) with x, y from pixels and z from depth
    sz2 = noise.sigma_z(z_s) ** 2 + np.nan_to_num(spread) ** 2
    fx, fy = camera.K[0, 0], camera.K[1, 1]
    spx = noise.sigma_px / np.clip(np.nan_to_num(c, nan=1.0), noise.min_conf, 1.0)
    sx2, sy2 = (spx / fx) ** 2, (spx / fy) ** 2
    z = z_s + off * unit[:, 2]
    Jac = np.zeros((J, 3, 3))
    Jac[:, 0, 0] = z
    Jac[:, 1, 1] = z
    Jac[:, :, 2] = ray
    D = np.zeros((J, 3, 3))
    D[:, 0, 0], D[:, 1, 1], D[:, 2, 2] = sx2, sy2, sz2
    cov_c = Jac @ D @ np.swapaxes(Jac, 1, 2)
    R = camera.R
    X = (Xc - camera.t) @ R  # R^T (Xc - t)
    cov = np.einsum("ki,jkl,lm->jim", R, cov_c, R)  # R^T cov R
    X[~ok] = np.nan
    cov[~ok] = np.nan
    return X, cov


# --------------------------------------------------------------------------- triangulation uncertainty
def triangulation_covariance(rig, X: np.ndarray, used: np.ndarray, reproj_error_px: np.ndarray | None = None,
                             sigma_px: float = 2.0) -> np.ndarray:
    """Covariance of triangulated points from the view geometry and the reprojection error.

    ``cov = sigma^2 (sum_c J_c^T J_c)^-1`` with ``J_c`` the ``2x3`` pixel projection Jacobian of view ``c`` (used
    views only) and ``sigma`` the per-coordinate pixel noise: ``sigma_px``, or the noise implied by the mean
    reprojection error when larger (corrected for the 3 fitted degrees of freedom).

    Args:
        rig: the :class:`~mocap.cameras.CameraRig` of ``C`` cameras.
        X: ``(N, 3)`` triangulated points, metres (NaN = dropped).
        used: ``(C, N)`` bool, views used.
        reproj_error_px: ``(N,)`` mean reprojection error over the used views, pixels (optional).
        sigma_px: pixel noise floor (per coordinate), pixels.

    Returns:
        ``(N, 3, 3)`` covariances, m^2; NaN where X is missing or fewer than 2 views were used.
    """
    X = check_shape(np.asarray(X, dtype=float), (None, 3), "points")
    N = X.shape[0]
    used = np.asarray(used, dtype=bool).reshape(len(rig), N)
    info = np.zeros((N, 3, 3))
    for ci, cam in enumerate(rig.cameras):
        xc = X @ cam.R.T + cam.t
        zc = np.where(np.abs(xc[:, 2]) > 1e-9, xc[:, 2], np.nan)
        f = 0.5 * (cam.K[0, 0] + cam.K[1, 1])
        j0 = (cam.R[0][None] - (xc[:, 0] / zc)[:, None] * cam.R[2][None]) * (f / zc)[:, None]
        j1 = (cam.R[1][None] - (xc[:, 1] / zc)[:, None] * cam.R[2][None]) * (f / zc)[:, None]
        term = j0[:, :, None] * j0[:, None, :] + j1[:, :, None] * j1[:, None, :]
        info += np.where(used[ci][:, None, None] & np.isfinite(term), term, 0.0)
    n = used.sum(0)
    sig = np.full(N, float(sigma_px))
    if reproj_error_px is not None:
        e = np.asarray(reproj_error_px, dtype=float).ravel()
        dof = np.maximum(2 * n - 3, 1)
        # mean 2D error of isotropic Gaussian noise is sigma * sqrt(pi / 2); residuals shrink by sqrt(dof / 2n)
        est = e / np.sqrt(np.pi / 2) * np.sqrt(2 * np.maximum(n, 1) / dof)
        sig = np.where(np.isfinite(est), np.maximum(sig, est), sig)
    cov = np.full((N, 3, 3), np.nan)
    ok = (n >= 2) & np.isfinite(X).all(1)
    if ok.any():
        det = np.linalg.det(info[ok])
        good = np.abs(det) > 1e-18
        idx = np.flatnonzero(ok)[good]
        cov[idx] = np.linalg.inv(info[idx]) * (sig[idx] ** 2)[:, None, None]
    return cov


# --------------------------------------------------------------------------- fusion
def fuse_estimates(estimates: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-covariance (information) weighted fusion of independent 3D estimates.

    ``cov = (sum_i cov_i^-1)^-1`` and ``X = cov sum_i cov_i^-1 X_i``, per point. Estimates with a NaN point or
    covariance (or a singular covariance) are skipped for that point.

    Args:
        estimates: a list of ``(X (J, 3), cov (J, 3, 3))`` (metres, m^2), all with the same ``J``.

    Returns:
        ``X`` ``(J, 3)`` and ``cov`` ``(J, 3, 3)``; NaN where no estimate exists.

    Example:
        >>> a = (np.zeros((1, 3)), np.eye(3)[None] * 1.0)
        >>> b = (np.ones((1, 3)), np.eye(3)[None] * 3.0)
        >>> X, cov = fuse_estimates([a, b])
        >>> np.allclose(X, 0.25), np.allclose(cov, 0.75 * np.eye(3))
        (True, True)
    """
    if not estimates:
        raise MocapError("fuse_estimates needs at least one (X, cov) estimate")
    J = np.asarray(estimates[0][0]).shape[0]
    info = np.zeros((J, 3, 3))
    vec = np.zeros((J, 3))
    count = np.zeros(J, dtype=int)
    for i, (X, cov) in enumerate(estimates):
        X = check_shape(np.asarray(X, dtype=float), (J, 3), f"estimate {i} X")
        cov = check_shape(np.asarray(cov, dtype=float), (J, 3, 3), f"estimate {i} cov")
        ok = np.isfinite(X).all(1) & np.isfinite(cov).all((1, 2))
        if not ok.any():
            continue
        c = cov[ok]
        det = np.linalg.det(c)
        good = det > 1e-30
        idx = np.flatnonzero(ok)[good]
        inv = np.linalg.inv(c[good])
        inv = 0.5 * (inv + np.swapaxes(inv, 1, 2))
        info[idx] += inv
        vec[idx] += np.einsum("jab,jb->ja", inv, X[idx])
        count[idx] += 1
    Xf = np.full((J, 3), np.nan)
    covf = np.full((J, 3, 3), np.nan)
    has = count > 0
    if has.any():
        covf[has] = np.linalg.inv(info[has])
        Xf[has] = np.einsum("jab,jb->ja", covf[has], vec[has])
    return Xf, covf


def mahalanobis_sq(Xa: np.ndarray, cova: np.ndarray, Xb: np.ndarray, covb: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance ``(J,)`` between two independent estimates ``(J, 3)``, ``(J, 3, 3)``.

    NaN where either is missing.
    """
    d = np.asarray(Xa, float) - np.asarray(Xb, float)
    S = np.asarray(cova, float) + np.asarray(covb, float)
    out = np.full(d.shape[0], np.nan)
    ok = np.isfinite(d).all(1) & np.isfinite(S).all((1, 2))
    if ok.any():
        out[ok] = np.einsum("ja,ja->j", d[ok], np.linalg.solve(S[ok], d[ok][..., None])[..., 0])
    return out


# --------------------------------------------------------------------------- one frame, batch, live
@dataclass
class FrameFusion:
    """Result of :func:`fuse_depth_frame` for one person.

    Attributes:
        X: ``(J, 3)`` fused world points, metres (NaN = no estimate).
        cov: ``(J, 3, 3)`` fused covariances, m^2.
        n_sources: ``(J,)`` number of estimates fused (triangulation counts as one, each depth camera as one).
        from_depth: ``(J,)`` number of depth cameras whose estimate was used.
        gated: ``(J,)`` number of depth estimates dropped because they contradicted the triangulation.
    """

    X: np.ndarray
    cov: np.ndarray
    n_sources: np.ndarray
    from_depth: np.ndarray
    gated: np.ndarray


def fuse_depth_frame(rig, uv: np.ndarray, conf: np.ndarray | None, depths: Mapping[str, np.ndarray],
                     depth_scale: float | Mapping[str, float] = 0.001, *, noise: DepthNoiseModel | None = None,
                     surface_offset_m: float | np.ndarray = 0.0, gate_chi2: float | None = 16.0,
                     occlusion_sigma: float | None = 2.0, triangulate_opts: dict | None = None, window: int = 7,
                     percentile: float = 20.0, band_m: float = 0.06) -> FrameFusion:
    """Fuse one frame of one person: triangulation (if 2+ cameras) and every RGB-D camera's lifted keypoints.

    Args:
        rig: :class:`~mocap.cameras.CameraRig` of ``C`` cameras (order of ``uv``'s first axis).
        uv: ``(C, J, 2)`` raw pixels (NaN = missing); conf: ``(C, J)`` confidences or None.
        depths: camera name -> ``(H, W)`` depth image registered to that colour camera (any subset of the rig).
        depth_scale: metres per raw unit, one value or per camera name.
        noise: sensor and keypoint noise (its ``sigma_px`` is also the triangulation's pixel-noise floor).
        surface_offset_m: scalar or ``(J,)``, see :func:`lift_keypoints`.
        gate_chi2: drop a depth estimate whose squared Mahalanobis distance to the triangulated point exceeds
            this (None = never).
        occlusion_sigma: drop a depth estimate that lies in front of the triangulated point (along the depth
            camera's ray) by more than this many standard deviations of the difference (None = never): the depth
            pixel then belongs to an occluder (another limb, the torso) between the camera and the joint. This
            one-sided test is stricter than ``gate_chi2`` because occluders can only make depth shorter.
        triangulate_opts: options of :func:`~mocap.reconstruct.triangulation.triangulate`.
        window, percentile, band_m: depth sampling, see :func:`sample_depth`.

    Returns:
        :class:`FrameFusion`.
    """
    from mocap.reconstruct.triangulation import triangulate

    noise = noise or DepthNoiseModel()
    C = len(rig)
    uv = np.asarray(uv, dtype=float)
    if uv.ndim != 3 or uv.shape[0] != C or uv.shape[2] != 2:
        raise KeypointsError(f"frame has shape {uv.shape}; expected ({C}, joints, 2) for cameras {rig.names}")
    J = uv.shape[1]
    cf = np.where(np.isfinite(uv).all(-1), 1.0, np.nan) if conf is None else np.asarray(conf, dtype=float)
    if cf.shape != (C, J):
        raise KeypointsError(f"confidences have shape {cf.shape}; expected {(C, J)}")
    unknown = [n for n in depths if n not in rig.names]
    if unknown:
        raise KeypointsError(f"depth images given for cameras {unknown} that are not in the rig ({rig.names})",
                             hint="key the depth images by the colour camera's name")
    estimates: list[tuple[np.ndarray, np.ndarray]] = []
    X_tri = cov_tri = None
    if C >= 2:
        opts = dict(triangulate_opts or {})
        res = triangulate(rig, uv, cf, **opts)
        X_tri = res.X
        cov_tri = triangulation_covariance(rig, res.X, res.used, res.reproj_error_px, noise.sigma_px)
        estimates.append((X_tri, cov_tri))
    from_depth = np.zeros(J, dtype=int)
    gated = np.zeros(J, dtype=int)
    for name, dimg in depths.items():
        ci = rig.names.index(name)
        scale = depth_scale[name] if isinstance(depth_scale, Mapping) else depth_scale
        Xd, covd = lift_keypoints(rig[ci], dimg, scale, uv[ci], cf[ci], noise=noise, surface_offset_m=surface_offset_m,
                                  window=window, percentile=percentile, band_m=band_m)
        if X_tri is not None and (gate_chi2 is not None or occlusion_sigma is not None):
            gate_chi2 = np.inf if gate_chi2 is None else gate_chi2
            d2 = mahalanobis_sq(Xd, covd, X_tri, cov_tri)
            bad = d2 > gate_chi2
            if occlusion_sigma is not None:
                bad |= _in_front(rig[ci], Xd, covd, X_tri, cov_tri, occlusion_sigma)
            gated += bad
            Xd[bad] = np.nan
            covd[bad] = np.nan
        from_depth += np.isfinite(Xd).all(1)
        estimates.append((Xd, covd))
    if not estimates:
        raise KeypointsError(f"nothing to fuse: the rig has {C} camera(s) and no depth image was given",
                             hint="give a depth image for at least one camera, or use two or more cameras")
    n_src = sum(np.isfinite(X).all(1).astype(int) for X, _ in estimates)
    X, cov = fuse_estimates(estimates)
    return FrameFusion(X, cov, np.asarray(n_src), from_depth, gated)


def _in_front(camera, Xd: np.ndarray, covd: np.ndarray, Xt: np.ndarray, covt: np.ndarray, n_sigma: float
              ) -> np.ndarray:
    """``(J,)`` True where the depth estimate ``Xd`` lies in front of ``Xt`` along the camera's ray by more than
    ``n_sigma`` standard deviations of the difference (NaN inputs give False)."""
    ray = Xt - camera.center
    ray = ray / np.linalg.norm(ray, axis=1, keepdims=True)
    delta = np.einsum("ja,ja->j", Xd - Xt, ray)
    var = np.einsum("ja,jab,jb->j", ray, covd + covt, ray)
    with np.errstate(invalid="ignore"):
        return delta < -n_sigma * np.sqrt(var)


def _depth_sequence(depth_frames: Mapping[str, Sequence[np.ndarray] | np.ndarray], names: list[str], T: int
                    ) -> dict[str, Sequence[np.ndarray] | np.ndarray]:
    out = {}
    for name, seq in depth_frames.items():
        if name not in names:
            raise KeypointsError(f"depth frames given for camera '{name}', which is not among the keypoints' "
                                 f"cameras {names}")
        if len(seq) != T:
            raise KeypointsError(f"camera '{name}' has {len(seq)} depth frames but the keypoints have {T} frames",
                                 hint="synchronise the depth stream with the colour frames first")
        out[name] = seq
    return out


def fuse_depth_keypoints(rig, kp2d, depth_frames: Mapping[str, Sequence[np.ndarray] | np.ndarray],
                         depth_scale: float | Mapping[str, float] = 0.001, **opts):
    """Batch depth fusion over a sequence: :func:`fuse_depth_frame` for every frame and person.

    Args:
        rig: the calibrated :class:`~mocap.cameras.CameraRig` (cameras matched to the keypoints by name).
        kp2d: :class:`~mocap.keypoints.Keypoints2D` ``(T, C, P, J, 3)``, people associated across cameras.
        depth_frames: camera name -> ``T`` depth images ``(H, W)`` (an array ``(T, H, W)`` or a list), registered
            to that colour camera.
        depth_scale: metres per raw unit, one value or per camera name.
        **opts: options of :func:`fuse_depth_frame`.

    Returns:
        :class:`~mocap.keypoints.Keypoints3D` ``(T, P, J, 4)`` with quality fields ``"sigma_m"`` (RMS of the
        standard deviations along x, y, z, metres), ``"n_sources"`` and ``"from_depth"``; ``meta["cov"]``
        ``(T, P, J, 3, 3)``.
    """
    from mocap.keypoints import Keypoints3D

    names = list(kp2d.camera_names)
    missing = [n for n in names if n not in rig.names]
    if missing:
        raise KeypointsError(f"cameras {missing} of the keypoints are not in the calibration ({rig.names})")
    sub = rig.subset(names)
    T, C, P, J, _ = kp2d.data.shape
    depth_frames = _depth_sequence(depth_frames, names, T)
    X = np.full((T, P, J, 3), np.nan)
    cov = np.full((T, P, J, 3, 3), np.nan)
    n_src = np.zeros((T, P, J), dtype=np.int16)
    from_depth = np.zeros((T, P, J), dtype=np.int16)
    for t in range(T):
        dimgs = {n: np.asarray(seq[t]) for n, seq in depth_frames.items()}
        for p in range(P):
            fr = fuse_depth_frame(sub, kp2d.data[t, :, p, :, :2], kp2d.data[t, :, p, :, 2], dimgs, depth_scale,
                                  **opts)
            X[t, p], cov[t, p] = fr.X, fr.cov
            n_src[t, p], from_depth[t, p] = fr.n_sources, fr.from_depth
    sigma = np.sqrt(np.trace(cov, axis1=-2, axis2=-1) / 3.0)
    conf = np.where(np.isfinite(X).all(-1), np.clip(0.05 / np.maximum(sigma, 1e-6), 0.0, 1.0), np.nan)
    data = np.concatenate([X, conf[..., None]], axis=-1)
    meta = dict(kp2d.meta)
    meta.update({"cov": cov, "depth_cameras": list(depth_frames)})
    return Keypoints3D(data, kp2d.joint_set, timestamps=kp2d.timestamps.copy(), fps=kp2d.fps,
                       quality={"sigma_m": sigma, "n_sources": n_src, "from_depth": from_depth}, meta=meta)


class DepthFusionStep:
    """Live depth fusion, one frame at a time (one person): the same math as :func:`fuse_depth_keypoints`.

    Args:
        rig: :class:`~mocap.cameras.CameraRig` (``C`` cameras, order of ``uv``'s first axis); one camera is fine.
        depth_scale: metres per raw unit, one value or per camera name.
        **opts: options of :func:`fuse_depth_frame`.

    Example:
        >>> fuse = DepthFusionStep(rig, depth_scale=0.001)  # doctest: +SKIP
        >>> xyzc = fuse.step(uv, conf, {"cam0": depth_u16}, t)  # (J, 4)  # doctest: +SKIP
    """

    def __init__(self, rig, depth_scale: float | Mapping[str, float] = 0.001, **opts) -> None:
        self.rig = rig
        self.depth_scale = depth_scale
        self.opts = opts
        self.last: FrameFusion | None = None

    def step(self, uv: np.ndarray, conf: np.ndarray | None, depths: Mapping[str, np.ndarray],
             t: float | None = None) -> np.ndarray:
        """Fuse one frame.

        Args:
            uv: ``(C, J, 2)`` raw pixels; conf: ``(C, J)`` or None.
            depths: camera name -> ``(H, W)`` depth image of this frame.
            t: timestamp in seconds (kept for symmetry with other ``step()`` objects).

        Returns:
            ``(J, 4)`` world ``(x, y, z)`` metres and a confidence from the fused uncertainty; the covariances are
            in ``self.last.cov``.
        """
        fr = fuse_depth_frame(self.rig, uv, conf, depths, self.depth_scale, **self.opts)
        self.last = fr
        sigma = np.sqrt(np.trace(fr.cov, axis1=-2, axis2=-1) / 3.0)
        conf_out = np.where(np.isfinite(fr.X).all(1), np.clip(0.05 / np.maximum(sigma, 1e-6), 0.0, 1.0), np.nan)
        return np.concatenate([fr.X, conf_out[:, None]], axis=1)


# --------------------------------------------------------------------------- synthetic depth
def render_capsule_depth(camera, starts: np.ndarray, ends: np.ndarray, radii: np.ndarray, *,
                         floor_z: float | None = 0.0, depth_scale: float = 0.001, noise_k: float = 0.0,
                         noise_0: float = 0.0, hole_rate: float = 0.0, max_depth_m: float = 8.0,
                         rng: np.random.Generator | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    """Render a depth image of a body made of capsules (and an optional floor), for tests and benchmarks.

    Args:
        camera: :class:`~mocap.cameras.Camera` (its distortion is honoured).
        starts, ends: ``(B, 3)`` capsule segment end points, world metres; radii: ``(B,)`` metres.
        floor_z: height of a horizontal floor plane (None = no floor); everything else is "no return" (0).
        depth_scale: metres per output unit; the output is uint16 (``round(z / depth_scale)``).
        noise_k, noise_0: Gaussian depth noise ``sigma = noise_k z^2 + noise_0`` per pixel, metres.
        hole_rate: fraction of pixels set to 0 (missing), at random.
        max_depth_m: no return beyond this.
        rng: random generator for noise and holes.
        size: ``(width, height)`` of the depth image (default the camera's); the field of view is the camera's.

    Returns:
        ``(H, W)`` uint16 depth image (camera z, not ray length).
    """
    rng = rng or np.random.default_rng(0)
    W, H = size or camera.size
    sx, sy = camera.size[0] / W, camera.size[1] / H
    gu, gv = np.meshgrid((np.arange(W) + 0.5) * sx - 0.5, (np.arange(H) + 0.5) * sy - 0.5)
    xy = camera.undistort_normalized(np.stack([gu.ravel(), gv.ravel()], 1))
    d = np.concatenate([xy, np.ones((xy.shape[0], 1))], 1) @ camera.R  # world direction with camera-z 1
    o = camera.center
    zbuf = np.full(d.shape[0], np.inf)
    dd = (d * d).sum(1)
    for a, b, r in zip(np.asarray(starts, float), np.asarray(ends, float), np.asarray(radii, float)):
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            continue
        zbuf = np.minimum(zbuf, _ray_capsule(o, d, dd, a, b, r))
    if floor_z is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (floor_z - o[2]) / d[:, 2]
        zbuf = np.minimum(zbuf, np.where(s > 0, s, np.inf))
    z = zbuf.reshape(H, W)
    z = np.where(z <= max_depth_m, z, np.nan)
    if noise_k or noise_0:
        z = z + rng.normal(0.0, 1.0, z.shape) * (noise_k * z * z + noise_0)
    if hole_rate:
        z[rng.random(z.shape) < hole_rate] = np.nan
    out = np.where(np.isfinite(z) & (z > 0), np.round(z / depth_scale), 0)
    return np.clip(out, 0, 65535).astype(np.uint16)


def _ray_capsule(o: np.ndarray, d: np.ndarray, dd: np.ndarray, a: np.ndarray, b: np.ndarray, r: float) -> np.ndarray:
    """Smallest positive ray parameter ``s`` (N,) where rays ``o + s d`` hit the capsule (a, b, r); inf = miss."""
    ba = b - a
    oa = o - a
    baba = ba @ ba
    bard = d @ ba
    baoa = ba @ oa
    rdoa = d @ oa
    oaoa = oa @ oa
    A = baba * dd - bard * bard
    B = baba * rdoa - baoa * bard
    Cc = baba * oaoa - baoa * baoa - r * r * baba
    hit = np.full(d.shape[0], np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        disc = B * B - A * Cc
        s = (-B - np.sqrt(disc)) / A
        y = baoa + s * bard
        body = (disc >= 0) & (A > 1e-12) & (y > 0) & (y < baba) & (s > 0)
        hit = np.where(body, s, hit)
        for cap in (a, b):
            oc = o - cap
            bq = d @ oc
            cq = oc @ oc - r * r
            dq = bq * bq - dd * cq
            sq = (-bq - np.sqrt(dq)) / dd
            hit = np.minimum(hit, np.where((dq >= 0) & (sq > 0), sq, np.inf))
    return hit


__all__ = [
    "COCO17_SURFACE_OFFSET_M", "DepthNoiseModel", "sample_depth", "lift_keypoints", "triangulation_covariance",
    "fuse_estimates", "mahalanobis_sq", "FrameFusion", "fuse_depth_frame", "fuse_depth_keypoints",
    "DepthFusionStep", "render_capsule_depth",
]
