"""Render synthetic board views into known cameras (for tests and benchmarks), using OpenCV only.

Each output pixel is traced back through the camera's distortion (exact undistortion of the pixel grid,
computed once per camera) and the board-plane homography of the view, then sampled from a high-resolution
board image with ``cv2.remap``. Boards are double-sided: a camera behind the board sees it mirrored.
"""

from __future__ import annotations

import cv2
import numpy as np

from mocap.calibration.boards import Board
from mocap.cameras.camera import Camera
from mocap.cameras.rig import CameraRig


class BoardRenderer:
    """Renders one board into cameras.

    Args:
        board: the board.
        px_per_m: resolution of the board texture (pixels per metre).
        background: grey level around the board.
        supersample: samples per pixel along each axis (anti-aliasing; 3 keeps corner bias < 0.05 px).
    """

    def __init__(self, board: Board, px_per_m: float = 3000.0, background: int = 110, supersample: int = 3) -> None:
        self.ss = max(1, int(supersample))
        self.board = board
        self.px_per_m = px_per_m
        margin = int(round(0.02 * px_per_m))
        self.margin = margin
        img = board.generate_image(px_per_m, margin_px=0)
        fill = 0 if board.inverted else 255
        self.texture = cv2.copyMakeBorder(img, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=fill)
        self.texture = cv2.GaussianBlur(self.texture, (0, 0), 0.6)
        self.background = background
        self._grid: dict[str, np.ndarray] = {}

    def _normalized_grid(self, cam: Camera) -> np.ndarray:
        if cam.name not in self._grid:
            w, h = cam.size
            ss = self.ss
            u, v = np.meshgrid((np.arange(w * ss) + 0.5) / ss - 0.5, (np.arange(h * ss) + 0.5) / ss - 0.5)
            self._grid[cam.name] = cam.undistort_normalized(np.stack([u, v], -1)).astype(np.float32)
        return self._grid[cam.name]

    def render(self, cam: Camera, T_world_board: np.ndarray) -> np.ndarray:
        """A ``(h, w)`` uint8 image of the board at pose ``T_world_board`` (4x4 board-to-world) seen by ``cam``."""
        w, h = cam.size
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = cam.R, cam.t
        Tcb = T @ T_world_board
        # board plane point (x, y, 0) -> camera: Hn maps (x, y, 1) to normalised homogeneous image coordinates
        Hn = np.column_stack([Tcb[:3, 0], Tcb[:3, 1], Tcb[:3, 3]])
        # texture pixel (col, row) -> board (x, y)
        ox, oy = self.board.pattern_origin_offset()
        s = 1.0 / self.px_per_m
        A = np.array([[s, 0, ox - self.margin * s + 0.5 * s], [0, s, oy - self.margin * s + 0.5 * s], [0, 0, 1]])
        Hinv = np.linalg.inv(Hn @ A)  # normalised image -> texture pixel
        xy = self._normalized_grid(cam)
        ones = np.ones(xy.shape[:2], np.float32)
        p = np.stack([xy[..., 0], xy[..., 1], ones], -1) @ Hinv.T.astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            mx = (p[..., 0] / p[..., 2]).astype(np.float32)
            my = (p[..., 1] / p[..., 2]).astype(np.float32)
        # points behind the camera: the plane's depth along each ray must be positive
        ray_depth_ok = np.isfinite(mx) & np.isfinite(my)
        n = Tcb[:3, 2]
        d = n @ Tcb[:3, 3]
        denom = xy[..., 0] * n[0] + xy[..., 1] * n[1] + n[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = d / denom
        bad = ~ray_depth_ok | ~(depth > 0)
        mx[bad] = -1e6
        my[bad] = -1e6
        out = cv2.remap(self.texture, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                        borderValue=self.background)
        if self.ss > 1:
            out = cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA)
        return out


def look_at(center: np.ndarray, target: np.ndarray, up: tuple = (0.0, 0.0, 1.0)) -> np.ndarray:
    """World-to-camera rotation ``(3, 3)`` of a camera at ``center`` looking at ``target`` (OpenCV frame)."""
    z = np.asarray(target, float) - np.asarray(center, float)
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, float))
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def arc_rig(n: int = 4, radius: float = 2.5, span_deg: float = 120.0, size: tuple[int, int] = (960, 720),
            f: float = 800.0, dist: np.ndarray | None = None, seed: int = 0) -> CameraRig:
    """``n`` cameras on an arc around the origin (world Z up), all looking at ``(0, 0, 1)``, slightly varied."""
    rng = np.random.default_rng(seed)
    cams = []
    for i in range(n):
        a = np.radians(-span_deg / 2 + span_deg * i / max(n - 1, 1)) - np.pi / 2
        c = np.array([radius * np.cos(a), radius * np.sin(a), 1.2 + 0.3 * rng.uniform(-1, 1)])
        R = look_at(c, np.array([0, 0, 1.0]) + rng.normal(0, 0.05, 3))
        fi = f * (1 + 0.05 * rng.uniform(-1, 1))
        K = np.array([[fi, 0, size[0] / 2 + rng.uniform(-10, 10)], [0, fi * (1 + 0.002 * rng.uniform(-1, 1)),
                                                                   size[1] / 2 + rng.uniform(-10, 10)], [0, 0, 1]])
        d = np.array([-0.12, 0.05, 0.0, 0.0, 0.0]) if dist is None else np.asarray(dist, float)
        cams.append(Camera.from_center(f"cam{i}", size, K, R, c, dist=d))
    return CameraRig(cams)


