"""The anipose-style TOML camera table shared by our own format, Pose2Sim and caliscope.

A camera table holds ``size = [w, h]``, ``matrix = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]``,
``distortions = [k1, k2, p1, p2, ...]``, ``rotation`` (OpenCV rvec, or a 3x3 matrix in caliscope),
``translation`` (world-to-camera) and optionally ``name`` and ``fisheye``.
"""

from __future__ import annotations

from pathlib import Path

from mocap.cameras.camera import FISHEYE, PINHOLE, Camera
from mocap.cameras.formats._common import as_array, as_rotation, as_size, as_vector, field_error, require
from mocap.geometry.projection import VALID_DIST_LENGTHS

# Tables that never describe a camera (Pose2Sim skips the same ones).
NON_CAMERA_TABLES = ("metadata", "capture_volume", "charuco", "checkerboard", "aruco", "board")


def camera_tables(doc: dict) -> list[tuple[str, dict]]:
    """``(key, table)`` for every top-level table that describes a camera, in file order."""
    return [(k, v) for k, v in doc.items() if isinstance(v, dict) and k not in NON_CAMERA_TABLES]


def is_camera_table(table: dict) -> bool:
    """Whether a table has the fields of an anipose-style camera."""
    return all(k in table for k in ("matrix", "distortions", "rotation", "translation"))


def parse_camera_table(key: str, table: dict, source: str | Path, scale: float = 1.0,
                       name_key: str | None = "name") -> Camera:
    """One anipose-style camera table -> :class:`Camera`.

    Args:
        key: the table's key (used as the name when the table has no ``name``).
        table: the parsed table.
        source: the file, for messages.
        scale: multiply translations by this (e.g. 0.001 when the file is in millimetres).
        name_key: the key holding the camera's name (``None``: use the table key).

    Raises:
        CalibrationError: a missing or malformed field, naming file, camera and field.
    """
    name = str(table.get(name_key, key)) if name_key else str(key)
    fisheye = table.get("fisheye", False)
    if not isinstance(fisheye, bool):
        raise field_error(source, name, "fisheye", f"is {fisheye!r}, expected true or false")
    model = FISHEYE if fisheye else PINHOLE
    size = as_size(require(table, "size", source, name), source, name)
    K = as_array(require(table, "matrix", source, name), (3, 3), source, name, "matrix")
    lengths = tuple(n for n in VALID_DIST_LENGTHS[model] if n > 0) or (4,)
    dist = as_vector(require(table, "distortions", source, name), lengths, source, name, "distortions")
    R = as_rotation(require(table, "rotation", source, name), source, name, "rotation")
    t = as_array(require(table, "translation", source, name), (3,), source, name, "translation") * scale
    return Camera(name, size, K, dist, R, t, model)
