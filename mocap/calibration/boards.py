"""Calibration boards: ChArUco, plain checkerboard and ArUco grid, defined in small TOML files.

Board frame (OpenCV's): origin at the first corner, x along the columns, y along the rows, z into the board
(so a camera looking at the printed side sees z pointing away from it). Lengths are metres.

Every board numbers its detectable points ("corners") 0..N-1; :meth:`Board.object_points` gives their
``(N, 3)`` board coordinates, so a detection is just ``ids (n,)`` + ``image points (n, 2)``.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from mocap.errors import CalibrationError

CHARUCO = "charuco"
CHECKERBOARD = "checkerboard"
ARUCO_GRID = "aruco_grid"
BOARD_TYPES = (CHARUCO, CHECKERBOARD, ARUCO_GRID)

#: folder of the boards shipped with mocap (``calibration/boards`` at the repository root).
BOARDS_DIR = Path(__file__).resolve().parents[2] / "calibration" / "boards"


def aruco_dictionary_names() -> list[str]:
    """Names of OpenCV's predefined ArUco dictionaries (``DICT_4X4_50`` ...)."""
    return sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_"))


@dataclass
class Board:
    """A planar calibration target.

    Attributes:
        type: ``"charuco"``, ``"checkerboard"`` or ``"aruco_grid"``.
        columns, rows: charuco: squares; checkerboard: inner corners; aruco_grid: markers.
        square_length: side of a chessboard square, metres (charuco, checkerboard).
        marker_length: side of an ArUco marker, metres (charuco, aruco_grid).
        marker_separation: gap between markers, metres (aruco_grid).
        dictionary: OpenCV ArUco dictionary name, e.g. ``"DICT_4X4_1000"``.
        inverted: the board is printed with inverted colours (white markers on black).
        legacy_pattern: ChArUco boards made by OpenCV < 4.6 with an even number of rows.
        name: a label for reports.
    """

    type: str = CHARUCO
    columns: int = 5
    rows: int = 7
    square_length: float = 0.035
    marker_length: float = 0.026
    marker_separation: float = 0.0
    dictionary: str = "DICT_4X4_50"
    inverted: bool = False
    legacy_pattern: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`CalibrationError` naming the field when the definition is impossible."""
        where = f"board '{self.name}'" if self.name else "board"
        if self.type not in BOARD_TYPES:
            raise CalibrationError(f"{where}: field 'type' is {self.type!r}; expected one of {BOARD_TYPES}")
        if self.columns < 2 or self.rows < 2:
            raise CalibrationError(f"{where}: columns={self.columns}, rows={self.rows}; both must be >= 2")
        lengths = {"square_length": self.square_length} if self.type != ARUCO_GRID else {}
        if self.type != CHECKERBOARD:
            lengths["marker_length"] = self.marker_length
        for fld, v in lengths.items():
            if not v > 0:
                raise CalibrationError(f"{where}: field '{fld}' is {v}; it must be positive, in metres")
            if v > 1.0:
                raise CalibrationError(
                    f"{where}: field '{fld}' is {v} m; that is a huge board square or marker",
                    hint=f"lengths are metres: did you type millimetres? use {fld} = {v / 1000:g}")
        if self.type == CHARUCO and self.marker_length >= self.square_length:
            raise CalibrationError(f"{where}: marker_length {self.marker_length} must be smaller than "
                                   f"square_length {self.square_length}")
        if self.type != CHECKERBOARD and not hasattr(cv2.aruco, self.dictionary):
            raise CalibrationError(f"{where}: unknown ArUco dictionary {self.dictionary!r}",
                                   hint="use an OpenCV name such as DICT_4X4_50, DICT_5X5_100, DICT_6X6_250")

    # ------------------------------------------------------------------ OpenCV objects
    def cv_dictionary(self) -> cv2.aruco.Dictionary:
        """The OpenCV ArUco dictionary."""
        return cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))

    def cv_board(self):
        """The OpenCV board object (``CharucoBoard`` / ``GridBoard``); ``None`` for a checkerboard."""
        if self.type == CHARUCO:
            b = cv2.aruco.CharucoBoard((self.columns, self.rows), self.square_length, self.marker_length,
                                       self.cv_dictionary())
            b.setLegacyPattern(bool(self.legacy_pattern))
            return b
        if self.type == ARUCO_GRID:
            return cv2.aruco.GridBoard((self.columns, self.rows), self.marker_length, self.marker_separation,
                                       self.cv_dictionary())
        return None

    # ------------------------------------------------------------------ geometry
    @property
    def n_corners(self) -> int:
        """Number of detectable points."""
        return len(self.object_points())

    def object_points(self) -> np.ndarray:
        """``(N, 3)`` board coordinates of corner ids 0..N-1, metres (z = 0)."""
        if self.type == CHARUCO:
            return np.asarray(self.cv_board().getChessboardCorners(), float).reshape(-1, 3)
        if self.type == CHECKERBOARD:
            x, y = np.meshgrid(np.arange(self.columns), np.arange(self.rows))
            return np.stack([x.ravel() * self.square_length, y.ravel() * self.square_length,
                             np.zeros(x.size)], axis=1)
        obj = self.cv_board().getObjPoints()  # per marker (4, 3), in id order
        return np.concatenate([np.asarray(o, float).reshape(4, 3) for o in obj])

    @property
    def physical_size(self) -> tuple[float, float]:
        """Printed pattern ``(width, height)`` in metres (checkerboard: including one square around the corners)."""
        if self.type == CHARUCO:
            return self.columns * self.square_length, self.rows * self.square_length
        if self.type == CHECKERBOARD:
            return (self.columns + 1) * self.square_length, (self.rows + 1) * self.square_length
        s = self.marker_length + self.marker_separation
        return self.columns * s - self.marker_separation, self.rows * s - self.marker_separation

    def pattern_origin_offset(self) -> tuple[float, float]:
        """Board-frame ``(x, y)`` of the printed pattern's top-left corner (checkerboard: minus one square)."""
        if self.type == CHECKERBOARD:
            return -self.square_length, -self.square_length
        return 0.0, 0.0

    # ------------------------------------------------------------------ images
    def generate_image(self, px_per_m: float = 4000.0, margin_px: int = 0) -> np.ndarray:
        """Render the pattern as a ``uint8`` grey image at ``px_per_m`` pixels per metre.

        The pattern fills the image exactly (plus ``margin_px`` white/black border); inverted boards are inverted.
        """
        w, h = self.physical_size
        W, H = int(round(w * px_per_m)), int(round(h * px_per_m))
        if self.type == CHECKERBOARD:
            n = int(round(self.square_length * px_per_m))
            ys, xs = np.mgrid[0:H, 0:W]
            img = (((xs // max(n, 1)) + (ys // max(n, 1))) % 2 == 0).astype(np.uint8)
            img = np.where(img, 0, 255).astype(np.uint8)
        else:
            img = self.cv_board().generateImage((W, H), marginSize=0, borderBits=1)
        if margin_px:
            img = cv2.copyMakeBorder(img, margin_px, margin_px, margin_px, margin_px, cv2.BORDER_CONSTANT, value=255)
        return 255 - img if self.inverted else img

    def describe(self) -> str:
        """One line with every parameter (printed on board sheets and in reports)."""
        if self.type == CHECKERBOARD:
            return (f"checkerboard {self.columns}x{self.rows} inner corners, square {self.square_length * 1000:g} mm")
        core = (f"{self.type} {self.columns}x{self.rows}, {self.dictionary}, marker {self.marker_length * 1000:g} mm")
        if self.type == CHARUCO:
            core += f", square {self.square_length * 1000:g} mm"
            if self.legacy_pattern:
                core += ", legacy pattern"
        else:
            core += f", separation {self.marker_separation * 1000:g} mm"
        return core + (", inverted colours" if self.inverted else "")

    def to_dict(self) -> dict:
        """Plain dict for TOML."""
        return asdict(self)


def _board_from_dict(d: dict, source: str) -> Board:
    d = dict(d.get("board", d))
    allowed = set(Board.__dataclass_fields__)
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise CalibrationError(f"{source}: unknown board field(s) {unknown}", hint=f"valid fields: {sorted(allowed)}")
    try:
        board = Board(**d)
    except TypeError as e:
        raise CalibrationError(f"{source}: {e}") from e
    except CalibrationError as e:
        raise CalibrationError(f"{source}: {e}") from e
    if not board.name:
        board.name = Path(source).stem
    return board


def list_boards() -> list[str]:
    """Names of the boards shipped in ``calibration/boards``."""
    return sorted(p.stem for p in BOARDS_DIR.glob("*.toml"))


def load_board(path_or_name: str | Path | Board) -> Board:
    """Load a board from a TOML file or by the name of a shipped board (see :func:`list_boards`).

    Raises:
        CalibrationError: unknown name, unreadable file or invalid fields (message names the file and field).
    """
    if isinstance(path_or_name, Board):
        return path_or_name
    p = Path(path_or_name)
    if not p.is_file():
        cand = BOARDS_DIR / f"{p.stem if p.suffix == '.toml' else p.name}.toml"
        if cand.is_file():
            p = cand
        else:
            raise CalibrationError(f"board '{path_or_name}' is neither a file nor a shipped board",
                                   hint=f"shipped boards: {', '.join(list_boards())}")
    try:
        data = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise CalibrationError(f"{p}: not a valid TOML board file ({e})") from e
    return _board_from_dict(data, str(p))


def save_board(board: Board, path: str | Path) -> None:
    """Write a board definition as TOML (``[board]`` table)."""
    import tomli_w

    Path(path).write_text(tomli_w.dumps({"board": board.to_dict()}))
