"""ROS ``camera_info`` YAML (as ``camera_calibration_parsers`` writes it), one YAML document per camera.

A camera_info file holds ONE camera and no extrinsics. Our conventions on top of it:

- several cameras are written as a multi-document YAML file (documents separated by ``---``), in rig order;
  reading any number of documents gives a rig of that many cameras;
- extrinsics go into an extra top-level key that ROS tools ignore::

      mocap_extrinsics:
        convention: x_cam = R @ X + t (world to camera), OpenCV camera frame
        units: m
        rotation_matrix: [r11, r12, r13, r21, ..., r33]   # row-major
        translation: [tx, ty, tz]

  Without it a camera gets the identity pose (``R = I``, ``t = 0``).
- distortion models: ``plumb_bob`` (k1, k2, p1, p2, k3; 4-coefficient input is padded with k3 = 0),
  ``rational_polynomial`` (8) and ``equidistant`` (cv2.fisheye's k1..k4, model ``fisheye``).
- ``projection_matrix`` is written as ``[K | 0]`` and ``rectification_matrix`` as the identity (a monocular,
  unrectified camera); both are ignored when reading.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from mocap.cameras.camera import FISHEYE, PINHOLE, Camera
from mocap.cameras.formats._common import as_array, as_rotation, as_size, field_error, require, where
from mocap.cameras.rig import CameraRig
from mocap.errors import CalibrationError

NAME = "ros"
EXTENSIONS = (".yaml", ".yml")
EXTRINSICS_KEY = "mocap_extrinsics"
_MODELS = {"plumb_bob": (PINHOLE, (4, 5)), "rational_polynomial": (PINHOLE, (8,)),
           "equidistant": (FISHEYE, (4,)), "fisheye": (FISHEYE, (4,))}


def sniff(path: Path, text: str) -> bool:
    """YAML documents with ``camera_matrix: {rows, cols, data}`` (and no OpenCV ``%YAML:1.0`` header)."""
    if text.lstrip().startswith("%YAML:1."):
        return False
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:
        return False
    return bool(docs) and all(isinstance(d, dict) and isinstance(d.get("camera_matrix"), dict) for d in docs)


def _matrix(doc: dict, key: str, shape: tuple[int, int], path: Path, cam: str) -> np.ndarray:
    node = require(doc, key, path, cam)
    if not isinstance(node, dict) or "data" not in node:
        raise field_error(path, cam, key, "must be a mapping with rows, cols and data")
    rows, cols = node.get("rows", shape[0]), node.get("cols", shape[1])
    if (rows, cols) != shape:
        raise field_error(path, cam, key, f"is {rows}x{cols}, expected {shape[0]}x{shape[1]}")
    return as_array(node["data"], shape, path, cam, f"{key}.data")


def read(path: Path) -> CameraRig:
    """Read one or more camera_info documents; extrinsics from ``mocap_extrinsics`` when present."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except yaml.YAMLError as e:
        raise CalibrationError(f"{path.name}: not valid YAML ({e})") from e
    if not docs:
        raise CalibrationError(f"{path.name}: the file is empty")
    cams = []
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise CalibrationError(f"{path.name}: YAML document {i + 1} is not a camera_info mapping")
        name = str(doc.get("camera_name") or (path.name.split(".")[0] if len(docs) == 1 else f"cam{i}"))
        size = as_size([require(doc, "image_width", path, name), require(doc, "image_height", path, name)],
                       path, name, "image_width/image_height")
        K = _matrix(doc, "camera_matrix", (3, 3), path, name)
        model_name = str(doc.get("distortion_model", "plumb_bob"))
        if model_name not in _MODELS:
            raise field_error(path, name, "distortion_model", f"is {model_name!r}; expected one of {sorted(_MODELS)}")
        model, lengths = _MODELS[model_name]
        dnode = doc.get("distortion_coefficients", {"data": []})
        data = dnode.get("data", []) if isinstance(dnode, dict) else dnode
        n = len(data) if isinstance(data, list) else -1
        if n == 0:
            dist = np.zeros(lengths[-1])
        elif n not in lengths:
            raise field_error(path, name, "distortion_coefficients", f"has {n} numbers; {model_name} takes "
                              f"{' or '.join(map(str, lengths))}")
        else:
            dist = as_array(data, (n,), path, name, "distortion_coefficients.data")
        R, t = np.eye(3), np.zeros(3)
        ext = doc.get(EXTRINSICS_KEY)
        if ext is not None:
            if not isinstance(ext, dict):
                raise field_error(path, name, EXTRINSICS_KEY, "must be a mapping")
            R = as_rotation(require(ext, ("rotation_matrix", "rotation"), path, name), path, name,
                            f"{EXTRINSICS_KEY}.rotation_matrix")
            t = as_array(require(ext, "translation", path, name), (3,), path, name, f"{EXTRINSICS_KEY}.translation")
            scale = {"m": 1.0, "mm": 0.001}.get(str(ext.get("units", "m")))
            if scale is None:
                raise field_error(path, name, f"{EXTRINSICS_KEY}.units", f"is {ext.get('units')!r}; expected m or mm")
            t = t * scale
        cams.append(Camera(name, size, K, dist, R, t, model))
    return CameraRig(cams)


def _camera_doc(cam: Camera, path: Path) -> dict:
    d = np.asarray(cam.dist, float)
    if cam.model == FISHEYE:
        model, d = "equidistant", np.pad(d, (0, 4 - d.size))
    elif d.size <= 5:
        model, d = "plumb_bob", np.pad(d, (0, 5 - d.size))
    elif d.size == 8 or not np.any(d[8:]):
        model, d = "rational_polynomial", d[:8]
    else:
        raise CalibrationError(f"{where(path, cam.name)}: field 'dist' uses thin-prism coefficients (s1..s4), "
                               "which camera_info cannot hold", hint="write another format (mocap, opencv)")
    K = np.asarray(cam.K, float)
    P = np.hstack([K, np.zeros((3, 1))])
    return {
        "image_width": int(cam.size[0]),
        "image_height": int(cam.size[1]),
        "camera_name": cam.name,
        "camera_matrix": {"rows": 3, "cols": 3, "data": K.ravel().tolist()},
        "distortion_model": model,
        "distortion_coefficients": {"rows": 1, "cols": int(d.size), "data": d.tolist()},
        "rectification_matrix": {"rows": 3, "cols": 3, "data": np.eye(3).ravel().tolist()},
        "projection_matrix": {"rows": 3, "cols": 4, "data": P.ravel().tolist()},
        EXTRINSICS_KEY: {
            "convention": "x_cam = R @ X + t (world to camera), OpenCV camera frame",
            "units": "m",
            "rotation_matrix": np.asarray(cam.R, float).ravel().tolist(),
            "translation": np.asarray(cam.t, float).tolist(),
        },
    }


def write(rig: CameraRig, path: Path) -> None:
    """Write one camera_info document per camera (multi-document YAML), extrinsics in ``mocap_extrinsics``."""
    path = Path(path)
    docs = [_camera_doc(c, path) for c in rig]
    text = yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=None, explicit_start=len(docs) > 1)
    path.write_text(text, encoding="utf-8")