def random_board_poses(board: Board, n: int, seed: int = 0, center=(0.0, 0.0, 1.0), spread: float = 0.35,
                       max_tilt_deg: float = 40.0, facing=None) -> list[np.ndarray]:
    """``n`` board-to-world poses near ``center`` (metres), tilted up to ``max_tilt_deg`` about each axis.

    The printed side faces ``facing`` (a world point, e.g. the mean camera centre) or, by default, -Y (towards
    an :func:`arc_rig`). Board rows run downwards (world -Z). ``spread`` scales the random offsets, metres.
    """
    rng = np.random.default_rng(seed)
    w, h = board.physical_size
    out = []
    if facing is None:
        # board x -> world x, board y -> world -z (rows go down), board z -> world +y (away from cameras)
        base = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])
    else:
        zb = np.asarray(center, float) - np.asarray(facing, float)
        zb /= np.linalg.norm(zb)
        yb = np.array([0.0, 0.0, -1.0]) - zb * (-zb[2])
        yb /= np.linalg.norm(yb)
        base = np.column_stack([np.cross(yb, zb), yb, zb])
    for _ in range(n):
        tilt = rng.uniform(-1, 1, 3) * np.radians([max_tilt_deg, max_tilt_deg, 30.0])
        R = cv2.Rodrigues(tilt)[0] @ base
        c = np.asarray(center, float) + rng.uniform(-1, 1, 3) * np.array([spread, spread * 0.5, spread])
        T = np.eye(4)
        T[:3, :3] = R
        T[:3, 3] = c - R @ np.array([w / 2, h / 2, 0.0])
        out.append(T)
    return out


def corrupt(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur heavily or hide part of the board (simulates motion blur and occlusion)."""
    img = image.copy()
    if rng.uniform() < 0.5:
        return cv2.GaussianBlur(img, (0, 0), 4.0)
    h, w = img.shape[:2]
    x0 = int(rng.uniform(0.2, 0.6) * w)
    img[:, x0:x0 + w // 3] = 90
    return img


def rendered_trial(seed: int, n_cameras: int = 4, n_views: int = 20, size: tuple[int, int] = (640, 480),
                   board: Board | str = "charuco_a3", max_tilt_deg: float = 35.0):
    """Calibrate a random arc rig from board views RENDERED into it (detected like real images), end to end.

    Used to check that the reported uncertainties are honest: the truth is known.

    Returns:
        ``(truth, result)``: the true :class:`CameraRig` and the :class:`~mocap.calibration.pipeline.RigCalibration`
        (world = the first camera, intrinsics refined in the bundle adjustment, ``result.extrinsics.bundle
        .uncertainty`` per camera).
    """
    import warnings

    from mocap.calibration.boards import load_board
    from mocap.calibration.detection import BoardDetector
    from mocap.calibration.pipeline import solve_rig

    board = load_board(board)
    rig = arc_rig(n_cameras, radius=1.1, size=size, f=520, span_deg=90, seed=seed)
    poses = random_board_poses(board, n_views, seed=seed, spread=0.3, max_tilt_deg=max_tilt_deg,
                               facing=rig.centers.mean(0))
    r = BoardRenderer(board, px_per_m=2000, supersample=2)
    det = BoardDetector(board)
    dets: dict[str, list] = {c.name: [] for c in rig}
    for c in rig:
        for f, T in enumerate(poses):
            d = det.detect(r.render(c, T), frame=f)
            if d is not None:
                dets[c.name].append(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = solve_rig(dets, {c.name: c.size for c in rig}, board, {c.name: c.name for c in rig})
    return rig, cal


def relative_errors(truth: CameraRig, est: CameraRig) -> dict[str, dict[str, np.ndarray]]:
    """Per camera: signed focal errors ``(2,)`` px, and the centre error ``(3,)`` m in the first camera's frame
    (the frame the estimated rig's world is in when calibrated with ``world="camera"``)."""
    out = {}
    t0 = truth[0]
    for c in truth:
        e = est[c.name]
        Ct = t0.R @ c.center + t0.t
        out[c.name] = {"focal": np.array([e.K[0, 0] - c.K[0, 0], e.K[1, 1] - c.K[1, 1]]), "center": e.center - Ct}
    return out
