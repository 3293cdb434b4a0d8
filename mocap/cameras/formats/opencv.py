"""OpenCV FileStorage calibration files (``.yml``/``.yaml``/``.xml``), read and written with ``cv2.FileStorage``.

Our layout (what :func:`write` produces; one map per camera, in rig order)::

    %YAML:1.0
    ---
    format: mocap-opencv
    units: m
    convention: "x_cam = R @ X + t (world to camera), OpenCV camera frame"
    camera_count: 2
    camera_names: [ cam0, cam1 ]
    camera_0:
       name: cam0
       model: pinhole            # or fisheye (cv2.fisheye, 4 coefficients)
       image_width: 1280
       image_height: 720
       K: !!opencv-matrix 3x3    # intrinsics, pixels
       dist: !!opencv-matrix 1xN # OpenCV order (k1, k2, p1, p2[, k3...])
       R: !!opencv-matrix 3x3    # world-to-camera rotation
       rvec: !!opencv-matrix 3x1 # the same rotation as a Rodrigues vector (informative)
       t: !!opencv-matrix 3x1    # world-to-camera translation, metres
    camera_1: ...

The reader also accepts, per camera map or at the top level for a single camera (as OpenCV's calibration
sample writes): ``camera_matrix``/``cameraMatrix``, ``distortion_coefficients``/``D``/``distCoeffs``,
``rvec``/``tvec``/``T``, ``image_size`` or ``image_width``+``image_height``; and EasyMocap's
``intri.yml``/``extri.yml`` pair (``names`` plus ``K_<name>``, ``dist_<name>``, ``Rot_<name>``/``R_<name>``,
``T_<name>``; the sibling ``extri.yml`` is merged when reading ``intri.yml``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np

from mocap.cameras.camera import FISHEYE, PINHOLE, Camera
from mocap.cameras.formats._common import as_array, as_rotation, as_size, as_vector, field_error
from mocap.cameras.rig import CameraRig
from mocap.errors import CalibrationError, MocapWarning
from mocap.geometry.projection import VALID_DIST_LENGTHS

NAME = "opencv"
EXTENSIONS = (".yml", ".yaml", ".xml")
FORMAT_TAG = "mocap-opencv"

_K_KEYS = ("K", "camera_matrix", "cameraMatrix", "intrinsic_matrix", "M")
_D_KEYS = ("dist", "D", "distortion_coefficients", "distCoeffs", "dist_coeffs", "distortion")
_R_KEYS = ("R", "rotation_matrix", "Rot")
_RVEC_KEYS = ("rvec", "rotation_vector")
_T_KEYS = ("t", "T", "tvec", "translation")


def sniff(path: Path, text: str) -> bool:
    """A FileStorage YAML (``%YAML:1.0`` header or ``!!opencv-matrix``) or XML (``<opencv_storage>``)."""
    head = text.lstrip()[:200]
    return head.startswith("%YAML:1.") or "!!opencv-matrix" in text or "<opencv_storage>" in text


def _open(path: Path) -> cv2.FileStorage:
    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError) as e:  # OpenCV raises SystemError for some parse failures
        cause = e.__cause__ or e
        msg = str(cause).strip().splitlines()[-1] if str(cause).strip() else "parse error"
        raise CalibrationError(f"{path.name}: not a readable OpenCV FileStorage file ({msg})",
                               hint="check the YAML/XML syntax, or pass --from FMT") from e
    if not fs.isOpened():
        raise CalibrationError(f"{path.name}: OpenCV cannot open it as a FileStorage file")
    return fs


def _value(node: cv2.FileNode):
    """A FileNode -> numpy array (matrices, sequences of numbers), float, or str."""
    if node.empty():
        return None
    if node.isString():
        return node.string()
    if node.isInt() or node.isReal():
        return node.real()
    if node.isSeq():
        out = [_value(node.at(i)) for i in range(node.size())]
        return out
    m = node.mat()
    if m is not None:
        return np.asarray(m, dtype=float)
    return None


def _first(node: cv2.FileNode, keys: tuple[str, ...], suffix: str = ""):
    for k in keys:
        v = _value(node.getNode(k + suffix))
        if v is not None:
            return k + suffix, v
    return None, None


def _parse_camera(node: cv2.FileNode, name: str, path: Path, suffix: str = "") -> Camera:
    model_v = _value(node.getNode("model" + suffix)) if not suffix else None
    model = str(model_v) if model_v else PINHOLE
    if model not in (PINHOLE, FISHEYE):
        raise field_error(path, name, "model", f"is {model!r}; expected 'pinhole' or 'fisheye'")
    kk, K = _first(node, _K_KEYS, suffix)
    if K is None:
        raise field_error(path, name, "K", "is missing (looked for " + ", ".join(k + suffix for k in _K_KEYS) + ")")
    K = as_array(K, (3, 3), path, name, kk)
    dk, D = _first(node, _D_KEYS, suffix)
    lengths = tuple(n for n in VALID_DIST_LENGTHS[model] if n > 0)
    if D is None:
        D = np.zeros(0)
    else:
        D = as_vector(np.ravel(D) if isinstance(D, np.ndarray) else D, lengths + (14,), path, name, dk)
        if D.size == 14:  # OpenCV's 14-coefficient model: keep the 12 we support when tauX/tauY are zero
            if np.any(D[12:] != 0):
                raise field_error(path, name, dk, "uses the tilted model (tauX, tauY != 0), which mocap does not "
                                  "support")
            D = D[:12]
    rk, R = _first(node, _R_KEYS, suffix)
    if R is None:
        rk, R = _first(node, _RVEC_KEYS, suffix)
    R = np.eye(3) if R is None else as_rotation(R, path, name, rk)
    tk, t = _first(node, _T_KEYS, suffix)
    t = np.zeros(3) if t is None else as_array(t, (3,), path, name, tk)
    sk, size = _first(node, ("image_size", "imageSize", "size", "imgSize"), suffix)
    if size is not None:
        size = as_size(size, path, name, sk)
    else:
        w = _value(node.getNode("image_width" + suffix))
        h = _value(node.getNode("image_height" + suffix))
        if w is None or h is None:
            w = _value(node.getNode("W" + suffix))
            h = _value(node.getNode("H" + suffix))
        if w is not None and h is not None:
            size = as_size([w, h], path, name, "image_width/image_height")
        else:
            size = (int(round(2 * K[0, 2])), int(round(2 * K[1, 2])))
            warnings.warn(f"{path.name}: camera '{name}' field 'image_size' is missing; assuming "
                          f"{size[0]}x{size[1]} (twice the principal point). Check it.", MocapWarning, stacklevel=4)
    return Camera(name, size, K, D, R, t, model)


def _names_of(node: cv2.FileNode) -> list[str] | None:
    v = _value(node)
    if v is None:
        return None
    return [str(x) for x in (v if isinstance(v, list) else [v])]


def read(path: Path) -> CameraRig:
    """Read a FileStorage calibration (our layout, OpenCV's calibration sample, or EasyMocap's intri/extri)."""
    fs = _open(path)
    try:
        root = fs.root()
        keys = list(root.keys())
        meta = {}
        cams: list[Camera] = []
        cam_keys = [k for k in keys if root.getNode(k).isMap() and any(
            not root.getNode(k).getNode(kk).empty() for kk in _K_KEYS)]
        if cam_keys:  # one map per camera
            for k in cam_keys:
                node = root.getNode(k)
                name = _value(node.getNode("name"))
                cams.append(_parse_camera(node, str(name) if name is not None else k, path))
        elif not root.getNode("names").empty():  # EasyMocap intri.yml / extri.yml
            names = _names_of(root.getNode("names")) or []
            extri = None
            if path.name.startswith("intri") and (path.parent / path.name.replace("intri", "extri", 1)).exists():
                extri = _open(path.parent / path.name.replace("intri", "extri", 1))
            for n in names:
                cam = _parse_camera(root, n, path, suffix=f"_{n}")
                if extri is not None:
                    e = _parse_camera_extrinsics(extri.root(), n, path)
                    if e is not None:
                        cam.R, cam.t = e
                cams.append(cam)
            if extri is not None:
                extri.release()
        elif any(not root.getNode(k).empty() for k in _K_KEYS):  # a single camera at the top level
            cams.append(_parse_camera(root, path.name.split(".")[0], path))
        else:
            raise CalibrationError(f"{path.name}: no camera found (no map with a 'K' or 'camera_matrix' node)",
                                   hint="see mocap.cameras.formats.opencv for the layouts read")
        for k in ("format", "units"):
            v = _value(root.getNode(k))
            if isinstance(v, str):
                meta[k] = v
        units = meta.pop("units", "m")
        meta.pop("format", None)
        if units not in ("m", "mm"):
            raise CalibrationError(f"{path.name}: field 'units' is {units!r}; expected 'm' or 'mm'")
        if units == "mm":
            for c in cams:
                c.t = c.t / 1000.0
        count = _value(root.getNode("camera_count"))
        if count is not None and int(count) != len(cams):
            raise CalibrationError(f"{path.name}: field 'camera_count' says {int(count)} cameras but the file "
                                   f"holds {len(cams)} ({', '.join(c.name for c in cams)})",
                                   hint="the file is truncated or was edited; fix camera_count or the camera maps")
    finally:
        fs.release()
    return CameraRig(cams, meta)


def _parse_camera_extrinsics(root: cv2.FileNode, name: str, path: Path):
    rk, R = _first(root, ("Rot", "R"), f"_{name}")
    tk, t = _first(root, ("T",), f"_{name}")
    if R is None or t is None:
        return None
    return as_rotation(R, path, name, rk), as_array(t, (3,), path, name, tk)


def write(rig: CameraRig, path: Path) -> None:
    """Write our FileStorage layout (YAML for ``.yml``/``.yaml``, XML for ``.xml``)."""
    path = Path(path)
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    if not fs.isOpened():
        raise CalibrationError(f"{path}: OpenCV cannot write here (use a .yml, .yaml or .xml name)")
    try:
        fs.write("format", FORMAT_TAG)
        fs.write("units", "m")
        fs.write("convention", "x_cam = R @ X + t (world to camera), OpenCV camera frame")
        fs.write("camera_count", len(rig))
        fs.startWriteStruct("camera_names", cv2.FileNode_SEQ)
        for c in rig:
            fs.write("", c.name)
        fs.endWriteStruct()
        for i, c in enumerate(rig):
            fs.startWriteStruct(f"camera_{i}", cv2.FileNode_MAP)
            fs.write("name", c.name)
            fs.write("model", c.model)
            fs.write("image_width", int(c.size[0]))
            fs.write("image_height", int(c.size[1]))
            fs.write("K", np.asarray(c.K, dtype=np.float64))
            if c.dist.size:  # no node for "no distortion"
                fs.write("dist", np.asarray(c.dist, dtype=np.float64).reshape(1, -1))
            fs.write("R", np.asarray(c.R, dtype=np.float64))
            fs.write("rvec", np.asarray(c.rvec, dtype=np.float64).reshape(3, 1))
            fs.write("t", np.asarray(c.t, dtype=np.float64).reshape(3, 1))
            fs.endWriteStruct()
    finally:
        fs.release()
