"""How sure a calibration is: parameter standard deviations from the bundle adjustment's Jacobian.

The covariance of the estimated parameters is ``s^2 (J^T J)^-1`` at the solution, where ``J`` is the Jacobian of
the pixel residuals of the corners (or keypoints) that were kept and ``s^2 = |r|^2 / (m - n)`` the residual
variance (``m`` residuals, ``n`` parameters): the usual first-order, residual-scaled estimate. The nuisance
parameters (board poses, or 3D points) are eliminated with the Schur complement, so only the cameras' blocks are
inverted. Gauge: the reference camera's pose is held fixed during the solve, so positions and rotations are
uncertainties *relative to the reference camera* (whose own are zero by construction); a pseudo-inverse keeps any
remaining unobservable direction (e.g. a parameter no view constrains) from blowing up the others.

Each camera's numbers (:class:`CameraUncertainty`): focal lengths, principal point and distortion coefficients
(pixels / unitless; 0 where the parameter was held fixed), the rotation as the standard deviation of a small
rotation in the camera frame (degrees, all three axes together), and the centre as a ``(3, 3)`` world-frame
covariance (metres). :func:`uncertainty_warnings` turns weak values into advice that names the camera, the value
and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from mocap.geometry.rotations import matrix_to_rotvec, rotvec_to_matrix

#: a focal length whose standard deviation exceeds this fraction is weakly determined (warned, wizard reads on).
FOCAL_REL_WARN = 0.01
#: a principal point standard deviation above this many pixels is warned.
PRINCIPAL_PX_WARN = 10.0
#: a camera-centre standard deviation (largest axis) above this is warned, metres.
CENTER_M_WARN = 0.01
#: a rotation standard deviation above this is warned, degrees.
ROTATION_DEG_WARN = 0.2
#: distortion whose correction at the image corner is uncertain by more than this is warned, pixels.
DISTORTION_PX_WARN = 2.0

INTRINSIC_NAMES = ("fx", "fy", "cx", "cy")


@dataclass
class CameraUncertainty:
    """One-sigma uncertainty of one camera's parameters (0 where a parameter was held fixed).

    Attributes:
        name: camera name.
        fx, fy, cx, cy: standard deviations of the focal lengths and principal point, pixels.
        dist: ``(D,)`` standard deviations of the distortion coefficients (the camera's ``dist`` order).
        rotation_deg: standard deviation of the camera's orientation (a small rotation in the camera frame, all
            axes together: ``sqrt(trace(cov))``), degrees.
        center_cov: ``(3, 3)`` covariance of the camera centre in the world frame, m^2.
        distortion_px: standard deviation of the distortion correction at the image corner, pixels.
        distortion_seen_px: the same at the observed point farthest from the image centre (within the data).
        focal_model_px: spread of ``fx`` among the intrinsic models the data could not tell apart (see
            :mod:`mocap.calibration.selection`), pixels; added to ``fx``/``fy`` in :attr:`focal_rel`,
            :attr:`fx_total`, :attr:`fy_total`.
        center_model_m: ``(3,)`` spread of the centre among those models, metres (already included in
            ``center_cov``).
        relative_to: the camera the poses are relative to (the gauge), or ``""``.
        sigma_px: residual standard deviation the covariance was scaled with, pixels.
        focal: the camera's focal lengths ``(fx, fy)`` (for relative numbers).
        fixed: names of parameters held fixed (their deviation is 0 by construction, not a measurement).
    """

    name: str
    fx: float = 0.0
    fy: float = 0.0
    cx: float = 0.0
    cy: float = 0.0
    dist: np.ndarray = field(default_factory=lambda: np.zeros(0))
    rotation_deg: float = 0.0
    center_cov: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    distortion_px: float = 0.0
    distortion_seen_px: float = 0.0
    focal_model_px: float = 0.0
    center_model_m: np.ndarray = field(default_factory=lambda: np.zeros(3))
    relative_to: str = ""
    sigma_px: float = float("nan")
    focal: tuple[float, float] = (float("nan"), float("nan"))
    fixed: tuple[str, ...] = ()

    @property
    def center_m(self) -> np.ndarray:
        """``(3,)`` standard deviation of the centre along the world axes, metres."""
        return np.sqrt(np.clip(np.diag(self.center_cov), 0, None))

    @property
    def fx_total(self) -> float:
        """Standard deviation of ``fx`` including the model spread, pixels."""
        return float(np.hypot(self.fx, self.focal_model_px))

    @property
    def fy_total(self) -> float:
        """Standard deviation of ``fy`` including the model spread, pixels."""
        return float(np.hypot(self.fy, self.focal_model_px))

    @property
    def focal_rel(self) -> float:
        """Largest relative focal-length standard deviation, statistical and model spread together (0.031 = 3.1 %)."""
        if not np.isfinite(self.focal[0]):
            return 0.0
        m = self.focal_model_px / self.focal[0]
        return float(max(np.hypot(self.fx / self.focal[0], m), np.hypot(self.fy / self.focal[1], m)))

    def as_meta(self) -> dict:
        """Plain numbers for a calibration file's metadata (units in the key names)."""
        return {"fx_px": round(self.fx, 4), "fy_px": round(self.fy, 4), "cx_px": round(self.cx, 4),
                "cy_px": round(self.cy, 4), "dist": [float(f"{v:.4g}") for v in self.dist],
                "rotation_deg": round(self.rotation_deg, 5), "center_m": [round(float(v), 6) for v in self.center_m],
                "focal_rel": round(self.focal_rel, 6), "focal_model_px": round(self.focal_model_px, 4),
                "distortion_px": round(self.distortion_px, 4), "relative_to": self.relative_to,
                "residual_sigma_px": round(float(self.sigma_px), 4)}

    def describe(self) -> str:
        """One line: ``"cam1: fx 702.1 +-0.8 % ..."`` style numbers (without the values themselves)."""
        parts = []
        if "fx" not in self.fixed:
            parts.append(f"f +-{100 * self.focal_rel:.2f} % ({self.fx:.1f}/{self.fy:.1f} px)")
        if "cx" not in self.fixed:
            parts.append(f"centre point +-({self.cx:.1f}, {self.cy:.1f}) px")
        if self.dist.size and np.any(self.dist > 0):
            parts.append(f"distortion at the corner +-{self.distortion_px:.2f} px")
        if self.relative_to and self.relative_to != self.name:
            c = self.center_m
            parts.append(f"position +-({100 * c[0]:.2f}, {100 * c[1]:.2f}, {100 * c[2]:.2f}) cm, rotation "
                         f"+-{self.rotation_deg:.3f} deg (relative to {self.relative_to})")
        elif self.relative_to:
            parts.append("pose fixed (reference camera)")
        return f"{self.name}: " + (", ".join(parts) if parts else "all parameters fixed")


