"""Import precomputed 2D keypoints: MMPose JSON, DeepLabCut CSV, OpenPose JSON folders.

Each reader returns a one-camera :class:`~mocap.keypoints.Keypoints2D` (``(T, 1, P, J, 3)``, pixels); combine
cameras with :func:`stack_cameras`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mocap.errors import DataError, KeypointsError


def _kp2d(data: np.ndarray, joint_set: str, name: str, fps: float, meta: dict):  # noqa: ANN202
    from mocap.keypoints.containers import Keypoints2D

    return Keypoints2D(data[:, None], joint_set, [name], None, fps, meta)


def _mmpose_frames(doc, path: Path) -> list[list[dict]]:  # noqa: ANN001
    """Per-frame instance lists from the layouts MMPose writes."""
    if isinstance(doc, dict) and "instance_info" in doc:  # demo/topdown_demo_with_mmdet.py --save-predictions
        info = doc["instance_info"]
        if info and isinstance(info[0], dict) and "instances" in info[0]:
            return [f.get("instances", []) for f in info]
        return [info]  # a single image
    if isinstance(doc, dict) and "predictions" in doc:  # MMPoseInferencer
        preds = doc["predictions"]
    elif isinstance(doc, list):
        preds = doc
    else:
        raise DataError(f"MMPose JSON {path}: no 'predictions' or 'instance_info' list at the top level")
    if preds and isinstance(preds[0], dict):  # one image: a list of instances
        return [preds]
    return [list(p) for p in preds]


def read_mmpose_json(path: str | Path, joint_set: str = "coco17", camera_name: str | None = None,
                     fps: float = 30.0):  # noqa: ANN201
    """Read an MMPose prediction JSON (inferencer ``predictions`` or demo ``instance_info``).

    Args:
        path: the ``.json`` file.
        joint_set: joint set of the model that produced it.
        camera_name: default the file stem.
        fps: frame rate, Hz.

    Returns:
        :class:`Keypoints2D` ``(T, 1, P, J, 3)`` with ``keypoints`` as ``(u, v)`` and ``keypoint_scores`` as confidence.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"MMPose JSON {path} cannot be read: {e}") from e
    frames = _mmpose_frames(doc, path)
    P = max((len(f) for f in frames), default=0)
    J = 0
    for f in frames:
        for inst in f:
            J = max(J, len(inst.get("keypoints", [])))
    if J == 0:
        raise KeypointsError(f"MMPose JSON {path}: no instance has 'keypoints'")
    data = np.full((len(frames), max(P, 1), J, 3), np.nan)
    for t, f in enumerate(frames):
        for p, inst in enumerate(f):
            kp = np.asarray(inst.get("keypoints", []), float)
            if kp.ndim != 2 or kp.shape[1] < 2 or kp.shape[0] != J:
                raise KeypointsError(f"MMPose JSON {path}: frame {t} instance {p} has keypoints of shape {kp.shape}; "
                                     f"expected ({J}, 2)")
            sc = np.asarray(inst.get("keypoint_scores", np.ones(J)), float).ravel()
            if sc.shape != (J,):
                raise KeypointsError(f"MMPose JSON {path}: frame {t} instance {p} has {sc.size} keypoint_scores for "
                                     f"{J} keypoints")
            data[t, p, :, :2], data[t, p, :, 2] = kp[:, :2], sc
    return _kp2d(data, joint_set, camera_name or path.stem, fps, {"source": str(path), "format": "mmpose"})


def read_deeplabcut_csv(path: str | Path, joint_set: str = "deeplabcut", camera_name: str | None = None,
                        fps: float = 30.0):  # noqa: ANN201
    """Read a DeepLabCut CSV (3-row header scorer/bodyparts/coords, or 4 rows with individuals for multi-animal).

    Returns:
        :class:`Keypoints2D` ``(T, 1, P, J, 3)``; ``meta["bodyparts"]`` lists the joint names, ``meta["individuals"]``
        the people. Empty cells are NaN.
    """
    path = Path(path)
    try:
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as e:
        raise DataError(f"DeepLabCut CSV {path} cannot be read: {e}") from e
    if len(rows) < 4 or not rows[0] or rows[0][0].strip().lower() != "scorer":
        raise DataError(f"DeepLabCut CSV {path}: expected a header starting with 'scorer' "
                        "(rows scorer / [individuals] / bodyparts / coords)")
    heads = {r[0].strip().lower(): r for r in rows[:4]}
    n_head = 4 if "individuals" in heads else 3
    if "bodyparts" not in heads or "coords" not in heads:
        raise DataError(f"DeepLabCut CSV {path}: header rows 'bodyparts' and 'coords' not found")
    parts_row, coords_row = heads["bodyparts"], heads["coords"]
    ind_row = heads.get("individuals", ["individuals"] + ["single"] * (len(parts_row) - 1))
    individuals, bodyparts = [], []
    cols: dict[tuple[str, str, str], int] = {}
    for c in range(1, len(parts_row)):
        ind, bp, co = ind_row[c], parts_row[c], coords_row[c].strip().lower()
        if ind not in individuals:
            individuals.append(ind)
        if bp not in bodyparts:
            bodyparts.append(bp)
        cols[(ind, bp, co)] = c
    body = rows[n_head:]
    data = np.full((len(body), len(individuals), len(bodyparts), 3), np.nan)

    def num(s: str) -> float:
        try:
            return float(s) if s.strip() else np.nan
        except ValueError:
            return np.nan

    for t, r in enumerate(body):
        for (ind, bp, co), c in cols.items():
            k = {"x": 0, "y": 1, "likelihood": 2}.get(co)
            if k is not None and c < len(r):
                data[t, individuals.index(ind), bodyparts.index(bp), k] = num(r[c])
    return _kp2d(data, joint_set, camera_name or path.stem, fps,
                 {"source": str(path), "format": "deeplabcut", "bodyparts": bodyparts, "individuals": individuals})


def read_openpose(folder: str | Path, joint_set: str = "body25", fps: float = 30.0):  # noqa: ANN201
    """Read one camera's OpenPose JSON folder (delegates to :func:`mocap.keypoints.read_openpose_folders`)."""
    from mocap.keypoints import read_openpose_folders

    return read_openpose_folders([folder], joint_set=joint_set, fps=fps)


def stack_cameras(parts: Sequence) -> object:
    """Combine one-camera :class:`Keypoints2D` s (same joint set) into one; shorter cameras and fewer people are
    padded with NaN. Timestamps/fps come from the first camera with the most frames."""
    from mocap.keypoints.containers import Keypoints2D

    if not parts:
        raise KeypointsError("no cameras to combine")
    js = {p.joint_set for p in parts}
    if len(js) > 1:
        raise KeypointsError(f"cannot combine cameras with different joint sets {sorted(js)}")
    T = max(p.n_frames for p in parts)
    P = max(p.n_people for p in parts)
    J = max(p.n_joints for p in parts)
    names = [n for p in parts for n in p.camera_names]
    data = np.full((T, len(names), P, J, 3), np.nan)
    c = 0
    for p in parts:
        d = p.data
        data[: d.shape[0], c: c + d.shape[1], : d.shape[2], : d.shape[3]] = d
        c += d.shape[1]
    longest = max(parts, key=lambda p: p.n_frames)
    return Keypoints2D(data, parts[0].joint_set, names, longest.timestamps.copy(), longest.fps,
                       {"cameras": [dict(p.meta) for p in parts]})
