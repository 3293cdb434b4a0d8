"""Board detection in images, image folders, videos and live cameras, with a quality score per view.

A :class:`BoardDetection` is one board view in one image: corner ids ``(n,)``, sub-pixel image points
``(n, 2)`` (raw pixels) and the matching board points ``(n, 3)`` (metres). Inverted boards are detected on the
inverted image; boards seen from behind (a transparent or back-lit board: the pattern is mirrored) are found by
also searching the horizontally flipped image (``mirror="auto"``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mocap.calibration.boards import ARUCO_GRID, CHARUCO, CHECKERBOARD, Board
from mocap.errors import DataError

log = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
#: RealSense recordings (colour stream read through :class:`mocap.sources.realsense.RealSenseSource`).
REALSENSE_EXTS = (".bag", ".db3")
#: a view needs at least this many corners to be used (pose and homography need 4 non-collinear points).
MIN_CORNERS = 6


@dataclass
class BoardDetection:
    """One board view.

    Attributes:
        frame: frame index in the source (video frame number or position in the sorted image list).
        ids: ``(n,)`` corner ids (rows of :meth:`Board.object_points`).
        image_points: ``(n, 2)`` raw pixels, sub-pixel.
        object_points: ``(n, 3)`` board coordinates, metres.
        image_size: ``(width, height)``.
        sharpness: variance of the Laplacian inside the board's bounding box (higher is sharper).
        coverage: area of the corners' convex hull / image area (0..1).
        mirrored: found in the flipped image (board seen from behind).
        source: file the view came from.
    """

    frame: int
    ids: np.ndarray
    image_points: np.ndarray
    object_points: np.ndarray
    image_size: tuple[int, int]
    sharpness: float = 0.0
    coverage: float = 0.0
    mirrored: bool = False
    source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def collinear(self) -> bool:
        """True when the corners lie (nearly) on one line of the board: no homography, no pose from this view."""
        O = self.object_points[:, :2] - self.object_points[:, :2].mean(0)
        sv = np.linalg.svd(O, compute_uv=False) if len(O) >= 2 else np.zeros(2)
        return bool(len(sv) < 2 or sv[1] < 0.05 * max(sv[0], 1e-12))

    @property
    def n(self) -> int:
        """Number of corners."""
        return len(self.ids)


def _to_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    return image


def image_quality(gray: np.ndarray, pts: np.ndarray) -> tuple[float, float]:
    """Sharpness (variance of the Laplacian in the points' bounding box) and coverage (hull area / image area).

    Args:
        gray: ``(H, W)`` uint8 image.
        pts: ``(n, 2)`` pixel coordinates of the detected corners.
    """
    h, w = gray.shape[:2]
    x0, y0 = np.floor(pts.min(0)).astype(int)
    x1, y1 = np.ceil(pts.max(0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1 + 1, w), min(y1 + 1, h)
    roi = gray[y0:y1, x0:x1]
    sharp = float(cv2.Laplacian(roi, cv2.CV_64F).var()) if roi.size > 9 else 0.0
    area = cv2.contourArea(cv2.convexHull(pts.astype(np.float32))) if len(pts) >= 3 else 0.0
    return sharp, float(area / (w * h))


class BoardDetector:
    """Detects one :class:`Board` in images.

    Args:
        board: the board to find.
        mirror: ``"auto"`` (try the flipped image when the direct search finds too little), ``True`` (flipped
            only) or ``False`` (never).
        min_corners: views with fewer corners are dropped.
    """

    def __init__(self, board: Board, mirror: bool | str = "auto", min_corners: int = MIN_CORNERS) -> None:
        self.board = board
        self.mirror = mirror
        self.min_corners = max(4, int(min_corners))
        self._obj = board.object_points()
        if board.type == CHARUCO:
            params = cv2.aruco.CharucoParameters()
            params.tryRefineMarkers = True
            self._charuco = cv2.aruco.CharucoDetector(board.cv_board(), params)
        elif board.type == ARUCO_GRID:
            self._aruco = cv2.aruco.ArucoDetector(board.cv_dictionary(), cv2.aruco.DetectorParameters())

    # ------------------------------------------------------------------ raw detection on a prepared image
    def _detect_raw(self, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b = self.board
        if b.type == CHARUCO:
            cc, ci, _, _ = self._charuco.detectBoard(gray)
            if ci is None or len(ci) == 0:
                return np.zeros(0, int), np.zeros((0, 2))
            return ci.ravel().astype(int), self._refine(gray, cc.reshape(-1, 2))
        if b.type == CHECKERBOARD:
            flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
            scale = 1.0
            small = gray
            if max(gray.shape) > 1400:  # search on a smaller copy, refine at full resolution
                scale = 1400 / max(gray.shape)
                small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            ok, corners = cv2.findChessboardCorners(small, (b.columns, b.rows), flags)
            if not ok:
                return np.zeros(0, int), np.zeros((0, 2))
            corners = (corners / scale).astype(np.float32)
            win = int(np.clip(0.25 * np.median(np.linalg.norm(np.diff(corners.reshape(-1, 2), axis=0), axis=1)),
                              3, 15))
            corners = cv2.cornerSubPix(gray, corners, (win, win), (-1, -1),
                                       (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-3))
            return np.arange(len(corners)), corners.reshape(-1, 2).astype(float)
        corners, ids, _ = self._aruco.detectMarkers(gray)
        if ids is None:
            return np.zeros(0, int), np.zeros((0, 2))
        n_markers = b.columns * b.rows
        out_ids, out_pts = [], []
        board_ids = list(np.asarray(b.cv_board().getIds()).ravel())
        for mid, c in zip(ids.ravel(), corners):
            if mid in board_ids:
                k = board_ids.index(mid)
                if k < n_markers:
                    out_ids.extend(4 * k + np.arange(4))
                    out_pts.append(c.reshape(4, 2))
        if not out_pts:
            return np.zeros(0, int), np.zeros((0, 2))
        pts = np.concatenate(out_pts).astype(np.float32).reshape(-1, 1, 2)
        pts = cv2.cornerSubPix(gray, pts, (3, 3), (-1, -1), (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 1e-3))
        return np.asarray(out_ids, int), pts.reshape(-1, 2).astype(float)

    @staticmethod
    def _refine(gray: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """Sub-pixel refinement of chessboard-type corners with a window of ~1/4 of the corner spacing."""
        pts = np.asarray(pts, np.float32).reshape(-1, 1, 2)
        if len(pts) >= 2:
            d = np.linalg.norm(pts[:, None, 0] - pts[None, :, 0], axis=-1)
            d[d == 0] = np.inf
            spacing = float(np.median(d.min(axis=1)))
        else:
            spacing = 12.0
        win = int(np.clip(0.25 * spacing, 2, 12))
        pts = cv2.cornerSubPix(gray, pts, (win, win), (-1, -1),
                               (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-3))
        return pts.reshape(-1, 2).astype(float)

    def detect(self, image: np.ndarray, frame: int = 0, source: str = "") -> BoardDetection | None:
        """Find the board in one image (BGR or grey). Returns ``None`` when fewer than ``min_corners`` are seen."""
        gray = _to_gray(image)
        h, w = gray.shape[:2]
        prepared = 255 - gray if self.board.inverted else gray
        ids, pts, mirrored = np.zeros(0, int), np.zeros((0, 2)), False
        if self.mirror is not True:
            ids, pts = self._detect_raw(prepared)
        if self.mirror is True or (self.mirror == "auto" and len(ids) < self.min_corners):
            mids, mpts = self._detect_raw(np.ascontiguousarray(prepared[:, ::-1]))
            if len(mids) > len(ids):
                mpts = mpts.copy()
                mpts[:, 0] = (w - 1) - mpts[:, 0]
                ids, pts, mirrored = mids, mpts, True
        if len(ids) < self.min_corners:
            return None
        order = np.argsort(ids)
        ids, pts = ids[order], pts[order]
        sharp, cov = image_quality(gray, pts)
        return BoardDetection(int(frame), ids, pts, self._obj[ids].copy(), (w, h), sharp, cov, mirrored, source)


# ---------------------------------------------------------------------- sources
def list_images(folder: str | Path) -> list[Path]:
    """Image files of a folder, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTS)


