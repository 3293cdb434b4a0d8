"""Intrinsic calibration of one camera from board views, with per-view errors and outlier rejection.

Models: ``"pinhole"`` (k1, k2, p1, p2, k3), ``"rational"`` (8 OpenCV coefficients, stored as a pinhole camera)
and ``"fisheye"`` (cv2.fisheye equidistant, k1..k4).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from mocap.calibration.detection import BoardDetection
from mocap.errors import CalibrationError

log = logging.getLogger(__name__)

INTRINSIC_MODELS = ("pinhole", "rational", "fisheye")
#: distortion models of the pinhole camera, fewest coefficients first ("auto" picks one from the coverage).
DIST_MODELS = ("k1", "k1k2", "k1k2p", "full")
_DIST_FLAGS = {"k1": cv2.CALIB_FIX_K2 | cv2.CALIB_FIX_K3 | cv2.CALIB_ZERO_TANGENT_DIST,
               "k1k2": cv2.CALIB_FIX_K3 | cv2.CALIB_ZERO_TANGENT_DIST,
               "k1k2p": cv2.CALIB_FIX_K3, "full": 0}
_DIST_FREE = {"k1": [0], "k1k2": [0, 1], "k1k2p": [0, 1, 2, 3], "full": [0, 1, 2, 3, 4]}


def dist_free_mask(dist_model: str, n: int) -> np.ndarray:
    """Boolean mask ``(n,)`` of the distortion coefficients a model estimates (``"full"``: all ``n``)."""
    m = np.zeros(n, bool)
    if dist_model in ("full", "given"):
        m[:] = True
    else:
        m[[i for i in _DIST_FREE[dist_model] if i < n]] = True
    return m


def coverage_fraction(views: list[BoardDetection], image_size: tuple[int, int], cells: tuple[int, int] = (8, 6)
                      ) -> float:
    """Fraction of image cells (``cells`` = columns, rows) in which at least one corner was seen (0..1)."""
    return float((coverage_grid(views, image_size, cells) > 0).mean()) if views else 0.0


def choose_dist_model(views: list[BoardDetection], image_size: tuple[int, int]) -> tuple[str, str]:
    """Pick the distortion model the views can support, and say why.

    Few views or a board seen only near the image centre cannot constrain high-order radial terms (k3 then
    takes absurd values that extrapolate wildly at the edges), so the model shrinks with the coverage:
    ``k1`` (< 6 views or < 30 % of the image covered), ``k1k2`` (< 12 views or < 60 %), ``k1k2p`` (< 85 %),
    else ``full`` (k1, k2, p1, p2, k3).

    Returns:
        ``(model, reason)``.
    """
    cov = coverage_fraction(views, image_size)
    n = len(views)
    if n < 6 or cov < 0.30:
        m = "k1"
    elif n < 12 or cov < 0.60:
        m = "k1k2"
    elif cov < 0.85:
        m = "k1k2p"
    else:
        m = "full"
    return m, f"{n} views covering {100 * cov:.0f}% of the image -> distortion model '{m}'"


@dataclass
class IntrinsicsResult:
    """One camera's intrinsics.

    Attributes:
        K: ``(3, 3)`` intrinsic matrix, pixels.
        dist: distortion coefficients (5, 8 or 4 for fisheye).
        model: ``"pinhole"`` or ``"fisheye"`` (the camera model of :class:`mocap.cameras.Camera`).
        image_size: ``(width, height)``.
        rms: RMS reprojection error over the used views, pixels.
        views: the detections used in the final solve.
        view_errors: ``(V,)`` RMS error of each used view, pixels.
        rvecs, tvecs: ``(V, 3)`` board poses (board -> camera) of the used views.
        rejected: frames dropped as outliers, with their errors.
        warnings: human-readable diagnostics (degenerate geometry, few views).
        dist_model: the pinhole distortion terms estimated (``k1`` ... ``full``), dist_reason why.
        center_fixed: the principal point was held at the image centre (poor coverage).
        given: where supplied intrinsics came from (``dist_model == "given"``; empty when estimated).
        aspect_fixed: ``fy = fx`` was imposed (chosen by :mod:`mocap.calibration.selection`).
        model_reasons: why each part of the model was chosen (uncertainties that decided it).
        uncertainty: :class:`mocap.calibration.uncertainty.CameraUncertainty` of this camera alone (single-camera
            calibrations; rigs carry theirs in the bundle adjustment result).
    """

    K: np.ndarray
    dist: np.ndarray
    model: str
    image_size: tuple[int, int]
    rms: float
    views: list[BoardDetection]
    view_errors: np.ndarray
    rvecs: np.ndarray
    tvecs: np.ndarray
    rejected: list[tuple[int, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dist_model: str = "full"
    dist_reason: str = ""
    center_fixed: bool = False
    given: str = ""
    aspect_fixed: bool = False
    model_reasons: list[str] = field(default_factory=list)
    uncertainty: object | None = None

    @property
    def dist_free(self) -> np.ndarray:
        """Mask of the distortion coefficients this model estimates (see :func:`dist_free_mask`)."""
        return dist_free_mask(self.dist_model, len(self.dist))

    @property
    def max_tilt_deg(self) -> float:
        """Largest angle between the board normal and the optical axis over the used views, degrees."""
        return float(np.degrees(board_tilts(self.rvecs).max())) if len(self.rvecs) else 0.0


def board_tilts(rvecs: np.ndarray) -> np.ndarray:
    """Angle between each board's normal and the camera's optical axis, radians ``(V,)``."""
    out = []
    for rv in np.asarray(rvecs).reshape(-1, 3):
        R, _ = cv2.Rodrigues(rv)
        out.append(np.arccos(np.clip(abs(R[2, 2]), 0, 1)))
    return np.array(out)


def _solve(views: list[BoardDetection], size: tuple[int, int], model: str, K0: np.ndarray | None,
           dist_model: str = "full", fix_center: bool = False):
    obj = [v.object_points.astype(np.float32).reshape(-1, 1, 3) for v in views]
    img = [v.image_points.astype(np.float32).reshape(-1, 1, 2) for v in views]
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-10)
    if model == "fisheye":
        K = np.eye(3) if K0 is None else K0.copy()
        if K0 is None:
            K[0, 0] = K[1, 1] = 0.5 * max(size)
            K[0, 2], K[1, 2] = (size[0] - 1) / 2, (size[1] - 1) / 2
        D = np.zeros((4, 1))
        flags = (cv2.fisheye.CALIB_RECOMPUTE_EXTRINSIC | cv2.fisheye.CALIB_FIX_SKEW |
                 cv2.fisheye.CALIB_USE_INTRINSIC_GUESS)
        objf = [o.reshape(1, -1, 3).astype(np.float64) for o in obj]
        imgf = [i.reshape(1, -1, 2).astype(np.float64) for i in img]
        rms, K, D, rvecs, tvecs = cv2.fisheye.calibrate(objf, imgf, size, K, D, flags=flags, criteria=crit)
        return rms, K, D.ravel(), np.array(rvecs).reshape(-1, 3), np.array(tvecs).reshape(-1, 3)
    if model == "rational":
        flags = cv2.CALIB_RATIONAL_MODEL | (cv2.CALIB_USE_INTRINSIC_GUESS if K0 is not None else 0)
        rms, K, D, rvecs, tvecs = cv2.calibrateCamera(obj, img, size, None if K0 is None else K0.copy(), None,
                                                      flags=flags, criteria=crit)
    else:
        if K0 is None:  # well-conditioned start: principal point at the centre, square pixels, k1 only
            K0 = np.array([[1.0, 0, (size[0] - 1) / 2], [0, 1.0, (size[1] - 1) / 2], [0, 0, 1]])
            _, K0, _, _, _ = cv2.calibrateCamera(
                obj, img, size, K0, None, criteria=crit,
                flags=cv2.CALIB_FIX_PRINCIPAL_POINT | cv2.CALIB_FIX_ASPECT_RATIO | _DIST_FLAGS["k1"])
        flags = cv2.CALIB_USE_INTRINSIC_GUESS | _DIST_FLAGS[dist_model]
        if fix_center:
            flags |= cv2.CALIB_FIX_PRINCIPAL_POINT
        rms, K, D, rvecs, tvecs = cv2.calibrateCamera(obj, img, size, K0.copy(), None, flags=flags, criteria=crit)
    D = D.ravel()[: 8 if model == "rational" else 5]
    return rms, K, D, np.array(rvecs).reshape(-1, 3), np.array(tvecs).reshape(-1, 3)


def view_errors(views: list[BoardDetection], K: np.ndarray, dist: np.ndarray, model: str, rvecs: np.ndarray,
                tvecs: np.ndarray) -> np.ndarray:
    """RMS reprojection error per view, pixels ``(V,)``."""
    out = []
    for v, rv, tv in zip(views, rvecs, tvecs):
        if model == "fisheye":
            p, _ = cv2.fisheye.projectPoints(v.object_points.reshape(1, -1, 3), rv, tv, K, dist)
        else:
            p, _ = cv2.projectPoints(v.object_points, rv, tv, K, dist)
        out.append(np.sqrt(np.mean(np.sum((p.reshape(-1, 2) - v.image_points) ** 2, axis=1))))
    return np.array(out)


def calibrate_intrinsics(views: list[BoardDetection], image_size: tuple[int, int], model: str = "pinhole",
                         camera: str = "", reject_factor: float = 3.0, reject_min_px: float = 1.0,
                         max_rounds: int = 3, min_views: int = 4, dist_model: str = "auto") -> IntrinsicsResult:
    """Calibrate one camera's intrinsics from board views.

    Views whose RMS error exceeds ``max(reject_factor * median, reject_min_px)`` are dropped and the
    problem is solved again (up to ``max_rounds`` times).

    Args:
        views: detections from one camera (each >= 6 corners).
        image_size: ``(width, height)`` in pixels.
        model: ``"pinhole"``, ``"rational"`` or ``"fisheye"``.
        camera: camera name for messages.
        dist_model: pinhole distortion terms: ``"auto"`` (from the views' coverage, see
            :func:`choose_dist_model`; the choice is logged and kept in ``result.dist_model``), or one of
            ``k1``, ``k1k2``, ``k1k2p``, ``full``. Ignored by the rational and fisheye models.

    Raises:
        CalibrationError: too few views, or the solver fails.
    """
    if model not in INTRINSIC_MODELS:
        raise CalibrationError(f"unknown intrinsic model {model!r}; expected one of {INTRINSIC_MODELS}")
    name = f"camera '{camera}'" if camera else "camera"
    views = [v for v in views if v.n >= 6 and not v.collinear]  # corners on one line: no homography
    if len(views) < min_views:
        raise CalibrationError(
            f"{name}: only {len(views)} usable board views (>= 6 corners each, not all on one line); intrinsics need "
            f"at least {min_views}",
            hint="record more frames with the whole board visible, at different positions and tilts")
    reason = ""
    if model != "pinhole":
        dist_model = "full"
    elif dist_model == "auto":
        dist_model, reason = choose_dist_model(views, image_size)
        log.info("%s: %s", name, reason)
    elif dist_model not in DIST_MODELS:
        raise CalibrationError(f"unknown distortion model {dist_model!r}; expected 'auto' or one of {DIST_MODELS}")
    fix_center = dist_model == "k1" and model == "pinhole"  # < 30 % coverage cannot locate the centre
    rejected: list[tuple[int, float]] = []
    K0 = None
    for _ in range(max_rounds + 1):
        try:
            rms, K, D, rvecs, tvecs = _solve(views, image_size, model, K0, dist_model, fix_center)
        except cv2.error as e:
            raise CalibrationError(f"{name}: OpenCV {model} calibration failed ({str(e).strip().splitlines()[-1]})",
                                   hint="use more views with tilted boards, or another model") from e
        errs = view_errors(views, K, D, model, rvecs, tvecs)
        thresh = max(reject_factor * float(np.median(errs)), reject_min_px)
        bad = errs > thresh
        if not bad.any() or len(views) - bad.sum() < min_views:
            break
        rejected += [(v.frame, float(e)) for v, e, b in zip(views, errs, bad) if b]
        log.info("%s: rejected %d outlier views (> %.2f px), solving again", name, bad.sum(), thresh)
        views = [v for v, b in zip(views, bad) if not b]
        K0 = K
    cam_model = "fisheye" if model == "fisheye" else "pinhole"
    res = IntrinsicsResult(K, np.asarray(D, float), cam_model, tuple(image_size), float(rms), views, errs,
                           rvecs, tvecs, rejected, dist_model=dist_model, dist_reason=reason,
                           center_fixed=fix_center)
    res.warnings += intrinsics_warnings(res, camera)
    for w in res.warnings:
        log.warning(w)
    return res


def intrinsics_warnings(res: IntrinsicsResult, camera: str = "") -> list[str]:
    """Diagnostics on degenerate geometry: fronto-parallel views, few views, implausible focal lengths."""
    name = f"camera '{camera}'" if camera else "camera"
    out = []
    tilt = res.max_tilt_deg
    if tilt < 15.0:
        out.append(f"{name}: all {len(res.views)} board views are nearly fronto-parallel (max tilt {tilt:.0f} deg); "
                   "the focal length is poorly determined: tilt the board 20-45 deg towards each side")
    if len(res.views) < 8:
        out.append(f"{name}: only {len(res.views)} board views used; 10-30 well spread views are recommended")
    w, h = res.image_size
    fx = res.K[0, 0]
    if not (0.15 * w < fx < 20 * w):
        out.append(f"{name}: focal length fx={fx:.0f} px is implausible for a {w}x{h} image; check the views")
    return out


def coverage_grid(views: list[BoardDetection], image_size: tuple[int, int], cells: tuple[int, int] = (6, 4)
                  ) -> np.ndarray:
    """Count of detected corners per image cell: ``(rows, cols)`` = ``(cells[1], cells[0])``."""
    w, h = image_size
    grid = np.zeros((cells[1], cells[0]), int)
    for v in views:
        cx = np.clip((v.image_points[:, 0] / w * cells[0]).astype(int), 0, cells[0] - 1)
        cy = np.clip((v.image_points[:, 1] / h * cells[1]).astype(int), 0, cells[1] - 1)
        np.add.at(grid, (cy, cx), 1)
    return grid


def coverage_image(views: list[BoardDetection], image_size: tuple[int, int], scale: float = 0.5,
                   background: np.ndarray | None = None) -> np.ndarray:
    """A BGR image showing where corners were seen: board outlines and corner dots over a heat map."""
    w, h = image_size
    W, H = max(int(w * scale), 1), max(int(h * scale), 1)
    heat = np.zeros((H, W), np.float32)
    for v in views:
        hull = cv2.convexHull((v.image_points * scale).astype(np.int32))
        m = np.zeros_like(heat)
        cv2.fillConvexPoly(m, hull, 1.0)
        heat += m
    heat = heat / max(heat.max(), 1.0)
    col = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
    if background is not None:
        bg = cv2.resize(background, (W, H))
        bg = bg if bg.ndim == 3 else cv2.cvtColor(bg, cv2.COLOR_GRAY2BGR)
        col = cv2.addWeighted(bg, 0.5, col, 0.5, 0)
    for v in views:
        for p in v.image_points * scale:
            cv2.circle(col, (int(p[0]), int(p[1])), 2, (0, 0, 255), -1)
    return col


def single_camera_uncertainty(res: IntrinsicsResult, camera: str = "cam"):  # noqa: ANN201
    """Standard deviations of one camera's intrinsics (:class:`~mocap.calibration.uncertainty.CameraUncertainty`)
    from the Jacobian of its own board views (a one-camera bundle adjustment started at the solution).

    Returns ``None`` when there are too few views to estimate it.
    """
    from mocap.calibration.bundle import bundle_adjust
    from mocap.cameras.camera import Camera
    from mocap.cameras.rig import CameraRig

    if len(res.views) < 3 or res.given:
        return None
    cam = Camera(camera, res.image_size, res.K.copy(), res.dist.copy(), model=res.model)
    poses = []
    for rv, tv in zip(res.rvecs, res.tvecs):
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = cv2.Rodrigues(np.asarray(rv, float))[0], tv
        poses.append(T)
    obs = [(0, f, v) for f, v in enumerate(res.views)]
    ba = bundle_adjust(CameraRig([cam]), poses, obs, refine_intrinsics=True, loss="linear", max_nfev=20,
                       dist_free=[res.dist_free], center_free=[not res.center_fixed],
                       aspect_fixed=[res.aspect_fixed])
    u = ba.uncertainty.get(camera)
    if u is not None:
        u.relative_to = ""
    return u
