"""Pose2Sim's ``Calib.toml``, as ``Pose2Sim.calibration.toml_write`` writes it.

Layout::

    [cam_01]
    name = "cam_01"
    size = [ 1088.0, 1920.0]
    matrix = [ [ fx, 0.0, cx], [ 0.0, fy, cy], [ 0.0, 0.0, 1.0]]
    distortions = [ k1, k2, p1, p2]
    rotation = [ rx, ry, rz]          # world-to-camera rvec
    translation = [ tx, ty, tz]       # world-to-camera, metres
    fisheye = false

    [metadata]
    adjusted = false
    error = 0.0

Pose2Sim's writer keeps 4 distortion coefficients and no skew; we write 4 when the others are zero and
otherwise keep all of them with a warning (Pose2Sim's reader passes any OpenCV length on to OpenCV).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from mocap.cameras.camera import FISHEYE
from mocap.cameras.formats._common import _toml_value, load_toml
from mocap.cameras.formats._tables import camera_tables, is_camera_table, parse_camera_table
from mocap.cameras.rig import CameraRig
from mocap.errors import MocapWarning

NAME = "pose2sim"
EXTENSIONS = (".toml",)


def sniff(path: Path, text: str) -> bool:
    """TOML with anipose-style camera tables and no caliscope ``port`` fields."""
    try:
        import tomllib

        doc = tomllib.loads(text)
    except Exception:
        return False
    tables = camera_tables(doc)
    return bool(tables) and all(is_camera_table(t) and "port" not in t for _, t in tables)


def read(path: Path) -> CameraRig:
    """Read a Pose2Sim ``Calib.toml``; ``[metadata]`` goes to ``rig.meta``."""
    doc = load_toml(path)
    cams = [parse_camera_table(k, t, path) for k, t in camera_tables(doc)]
    meta = doc.get("metadata", {})
    return CameraRig(cams, dict(meta) if isinstance(meta, dict) else {})


def _section(name: str, used: set[str]) -> str:
    key = re.sub(r"[^A-Za-z0-9_-]", "_", name) or "cam"
    base, i = key, 1
    while key in used or key == "metadata":
        i += 1
        key = f"{base}_{i}"
    used.add(key)
    return key


def write(rig: CameraRig, path: Path) -> None:
    """Write a rig in Pose2Sim's layout (one line per field, floats in full precision)."""
    lines: list[str] = []
    used: set[str] = set()
    for cam in rig:
        K = cam.K
        if abs(K[0, 1]) > 1e-12:
            warnings.warn(f"{Path(path).name}: camera '{cam.name}' field 'matrix': Pose2Sim files have no skew; "
                          f"skew {K[0, 1]:g} is written but Pose2Sim's own writer would drop it", MocapWarning,
                          stacklevel=3)
        dist = np.asarray(cam.dist, float)
        if cam.model == FISHEYE or dist.size == 0:
            dist = np.pad(dist, (0, max(0, 4 - dist.size)))
        elif dist.size > 4 and np.all(dist[4:] == 0):
            dist = dist[:4]
        elif dist.size > 4:
            warnings.warn(f"{Path(path).name}: camera '{cam.name}' field 'distortions': {dist.size} coefficients "
                          "kept; Pose2Sim's own writer keeps only 4 (k1, k2, p1, p2)", MocapWarning, stacklevel=3)
        lines += [
            f"[{_section(cam.name, used)}]",
            f"name = {_toml_value(cam.name)}",
            f"size = [ {float(cam.size[0])!r}, {float(cam.size[1])!r}]",
            "matrix = [ " + ", ".join("[ " + ", ".join(repr(float(v)) for v in row) + "]" for row in K) + "]",
            "distortions = [ " + ", ".join(repr(float(v)) for v in dist) + "]",
            "rotation = [ " + ", ".join(repr(float(v)) for v in cam.rvec) + "]",
            "translation = [ " + ", ".join(repr(float(v)) for v in cam.t) + "]",
            f"fisheye = {'true' if cam.model == FISHEYE else 'false'}",
            "",
        ]
    meta = rig.meta
    adjusted = bool(meta.get("adjusted", False))
    error = float(meta.get("error", 0.0))
    lines += ["[metadata]", f"adjusted = {'true' if adjusted else 'false'}", f"error = {error!r}", ""]
    Path(path).write_text("\n".join(lines), encoding="utf-8")
