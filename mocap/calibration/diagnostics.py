"""Explain calibration failures: which board is really in the images, coverage guidance."""

from __future__ import annotations

import cv2
import numpy as np

from mocap.calibration.boards import CHARUCO, Board
from mocap.calibration.intrinsics import IntrinsicsResult, coverage_grid

#: dictionaries tried when the configured one finds nothing (largest of each family: ids are shared).
CANDIDATE_DICTIONARIES = ("DICT_4X4_1000", "DICT_5X5_1000", "DICT_6X6_1000", "DICT_7X7_1000",
                          "DICT_ARUCO_ORIGINAL", "DICT_APRILTAG_36h11")


def identify_markers(images: list[np.ndarray]) -> tuple[str, bool, bool, int] | None:
    """Find which ArUco dictionary / colour inversion / mirroring the images contain.

    Returns:
        ``(dictionary, inverted, mirrored, markers found)`` for the best combination, or ``None``.
    """
    best = None
    for name in CANDIDATE_DICTIONARIES:
        det = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name)))
        for inv in (False, True):
            for mir in (False, True):
                n = 0
                for img in images:
                    g = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
                    g = 255 - g if inv else g
                    g = np.ascontiguousarray(g[:, ::-1]) if mir else g
                    _, ids, _ = det.detectMarkers(g)
                    n += 0 if ids is None else len(ids)
                if n and (best is None or n > best[3] * 1.5):
                    best = (name, inv, mir, n)
    return best


def no_board_message(board: Board, images: list[np.ndarray], source: str = "") -> str:
    """A message for "board never detected" that says which board the images really contain."""
    where = f"{source}: " if source else ""
    head = f"{where}no board found with {board.describe()}"
    if board.type != CHARUCO and board.type != "aruco_grid":
        return head + ("; check columns/rows are INNER corners (a board of 5x8 squares has 4x7 inner corners) and "
                       "that the whole board is visible and sharp")
    found = identify_markers(images)
    if found is None:
        return head + "; no ArUco markers of any common dictionary are visible: check the source shows the board"
    name, inv, mir, n = found
    dict_ok = name.split("_")[1] == board.dictionary.split("_")[1] if board.dictionary.startswith("DICT_") else False
    parts = [f"the images contain {name} markers" if not dict_ok else f"the images contain {board.dictionary} "
             "markers"]
    if inv:
        parts.append("with inverted colours")
    if mir:
        parts.append("seen mirrored (from behind the board)")
    fix = []
    if not dict_ok:
        fix.append(f"dictionary={name if not name.endswith('_1000') else name}")
    if inv != board.inverted:
        fix.append(f"inverted={'true' if inv else 'false'}")
    msg = f"{head}; {' '.join(parts)} ({n} markers)"
    if fix:
        msg += f": set {' '.join(fix)} in the board file"
    else:
        msg += ": the dictionary matches, so check columns, rows, legacy_pattern and marker/square lengths"
    return msg


#: the image split into a 6 x 6 grid; each named region is a set of (row, col) cells.
_GRID = 6
_BANDS = {"top": range(0, 2), "middle": range(2, 4), "bottom": range(4, 6)}
_COLS = {"left": range(0, 2), "centre": range(2, 4), "right": range(4, 6)}


def _region_name(row: str, col: str) -> str:
    if row == "middle" and col == "centre":
        return "centre"
    if row == "middle":
        return f"{col} edge"
    if col == "centre":
        return f"{row} edge"
    return f"{row}-{col} corner"


def empty_regions(views: list, image_size: tuple[int, int], min_fraction: float = 0.5) -> list[str]:
    """Names of image regions (corners, edges, centre; a 3x3 layout over a 6x6 grid) where at least
    ``min_fraction`` of the grid cells never saw a board corner, emptiest first."""
    g = coverage_grid(views, image_size, (_GRID, _GRID)) > 0
    out = []
    for rn, rows in _BANDS.items():
        for cn, cols in _COLS.items():
            empty = 1.0 - g[np.ix_(list(rows), list(cols))].mean()
            if empty >= min_fraction:
                out.append((empty, _region_name(rn, cn)))
    return [n for _, n in sorted(out, key=lambda e: -e[0])]


def guidance(camera: str, intr: IntrinsicsResult | None, views: list, image_size: tuple[int, int]) -> list[str]:
    """Human advice from the coverage map and board tilts, naming the camera and image region.

    Example: ``["cover the left edge, top-left corner of cam2 with the board", "tilt the board more in front
    of cam2 ..."]``.
    """
    out = []
    empty = empty_regions(views, image_size)
    if len(empty) > 4:
        cov = 100 * (coverage_grid(views, image_size, (_GRID, _GRID)) > 0).mean()
        out.append(f"move the board over the whole image of {camera}: only {cov:.0f}% of it saw corners; "
                   f"cover first the {', '.join(empty[:3])} of {camera}")
    elif empty:
        out.append(f"cover the {', '.join(empty)} of {camera} with the board")
    if intr is not None and intr.max_tilt_deg < 20:
        out.append(f"tilt the board more in front of {camera} (max tilt seen {intr.max_tilt_deg:.0f} deg; "
                   "aim for 30-45 deg)")
    if intr is not None and intr.dist_model in ("k1", "k1k2") and intr.dist_reason:
        out.append(f"{camera}: {intr.dist_reason} (lens distortion only partly modelled; bring the board "
                   "closer to the image edges and corners)")
    if len(views) < 10:
        out.append(f"show the board to {camera} in more positions ({len(views)} good views; aim for 15+)")
    return out
