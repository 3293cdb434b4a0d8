"""Multi-view triangulation: vectorised weighted DLT, robust view selection, nonlinear refinement.

Conventions: world points in metres, ``x_cam = R @ X + t``; 2D input in raw (distorted) pixels, undistorted
through the rig's camera models. Every function works on whole batches at once (no Python loop over points):
the only loops are over cameras or camera pairs, whose counts are small.

Robust view selection (:func:`triangulate`):

1. views with a finite detection and confidence ``>= min_conf`` are candidates;
2. all candidates are triangulated together; points whose every candidate reprojects within
   ``reproj_threshold_px`` are accepted as they are (the common case);
3. for the others, every camera pair proposes a point and the pair with the most views agreeing within the
   threshold wins (ties: the better-conditioned pair, then the smaller error; with a ``prior``, points near it
   first); the agreeing views are re-triangulated and the inlier set updated once;
4. a final depth-reweighted DLT (and optional Gauss-Newton refinement of the pixel reprojection error) gives X.

Sequences (people associated across cameras, temporal and bone-length passes): :mod:`mocap.reconstruct.sequence`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from mocap.errors import KeypointsError, MocapError

REASON_OK = 0
REASON_TOO_FEW_VIEWS = 1
REASON_LOW_CONFIDENCE = 2
REASON_REPROJ_ERROR = 3
REASON_DEGENERATE = 4
REASON_TEMPORAL = 5
REASON_BONE = 6
#: Reason codes of :attr:`TriangulationResult.reason`.
REASONS: dict[int, str] = {
    REASON_OK: "ok",
    REASON_TOO_FEW_VIEWS: "seen by fewer than min_views cameras",
    REASON_LOW_CONFIDENCE: "fewer than min_views detections above min_conf",
    REASON_REPROJ_ERROR: "no set of min_views cameras agrees within the reprojection threshold",
    REASON_DEGENERATE: "degenerate geometry (point behind a camera or rays parallel)",
    REASON_TEMPORAL: "jumps away from its neighbouring frames (temporal outlier)",
    REASON_BONE: "bone length inconsistent with the person's other frames under every view subset",
}


@dataclass
class TriangulationResult:
    """Output of :func:`triangulate` for a batch of points of shape ``B`` (any shape, e.g. ``(T, P, J)``).

    Attributes:
        X: ``(*B, 3)`` world points, metres; NaN where dropped.
        reproj_error_px: ``(*B,)`` mean reprojection error over the views used, raw pixels; NaN where dropped.
        n_views: ``(*B,)`` int, number of views used (0 where dropped).
        used: ``(C, *B)`` bool, which views were used.
        reason: ``(*B,)`` uint8 reason code, see :data:`REASONS` (0 = ok).
        view_error_px: ``(C, *B)`` reprojection error of every detected view against ``X`` (used or not),
            raw pixels; NaN where the view has no detection or X is dropped.
        confidence: ``(*B,)`` mean confidence of the views used; NaN where dropped.
    """

    X: np.ndarray
    reproj_error_px: np.ndarray
    n_views: np.ndarray
    used: np.ndarray
    reason: np.ndarray
    view_error_px: np.ndarray
    confidence: np.ndarray
    meta: dict = field(default_factory=dict)

    def reason_counts(self) -> dict[str, int]:
        """Number of points per reason (names from :data:`REASONS`), zero counts left out."""
        codes, counts = np.unique(self.reason, return_counts=True)
        return {REASONS.get(int(c), f"code {int(c)}"): int(n) for c, n in zip(codes, counts)}


# --------------------------------------------------------------------------- linear triangulation
def triangulate_weighted_dlt(Rt: np.ndarray, xy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted linear (DLT) triangulation of many points at once.

    Solves, per point, the least-squares system of the rows ``w_c (x_c P_c[2] - P_c[0])`` and
    ``w_c (y_c P_c[2] - P_c[1])`` with the homogeneous coordinate fixed to 1 (3x3 normal equations).

    Args:
        Rt: ``(C, 3, 4)`` extrinsics ``[R | t]`` (they act on normalised coordinates).
        xy: ``(C, N, 2)`` undistorted normalised image coordinates; NaN = not seen.
        w: ``(C, N)`` weights ``>= 0``; 0 or NaN (or NaN ``xy``) = view unused.

    Returns:
        ``(N, 3)`` world points (metres); NaN where fewer than 2 views have positive weight or the system is
        singular (parallel rays).

    Example:
        >>> Rt = np.stack([np.hstack([np.eye(3), [[0.], [0.], [0.]]]), np.hstack([np.eye(3), [[-1.], [0.], [0.]]])])
        >>> X = np.array([[0.2, 0.1, 3.0]])
        >>> xy = np.stack([(X[:, :2]) / X[:, 2:], (X[:, :2] - [1.0, 0.0]) / X[:, 2:]])
        >>> np.allclose(triangulate_weighted_dlt(Rt, xy, np.ones((2, 1))), X)
        True
    """
    Rt = np.asarray(Rt, dtype=float)
    xy = np.asarray(xy, dtype=float)
    w = np.asarray(w, dtype=float)
    C = Rt.shape[0]
    if Rt.shape != (C, 3, 4) or xy.ndim != 3 or xy.shape[0] != C or xy.shape[2] != 2 or w.shape != xy.shape[:2]:
        raise MocapError(
            f"triangulate_weighted_dlt: got Rt {Rt.shape}, xy {xy.shape}, w {w.shape}; expected (C, 3, 4), "
            "(C, N, 2), (C, N)"
        )
    with np.errstate(invalid="ignore"):
        ok = (w > 0) & _finite(xy)  # NaN weights compare False
    x = np.where(ok, xy[..., 0], 0.0)
    y = np.where(ok, xy[..., 1], 0.0)
    X = _solve_normal(_dlt_basis(Rt), _coef(x, y), np.where(ok, w * w, 0.0)).T.copy()
    X[np.count_nonzero(ok, axis=0) < 2] = np.nan
    return X


