"""OpenPose JSON keypoint folders (as OpenPose and Pose2Sim write them): one folder per camera, one file per frame.

Each file looks like ``{"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": [x, y, c, ...],
"face_keypoints_2d": [], "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [], ...}]}`` and is named like
``cam01_000000000012_keypoints.json``: the frame index is the last number in the file name.

Conventions:

- All ``J`` joints of the joint set go in ``pose_keypoints_2d`` (what Pose2Sim/RTMLib do for every model,
  whole-body ones included); the face and hand arrays are written empty and ignored on reading.
- A missing joint is written ``0, 0, 0`` (OpenPose's convention) and a joint with confidence 0 (or a non-finite
  value) is read back as NaN. Points with confidence exactly 0 therefore do not survive a round trip.
- People: a person whose joints are all missing in a frame is not written. The writer puts the person's slot
  index in ``person_id``; the reader uses ``person_id`` as the slot when every person of every file has an id
  ``>= 0`` (ids sorted into slots, kept in ``meta["person_ids"]``), otherwise the order in the file
  (OpenPose and Pose2Sim write ``-1``). ``P`` is the largest number of people found in one frame.
- Frames: the result spans the smallest to the largest frame index over all cameras; frames without a file
  are NaN. When cameras have different numbers of files, a :class:`~mocap.errors.MocapWarning` names each
  camera with its count and range, and the missing frames are NaN (nothing is dropped).
  ``meta["frame_indices"]`` keeps the file frame numbers and ``timestamps = frame_index / fps``.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mocap.errors import DataError, KeypointsError, MocapWarning
from mocap.keypoints._common import frame_indices, joint_count
from mocap.keypoints.containers import Keypoints2D
from mocap.keypoints.infer import infer_joint_set
from mocap.progress import track

OPENPOSE_VERSION = 1.3
_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")
_EMPTY_PARTS = ("face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d",
                "pose_keypoints_3d", "face_keypoints_3d", "hand_left_keypoints_3d", "hand_right_keypoints_3d")


def _frame_of(path: Path) -> int:
    m = _LAST_NUMBER.search(path.stem)
    if m is None:
        raise KeypointsError(f"{path}: no frame number in the file name",
                             hint="OpenPose files are named like cam01_000000000012_keypoints.json")
    return int(m.group(1))


def _camera_name(folder: Path) -> str:
    name = folder.name
    return name[:-5] if name.endswith("_json") and len(name) > 5 else name


def _list_folders(folders: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(folders, str | Path):
        root = Path(folders)
        if not root.is_dir():
            raise DataError(f"{root}: no such folder of OpenPose JSON files")
        if any(root.glob("*.json")):
            return [root]
        subs = sorted(d for d in root.iterdir() if d.is_dir() and any(d.glob("*.json")))
        if not subs:
            raise DataError(f"{root}: no .json files in it or in its subfolders",
                            hint="pass the folder that holds one sub-folder of OpenPose JSON files per camera")
        return subs
    out = [Path(f) for f in folders]
    for f in out:
        if not f.is_dir():
            raise DataError(f"{f}: no such folder of OpenPose JSON files")
    if not out:
        raise DataError("no OpenPose folders given")
    return out


def _parse_file(path: Path, frame: int, n_joints: int | None) -> list[tuple[int, np.ndarray]]:
    """``[(person_id, (J, 3) array)]`` of one file; ids are -1 when absent."""
    where = f"{path} (frame {frame})"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise KeypointsError(f"{where}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}",
                             hint="the file is truncated or corrupt; re-run the detector on this frame "
                                  "or delete the file to treat the frame as missing") from None
    except UnicodeDecodeError:
        raise KeypointsError(f"{where}: not a text file") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("people", []), list):
        raise KeypointsError(f"{where}: expected an object with a 'people' list (OpenPose format)")
    out = []
    for i, person in enumerate(doc.get("people", [])):
        if not isinstance(person, dict):
            raise KeypointsError(f"{where}: people[{i}] is not an object")
        vals = person.get("pose_keypoints_2d", [])
        try:
            arr = np.asarray(vals, dtype=float).ravel()
        except (TypeError, ValueError):
            raise KeypointsError(f"{where}: people[{i}].pose_keypoints_2d holds non-numbers") from None
        if arr.size == 0:
            continue
        if arr.size % 3 or (n_joints is not None and arr.size != 3 * n_joints):
            want = f"{3 * n_joints} values ({n_joints} joints x 3)" if n_joints else "a multiple of 3 values"
            raise KeypointsError(f"{where}: people[{i}].pose_keypoints_2d has {arr.size} values, expected {want}",
                                 hint="pass the joint_set the detector produced (e.g. body25=25, coco17=17, "
                                      "halpe26=26, coco_wholebody133=133 joints)")
        pid = person.get("person_id", [-1])
        try:
            pid_int = int(np.ravel(pid)[0]) if np.size(pid) else -1
        except (TypeError, ValueError):
            pid_int = -1
        out.append((pid_int, arr.reshape(-1, 3)))
    return out


def read_openpose_folders(folders: str | Path | Sequence[str | Path], joint_set: str | None = "auto",
                          camera_names: Sequence[str] | None = None, fps: float = 30.0) -> Keypoints2D:
    """Read OpenPose JSON folders into :class:`Keypoints2D`.

    Args:
        folders: a list of folders (one per camera, in camera order), or one parent folder whose sub-folders
            holding ``.json`` files are the cameras (sorted by name), or a single folder of ``.json`` files.
        joint_set: joint set of ``pose_keypoints_2d`` (checks the joint count); ``"auto"`` (default) names it from
            the data (:func:`mocap.keypoints.infer.infer_joint_set`: the joint count, and for 25 joints the geometry
            that tells BODY_25 from BODY_25B; ``meta["joint_set_reason"]`` says why); ``None`` infers the count
            from the files and keeps the name ``"unknown"``.
        camera_names: names for the cameras (default: folder names without a trailing ``_json``).
        fps: frame rate for the timestamps ``frame_index / fps``.

    Returns:
        ``(T, C, P, J, 3)`` keypoints, ``(u, v, confidence)`` pixels, NaN where missing; ``meta`` holds
        ``frame_indices``, ``source_folders`` and (when the files carry them) ``person_ids``.

    Raises:
        DataError: a folder is missing or empty.
        KeypointsError: malformed JSON (names file and frame), wrong joint count, duplicate frame numbers.
    """
    dirs = _list_folders(folders)
    names = [_camera_name(d) for d in dirs] if camera_names is None else [str(c) for c in camera_names]
    if len(names) != len(dirs):
        raise KeypointsError(f"{len(names)} camera names {names} for {len(dirs)} OpenPose folders")
    auto = joint_set == "auto"
    n_joints = None if auto else joint_count(joint_set)

    per_cam: list[dict[int, Path]] = []
    for d in dirs:
        files: dict[int, Path] = {}
        for f in sorted(d.glob("*.json")):
            k = _frame_of(f)
            if k in files:
                raise KeypointsError(f"{d}: files {files[k].name} and {f.name} both hold frame {k}",
                                     hint="keep one file per frame in each camera folder")
            files[k] = f
        if not files:
            raise DataError(f"{d}: no .json files for camera {_camera_name(d)!r}")
        per_cam.append(files)

    counts = [len(f) for f in per_cam]
    lo = min(min(f) for f in per_cam)
    hi = max(max(f) for f in per_cam)
    if len(set(counts)) > 1:
        desc = ", ".join(f"{n}: {len(f)} files (frames {min(f)}-{max(f)})" for n, f in zip(names, per_cam))
        warnings.warn(f"OpenPose folders have different frame counts ({desc}); frames {lo}-{hi} are kept and "
                      "frames without a file are NaN", MocapWarning, stacklevel=2)

    parsed: list[dict[int, list[tuple[int, np.ndarray]]]] = [{} for _ in per_cam]
    total = sum(counts)
    jobs = ((c, k, f) for c, files in enumerate(per_cam) for k, f in files.items())
    for c, k, f in track(jobs, "reading OpenPose JSON", total=total):
        people = _parse_file(f, k, n_joints)
        if people and n_joints is None:
            n_joints = people[0][1].shape[0]
        for i, (_, a) in enumerate(people):
            if a.shape[0] != n_joints:
                raise KeypointsError(f"{f} (frame {k}): people[{i}] has {a.shape[0]} joints but earlier files have "
                                     f"{n_joints}", hint="all files must come from the same detector model")
        parsed[c][k] = people
    if n_joints is None:
        n_joints = 0

    all_people = [p for cam in parsed for people in cam.values() for p in people]
    use_ids = bool(all_people) and all(pid >= 0 for pid, _ in all_people)
    if use_ids:
        ids = sorted({pid for pid, _ in all_people})
        slot_of = {pid: s for s, pid in enumerate(ids)}
        n_people = len(ids)
    else:
        n_people = max((len(people) for cam in parsed for people in cam.values()), default=0)

    T = hi - lo + 1
    data = np.full((T, len(dirs), n_people, n_joints, 3), np.nan)
    for c, cam in enumerate(parsed):
        for k, people in cam.items():
            for i, (pid, a) in enumerate(people):
                s = slot_of[pid] if use_ids else i
                if use_ids and np.isfinite(data[k - lo, c, s]).any():
                    raise KeypointsError(f"{per_cam[c][k]} (frame {k}): person_id {pid} appears twice")
                data[k - lo, c, s] = a
    bad = ~np.isfinite(data).all(-1) | (data[..., 2] <= 0)
    data[bad] = np.nan

    meta: dict = {"source": "openpose_json", "frame_indices": list(range(lo, hi + 1)),
                  "source_folders": [str(d) for d in dirs]}
    if auto and n_joints == 0:
        joint_set, meta["joint_set_reason"] = None, "no person in any file: the joint set is unknown"
    elif auto:
        joint_set, meta["joint_set_reason"] = infer_joint_set(data)
    if use_ids:
        meta["person_ids"] = ids
    frames = np.arange(lo, hi + 1, dtype=float)
    return Keypoints2D(data, joint_set or "unknown", names, frames / float(fps), float(fps), meta)


def write_openpose_folders(kp2d: Keypoints2D, out_dir: str | Path, person_ids: bool = True) -> list[Path]:
    """Write one folder ``<out_dir>/<camera>_json/`` per camera with one OpenPose JSON file per frame.

    Files are named ``<camera>_<frame:012d>_keypoints.json`` with the frame numbers of
    ``meta["frame_indices"]`` (default ``0..T-1``). Missing joints are written ``0, 0, 0``; a person whose
    joints are all missing in a frame is left out of that file.

    Args:
        kp2d: ``(T, C, P, J, 3)`` keypoints.
        out_dir: parent folder (created).
        person_ids: write the person's slot index (or ``meta["person_ids"]``) in ``person_id``; ``False``
            writes ``[-1]`` as OpenPose does.

    Returns:
        The camera folders written, in camera order.
    """
    out = Path(out_dir)
    frames = frame_indices(kp2d.meta, kp2d.n_frames)
    ids = kp2d.meta.get("person_ids")
    if ids is None or len(ids) != kp2d.n_people:
        ids = list(range(kp2d.n_people))
    data = np.asarray(kp2d.data, dtype=float)
    valid = np.isfinite(data).all(-1) & (data[..., 2] > 0)  # (T, C, P, J)
    clean = np.where(valid[..., None], data, 0.0)
    dirs = []
    for c, cam in enumerate(kp2d.camera_names):
        d = out / f"{cam}_json"
        d.mkdir(parents=True, exist_ok=True)
        dirs.append(d)
        for t in track(range(kp2d.n_frames), f"writing OpenPose JSON {cam}"):
            people = []
            for p in range(kp2d.n_people):
                if not valid[t, c, p].any():
                    continue
                person = {"person_id": [int(ids[p]) if person_ids else -1],
                          "pose_keypoints_2d": [float(v) for v in clean[t, c, p].ravel()]}
                person.update({k: [] for k in _EMPTY_PARTS})
                people.append(person)
            doc = {"version": OPENPOSE_VERSION, "people": people}
            (d / f"{cam}_{int(frames[t]):012d}_keypoints.json").write_text(json.dumps(doc), encoding="utf-8")
    return dirs
