"""caliscope's ``config.toml`` (the project file of caliscope/pyxy3d).

Each camera is a table ``[cam_N]`` (N = the camera's port) with ``port``, ``size = [w, h]``, ``matrix``
(3x3), ``distortions`` (k1, k2, p1, p2, k3), ``rotation`` and ``translation``, plus capture settings
(``rotation_count``, ``error``, ``exposure``, ``grid_count``, ``ignore``, ``verified_resolutions``).

Convention, verified on the real sample (``data/charuco_4cam``, with caliscope's own ``point_estimates.toml``):
``rotation`` is the 3x3 world-to-camera matrix (newer versions may write a Rodrigues vector; both are read)
and ``translation`` the world-to-camera translation in metres: projecting the 3D estimates with
``x_cam = R @ X + t`` reproduces the detected corners to a median of 0.36-0.45 px in every camera, while the
inverse convention gives 0.7-520 px.

Camera names are not stored by caliscope: cameras read as ``cam_N``. Other tables (``charuco``,
``capture_volume``) and top-level keys are kept in ``rig.meta``, per-camera settings in ``camera.meta``, so a
read-write round trip keeps them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mocap.cameras.camera import PINHOLE
from mocap.cameras.formats._common import clean_meta, dumps_toml, field_error, floats, load_toml
from mocap.cameras.formats._tables import parse_camera_table
from mocap.cameras.rig import CameraRig
from mocap.errors import CalibrationError

NAME = "caliscope"
EXTENSIONS = (".toml",)
_CAM_KEY = re.compile(r"cam_(\d+)$")
_CAMERA_FIELDS = ("port", "size", "matrix", "distortions", "rotation", "translation", "fisheye", "name")
# per-camera settings caliscope itself writes; other meta keys are written only for rigs read from caliscope
_CALISCOPE_SETTINGS = ("rotation_count", "error", "exposure", "grid_count", "ignore", "verified_resolutions")


def sniff(path: Path, text: str) -> bool:
    """TOML with ``[cam_N]`` tables that carry a ``port`` field."""
    try:
        import tomllib

        doc = tomllib.loads(text)
    except Exception:
        return False
    tables = [v for k, v in doc.items() if isinstance(v, dict) and _CAM_KEY.match(k)]
    return bool(tables) and all("port" in t for t in tables)


def read(path: Path) -> CameraRig:
    """Read a caliscope ``config.toml``; cameras without a ``matrix`` (not yet calibrated) are an error."""
    doc = load_toml(path)
    cams = []
    rig_meta = {}
    for key, value in doc.items():
        m = _CAM_KEY.match(key)
        if not (m and isinstance(value, dict)):
            rig_meta[key] = value
            continue
        if "matrix" not in value or "rotation" not in value:
            missing = "matrix" if "matrix" not in value else "rotation"
            raise field_error(path, key, missing, "is missing: this camera is not calibrated yet",
                              hint="finish the intrinsic and extrinsic calibration in caliscope, or remove the camera")
        cam = parse_camera_table(key, value, path, name_key=None)
        port = value.get("port", int(m.group(1)))
        cam.meta = {"port": port, **{k: v for k, v in value.items() if k not in _CAMERA_FIELDS}}
        cams.append(cam)
    if not cams:
        raise CalibrationError(f"{path.name}: no [cam_N] tables; not a caliscope config.toml")
    return CameraRig(cams, rig_meta)


def write(rig: CameraRig, path: Path) -> None:
    """Write a caliscope ``config.toml``; ports from ``camera.meta['port']`` (or the camera index)."""
    doc: dict = {}
    from_caliscope = rig.meta.get("source_format") == NAME
    for k, v in clean_meta(rig.meta).items():
        if from_caliscope and not _CAM_KEY.match(k) and k != "source_format":
            doc[k] = v
    plain = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in doc.items() if isinstance(v, dict)}
    out: dict = dict(plain)
    ports: set[int] = set()
    for i, cam in enumerate(rig):
        if cam.model != PINHOLE:
            raise CalibrationError(f"{Path(path).name}: camera '{cam.name}' field 'model' is {cam.model}; "
                                   "caliscope handles only pinhole cameras")
        port = cam.meta.get("port")
        m = _CAM_KEY.match(cam.name)
        if port is None:
            port = int(m.group(1)) if m else i
        port = int(port)
        if port in ports:
            raise CalibrationError(f"{Path(path).name}: camera '{cam.name}' field 'port' {port} is used twice")
        ports.add(port)
        extra = clean_meta({k: v for k, v in cam.meta.items()
                            if k != "port" and (from_caliscope or k in _CALISCOPE_SETTINGS)})
        dist = np.zeros(5)
        dist[: min(5, cam.dist.size)] = cam.dist[:5]
        if cam.dist.size > 5 and np.any(cam.dist[5:]):
            raise CalibrationError(f"{Path(path).name}: camera '{cam.name}' field 'dist' has {cam.dist.size} "
                                   "coefficients; caliscope holds 5")
        table = {"port": port, "size": [int(cam.size[0]), int(cam.size[1])],
                 "rotation_count": extra.pop("rotation_count", 0), "error": extra.pop("error", 0.0),
                 "matrix": floats(cam.K), "distortions": floats(dist if cam.dist.size != 4 else cam.dist),
                 "translation": floats(cam.t), "rotation": floats(cam.R), **extra}
        out[f"cam_{port}"] = table
    out.update(tables)
    Path(path).write_text(dumps_toml(out), encoding="utf-8")
