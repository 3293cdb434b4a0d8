"""CSV files of 2D or 3D keypoints in long format (one row per point).

- 2D columns: ``frame, time, camera, person, joint, u, v, conf`` (pixels).
- 3D columns: ``frame, time, person, joint, x, y, z, conf`` (metres), then one column per quality field
  (e.g. ``reproj_error_px``, ``n_views``).

``frame`` is the frame number (``meta["frame_indices"]`` or ``0..T-1``), ``time`` seconds, ``camera`` the camera
name, ``person`` the person slot (2D) or stable person id (3D), ``joint`` the joint name. Points missing in every
value are left out; a NaN value is an empty cell. Floats are written with 17 significant digits, so a file reads
back exactly.

The first line is a comment ``# mocap {...}`` with a JSON object holding what the rows cannot: kind, joint set,
fps, frame/camera/person counts and orders, joint names and ``meta``. Read the rest with any CSV reader
(``pandas.read_csv(path, comment="#")``). :func:`read_csv` also reads files without that line (from other tools):
it then takes cameras, people, joints and frames in order of first appearance and fps from the time column.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from mocap.errors import DataError, KeypointsError
from mocap.keypoints._common import (
    CUSTOM_JOINT_SET,
    fmt_float,
    frame_indices,
    joint_names,
    match_joint_set,
    meta_to_json,
)
from mocap.keypoints.containers import Keypoints2D, Keypoints3D

COLUMNS_2D = ["frame", "time", "camera", "person", "joint", "u", "v", "conf"]
COLUMNS_3D = ["frame", "time", "person", "joint", "x", "y", "z", "conf"]
_COMMENT = "# mocap "


def write_csv(kp: Keypoints2D | Keypoints3D, path: str | Path) -> Path:
    """Write 2D or 3D keypoints as a long-format CSV (see the module notes).

    Args:
        kp: ``(T, C, P, J, 3)`` 2D or ``(T, P, J, 4)`` 3D keypoints.
        path: output ``.csv`` file.

    Returns:
        The path written.
    """
    path = Path(path)
    is2d = isinstance(kp, Keypoints2D)
    if not is2d and not isinstance(kp, Keypoints3D):
        raise KeypointsError(f"write_csv takes Keypoints2D or Keypoints3D, got {type(kp).__name__}")
    T = kp.n_frames
    J = kp.n_joints
    names = joint_names(kp.joint_set, J, kp.meta)
    frames = frame_indices(kp.meta, T)
    head = {"kind": "keypoints2d" if is2d else "keypoints3d", "joint_set": kp.joint_set, "fps": float(kp.fps),
            "n_frames": T, "joint_names": names, "frame_indices": frames.tolist(),
            "timestamps": [float(x) for x in kp.timestamps], "meta": kp.meta}
    if is2d:
        head.update(camera_names=list(kp.camera_names), n_people=kp.n_people)
        # (T, C, P, J, 3) -> rows t, c, p, j
        data = kp.data.reshape(-1, 3)
        t, c, p, j = np.unravel_index(np.arange(data.shape[0]), kp.data.shape[:4])
        labels = [kp.camera_names]
        columns = COLUMNS_2D
        extra: list[np.ndarray] = []
        qnames: list[str] = []
    else:
        head.update(person_ids=kp.person_ids.tolist(), quality=sorted(kp.quality))
        data = kp.data.reshape(-1, 4)
        t, p, j = np.unravel_index(np.arange(data.shape[0]), kp.data.shape[:3])
        c = None
        labels = []
        qnames = sorted(kp.quality)
        extra = [np.asarray(kp.quality[q], dtype=float).reshape(-1) for q in qnames]
        columns = COLUMNS_3D + qnames
    keep = np.isfinite(data).any(-1)
    for e in extra:
        keep |= np.isfinite(e)
    path.parent.mkdir(parents=True, exist_ok=True)

    with path.open("w", newline="", encoding="utf-8") as f:
        f.write(_COMMENT + meta_to_json(head) + "\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        ts = kp.timestamps
        pid = None if is2d else kp.person_ids
        for r in np.flatnonzero(keep):
            row = [int(frames[t[r]]), repr(float(ts[t[r]]))]
            if is2d:
                row += [labels[0][c[r]], int(p[r])]
            else:
                row += [int(pid[p[r]])]
            row.append(names[j[r]])
            row += [fmt_float(v) for v in data[r]]
            row += [fmt_float(e[r]) for e in extra]
            w.writerow(row)
    return path


def _num(text: str, path: Path, line: int, col: str) -> float:
    if text == "":
        return np.nan
    try:
        return float(text)
    except ValueError:
        raise KeypointsError(f"{path}: line {line}: column '{col}' is {text!r}, not a number") from None


class _Index:
    """Ordered labels -> slot numbers, seeded from the header and grown in order of first appearance."""

    def __init__(self, labels=()) -> None:
        self.labels: list = list(labels)
        self.slot = {v: i for i, v in enumerate(self.labels)}

    def __call__(self, key) -> int:
        if key not in self.slot:
            self.slot[key] = len(self.labels)
            self.labels.append(key)
        return self.slot[key]


def read_csv(path: str | Path) -> Keypoints2D | Keypoints3D:
    """Read a keypoints CSV written by :func:`write_csv` (or one with the same columns, see the module notes).

    Returns:
        :class:`Keypoints2D` when the columns are the 2D ones (``camera``, ``u``, ``v``), else
        :class:`Keypoints3D` (``x``, ``y``, ``z`` and quality columns).

    Raises:
        DataError: the file is missing.
        KeypointsError: unknown columns or a bad value (names the line and column).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such CSV file")
    with path.open(newline="", encoding="utf-8") as f:
        lines = f.read().splitlines()
    head: dict = {}
    start = 0
    if lines and lines[0].startswith(_COMMENT):
        try:
            head = json.loads(lines[0][len(_COMMENT):])
        except json.JSONDecodeError as e:
            raise KeypointsError(f"{path}: line 1: the '# mocap' header is not valid JSON ({e.msg})") from None
    while start < len(lines) and (not lines[start].strip() or lines[start].startswith("#")):
        start += 1
    if start >= len(lines):
        raise KeypointsError(f"{path}: no column header line")
    reader = csv.reader(lines[start:])
    columns = [c.strip() for c in next(reader)]
    if columns[:len(COLUMNS_2D)] == COLUMNS_2D:
        is2d, base = True, COLUMNS_2D
    elif columns[:len(COLUMNS_3D)] == COLUMNS_3D:
        is2d, base = False, COLUMNS_3D
    else:
        raise KeypointsError(f"{path}: line {start + 1}: columns {columns} are not a keypoints CSV",
                             hint=f"expected {','.join(COLUMNS_2D)} (2D) or {','.join(COLUMNS_3D)} (3D)")
    ncol = len(columns)
    qnames = columns[len(base):]
    first_value = 5 if is2d else 4  # u (2D) or x (3D)
    person_col = 3 if is2d else 2

    frames = _Index(head.get("frame_indices", []))
    cams = _Index(head.get("camera_names", []))
    joints = _Index(head.get("joint_names", []))
    people = _Index(range(int(head.get("n_people", 0))) if is2d else head.get("person_ids", []))
    times: dict[int, float] = {}
    recs = []
    for k, row in enumerate(reader):
        line = start + 2 + k
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != ncol:
            raise KeypointsError(f"{path}: line {line} has {len(row)} columns, expected {ncol} ({','.join(columns)})")
        try:
            frame, person = int(row[0]), int(row[person_col])
        except ValueError:
            raise KeypointsError(f"{path}: line {line}: 'frame' {row[0]!r} or 'person' {row[person_col]!r} "
                                 "is not an integer") from None
        ti = frames(frame)
        times.setdefault(ti, _num(row[1], path, line, "time"))
        recs.append((ti, cams(row[2]) if is2d else 0, people(person), joints(row[person_col + 1]),
                     [_num(v, path, line, col) for v, col in zip(row[first_value:], columns[first_value:])]))

    T, P, J = len(frames.labels), len(people.labels), len(joints.labels)
    data = np.full((T, len(cams.labels), P, J, 3) if is2d else (T, P, J, 4), np.nan)
    quality = {q: np.full((T, P, J), np.nan) for q in qnames}
    for ti, ci, pi, ji, vals in recs:
        if is2d:
            data[ti, ci, pi, ji] = vals
        else:
            data[ti, pi, ji] = vals[:4]
            for q, v in zip(qnames, vals[4:]):
                quality[q][ti, pi, ji] = v

    fidx = np.asarray(frames.labels, dtype=float)
    if "fps" in head:
        fps = float(head["fps"])
    else:
        tt = np.array([times[i] for i in sorted(times)])
        dt = np.diff(tt[np.argsort(fidx)]) / np.maximum(np.diff(np.sort(fidx)), 1)
        fps = float(np.round(1.0 / np.median(dt), 6)) if dt.size and np.median(dt) > 0 else 30.0
    ts = np.asarray(head["timestamps"], dtype=float) if len(head.get("timestamps", [])) == T else \
        np.array([times.get(i, fidx[i] / fps) for i in range(T)], dtype=float)
    if head:
        meta = dict(head.get("meta", {}))
        js = head.get("joint_set") or CUSTOM_JOINT_SET
    else:
        js = match_joint_set(joints.labels) or CUSTOM_JOINT_SET
        meta = {"source": "csv", "frame_indices": [int(f) for f in fidx], "joint_names": joints.labels}
    if is2d:
        return Keypoints2D(data, js, cams.labels, ts, fps, meta)
    return Keypoints3D(data, js, ts, fps, person_ids=people.labels, quality=quality, meta=meta)