def iter_frames(source: str | Path | int, step: int = 1, max_frames: int | None = None
                ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, BGR image)`` from a video file, an image folder, a RealSense recording (``.bag``,
    ``.db3``), or an OpenCV camera index.

    Args:
        source: video path, folder of images, single image, or an integer camera index (live).
        step: keep every ``step``-th frame.
        max_frames: stop after this many yielded frames.
    """
    step = max(1, int(step))
    count = 0
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        cap = cv2.VideoCapture(int(source))
        if not cap.isOpened():
            raise DataError(f"camera index {source} could not be opened", hint="check the camera is plugged in")
        yield from _iter_capture(cap, step, max_frames)
        return
    p = Path(source)
    if not p.exists():
        raise DataError(f"calibration source '{p}' does not exist")
    if p.is_dir() or p.suffix.lower() in IMAGE_EXTS:
        files = list_images(p) if p.is_dir() else [p]
        if not files:
            raise DataError(f"folder '{p}' contains no images ({', '.join(IMAGE_EXTS)})")
        for i, f in enumerate(files):
            if i % step:
                continue
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                raise DataError(f"image '{f}' could not be read", hint="is it a valid image file?")
            yield i, img
            count += 1
            if max_frames is not None and count >= max_frames:
                return
        return
    if p.suffix.lower() in REALSENSE_EXTS:
        yield from _iter_realsense(p, step, max_frames)
        return
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        raise DataError(f"video '{p}' could not be opened", hint="is it a video file OpenCV can decode?")
    yield from _iter_capture(cap, step, max_frames)


def _iter_capture(cap: cv2.VideoCapture, step: int, max_frames: int | None) -> Iterator[tuple[int, np.ndarray]]:
    """Every ``step``-th frame of an opened capture as ``(index, BGR image)``; releases the capture at the end."""
    i = count = 0
    try:
        while max_frames is None or count < max_frames:
            ok, img = cap.read()
            if not ok:
                break
            if i % step == 0:
                count += 1
                yield i, img
            i += 1
    finally:
        cap.release()


def _iter_realsense(path: Path, step: int, max_frames: int | None) -> Iterator[tuple[int, np.ndarray]]:
    """Colour frames of a RealSense recording, indexed by the recorded frame number."""
    from mocap.sources.realsense import RealSenseSource

    src = RealSenseSource(file=path, depth=False)
    count = 0
    try:
        for k, fr in enumerate(src):
            if k % step:
                continue
            yield int(fr.index), fr.image
            count += 1
            if max_frames is not None and count >= max_frames:
                return
    finally:
        src.close()


def detect_in_source(source: str | Path | int, board: Board, step: int = 1, max_frames: int | None = None,
                     mirror: bool | str = "auto", progress: str | None = None) -> tuple[list[BoardDetection],
                                                                                          tuple[int, int], int]:
    """Detect the board in every (``step``-th) frame of a video / image folder / camera.

    Returns:
        ``(detections, image_size (w, h), frames_read)``.
    """
    det = BoardDetector(board, mirror=mirror)
    out: list[BoardDetection] = []
    size = (0, 0)
    n = 0
    frames: Iterable = iter_frames(source, step, max_frames)
    if progress:
        from mocap.progress import track

        frames = track(frames, progress)
    for i, img in frames:
        n += 1
        size = (img.shape[1], img.shape[0])
        d = det.detect(img, frame=i, source=str(source))
        if d is not None:
            out.append(d)
    return out, size, n


# ---------------------------------------------------------------------- view selection
def _view_features(d: BoardDetection) -> np.ndarray:
    w, h = d.image_size
    p = d.image_points / np.array([w, h])
    c = p.mean(0)
    cov = np.cov((p - c).T) if len(p) > 2 else np.eye(2) * 1e-4
    ev, evec = np.linalg.eigh(cov)
    aniso = np.sqrt(max(ev[0], 1e-12) / max(ev[1], 1e-12))
    ang = np.arctan2(evec[1, 1], evec[0, 1])
    # homography from board plane to image: its perspective terms reflect the tilt
    H, _ = cv2.findHomography(d.object_points[:, :2], d.image_points, 0)
    if H is None:
        persp = np.zeros(2)
    else:
        H = H / H[2, 2]
        persp = np.clip(H[2, :2] * 0.1, -1, 1)
    return np.array([c[0], c[1], np.sqrt(d.coverage) * 2, aniso * np.cos(2 * ang) * 0.5,
                     aniso * np.sin(2 * ang) * 0.5, persp[0] * 5, persp[1] * 5])


def select_views(detections: list[BoardDetection], n: int, min_sharpness_ratio: float = 0.3
                 ) -> list[BoardDetection]:
    """Pick up to ``n`` views with a good spread of board positions, sizes and tilts.

    Blurry views (sharpness below ``min_sharpness_ratio`` x the median) are skipped first; then a greedy
    farthest-point selection over position, size, in-plane orientation and perspective features.
    """
    if len(detections) <= n:
        return list(detections)
    sharp = np.array([d.sharpness for d in detections])
    keep = [d for d, s in zip(detections, sharp) if s >= min_sharpness_ratio * np.median(sharp)]
    if len(keep) <= n:
        keep = list(detections)
    F = np.stack([_view_features(d) for d in keep])
    first = int(np.argmax([d.n + d.coverage for d in keep]))
    chosen = [first]
    dmin = np.linalg.norm(F - F[first], axis=1)
    while len(chosen) < n:
        k = int(np.argmax(dmin))
        if dmin[k] <= 0:
            break
        chosen.append(k)
        dmin = np.minimum(dmin, np.linalg.norm(F - F[k], axis=1))
    return [keep[k] for k in sorted(chosen)]