def residual_sigma2(r: np.ndarray, n_params: int) -> float:
    """Residual variance ``|r|^2 / (m - n)`` (``m`` = residual count), the scale of the covariance."""
    r = np.asarray(r, float).ravel()
    return float(r @ r / max(r.size - n_params, 1))


def schur_covariance(J: sparse.spmatrix | np.ndarray, keep: np.ndarray, blocks: np.ndarray, sigma2: float,
                     rcond: float = 1e-10, clusters: np.ndarray | None = None, r: np.ndarray | None = None
                     ) -> np.ndarray:
    """Covariance of the ``keep`` parameters with the nuisance ``blocks`` eliminated (Schur complement).

    Args:
        J: ``(m, n)`` Jacobian of the residuals at the solution (sparse or dense).
        keep: ``(k,)`` column indices of the parameters of interest.
        blocks: ``(B, b)`` column indices of the nuisance parameters, one row per block that no other block
            shares a residual with (a board pose, ``b = 6``, or a 3D point, ``b = 3``).
        sigma2: residual variance (see :func:`residual_sigma2`), the scale of the classic estimate.
        rcond: relative cut-off of the pseudo-inverses (unobservable directions get no variance instead of inf).
        clusters: ``(m,)`` cluster id per residual (e.g. the board frame). With ``r`` ``(m,)`` (the residuals),
            the cluster-robust "sandwich" estimate ``H^-1 (sum_g J_g^T r_g r_g^T J_g) H^-1`` is returned instead:
            honest when errors within a cluster are correlated (board bending, unsynchronised cameras, blur).

    Returns:
        ``(k, k)`` covariance.
    """
    J = sparse.csc_matrix(J)
    keep = np.asarray(keep, int)
    blocks = np.asarray(blocks, int)
    blocks = blocks.reshape(-1, blocks.shape[-1] if blocks.ndim > 1 else 1)
    Jk = J[:, keep].toarray()
    A = Jk.T @ Jk
    nb, b = blocks.shape
    if blocks.size:
        Je = J[:, blocks.ravel()]
        JeTJe = (Je.T @ Je).tocsr()
        Dblk = np.stack([JeTJe[i * b:(i + 1) * b, i * b:(i + 1) * b].toarray() for i in range(nb)])
        B = sparse.csr_matrix(Jk.T) @ Je
        B = B.toarray() if sparse.issparse(B) else np.asarray(B)
        Dinv = _scaled_pinv(Dblk, rcond)
        Bb = B.reshape(len(keep), nb, b)
        A = A - np.einsum("knb,nbc,lnc->kl", Bb, Dinv, Bb)
    Sinv = _scaled_pinv(0.5 * (A + A.T), rcond)
    if clusters is None or r is None:
        return sigma2 * Sinv
    # rows of H^-1 for the kept parameters: [S^-1, -S^-1 B D^-1]
    ids, cl = np.unique(np.asarray(clusters), return_inverse=True)
    R = sparse.csr_matrix((np.asarray(r, float), (np.arange(len(cl)), cl)), shape=(len(cl), len(ids)))
    G = (sparse.csr_matrix(J.T) @ R).toarray()  # (n, G): per-cluster gradients J_g^T r_g
    Gk = G[keep]
    if blocks.size:
        Ge = G[blocks.ravel()].reshape(nb, b, -1)
        Gk = Gk - np.einsum("knb,nbc,ncg->kg", Bb, Dinv, Ge)
    U = Sinv @ Gk
    n_g = len(ids)
    return (U @ U.T) * n_g / max(n_g - 1, 1)