def _coef(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-view coefficients ``(C, 4, N)`` ``(x^2 + y^2, -x, -y, 1)`` of the DLT basis (x, y finite, 0 if unused)."""
    C, N = x.shape
    coef = np.empty((C, 4, N))
    np.multiply(x, x, out=coef[:, 0])
    coef[:, 0] += y * y
    np.negative(x, out=coef[:, 1])
    np.negative(y, out=coef[:, 2])
    coef[:, 3] = 1.0
    return coef


def _solve_normal(basis: np.ndarray, coef: np.ndarray, w2: np.ndarray) -> np.ndarray:
    """DLT points ``(3, N)`` from basis ``(C, 4, 9)``, coefficients ``(C, 4, N)``, squared weights ``(C, N)``.

    ``sum_c w2 [(x P2 - P0)(x P2 - P0)^T + (y P2 - P1)(y P2 - P1)^T]`` expanded into four per-camera terms whose
    per-point coefficients are ``(x^2 + y^2, -x, -y, 1) * w2``: one matrix product over all points.
    """
    C, _, N = coef.shape
    cw = coef * w2[:, None, :]
    return _solve_sym3(basis.reshape(4 * C, 9).T @ cw.reshape(4 * C, N))


def _dlt_basis(Rt: np.ndarray) -> np.ndarray:
    """Per camera ``(C, 4, 9)``: entries ``(A00, A01, A02, b0, A11, A12, b1, A22, b2)`` of the 3x4 upper block of
    P2P2^T, P2P0^T+P0P2^T, P2P1^T+P1P2^T, P0P0^T+P1P1^T."""
    P0, P1, P2 = Rt[:, 0], Rt[:, 1], Rt[:, 2]

    def outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a[:, :3, None] * b[:, None, :]

    terms = [outer(P2, P2), outer(P2, P0) + outer(P0, P2), outer(P2, P1) + outer(P1, P2),
             outer(P0, P0) + outer(P1, P1)]
    keep = [0, 1, 2, 3, 5, 6, 7, 10, 11]
    return np.stack([t.reshape(-1, 12)[:, keep] for t in terms], axis=1)


def _solve_sym3(M: np.ndarray) -> np.ndarray:
    """Solve ``A X = -b`` for ``M (9, *S)`` holding ``(A00, A01, A02, b0, A11, A12, b1, A22, b2)`` (A symmetric)
    by the adjugate, for every index of ``S`` at once.

    Returns ``(3, *S)``; NaN where A is (numerically) singular.
    """
    a, b_, c, p, d, e, q, g, r = M
    # A = [[a, b, c], [b, d, e], [c, e, g]], rhs = -[p, q, r]
    c00 = d * g - e * e
    c01 = c * e - b_ * g
    c02 = b_ * e - c * d
    c11 = a * g - c * c
    c12 = b_ * c - a * e
    c22 = a * d - b_ * b_
    det = a * c00 + b_ * c01 + c * c02
    scale = np.abs(a + d + g) * (1.0 / 3.0)
    singular = ~(np.abs(det) > 1e-12 * (scale * scale * scale))
    inv = -1.0 / np.where(singular, 1.0, det)
    inv[singular] = np.nan
    X = np.empty((3,) + a.shape)
    np.multiply(c00 * p + c01 * q + c02 * r, inv, out=X[0])
    np.multiply(c01 * p + c11 * q + c12 * r, inv, out=X[1])
    np.multiply(c02 * p + c12 * q + c22 * r, inv, out=X[2])
    return X


# --------------------------------------------------------------------------- helpers
def _index(mask: np.ndarray) -> slice | np.ndarray:
    """Indices of True in ``mask``, or a full slice when all are True (a view instead of a copy)."""
    return slice(None) if mask.all() else np.flatnonzero(mask)


def _count(index: slice | np.ndarray, n: int) -> int:
    return n if isinstance(index, slice) else index.size


def _finite(a: np.ndarray) -> np.ndarray:
    """``(..., k)`` -> ``(...)``: all of the last (small) axis finite; faster than ``isfinite().all(-1)``."""
    r = np.isfinite(a[..., 0])
    for k in range(1, a.shape[-1]):
        r &= np.isfinite(a[..., k])
    return r


def _project_normalized(Rt: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(C,3,4)``, ``(..., N, 3)`` -> normalised projections ``(C, ..., N, 2)`` and depths ``(C, ..., N)``."""
    C = Rt.shape[0]
    ones = (1,) * (X.ndim - 1)
    RT = np.ascontiguousarray(Rt[:, :, :3].transpose(0, 2, 1)).reshape((C,) + ones[:-1] + (3, 3))
    xc = np.matmul(X[None], RT) + Rt[:, :, 3].reshape((C,) + ones + (3,))
    z = xc[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        p = xc[..., :2] / z[..., None]
    return p, z


class _Geometry:
    """Per-rig constants of the fast path (cached on the cameras' values)."""

    def __init__(self, rig) -> None:
        cams = rig.cameras
        self.C = C = len(cams)
        self.Rt = rig.extrinsics
        self.basis = _dlt_basis(self.Rt)
        self.basis_t = np.ascontiguousarray(self.basis.transpose(0, 2, 1))  # (C, 9, 4)
        self.f = np.array([0.5 * (c.K[0, 0] + c.K[1, 1]) for c in cams])
        # rows: x of every camera, then y, then z: (3C, 3) and (3C, 1)
        self.A = np.ascontiguousarray(self.Rt[:, :, :3].transpose(1, 0, 2).reshape(3 * C, 3))
        self.b = np.ascontiguousarray(self.Rt[:, :, 3].T.reshape(3 * C, 1))
        self.centres = -np.einsum("cji,cj->ci", self.Rt[:, :, :3], self.Rt[:, :, 3])
        self.pinhole = all(c.model == "pinhole" for c in cams)
        K = np.stack([c.K for c in cams])
        self.fx, self.fy = K[:, 0, 0, None], K[:, 1, 1, None]
        self.cx, self.cy, self.skew = K[:, 0, 2, None], K[:, 1, 2, None], K[:, 0, 1, None]
        d = np.zeros((C, 12))
        for i, c in enumerate(cams):
            d[i, :min(12, c.dist.size)] = c.dist[:12]
        self.dist = tuple(d[:, j:j + 1] for j in range(12))
        self.rational = bool(np.any(d[:, 5:8]))
        self.prism = bool(np.any(d[:, 8:]))
        self.distorted = bool(np.any(d))
        ia, ib = _pairs(C)
        self.ia, self.ib = ia, ib

    def project(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Points ``(3, M)`` -> normalised ``px, py`` and depth ``z``, each ``(C, M)``."""
        xc = (self.A @ X + self.b).reshape(3, self.C, -1)
        z = xc[2]
        iz = 1.0 / z
        return xc[0] * iz, xc[1] * iz, z

    def sq_errors(self, X: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Squared normalised reprojection errors ``(C, M)`` of points ``(3, M)`` against ``x, y`` ``(C, M)``
        (inf behind a camera or for a non-finite point) and the depths ``(C, M)``."""
        px, py, z = self.project(X)
        px -= x
        py -= y
        px *= px
        py *= py
        px += py
        px[~(z > 1e-9)] = np.inf  # NaN depth (non-finite X) too
        return px, z

    def raw_pixels(self, X: np.ndarray) -> np.ndarray:
        """Raw (distorted) pixel projections ``(C, M, 2)`` of ``(3, M)`` points (pinhole rigs); NaN behind."""
        x, y, z = self.project(X)
        if self.distorted:
            x, y = _distort_xy(x, y, self.dist, self.rational, self.prism)
        out = np.empty(x.shape + (2,))
        out[..., 0] = self.fx * x + self.skew * y + self.cx
        out[..., 1] = self.fy * y + self.cy
        out[~(z > 0)] = np.nan
        return out


def _distort_xy(x: np.ndarray, y: np.ndarray, k: tuple, rational: bool, prism: bool) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV pinhole distortion of normalised ``x, y`` with coefficients ``k`` (12 entries, broadcastable)."""
    k1, k2, p1, p2, k3, k4, k5, k6, s1, s2, s3, s4 = k
    r2 = x * x + y * y
    rad = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    if rational:
        rad = rad / (1.0 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    xy2 = 2.0 * x * y
    xd = x * rad + p1 * xy2 + p2 * (r2 + 2.0 * x * x)
    yd = y * rad + p1 * (r2 + 2.0 * y * y) + p2 * xy2
    if prism:
        r4 = r2 * r2
        xd += s1 * r2 + s2 * r4
        yd += s3 * r2 + s4 * r4
    return xd, yd


def _pixel_errors(Rt: np.ndarray, f: np.ndarray, xy: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Approximate pixel reprojection errors ``(C, ..., N)`` (normalised error x focal); inf behind a camera."""
    p, z = _project_normalized(Rt, X)
    fshape = (-1,) + (1,) * (p.ndim - 2)
    d = p - xy
    e = np.sqrt(d[..., 0] ** 2 + d[..., 1] ** 2) * f.reshape(fshape)
    e = np.where(z > 1e-9, e, np.inf)
    return np.where(_finite(X), e, np.inf)


def refine_points(Rt: np.ndarray, f: np.ndarray, xy: np.ndarray, w: np.ndarray, X: np.ndarray,
                  iterations: int = 3) -> np.ndarray:
    """Gauss-Newton refinement of the weighted pixel reprojection error, vectorised over points.

    Args:
        Rt: ``(C, 3, 4)`` extrinsics; f: ``(C,)`` focal lengths (pixels) that turn normalised errors into pixels.
        xy: ``(C, N, 2)`` normalised observations; w: ``(C, N)`` weights (0 = unused).
        X: ``(N, 3)`` starting points, metres (NaN rows are left alone).
        iterations: Gauss-Newton steps.

    Returns:
        ``(N, 3)`` refined points; a step that increases the cost for a point is not taken.
    """
    w = np.where(np.isfinite(w) & _finite(xy), w, 0.0)
    xyz = np.where(np.isfinite(xy), xy, 0.0)
    R, t = Rt[:, :, :3], Rt[:, :, 3]
    sw = (np.sqrt(w) * f[:, None])  # (C, N)
    X = X.copy()
    live = _finite(X)

    def cost(Xc: np.ndarray) -> np.ndarray:
        p, z = _project_normalized(Rt, Xc)
        r = (p - xyz) * sw[..., None]
        r = np.where((w > 0)[..., None], r, 0.0)
        c = (r * r).sum((0, 2))
        return np.where(((z > 1e-9) | (w <= 0)).all(0), c, np.inf)

    c0 = cost(X)
    for _ in range(iterations):
        xc = np.einsum("cij,nj->cni", R, X) + t[:, None, :]
        z = xc[..., 2]
        zs = np.where(np.abs(z) > 1e-9, z, 1e-9)
        p = xc[..., :2] / zs[..., None]
        r = (p - xyz) * sw[..., None]  # (C, N, 2)
        # d p / d xc = [[1/z, 0, -x/z^2], [0, 1/z, -y/z^2]]; d xc / d X = R
        J0 = (R[:, None, 0, :] - p[..., 0:1] * R[:, None, 2, :]) / zs[..., None]  # (C, N, 3)
        J1 = (R[:, None, 1, :] - p[..., 1:2] * R[:, None, 2, :]) / zs[..., None]
        J0 = J0 * sw[..., None]
        J1 = J1 * sw[..., None]
        m = (w > 0)[..., None]
        J0, J1, r = np.where(m, J0, 0.0), np.where(m, J1, 0.0), np.where(m, r, 0.0)
        H = np.einsum("cni,cnj->nij", J0, J0) + np.einsum("cni,cnj->nij", J1, J1)
        g = np.einsum("cni,cn->ni", J0, r[..., 0]) + np.einsum("cni,cn->ni", J1, r[..., 1])
        H = H + 1e-9 * np.eye(3) * np.maximum(np.einsum("nii->n", H), 1e-12)[:, None, None]
        ok = live & np.isfinite(H).all((1, 2)) & np.isfinite(g).all(1)
        if not ok.any():
            break
        step = np.zeros_like(X)
        step[ok] = np.linalg.solve(H[ok], g[ok][..., None])[..., 0]
        Xn = X - step
        c1 = cost(Xn)
        better = ok & (c1 <= c0)
        X[better] = Xn[better]
        c0 = np.where(better, c1, c0)
    return X


_GEOMETRY_CACHE: dict[bytes, _Geometry] = {}


def _rig_geometry(rig) -> _Geometry:
    """The rig's :class:`_Geometry`, cached on the cameras' K, distortion, model, R and t values."""
    key = b"".join(c.K.tobytes() + c.R.tobytes() + c.t.tobytes() + c.dist.tobytes() + c.model.encode()
                   for c in rig.cameras)
    hit = _GEOMETRY_CACHE.get(key)
    if hit is None:
        hit = _Geometry(rig)
        if len(_GEOMETRY_CACHE) > 16:
            _GEOMETRY_CACHE.clear()
        _GEOMETRY_CACHE[key] = hit
    return hit


def _undistort(rig, uv: np.ndarray) -> np.ndarray:
    """Raw pixels ``(C, N, 2)`` -> undistorted normalised ``(C, N, 2)`` through each camera's model."""
    from mocap.geometry.projection import undistort_to_normalized

    out = np.empty(uv.shape)
    for c, cam in enumerate(rig.cameras):
        out[c] = undistort_to_normalized(uv[c], cam.K, cam.dist, cam.model)
    return out


#: points per block of :func:`triangulate` (its temporaries stay in the CPU cache)
_BLOCK = 4096


# --------------------------------------------------------------------------- robust triangulation
def triangulate(rig, uv: np.ndarray, conf: np.ndarray | None = None, *, min_views: int = 2, min_conf: float = 0.1,
                reproj_threshold_px: float | str | np.ndarray = 15.0, refine: bool = False,
                prior: np.ndarray | None = None, prior_radius_m: float = 0.15, raw_pixel_errors: bool = True,
                soft_factor: float = 0.0, fallback_factor: float = 0.0,
                soft_limit_px: float | None = None) -> TriangulationResult:
    """Robust multi-view triangulation of raw pixel detections.

    Args:
        rig: :class:`~mocap.cameras.CameraRig` with ``C`` cameras (order = first axis of ``uv``).
        uv: ``(C, *B, 2)`` raw (distorted) pixel coordinates, any batch shape ``B`` (e.g. ``(T, J)``); NaN =
            not detected.
        conf: ``(C, *B)`` detection confidences in [0, 1] (default 1 where ``uv`` is finite). They weight the
            DLT rows.
        min_views: minimum number of agreeing views to keep a point (>= 2).
        min_conf: detections below this confidence are ignored.
        reproj_threshold_px: a view whose reprojection error exceeds this (pixels) is an outlier: a number, one
            number per camera ``(C,)``, or ``"auto"``: :data:`AUTO_BASE_PX` or, when the data's own residuals are
            larger, a 4-sigma gate of those residuals (:func:`auto_threshold` of up to 1024 evenly spaced points
            triangulated at the base threshold; ``meta["reproj_threshold_px"]`` holds the value used). Real rigs
            whose cameras are consistently a few pixels off each other (calibration, sync, detector bias) otherwise
            lose most views of those cameras. ``meta["resolved"]`` holds the threshold and soft limit chosen, to
            pass to further calls on the same data.
        refine: run Gauss-Newton refinement of the pixel reprojection error after the linear solution.
        prior: optional ``(*B, 3)`` expected positions (e.g. a temporal median or a filter's prediction), metres;
            NaN = none. Where given, view subsets whose point lies within ``prior_radius_m`` of it are preferred
            over better-scoring ones that do not (this resolves ties such as two cameras confusing the same
            wrong joint).
        prior_radius_m: radius around ``prior``, metres.
        raw_pixel_errors: report reprojection errors in raw pixels through the full (distorted) camera models;
            ``False`` uses undistorted pixels (focal x normalised error), cheaper for live use.
        soft_factor: with ``refine``, candidate views that missed the threshold but lie within a soft limit of the
            refined point join its refinement with Tukey-biweight weights (and count as used; see
            :func:`_soft_views`). The limit is ``soft_factor`` x the threshold, or with ``"auto"``, ``soft_factor``
            x the 4-sigma gate of the data's residuals (so on clean detections it stays below the threshold and
            nothing changes). 0 (default) turns this off.
        soft_limit_px: the soft limit in pixels, instead of ``soft_factor`` (e.g. ``meta["resolved"]`` of an
            ``"auto"`` call).
        fallback_factor: a point for which no camera pair agrees within the threshold keeps the pair that agrees
            best when both its views are within ``fallback_factor`` x the threshold (its larger reprojection error
            is recorded in ``reproj_error_px`` and counted in ``meta["fallback"]``) instead of being dropped; 0
            (default) drops it (reason :data:`REASON_REPROJ_ERROR`).

    Returns:
        :class:`TriangulationResult` with arrays of batch shape ``B``.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        if not (isinstance(reproj_threshold_px, str) and reproj_threshold_px == "auto"):
            if isinstance(reproj_threshold_px, str):
                raise MocapError(f"reproj_threshold_px={reproj_threshold_px!r}: use a number, one per camera or "
                                 "'auto'")
            thr = reproj_threshold_px
            soft = soft_factor * _thresholds(thr, len(rig)) if soft_factor > 0 else 0.0
            if soft_limit_px is not None:
                soft = float(soft_limit_px)
            return _triangulate(rig, uv, conf, thr, min_views, min_conf, refine, prior, prior_radius_m,
                                raw_pixel_errors, soft, fallback_factor)
        thr, scale = _probe_threshold(rig, uv, conf, min_views, min_conf)
        soft = soft_factor * AUTO_GATE * scale if soft_factor > 0 and np.isfinite(scale) else 0.0
        if soft_limit_px is not None:
            soft = float(soft_limit_px)
        res = _triangulate(rig, uv, conf, thr, min_views, min_conf, refine, prior, prior_radius_m, raw_pixel_errors,
                           soft, fallback_factor)
        res.meta["threshold_auto"] = {"base_px": AUTO_BASE_PX, "median_view_error_px": scale}
        res.meta["resolved"] = {"reproj_threshold_px": thr, "soft_limit_px": float(soft)}
        return res


def _probe_threshold(rig, uv: np.ndarray, conf: np.ndarray | None, min_views: int, min_conf: float
                     ) -> tuple[float, float]:
    """``"auto"``: triangulate up to :data:`_PROBE` evenly spaced points at :data:`AUTO_BASE_PX` (linear solution,
    no refinement) and return :func:`auto_threshold` of them."""
    uv = np.asarray(uv, dtype=float)
    C = uv.shape[0]
    uvf = uv.reshape(C, -1, 2)
    N = uvf.shape[1]
    pick = np.unique(np.linspace(0, N - 1, min(N, _PROBE)).round().astype(int)) if N else np.zeros(0, int)
    cf = None if conf is None else np.asarray(conf, dtype=float).reshape(C, -1)[:, pick]
    return threshold_from_residuals(probe_view_errors(rig, uvf[:, pick], cf, min_views, min_conf))


#: Points the ``"auto"`` threshold is estimated from (evenly spaced over the batch).
_PROBE = 1024
#: Base reprojection threshold (pixels) of ``reproj_threshold_px="auto"``.
AUTO_BASE_PX = 15.0
#: Gate of ``"auto"``, in median view residuals: the median residual magnitude of 2D Gaussian noise (Rayleigh) is
#: 1.18 sigma, so 3.5 medians is about 4 sigma of the per-axis pixel noise.
AUTO_GATE = 3.5


def auto_threshold(res: TriangulationResult, conf: np.ndarray | None, min_conf: float,
                   base_px: float = AUTO_BASE_PX, gate: float | None = None) -> tuple[float, float]:
    """The threshold ``"auto"`` uses: ``max(base_px, gate x median reprojection error)`` (``gate`` default
    :data:`AUTO_GATE`) over every confident
    detection (used or rejected) of the points ``res`` triangulated at ``base_px``.

    On clean detections (a few pixels of noise) this is ``base_px``; when the cameras disagree by more (a
    calibration or sync a little off, a detector's view-dependent joint placement), it widens to that level, so
    that a consistently off camera is not dropped from most points.

    Returns:
        ``(threshold_px, median_view_error_px)``.
    """
    gate = AUTO_GATE if gate is None else gate
    e = res.view_error_px
    ok = np.isfinite(e)
    if conf is not None:
        c = np.asarray(conf, dtype=float)
        ok &= np.nan_to_num(c, nan=0.0) >= max(min_conf, 1e-9)
    if not ok.any():
        return float(base_px), float("nan")
    scale = float(np.median(e[ok]))
    return float(max(base_px, gate * scale)), scale


def probe_view_errors(rig, uv: np.ndarray, conf: np.ndarray | None, min_views: int = 2,
                      min_conf: float = 0.1) -> np.ndarray:
    """The sample ``"auto"`` thresholds come from: ``(N,)`` reprojection errors (raw pixels) of every confident
    detection, used or rejected, of the points ``uv`` ``(C, *B, 2)`` triangulated at :data:`AUTO_BASE_PX` (robust
    view selection, linear solution, no refinement). The online mode collects them frame by frame."""
    probe = _triangulate(rig, uv, conf, AUTO_BASE_PX, min_views, min_conf, False, None, 0.15, True, 0.0, 0.0)
    e = probe.view_error_px
    ok = np.isfinite(e)
    if conf is not None:
        ok &= np.nan_to_num(np.asarray(conf, dtype=float), nan=0.0) >= max(min_conf, 1e-9)
    return e[ok]


def threshold_from_residuals(errors: np.ndarray, base_px: float = AUTO_BASE_PX,
                             gate: float | None = None) -> tuple[float, float]:
    """``(threshold_px, median_view_error_px)`` of ``"auto"`` from view residuals (:func:`probe_view_errors`):
    ``max(base_px, gate x median)``; ``base_px`` and NaN when there are none."""
    gate = AUTO_GATE if gate is None else gate
    e = np.asarray(errors, dtype=float)
    e = e[np.isfinite(e)]
    if not e.size:
        return float(base_px), float("nan")
    scale = float(np.median(e))
    return float(max(base_px, gate * scale)), scale


def _triangulate(rig, uv: np.ndarray, conf: np.ndarray | None, reproj_threshold_px, min_views: int,
                 min_conf: float, refine: bool, prior: np.ndarray | None, prior_radius_m: float,
                 raw_pixel_errors: bool, soft_limit, fallback_factor: float) -> TriangulationResult:
    uv = np.asarray(uv, dtype=float)
    C = len(rig)
    if uv.ndim < 2 or uv.shape[0] != C or uv.shape[-1] != 2:
        raise KeypointsError(f"2D points have shape {uv.shape}; expected ({C}, ..., 2) for a rig of {C} cameras "
                             f"({', '.join(rig.names)})")
    if min_views < 2:
        raise MocapError(f"min_views must be at least 2, got {min_views}")
    batch = uv.shape[1:-1]
    N = int(np.prod(batch)) if batch else 1
    uvf = uv.reshape(C, N, 2)
    if conf is None:
        cf = np.where(_finite(uvf), 1.0, np.nan)
    else:
        conf = np.asarray(conf, dtype=float)
        if conf.shape != uv.shape[:-1]:
            raise KeypointsError(f"confidences have shape {conf.shape}; expected {uv.shape[:-1]} to match the points")
        cf = conf.reshape(C, N)
    pr = None
    if prior is not None:
        prior = np.asarray(prior, dtype=float)
        if prior.shape != batch + (3,):
            raise KeypointsError(f"prior has shape {prior.shape}; expected {batch + (3,)}")
        pr = prior.reshape(N, 3)
    geo = _rig_geometry(rig)
    xy = _undistort(rig, uvf) if N else np.zeros((C, 0, 2))
    out = _Out(C, N)
    raw = raw_pixel_errors and geo.pinhole
    thr = _thresholds(reproj_threshold_px, C)
    for b in range(0, N, _BLOCK):
        sl = slice(b, min(N, b + _BLOCK))
        _block(geo, uvf[:, sl], xy[:, sl], cf[:, sl], None if pr is None else pr[sl], out, sl, min_views, min_conf,
               thr, refine, prior_radius_m, raw, np.broadcast_to(np.asarray(soft_limit, float), (C, 1)),
               fallback_factor)
    X, inl, view_err, reason = out.X, out.inl, out.view_err, out.reason
    if raw_pixel_errors and not raw:  # a fisheye camera: raw errors through the cameras' own models
        _raw_errors_rig(rig, uvf, out)
    n_views = np.count_nonzero(inl, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_err = np.where(inl, view_err, 0.0).sum(0) / n_views
        mean_conf = np.where(inl, cf, 0.0).sum(0) / n_views
    mean_err[n_views == 0] = np.nan
    mean_conf[n_views == 0] = np.nan
    return TriangulationResult(
        X=X.reshape(batch + (3,)),
        reproj_error_px=mean_err.reshape(batch),
        n_views=n_views.astype(int).reshape(batch),
        used=inl.reshape((C,) + batch),
        reason=reason.reshape(batch),
        view_error_px=view_err.reshape((C,) + batch),
        confidence=mean_conf.reshape(batch),
        meta={"min_views": min_views, "min_conf": min_conf,
              "reproj_threshold_px": (float(thr[0, 0]) if np.all(thr == thr[0, 0]) else thr[:, 0].tolist()),
              "refine": refine, "fallback": int(out.fallback.sum())},
    )


def _thresholds(thr, C: int) -> np.ndarray:
    """Reprojection thresholds ``(C, 1)``, pixels, from a number or one value per camera."""
    t = np.asarray(thr, dtype=float)
    if t.ndim == 0:
        t = np.full(C, float(t))
    if t.shape != (C,):
        raise MocapError(f"reprojection threshold of shape {t.shape}: expected a number or one per camera ({C},)")
    if not np.all(t > 0):
        raise MocapError(f"reprojection thresholds must be positive, got {t.tolist()}")
    return t.reshape(C, 1)


class _Out:
    """Output arrays of :func:`_triangulate`, filled block by block."""

    def __init__(self, C: int, N: int) -> None:
        self.X = np.full((N, 3), np.nan)
        self.inl = np.zeros((C, N), dtype=bool)
        self.view_err = np.full((C, N), np.nan)
        self.reason = np.zeros(N, dtype=np.uint8)
        self.detected = np.zeros((C, N), dtype=bool)
        self.fallback = np.zeros(N, dtype=bool)


def _raw_errors_rig(rig, uvf: np.ndarray, out: _Out) -> None:
    """Replace ``out.view_err`` by raw-pixel errors through the cameras' own projection (non-pinhole rigs)."""
    ok = _finite(out.X)
    idx = np.flatnonzero(ok)
    if not idx.size:
        return
    proj = rig.project(out.X[idx])
    d = proj - uvf[:, idx]
    e = np.sqrt(d[..., 0] ** 2 + d[..., 1] ** 2)
    out.view_err[:, idx] = np.where(out.detected[:, idx], e, np.nan)
    behind = np.any(out.inl[:, idx] & ~np.isfinite(e), axis=0)
    if behind.any():
        bad = idx[behind]
        out.reason[bad] = REASON_DEGENERATE
        out.X[bad] = np.nan
        out.view_err[:, bad] = np.nan
        out.inl[:, bad] = False


def _block(geo: _Geometry, uv: np.ndarray, xy: np.ndarray, cf: np.ndarray, pr: np.ndarray | None, out: _Out,
           sl: slice, min_views: int, min_conf: float, thr: np.ndarray, refine: bool, prior_radius_m: float,
           raw: bool, soft_limit: np.ndarray | None = None, fallback_factor: float = 0.0) -> None:
    """:func:`triangulate` on one block of ``n`` points: ``uv``, ``xy`` ``(C, n, 2)``, ``cf`` ``(C, n)``.

    Points are coordinate-major ``(3, n)`` inside (contiguous rows for the element-wise work).
    """
    C, n = cf.shape
    x, y = xy[..., 0], xy[..., 1]
    detected = np.isfinite(x) & np.isfinite(y) & np.isfinite(cf)  # xy is NaN wherever uv is
    cand = detected & (cf >= min_conf) & (cf > 0)
    n_det, n_cand = np.count_nonzero(detected, axis=0), np.count_nonzero(cand, axis=0)
    reason = np.zeros(n, dtype=np.uint8)
    reason[n_det < min_views] = REASON_TOO_FEW_VIEWS
    reason[(n_det >= min_views) & (n_cand < min_views)] = REASON_LOW_CONFIDENCE
    x = np.where(detected, x, 0.0)
    y = np.where(detected, y, 0.0)
    w = np.where(cand, cf, 0.0)
    coef = _coef(x, y)
    thr2 = (thr / geo.f[:, None]) ** 2  # thresholds on squared normalised errors (C, 1)

    X = np.full((3, n), np.nan)
    inl = np.zeros((C, n), dtype=bool)
    z = np.full((C, n), np.nan)
    fallback = np.zeros(n, dtype=bool)
    todo = _index(reason == 0)
    m = _count(todo, n)
    if m:
        xs, ys, cs, ws, cos = x[:, todo], y[:, todo], cand[:, todo], w[:, todo], coef[:, :, todo]
        w2s = ws * ws
        X0 = _solve_normal(geo.basis, cos, w2s)
        e2, zs = geo.sq_errors(X0, xs, ys)
        fine = ~np.any(cs & ~(e2 <= thr2), axis=0)
        fine &= np.isfinite(X0[0])
        prs = None
        if pr is not None:
            prs = pr[todo].T
            d = X0 - prs
            far = _finite(prs.T) & ~(np.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) <= prior_radius_m)
            fine &= ~far
        ins = cs.copy()
        hard = np.flatnonzero(~fine)
        if hard.size:
            Xh, inh, zh, fb = _consensus(geo, xs[:, hard], ys[:, hard], cos[:, :, hard], w2s[:, hard],
                                         cs[:, hard], float(np.mean(thr)), thr2,
                                         None if prs is None else prs[:, hard], prior_radius_m, fallback_factor)
            X0[:, hard], ins[:, hard], zs[:, hard] = Xh, inh, zh
            fallback[np.arange(n)[todo][hard[fb]]] = True
        X[:, todo], inl[:, todo], z[:, todo] = X0, ins, zs

    # final estimate on the inliers: depth-reweighted DLT, optional Gauss-Newton
    keep = np.count_nonzero(inl, axis=0) >= min_views
    reason[(reason == 0) & ~keep] = REASON_REPROJ_ERROR
    inl[:, ~keep] = False
    idx = _index(keep)
    if _count(idx, n):
        zi = z[:, idx]
        ww = np.where(inl[:, idx] & (zi > 1e-9), w[:, idx] / zi, 0.0)
        Xk = _solve_normal(geo.basis, coef[:, :, idx], ww * ww)
        bad = ~np.isfinite(Xk[0])
        if bad.any():
            Xk[:, bad] = X[:, idx][:, bad]
        if refine:
            wk = np.where(inl[:, idx], w[:, idx], 0.0)
            Xk = refine_points(geo.Rt, geo.f, xy[:, idx], wk, Xk.T).T
            if soft_limit is not None and np.any(soft_limit > thr):
                Xk, soft = _soft_views(geo, Xk, x[:, idx], y[:, idx], xy[:, idx], w[:, idx], inl[:, idx],
                                       cand[:, idx] & ~fallback[idx][None], np.maximum(soft_limit, thr))
                inl[:, idx] |= soft
        X[:, idx] = Xk
    X[:, ~keep] = np.nan
    # reprojection errors (raw pixels through the full camera models, or focal x normalised error); a used view
    # with the point behind it makes the point degenerate
    view_err = np.full((C, n), np.nan)
    okm = np.isfinite(X[0])
    reason[(reason == 0) & ~okm] = REASON_DEGENERATE
    okX = _index(okm)
    if _count(okX, n):
        Xo = X[:, okX]
        if raw:
            d = geo.raw_pixels(Xo) - uv[:, okX]
            e = np.sqrt(d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1])
        else:
            e2, _ = geo.sq_errors(Xo, x[:, okX], y[:, okX])
            e = np.sqrt(e2) * geo.f[:, None]
            e[np.isinf(e)] = np.nan
        view_err[:, okX] = np.where(detected[:, okX], e, np.nan)
        behind = np.any(inl[:, okX] & ~np.isfinite(e), axis=0)
        if behind.any():
            bad = np.arange(n)[okX][behind]
            reason[bad] = REASON_DEGENERATE
            X[:, bad] = np.nan
            view_err[:, bad] = np.nan
    inl[:, reason != 0] = False
    out.X[sl], out.inl[:, sl], out.view_err[:, sl], out.reason[sl], out.detected[:, sl] = (
        X.T, inl, view_err, reason, detected)
    out.fallback[sl] = fallback & (reason == 0)


def _soft_views(geo: _Geometry, X: np.ndarray, x: np.ndarray, y: np.ndarray, xy: np.ndarray, w: np.ndarray,
                inl: np.ndarray, cand: np.ndarray, limit_px: np.ndarray, rounds: int = 2
                ) -> tuple[np.ndarray, np.ndarray]:
    """Re-refine points ``X (3, m)`` with the candidate views that missed the threshold but lie within
    ``limit_px`` ``(C, 1)`` of the point, down-weighted by Tukey's biweight ``(1 - (e / limit)^2)^2`` (inliers keep
    their full weight). A camera that is consistently a few pixels off (sync, calibration, detector bias) then
    still pulls the point a little instead of being dropped, which keeps the view set, and so the point, stable from
    frame to frame. Returns the points and the ``(C, m)`` views that got a weight."""
    soft = np.zeros_like(inl)
    live = np.ones(X.shape[1], dtype=bool)  # points still being re-refined (each point on its own: no batch effect)
    for _ in range(rounds):
        e2, z = geo.sq_errors(X, x, y)
        r = np.sqrt(e2) * geo.f[:, None] / limit_px
        now = cand & ~inl & (r < 1.0) & (z > 1e-9)
        live &= now.any(0)
        soft = np.where(live[None], now, soft)
        idx = np.flatnonzero(live)
        if not idx.size:
            break
        wt = np.where(inl[:, idx], w[:, idx],
                      np.where(now[:, idx], w[:, idx] * (1.0 - np.minimum(r[:, idx], 1.0) ** 2) ** 2, 0.0))
        X[:, idx] = refine_points(geo.Rt, geo.f, xy[:, idx], wt, X[:, idx].T, iterations=2).T
    return X, soft


_PAIRS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _pairs(C: int) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays ``(K,)`` of the first and second camera of every camera pair."""
    if C not in _PAIRS:
        p = np.array(list(itertools.combinations(range(C), 2)), dtype=int).reshape(-1, 2)
        _PAIRS[C] = (p[:, 0], p[:, 1])
    return _PAIRS[C]


_SIN30 = np.sin(np.deg2rad(30.0))


def _consensus(geo: _Geometry, x: np.ndarray, y: np.ndarray, coef: np.ndarray, w2: np.ndarray, cand: np.ndarray,
               thr: float, thr2: np.ndarray, prior: np.ndarray | None = None,
               prior_radius_m: float = 0.15, fallback_factor: float = 0.0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise hypothesise-and-verify over camera pairs for ``(C, M)`` hard points; returns X ``(3, M)``,
    inliers ``(C, M)``, the depths of X in every camera ``(C, M)`` and ``(M,)`` the points kept by the fallback.

    Every camera pair proposes the DLT point of its two views (all pairs at once: each view's normal-equation
    term is computed once and a pair adds two of them; one batched 3x3 solve). Score of a pair's point: number
    of agreeing views first; among equal counts, the better-conditioned pair (larger angle between the two rays,
    up to 30 degrees) and then the smaller mean error. With a ``prior`` ``(3, M)``, points within
    ``prior_radius_m`` of it come first. Where no pair has two views within the threshold, the pair whose two views
    agree best is kept if both are within ``fallback_factor`` times the (mean) threshold ``thr`` (0: never).
    """
    C, M = cand.shape
    ia, ib = geo.ia, geo.ib
    K = ia.size
    # per-view weighted normal-equation terms (C, 9, M); a pair's system is the sum of its two views' terms
    G = np.matmul(geo.basis_t, coef * w2[:, None, :])
    both = cand[ia] & cand[ib]  # (K, M)
    Xh = _solve_sym3((G[ia] + G[ib]).transpose(1, 0, 2))  # (3, K, M)
    Xh[:, ~both] = np.nan
    # errors of every hypothesis in every view (C, K, M)
    px, py, z = geo.project(Xh.reshape(3, K * M))
    px = px.reshape(C, K, M)
    py = py.reshape(C, K, M)
    px -= x[:, None]
    py -= y[:, None]
    e2 = px * px
    e2 += py * py
    z = z.reshape(C, K, M)
    # each pair's error in its own two views (pixels): the fallback when no pair agrees within the threshold
    if fallback_factor > 0:
        kk = np.arange(K)
        own = np.maximum(np.sqrt(e2[ia, kk]) * geo.f[ia, None], np.sqrt(e2[ib, kk]) * geo.f[ib, None])  # (K, M)
        own[~((z[ia, kk] > 1e-9) & (z[ib, kk] > 1e-9) & np.isfinite(Xh[0]))] = np.inf
    inl = (e2 <= thr2[:, :, None]) & (z > 1e-9)
    inl &= cand[:, None]
    count = np.count_nonzero(inl, axis=0)  # (K, M)
    err = np.sqrt(e2, out=e2)
    err[~inl] = 0.0
    mean_e = (geo.f @ err.reshape(C, K * M)).reshape(K, M) / np.maximum(count, 1)
    # conditioning: sine of the angle between the pair's two rays, saturating at 30 degrees
    ca, cb = geo.centres[ia].T[:, :, None], geo.centres[ib].T[:, :, None]  # (3, K, 1)
    ra = Xh - ca
    rb = Xh - cb
    dot = ra[0] * rb[0] + ra[1] * rb[1] + ra[2] * rb[2]
    na = ra[0] * ra[0] + ra[1] * ra[1] + ra[2] * ra[2]
    nb = rb[0] * rb[0] + rb[1] * rb[1] + rb[2] * rb[2]
    with np.errstate(invalid="ignore", divide="ignore"):
        c2 = dot * dot / (na * nb)
    c2[~(c2 <= 1.0)] = 1.0  # NaN (no hypothesis) -> parallel
    conditioning = np.minimum(np.sqrt(1.0 - c2) * (1.0 / _SIN30), 1.0)
    score = count * 4.0 + conditioning - 2.0 * np.minimum(mean_e * (1.0 / thr), 1.0)
    if prior is not None:
        d = Xh - prior[:, None, :]
        near = np.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) <= prior_radius_m
        has = np.isfinite(prior).all(0)[None]
        score += np.where(has & near, 4.0 * (C + 1), 0.0)
    score[~(np.isfinite(Xh[0]) & (count >= 2))] = -np.inf
    best = np.argmax(score, axis=0)  # (M,)
    ar = np.arange(M)
    inliers = inl[:, best, ar]  # (C, M)
    inliers &= np.isfinite(score[best, ar])[None]

    def dlt(mask: np.ndarray) -> np.ndarray:
        Xm = _solve_sym3(np.einsum("cm,ckm->km", mask.astype(float), G))
        Xm[:, np.count_nonzero(mask, axis=0) < 2] = np.nan
        return Xm

    X = dlt(inliers)
    # one re-selection round: the views agreeing with the winner's re-triangulated point
    e2, _ = geo.sq_errors(X, x, y)
    new = cand & (e2 <= thr2)
    Xn = dlt(new)
    take = (np.count_nonzero(new, axis=0) >= np.count_nonzero(inliers, axis=0)) & np.isfinite(Xn[0])
    X = np.where(take[None], Xn, X)
    inliers = np.where(take[None], new, inliers)
    # the returned inliers must agree with the returned X
    e2, z = geo.sq_errors(X, x, y)
    inliers &= e2 <= thr2
    # no pair agrees within the threshold: keep the pair that agrees best (its own two views within
    # fallback_factor x the threshold), flagged, instead of a hole
    fallback = np.zeros(M, dtype=bool)
    if fallback_factor > 0:
        none = np.count_nonzero(inliers, axis=0) < 2
        if none.any():
            kb = np.argmin(own[:, none], axis=0)
            m = np.flatnonzero(none)
            ok = own[kb, m] <= fallback_factor * thr
            m, kb = m[ok], kb[ok]
            if m.size:
                X[:, m] = Xh[:, kb, m]
                inliers[:, m] = False
                inliers[ia[kb], m] = True
                inliers[ib[kb], m] = True
                z[:, m] = geo.project(X[:, m])[2]
                fallback[m] = True
    return X, inliers, z, fallback


__all__ = [
    "REASONS", "REASON_OK", "REASON_TOO_FEW_VIEWS", "REASON_LOW_CONFIDENCE", "REASON_REPROJ_ERROR",
    "REASON_DEGENERATE", "REASON_TEMPORAL", "REASON_BONE", "TriangulationResult", "triangulate_weighted_dlt",
    "triangulate", "refine_points", "auto_threshold", "probe_view_errors", "threshold_from_residuals", "AUTO_BASE_PX",
]
