"""Import precomputed 2D keypoints: MMPose JSON, DeepLabCut CSV, OpenPose JSON folders, mocap .npz files.

Each reader returns a one-camera :class:`~mocap.keypoints.Keypoints2D` (``(T, 1, P, J, 3)``, pixels); combine
cameras with :func:`stack_cameras`. :func:`load_keypoints2d` reads what ``mocap triangulate`` / ``mocap run
--keypoints`` accept (all cameras at once), and :func:`infer_joint_set` names the joint set of imported data from
its joint count (and, for the ambiguous 25, from the geometry).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mocap.errors import DataError, KeypointsError
from mocap.keypoints.infer import infer_joint_set


def load_keypoints2d(paths: str | Path | Sequence[str | Path], joint_set: str | None = "auto",
                     fps: float | None = None):  # noqa: ANN201
    """Read 2D keypoints of all cameras: one mocap ``.npz`` (all cameras), several ``.npz`` (one or more cameras
    each), OpenPose JSON folders (one per camera), or one folder holding the per-camera JSON folders.

    Args:
        paths: a path or a list of paths (see above).
        joint_set: joint set of OpenPose JSON input; ``"auto"`` (default) names it from the data
            (:func:`infer_joint_set`; ``meta["joint_set_reason"]`` says why). Ignored for ``.npz`` files, which
            carry their joint set.
        fps: frame rate of OpenPose JSON input (default 30).

    Returns:
        :class:`~mocap.keypoints.Keypoints2D` ``(T, C, P, J, 3)``.

    Raises:
        MocapError / KeypointsError: a missing path, mixed folders and files, 3D files, cameras that disagree
            (joint set, frame count) or repeat.
    """
    from mocap.errors import MocapError
    from mocap.keypoints import Keypoints2D, load_npz, read_openpose_folders

    ps = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not ps:
        raise MocapError("no 2D keypoints given", hint="pass a .npz file or OpenPose JSON folders")
    for p in ps:
        if not p.exists():
            raise MocapError(f"keypoints input {p} does not exist")
    if all(p.is_dir() for p in ps):
        target = ps[0] if len(ps) == 1 else ps
        return read_openpose_folders(target, joint_set=joint_set, fps=fps or 30.0)
    if any(p.is_dir() for p in ps):
        raise KeypointsError(f"--keypoints mixes folders and files ({', '.join(map(str, ps))})",
                             hint="pass either OpenPose JSON folders or .npz files")
    kps = []
    for p in ps:
        kp = load_npz(p)
        if not isinstance(kp, Keypoints2D):
            raise KeypointsError(f"{p} holds 3D keypoints; 2D keypoints are needed here")
        kps.append((p, kp))
    if len(kps) == 1:
        return kps[0][1]
    p0, k0 = kps[0]
    for p, k in kps[1:]:
        if k.joint_set != k0.joint_set or k.n_joints != k0.n_joints:
            raise KeypointsError(
                f"{p} has joint set {k.joint_set!r} ({k.n_joints} joints) but {p0} has {k0.joint_set!r} "
                f"({k0.n_joints} joints); every camera must use the same joint set",
                hint="detect all cameras with the same model, or convert with mocap.skeletons.map_keypoints")
        if k.n_frames != k0.n_frames:
            raise KeypointsError(
                f"{p} has {k.n_frames} frames but {p0} has {k0.n_frames}; cameras must be synchronised frame by "
                "frame", hint="trim the inputs to the same frames or synchronise the videos first")
    P = max(k.n_people for _, k in kps)
    blocks = []
    for _, k in kps:
        d = k.data
        if d.shape[2] < P:
            d = np.concatenate([d, np.full(d.shape[:2] + (P - d.shape[2],) + d.shape[3:], np.nan)], axis=2)
        blocks.append(d)
    names = [n for _, k in kps for n in k.camera_names]
    if len(set(names)) != len(names):
        raise KeypointsError(f"camera names repeat across the inputs ({names}); each file must hold other cameras")
    return Keypoints2D(np.concatenate(blocks, axis=1), k0.joint_set, names, k0.timestamps, k0.fps, dict(k0.meta))


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


def read_mmpose_json(path: str | Path, joint_set: str = "auto", camera_name: str | None = None,
                     fps: float = 30.0):  # noqa: ANN201
    """Read an MMPose prediction JSON (inferencer ``predictions`` or demo ``instance_info``).

    Args:
        path: the ``.json`` file.
        joint_set: joint set of the model that produced it; ``"auto"`` (default) names it from the data
            (:func:`~mocap.keypoints.infer.infer_joint_set`).
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
    meta = {"source": str(path), "format": "mmpose"}
    if joint_set == "auto":
        joint_set, meta["joint_set_reason"] = infer_joint_set(data)
    return _kp2d(data, joint_set, camera_name or path.stem, fps, meta)


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


def read_openpose(folder: str | Path, joint_set: str = "auto", fps: float = 30.0):  # noqa: ANN201
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
