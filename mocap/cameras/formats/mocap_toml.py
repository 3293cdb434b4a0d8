"""Our own calibration TOML: anipose/FreeMoCap-compatible camera tables plus a ``[metadata]`` table.

Layout (one table per camera, keys ``cam_0``, ``cam_1``, ... in rig order)::

    [metadata]
    format = "mocap"
    version = "0.1.0"
    units = "m"                      # translations in metres ("mm" and "cm" are read and converted)
    convention = "x_cam = R @ X + t; R = Rodrigues(rotation); OpenCV camera frame; world Z up"

    [cam_0]
    name = "cam0"
    size = [1280, 720]               # width, height in pixels
    matrix = [[fx, s, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]
    distortions = [k1, k2, p1, p2, k3]   # OpenCV order; fisheye: [k1, k2, k3, k4]
    rotation = [rx, ry, rz]          # world-to-camera rotation vector (radians)
    translation = [tx, ty, tz]       # world-to-camera translation (metres)
    fisheye = false

    [cam_0.meta]                     # optional free-form per-camera fields (serial number, ...)

Extra keys in ``[metadata]`` are kept in ``CameraRig.meta``. anipose and FreeMoCap read these files (they
ignore ``[metadata]`` and the ``meta`` sub-tables).
"""

from __future__ import annotations

from pathlib import Path

from mocap import __version__
from mocap.cameras.camera import FISHEYE
from mocap.cameras.formats._common import clean_meta, dumps_toml, floats, load_toml
from mocap.cameras.formats._tables import camera_tables, is_camera_table, parse_camera_table
from mocap.cameras.rig import CameraRig
from mocap.errors import CalibrationError

NAME = "mocap"
EXTENSIONS = (".toml",)
CONVENTION = "x_cam = R @ X + t; R = Rodrigues(rotation); OpenCV camera frame; world Z up"
UNIT_SCALE = {"m": 1.0, "cm": 0.01, "mm": 0.001}
_FIXED_META = ("format", "version", "units", "convention", "source_format")


def sniff(path: Path, text: str) -> bool:
    """A TOML file whose ``[metadata]`` says ``format = "mocap"`` (or has ``units``), or plain anipose tables."""
    try:
        import tomllib

        doc = tomllib.loads(text)
    except Exception:
        return False
    meta = doc.get("metadata", {})
    if isinstance(meta, dict) and (meta.get("format") == NAME or "units" in meta):
        return True
    # anipose / FreeMoCap: camera tables with a name, no Pose2Sim metadata
    tables = camera_tables(doc)
    return bool(tables) and not isinstance(doc.get("metadata"), dict) and all(
        is_camera_table(t) and "name" in t and "port" not in t for _, t in tables)


def read(path: Path) -> CameraRig:
    """Read our TOML (or an anipose/FreeMoCap one) into a rig; translations converted to metres."""
    doc = load_toml(path)
    meta = doc.get("metadata", {})
    if not isinstance(meta, dict):
        raise CalibrationError(f"{path.name}: 'metadata' must be a table")
    units = meta.get("units", "m")
    if units not in UNIT_SCALE:
        raise CalibrationError(f"{path.name}: field 'metadata.units' is {units!r}; expected one of "
                               f"{sorted(UNIT_SCALE)}")
    cams = []
    for key, table in camera_tables(doc):
        cam = parse_camera_table(key, table, path, scale=UNIT_SCALE[units])
        if isinstance(table.get("meta"), dict):
            cam.meta = dict(table["meta"])
        cams.append(cam)
    rig_meta = {k: v for k, v in meta.items() if k not in _FIXED_META}
    return CameraRig(cams, rig_meta)


def camera_table(cam) -> dict:
    """The anipose-style table of one camera (without ``meta``)."""
    return {
        "name": cam.name,
        "size": [int(cam.size[0]), int(cam.size[1])],
        "matrix": floats(cam.K),
        "distortions": floats(cam.dist),
        "rotation": floats(cam.rvec),
        "translation": floats(cam.t),
        "fisheye": cam.model == FISHEYE,
    }


def write(rig: CameraRig, path: Path) -> None:
    """Write a rig as our TOML (metres, world-to-camera rvec/tvec)."""
    doc: dict = {"metadata": {"format": NAME, "version": __version__, "units": "m", "convention": CONVENTION,
                              **clean_meta({k: v for k, v in rig.meta.items() if k not in _FIXED_META})}}
    for i, cam in enumerate(rig):
        table = camera_table(cam)
        if cam.meta:
            table["meta"] = clean_meta(cam.meta)
        doc[f"cam_{i}"] = table
    header = "# mocap camera calibration (world-to-camera: x_cam = R @ X + t, metres, OpenCV camera frame)\n"
    Path(path).write_text(dumps_toml(doc, header=header), encoding="utf-8")
