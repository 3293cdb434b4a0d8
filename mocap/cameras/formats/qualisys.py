"""Qualisys Track Manager calibration export (``.qca.txt``, XML, millimetres).

Conversion to our convention (checked on the Pose2Sim demo: every camera sees the person at the origin):

- the ``transform`` element's ``x, y, z`` is the camera centre in millimetres, and ``r11..r33`` read row by
  row form ``M``, the world-to-camera rotation of a camera frame with y up and z backwards (equivalently,
  its transpose is the camera-to-world rotation Qualisys calls the camera orientation). Hence
  ``R = diag(1, -1, -1) @ M`` and ``t = -R @ (x, y, z) / 1000``;
- ``focalLengthU/V`` and ``centerPointU/V`` are in 1/64 sub-pixels: ``fx = focalLengthU / 64``,
  ``cx = centerPointU / 64 - fov_video.left`` (likewise v with ``top``); ``skew / 64`` goes to ``K[0, 1]``;
- ``radialDistortion1/2``, ``tangentalDistortion1/2``, ``radialDistortion3`` are OpenCV's
  ``(k1, k2, p1, p2, k3)`` as they are (Pose2Sim's converter divides them by 64; we follow the leads' check);
- image size from ``fov_video``: ``(right - left + 1, bottom - top + 1)``;
- cameras stay in file order; when some cameras are marked as video cameras (``model`` containing "video" or
  "none", as Pose2Sim selects them) the marker-only ones are skipped and listed in
  ``rig.meta["skipped_marker_cameras"]``.

Writing produces the same elements and attributes Pose2Sim's and our reader need.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from mocap.cameras.camera import PINHOLE, Camera
from mocap.cameras.formats._common import field_error, where
from mocap.cameras.rig import CameraRig
from mocap.errors import CalibrationError

NAME = "qualisys"
EXTENSIONS = (".qca.txt", ".qca")
SUBPIXELS = 64.0
FLIP = np.diag([1.0, -1.0, -1.0])
DEFAULT_PIXEL_SIZE_MM = 5.54e-3  # used to write the informative 'focallength' (mm) when unknown


def sniff(path: Path, text: str) -> bool:
    """XML with a ``<calibration>`` root holding ``<cameras><camera>`` elements."""
    head = text.lstrip()[:4000]
    return "<calibration" in head and "<camera" in text and "<transform" in text


def _float(el: ET.Element, attr: str, source: Path, cam: str, field: str) -> float:
    val = el.get(attr)
    if val is None:
        raise field_error(source, cam, f"{field}.{attr}", "is missing")
    try:
        x = float(val)
    except ValueError:
        raise field_error(source, cam, f"{field}.{attr}", f"is {val!r}, expected a number") from None
    if not np.isfinite(x):
        raise field_error(source, cam, f"{field}.{attr}", "is NaN or infinite")
    return x


def _child(el: ET.Element, tag: str, source: Path, cam: str) -> ET.Element:
    child = el.find(tag)
    if child is None:
        raise field_error(source, cam, tag, f"is missing (no <{tag}> element)")
    return child


def read(path: Path) -> CameraRig:
    """Read a ``.qca.txt`` file; cameras in file order, named by their ``serial``."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise CalibrationError(f"{path.name}: not valid XML ({e})") from e
    cam_els = root.findall("cameras/camera")
    if not cam_els:
        raise CalibrationError(f"{path.name}: no <cameras><camera> elements; not a Qualisys calibration")
    # Like Pose2Sim, keep the video cameras (model "... video ..." or "none") when the file marks any; marker-only
    # cameras cannot see a markerless subject.
    video = [el for el in cam_els if any(m in (el.get("model") or "").lower() for m in ("video", "none"))]
    skipped = [el.get("serial") or "?" for el in cam_els if el not in video] if video else []
    cam_els = video or cam_els
    cams = []
    for i, el in enumerate(cam_els):
        name = el.get("serial") or f"cam{i + 1:02d}"
        fov = _child(el, "fov_video", path, name)
        left, right = _float(fov, "left", path, name, "fov_video"), _float(fov, "right", path, name, "fov_video")
        top, bottom = _float(fov, "top", path, name, "fov_video"), _float(fov, "bottom", path, name, "fov_video")
        size = (int(round(right - left + 1)), int(round(bottom - top + 1)))
        it = _child(el, "intrinsic", path, name)

        def g(attr: str, default: float | None = None, _it=it, _name=name) -> float:
            if default is not None and _it.get(attr) is None:
                return default
            return _float(_it, attr, path, _name, "intrinsic")

        fx, fy = g("focalLengthU") / SUBPIXELS, g("focalLengthV") / SUBPIXELS
        cx, cy = g("centerPointU") / SUBPIXELS - left, g("centerPointV") / SUBPIXELS - top
        skew = g("skew", 0.0) / SUBPIXELS
        K = np.array([[fx, skew, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        dist = np.array([g("radialDistortion1"), g("radialDistortion2"), g("tangentalDistortion1", 0.0),
                         g("tangentalDistortion2", 0.0), g("radialDistortion3", 0.0)])
        tr = _child(el, "transform", path, name)
        M = np.array([[_float(tr, f"r{r}{c}", path, name, "transform") for c in (1, 2, 3)] for r in (1, 2, 3)])
        orth = np.abs(M @ M.T - np.eye(3)).max()
        if orth > 1e-5 or np.linalg.det(M) < 0:
            raise field_error(path, name, "transform", f"r11..r33 is not a rotation (|M M^T - I| = {orth:.2g}, "
                              f"det = {np.linalg.det(M):.3g})")
        center_mm = np.array([_float(tr, a, path, name, "transform") for a in "xyz"])
        R = FLIP @ M
        meta: dict = {"serial": name}
        if el.get("avg-residual") is not None:
            meta["avg_residual_mm"] = float(el.get("avg-residual"))
        if it.get("focallength") is not None and fx > 0:
            try:
                meta["pixel_size_mm"] = float(it.get("focallength")) / fx
            except ValueError:
                pass
        cams.append(Camera(name, size, K, dist, R, -R @ center_mm / 1000.0, PINHOLE, meta))
    meta: dict = {"source_format": NAME}
    if skipped:
        meta["skipped_marker_cameras"] = skipped
    return CameraRig(cams, meta)


def _fmt(x: float) -> str:
    return repr(float(x))


def write(rig: CameraRig, path: Path) -> None:
    """Write a rig as a ``.qca.txt``; pinhole cameras with 0, 4 or 5 distortion coefficients only."""
    root = ET.Element("calibration", {"created": "mocap", "source": "mocap", "type": "regular",
                                      "qtm-version": "none", "wandLength": "none", "maximumFrames": "none",
                                      "shortArmEnd": "none", "longArmEnd": "none", "longArmMiddle": "none"})
    ET.SubElement(root, "results", {"min-max-diff": "0.", "std-dev": "0."})
    cams_el = ET.SubElement(root, "cameras")
    for cam in rig:
        if cam.model != PINHOLE:
            raise CalibrationError(f"{where(path, cam.name)}: field 'model' is {cam.model}; Qualisys files hold "
                                   "only pinhole cameras", hint="write another format (mocap, pose2sim, opencv)")
        d = np.zeros(5)
        d[: min(5, cam.dist.size)] = cam.dist[:5]
        if cam.dist.size > 5 and np.any(cam.dist[5:] != 0):
            raise CalibrationError(f"{where(path, cam.name)}: field 'dist' has {cam.dist.size} coefficients; "
                                   "Qualisys files hold only k1, k2, p1, p2, k3",
                                   hint="write another format (mocap, opencv)")
        w, h = cam.size
        el = ET.SubElement(cams_el, "camera", {
            "active": "1", "avg-residual": _fmt(cam.meta.get("avg_residual_mm", 0.0)), "model": "none",
            "point-count": "999999999", "serial": cam.name, "viewrotation": "0"})
        box = {"left": "0", "top": "0", "right": str(w - 1), "bottom": str(h - 1)}
        for tag in ("fov_marker", "fov_marker_max", "fov_video", "fov_video_max"):
            ET.SubElement(el, tag, box)
        M = FLIP @ cam.R
        c_mm = cam.center * 1000.0
        tr = {f"r{r + 1}{c + 1}": _fmt(M[r, c]) for r in range(3) for c in range(3)}
        tr.update({"x": _fmt(c_mm[0]), "y": _fmt(c_mm[1]), "z": _fmt(c_mm[2])})
        ET.SubElement(el, "transform", tr)
        K = cam.K
        pix = float(cam.meta.get("pixel_size_mm", DEFAULT_PIXEL_SIZE_MM))
        ET.SubElement(el, "intrinsic", {
            "centerPointU": _fmt(K[0, 2] * SUBPIXELS), "centerPointV": _fmt(K[1, 2] * SUBPIXELS),
            "focalLengthU": _fmt(K[0, 0] * SUBPIXELS), "focalLengthV": _fmt(K[1, 1] * SUBPIXELS),
            "focallength": _fmt(K[0, 0] * pix), "radialDistortion1": _fmt(d[0]), "radialDistortion2": _fmt(d[1]),
            "radialDistortion3": _fmt(d[4]), "sensorMaxU": str(w * 64), "sensorMaxV": str(h * 64),
            "sensorMinU": "0.000000", "sensorMinV": "0.000000", "skew": _fmt(K[0, 1] * SUBPIXELS),
            "tangentalDistortion1": _fmt(d[2]), "tangentalDistortion2": _fmt(d[3])})
    ET.indent(root, space="  ")
    ET.ElementTree(root).write(path, encoding="ASCII", xml_declaration=True)
