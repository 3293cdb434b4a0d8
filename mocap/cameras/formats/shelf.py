"""The Shelf/Campus benchmark ``calibration.json`` (as used by 4D association / VoxelPose tools).

Layout: a JSON object with one entry per camera, keyed by its name (``"0"``, ``"1"``, ...)::

    {"0": {"K": [fx, 0, cx, 0, fy, cy, 0, 0, 1],       # row-major 3x3, pixels
           "RT": [r11, r12, r13, tx, ..., r33, tz],    # row-major 3x4 [R | t], world-to-camera, metres
           "imgSize": [width, height]}}

No distortion (the images are treated as undistorted). Verified on the real file: projecting the Shelf
ground truth (metres, Z up) with ``x_cam = R @ X + t`` puts every joint in front of all 5 cameras and on
the detected OpenPose keypoints. When a camera has distortion we write it in an extra ``"dist"`` list
(ignored by other readers) so our round trip is exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mocap.cameras.camera import PINHOLE, Camera
from mocap.cameras.formats._common import as_array, as_size, as_vector, require
from mocap.cameras.rig import CameraRig
from mocap.errors import CalibrationError

NAME = "shelf"
EXTENSIONS = (".json",)


def sniff(path: Path, text: str) -> bool:
    """A JSON object whose values all have ``K`` and ``RT``."""
    if not text.lstrip().startswith("{"):
        return False
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    return bool(doc) and isinstance(doc, dict) and all(
        isinstance(v, dict) and "K" in v and "RT" in v for v in doc.values())


def read(path: Path) -> CameraRig:
    """Read a Shelf ``calibration.json``; cameras in file order, named by their keys."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise CalibrationError(f"{path.name}: not valid JSON ({e})") from e
    if not isinstance(doc, dict) or not doc:
        raise CalibrationError(f"{path.name}: expected a JSON object with one entry per camera")
    cams = []
    for name, entry in doc.items():
        if not isinstance(entry, dict):
            raise CalibrationError(f"{path.name}: camera '{name}' is not a JSON object with K, RT and imgSize")
        K = as_array(require(entry, "K", path, name), (3, 3), path, name, "K")
        RT = as_array(require(entry, "RT", path, name), (3, 4), path, name, "RT")
        size = as_size(require(entry, "imgSize", path, name), path, name, "imgSize")
        dist = as_vector(entry["dist"], (4, 5, 8, 12), path, name, "dist") if "dist" in entry else np.zeros(5)
        cams.append(Camera(name, size, K, dist, RT[:, :3], RT[:, 3], PINHOLE))
    return CameraRig(cams)


def write(rig: CameraRig, path: Path) -> None:
    """Write a Shelf ``calibration.json`` (pinhole cameras; distortion in an extra ``dist`` when non-zero)."""
    doc = {}
    for cam in rig:
        if cam.model != PINHOLE:
            raise CalibrationError(f"{Path(path).name}: camera '{cam.name}' field 'model' is {cam.model}; the Shelf "
                                   "format holds only pinhole cameras")
        entry = {"K": np.asarray(cam.K, float).ravel().tolist(),
                 "RT": np.hstack([cam.R, cam.t[:, None]]).ravel().tolist(),
                 "imgSize": [int(cam.size[0]), int(cam.size[1])]}
        if np.any(cam.dist != 0):
            entry["dist"] = np.asarray(cam.dist, float).tolist()
        doc[cam.name] = entry
    Path(path).write_text(json.dumps(doc, indent=1), encoding="utf-8")
