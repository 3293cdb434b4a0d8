"""Keypoint containers (2D ``(T, C, P, J, 3)``, 3D ``(T, P, J, 4)``) and their file formats.

Formats: ``.npz`` (every field, :func:`save_npz` / :func:`load_npz`), OpenPose JSON folders
(:func:`read_openpose_folders` / :func:`write_openpose_folders`), TRC marker files for OpenSim
(:func:`write_trc` / :func:`read_trc`) and long-format CSV (:func:`write_csv` / :func:`read_csv`);
:func:`load_keypoints` / :func:`save_keypoints` pick the format from the path.
"""

from mocap.keypoints.containers import Keypoints2D, Keypoints3D
from mocap.keypoints.csv_io import read_csv, write_csv
from mocap.keypoints.files import is_keypoints_path, load_keypoints, save_keypoints
from mocap.keypoints.npz_io import load_npz, save_npz
from mocap.keypoints.openpose_json import read_openpose_folders, write_openpose_folders
from mocap.keypoints.trc import read_trc, write_trc, write_trc_per_person

__all__ = [
    "Keypoints2D",
    "Keypoints3D",
    "is_keypoints_path",
    "load_keypoints",
    "load_npz",
    "read_csv",
    "read_openpose_folders",
    "read_trc",
    "save_keypoints",
    "save_npz",
    "write_csv",
    "write_openpose_folders",
    "write_trc",
    "write_trc_per_person",
]