def _scaled_pinv(A: np.ndarray, rcond: float) -> np.ndarray:
    """Pseudo-inverse of symmetric PSD matrices ``(..., n, n)`` after equilibrating their diagonal (parameters in
    pixels, radians and metres differ by orders of magnitude; a plain cut-off would drop well-determined ones)."""
    d = np.sqrt(np.clip(np.einsum("...ii->...i", A), 1e-300, None))
    As = A / d[..., :, None] / d[..., None, :]
    return np.linalg.pinv(As, rcond=rcond, hermitian=True) / d[..., :, None] / d[..., None, :]


def rotation_jacobian(rvec: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """``(3, 3)`` map from a rotation-vector perturbation to the small rotation ``w`` in the camera frame
    (``R(rvec + d) = exp([w]x) R(rvec)``), by central differences."""
    R0 = rotvec_to_matrix(np.asarray(rvec, float))
    G = np.zeros((3, 3))
    for i in range(3):
        d = np.zeros(3)
        d[i] = eps
        G[:, i] = (matrix_to_rotvec(rotvec_to_matrix(rvec + d) @ R0.T)
                   - matrix_to_rotvec(rotvec_to_matrix(rvec - d) @ R0.T)) / (2 * eps)
    return G


def pose_uncertainty(rvec: np.ndarray, t: np.ndarray, cov6: np.ndarray) -> tuple[float, np.ndarray]:
    """Rotation standard deviation (degrees) and centre covariance ``(3, 3)`` of a world-to-camera pose.

    Args:
        rvec, t: the pose (``x_cam = R(rvec) X + t``, metres); cov6: ``(6, 6)`` covariance of ``(rvec, t)``.
    """
    G = rotation_jacobian(rvec)
    cov_w = G @ cov6[:3, :3] @ G.T
    # centre c = -R(rvec)^T t, differentiated numerically over (rvec, t)
    Jc = np.zeros((3, 6))
    eps = 1e-7
    for i in range(6):
        d = np.zeros(6)
        d[i] = eps
        p, m = np.concatenate([rvec, t]) + d, np.concatenate([rvec, t]) - d
        Jc[:, i] = (-rotvec_to_matrix(p[:3]).T @ p[3:] + rotvec_to_matrix(m[:3]).T @ m[3:]) / (2 * eps)
    return float(np.degrees(np.sqrt(max(np.trace(cov_w), 0.0)))), Jc @ cov6 @ Jc.T


def distortion_corner_std(cov_dist: np.ndarray, free: np.ndarray, K: np.ndarray, size: tuple[int, int],
                          dist: np.ndarray, model: str = "pinhole", eps: float = 1e-6,
                          at_px: np.ndarray | None = None) -> float:
    """Standard deviation (pixels) of the distortion displacement at the farthest image corner (or, with
    ``at_px`` ``(n, 2)``, at the one of those pixels farthest from the principal point).

    Args:
        cov_dist: ``(k, k)`` covariance of the free coefficients; free: ``(D,)`` mask of which are free.
    """
    from mocap.geometry.projection import distort_normalized

    free = np.asarray(free, bool)
    if not free.any():
        return 0.0
    w, h = size
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], float) if at_px is None else np.asarray(at_px, float)
    xy = np.stack([(corners[:, 0] - K[0, 2]) / K[0, 0], (corners[:, 1] - K[1, 2]) / K[1, 1]], -1)
    xy = xy[np.argmax(np.linalg.norm(xy, axis=1))]
    idx = np.flatnonzero(free)
    Jd = np.zeros((2, len(idx)))
    for k, i in enumerate(idx):
        d1, d0 = np.array(dist, float), np.array(dist, float)
        d1[i] += eps
        d0[i] -= eps
        Jd[:, k] = (distort_normalized(xy, d1, model) - distort_normalized(xy, d0, model)) / (2 * eps) * K[[0, 1],
                                                                                                           [0, 1]]
    cov = Jd @ cov_dist @ Jd.T
    return float(np.sqrt(max(np.trace(cov), 0.0)))


