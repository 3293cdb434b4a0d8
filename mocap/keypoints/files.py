"""Read and write keypoints in any supported format, chosen from the path."""

from __future__ import annotations

from pathlib import Path

from mocap.errors import DataError, KeypointsError
from mocap.keypoints.containers import Keypoints2D, Keypoints3D
from mocap.keypoints.csv_io import read_csv, write_csv
from mocap.keypoints.npz_io import load_npz, save_npz
from mocap.keypoints.openpose_json import read_openpose_folders, write_openpose_folders
from mocap.keypoints.trc import read_trc, write_trc

KEYPOINT_SUFFIXES = (".npz", ".csv", ".trc")


def is_keypoints_path(path: str | Path) -> bool:
    """Whether ``path`` looks like a keypoints file: ``.npz``/``.csv``/``.trc`` or a folder of OpenPose JSON."""
    p = Path(path)
    if p.is_dir():
        return any(p.glob("*.json")) or any(any(d.glob("*.json")) for d in p.iterdir() if d.is_dir())
    return p.suffix.lower() in KEYPOINT_SUFFIXES


def load_keypoints(path: str | Path, **kwargs) -> Keypoints2D | Keypoints3D:
    """Read keypoints from ``.npz``, ``.csv``, ``.trc`` or an OpenPose JSON folder; ``kwargs`` go to the reader.

    Raises:
        DataError: the path does not exist or its format is unknown.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    if p.is_dir():
        return read_openpose_folders(p, **kwargs)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return load_npz(p)
    if suffix == ".csv":
        return read_csv(p)
    if suffix == ".trc":
        return read_trc(p, **kwargs)
    raise DataError(f"{p}: unknown keypoints format {suffix!r}",
                    hint="use .npz, .csv, .trc or a folder of OpenPose JSON folders")


def save_keypoints(kp: Keypoints2D | Keypoints3D, path: str | Path, **kwargs) -> Path:
    """Write keypoints in the format of ``path``'s suffix (``.npz``, ``.csv``, ``.trc``); a path without a
    suffix is a folder of OpenPose JSON folders (2D only). Returns the path written."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return save_npz(kp, p, **kwargs)
    if suffix == ".csv":
        return write_csv(kp, p)
    if suffix == ".trc":
        if not isinstance(kp, Keypoints3D):
            raise KeypointsError(f"{p}: TRC holds 3D keypoints; got {type(kp).__name__}")
        return write_trc(kp, p, **kwargs)
    if suffix == "":
        if not isinstance(kp, Keypoints2D):
            raise KeypointsError(f"{p}: OpenPose JSON folders hold 2D keypoints; got {type(kp).__name__}")
        write_openpose_folders(kp, p, **kwargs)
        return p
    raise DataError(f"{p}: unknown keypoints format {suffix!r}", hint="use .npz, .csv, .trc or a folder name")
