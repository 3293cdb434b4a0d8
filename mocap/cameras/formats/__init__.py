"""Calibration file formats: read and write a :class:`~mocap.cameras.rig.CameraRig`.

Formats (name: what, extension used when writing without ``fmt``):

- ``mocap``: our TOML, anipose/FreeMoCap-compatible, with ``[metadata]`` units and version (``.toml``);
- ``pose2sim``: Pose2Sim's ``Calib.toml`` (write with ``fmt="pose2sim"``);
- ``qualisys``: Qualisys ``.qca.txt`` XML, millimetres (``.qca.txt``);
- ``opencv``: OpenCV FileStorage YAML/XML, one map per camera (``.yml``, ``.yaml``, ``.xml``);
- ``ros``: ROS camera_info YAML, one document per camera (write with ``fmt="ros"``);
- ``caliscope``: caliscope's ``config.toml`` (write with ``fmt="caliscope"``);
- ``shelf``: the Shelf/Campus benchmark ``calibration.json`` (``.json``).

Reading detects the format from the file's content (:func:`detect_format`), not its extension. Every rig is
validated (:meth:`CameraRig.validate`); every error names the file, the camera and the field.

Example:
    >>> from mocap.cameras.formats import read_calibration, write_calibration
    >>> rig = read_calibration("Calib.qca.txt")              # doctest: +SKIP
    >>> write_calibration(rig, "calib.toml")                 # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from mocap.cameras.formats import caliscope, mocap_toml, opencv, pose2sim, qualisys, ros, shelf
from mocap.cameras.rig import CameraRig
from mocap.errors import CalibrationError, MocapError

# name -> module with NAME, EXTENSIONS, sniff(path, text), read(path), write(rig, path)
FORMATS: dict[str, ModuleType] = {m.NAME: m for m in (mocap_toml, pose2sim, qualisys, opencv, ros, caliscope, shelf)}
# Content sniffing order: most specific first (caliscope and mocap before the generic Pose2Sim tables,
# OpenCV's %YAML:1.0 before plain ROS YAML).
_SNIFF_ORDER = ("qualisys", "opencv", "shelf", "ros", "caliscope", "mocap", "pose2sim")
DESCRIPTIONS = {
    "mocap": "our TOML (anipose/FreeMoCap-compatible, metres, world-to-camera rvec/tvec)",
    "pose2sim": "Pose2Sim Calib.toml",
    "qualisys": "Qualisys .qca.txt (XML, millimetres)",
    "opencv": "OpenCV FileStorage .yml/.yaml/.xml (K, dist, R, t per camera)",
    "ros": "ROS camera_info YAML, one document per camera (+ mocap_extrinsics)",
    "caliscope": "caliscope config.toml",
    "shelf": "Shelf/Campus calibration.json (K, RT, imgSize)",
}
_EXT_DEFAULT = ((".qca.txt", "qualisys"), (".qca", "qualisys"), (".toml", "mocap"), (".yml", "opencv"),
                (".yaml", "opencv"), (".xml", "opencv"), (".json", "shelf"))


def list_formats() -> list[str]:
    """Names of the supported calibration formats."""
    return list(FORMATS)


def _check_fmt(fmt: str) -> ModuleType:
    if fmt not in FORMATS:
        raise CalibrationError(f"unknown calibration format {fmt!r}", hint=f"choose one of {', '.join(FORMATS)}")
    return FORMATS[fmt]


def _read_text(path: Path) -> str:
    if not path.exists():
        raise CalibrationError(f"{path}: calibration file not found")
    if path.is_dir():
        raise CalibrationError(f"{path}: is a folder, expected a calibration file")
    data = path.read_bytes()
    return data.decode("utf-8", errors="replace")


def detect_format(path: str | Path) -> str:
    """Detect a calibration file's format from its content.

    Args:
        path: the file.

    Returns:
        One of :func:`list_formats`.

    Raises:
        CalibrationError: missing file or unknown content.
    """
    path = Path(path)
    text = _read_text(path)
    for name in _SNIFF_ORDER:
        if FORMATS[name].sniff(path, text):
            return name
    raise CalibrationError(f"{path}: not a calibration format mocap knows",
                           hint=f"pass the format explicitly (--from FMT); known formats: {', '.join(FORMATS)}")


def format_from_extension(path: str | Path) -> str | None:
    """The default format written for ``path``'s extension, or ``None``."""
    name = Path(path).name.lower()
    for ext, fmt in _EXT_DEFAULT:
        if name.endswith(ext):
            return fmt
    return None


def read_calibration(path: str | Path, fmt: str | None = None,
                     expected_cameras: int | Sequence[str] | None = None) -> CameraRig:
    """Read a calibration file into a validated :class:`CameraRig` (metres, world-to-camera poses).

    Args:
        path: the calibration file.
        fmt: a format name (see :func:`list_formats`); detected from the content when ``None``.
        expected_cameras: a camera count or the camera names the data needs (checked by ``validate``).

    Returns:
        The rig, with ``rig.meta["source_format"]`` set to the format read.

    Raises:
        CalibrationError: naming the file, camera and field of the problem.
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    mod = _check_fmt(fmt)
    _read_text(path)
    try:
        rig = mod.read(path)
    except MocapError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, UnicodeDecodeError) as e:
        raise CalibrationError(f"{path}: could not be read as {fmt} ({type(e).__name__}: {e})",
                               hint="check the file, or pass the right format with --from FMT") from e
    rig.meta["source_format"] = fmt
    rig.validate(source=str(path), expected_cameras=expected_cameras)
    return rig


def write_calibration(rig: CameraRig, path: str | Path, fmt: str | None = None) -> Path:
    """Write a rig to a calibration file, atomically (a failed write leaves any existing file untouched).

    Args:
        rig: the cameras (validated before writing).
        path: the output file.
        fmt: a format name; from the extension when ``None`` (``.toml`` -> mocap, ``.qca.txt`` -> qualisys,
            ``.yml``/``.yaml``/``.xml`` -> opencv, ``.json`` -> shelf; pose2sim, caliscope and ros need ``fmt``).

    Returns:
        The path written.
    """
    path = Path(path)
    if fmt is None:
        fmt = format_from_extension(path)
        if fmt is None:
            raise CalibrationError(f"{path}: cannot tell the format from the extension",
                                   hint=f"use .toml/.qca.txt/.yml/.xml/.json or pass fmt (one of {', '.join(FORMATS)})")
    mod = _check_fmt(fmt)
    rig.validate(source=str(path))
    if not path.parent.exists():
        raise CalibrationError(f"{path}: the folder {path.parent} does not exist")
    # write into a private folder beside the target (same file name, so messages name the real file), then
    # move it over the target in one step
    tmp_dir = Path(tempfile.mkdtemp(prefix=".mocap-write-", dir=path.parent))
    tmp = tmp_dir / path.name
    try:
        mod.write(rig, tmp)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return path


__all__ = ["FORMATS", "DESCRIPTIONS", "detect_format", "format_from_extension", "list_formats", "read_calibration",
           "write_calibration"]