def board_area_fraction(views: list, image_size: tuple[int, int]) -> float:
    """Fraction of the image (cells of an 8 x 6 grid) in which the board's corners were seen in any view (0..1)."""
    from mocap.calibration.intrinsics import coverage_fraction

    return coverage_fraction(views, image_size)


def uncertainty_warnings(unc: CameraUncertainty, size: tuple[int, int], views: list | None = None) -> list[str]:
    """Advice for weakly determined values, naming the camera, the value and the fix.

    Example: ``"cam2 focal length +-3.1 %: the board covered 12 % of the image; film it closer, at the image corners
    and tilted, or pass --intrinsics"``.
    """
    out = []
    n = unc.name
    cover = (f"the board covered {100 * board_area_fraction(views, size):.0f} % of the image"
             if views else "few board views")
    if "fx" not in unc.fixed and unc.focal_rel > FOCAL_REL_WARN:
        out.append(f"{n} focal length +-{100 * unc.focal_rel:.1f} %: {cover}; film it closer, at the image corners "
                   "and tilted, or pass --intrinsics")
    if "cx" not in unc.fixed and max(unc.cx, unc.cy) > PRINCIPAL_PX_WARN:
        out.append(f"{n} principal point +-{max(unc.cx, unc.cy):.0f} px: {cover}; show the board near every edge "
                   "of the image, or pass --intrinsics")
    if unc.distortion_px > DISTORTION_PX_WARN:
        out.append(f"{n} lens distortion at the image corner +-{unc.distortion_px:.1f} px: the board rarely reached "
                   "the image corners; bring it into the corners, or pass --intrinsics")
    if unc.relative_to and unc.relative_to != n:
        c = float(unc.center_m.max())
        if c > CENTER_M_WARN:
            out.append(f"{n} position +-{100 * c:.1f} cm relative to {unc.relative_to}: show the board where {n} and "
                       "the other cameras see it together, at several depths and tilts")
        if unc.rotation_deg > ROTATION_DEG_WARN:
            out.append(f"{n} rotation +-{unc.rotation_deg:.2f} deg relative to {unc.relative_to}: show the board to "
                       f"{n} and its neighbours together across the whole image")
    return out


def transform_center_cov(unc: CameraUncertainty, R_world: np.ndarray) -> CameraUncertainty:
    """The same uncertainty after the world frame was rotated by ``R_world`` (``X' = R_world X + t``)."""
    R_world = np.asarray(R_world, float)
    unc.center_cov = R_world @ unc.center_cov @ R_world.T
    return unc


__all__ = ["CameraUncertainty", "board_area_fraction", "distortion_corner_std", "pose_uncertainty",
           "residual_sigma2", "rotation_jacobian", "schur_covariance", "transform_center_cov",
           "uncertainty_warnings"]
