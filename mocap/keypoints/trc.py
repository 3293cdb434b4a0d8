"""TRC marker files (OpenSim, Motion Analysis): write and read 3D keypoints of one person.

Layout (tab separated)::

    PathFileType  4  (X/Y/Z)  <file name>
    DataRate  CameraRate  NumFrames  NumMarkers  Units  OrigDataRate  OrigDataStartFrame  OrigNumFrames
    60  60  100  25  m  60  1  100
    Frame#  Time  nose      left_eye  ...          (each marker name followed by two empty cells)
                  X1  Y1  Z1  X2  Y2  Z2  ...
    <empty line>
    1  0.0  0.12  0.3  1.6  ...

Conventions:

- Units ``"m"`` (default), ``"cm"`` or ``"mm"``; :func:`read_trc` converts back to metres.
- ``y_up=True`` rotates our Z-up world to OpenSim's Y-up on writing: ``(x, y, z) -> (x, z, -y)`` (a -90 degree
  rotation about X: forward X stays X, up Z becomes Y, left Y becomes -Z). Nothing in the file records it:
  pass the same ``y_up`` to :func:`read_trc` to rotate back.
- Missing markers are written as empty cells by default (what OpenSim 4's ``TRCFileAdapter`` reads as NaN, and
  what Pose2Sim writes); ``missing="nan"`` writes ``NaN`` instead (also read as NaN by OpenSim 4 through
  ``std::stod``; OpenSim 3 merges consecutive tabs, so it needs ``"nan"``). Every data row ends with a tab like
  OpenSim's own writer, so a missing last marker keeps its three cells.
- TRC has no confidence: the reader sets confidence 1 where a marker is present and NaN where it is missing.
- ``Frame#`` holds ``meta["frame_indices"]`` when present, else ``1..T``; the reader keeps it there.
- Marker names are the joint names of the joint set. The reader matches them against the registered joint sets
  (case-insensitive) and otherwise names the set ``"custom"`` and keeps ``meta["joint_names"]``.
- Several people: :func:`write_trc` writes one (``person``, a stable id); :func:`write_trc_per_person` writes one
  file per person with the suffix ``_p<id>``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mocap.errors import DataError, KeypointsError, MocapWarning
from mocap.keypoints._common import CUSTOM_JOINT_SET, fmt_float, frame_indices, joint_names, match_joint_set
from mocap.keypoints.containers import Keypoints3D

UNIT_SCALE = {"m": 1.0, "cm": 100.0, "mm": 1000.0}  # file units per metre
_HEADER_KEYS = ["DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units", "OrigDataRate",
                "OrigDataStartFrame", "OrigNumFrames"]

# Z-up world -> Y-up world: (x, y, z) -> (x, z, -y)
ZUP_TO_YUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def write_trc(kp3d: Keypoints3D, path: str | Path, units: str = "m", person: int | None = None, y_up: bool = False,
              missing: str = "", marker_names: Sequence[str] | None = None) -> Path:
    """Write the 3D keypoints of one person as a TRC file.

    Args:
        kp3d: ``(T, P, J, 4)`` keypoints, metres, world Z up.
        path: output ``.trc`` file.
        units: ``"m"``, ``"cm"`` or ``"mm"``.
        person: stable person id (``kp3d.person_ids``) to write; default the first person.
        y_up: rotate Z-up to Y-up for OpenSim (see the module notes).
        missing: text for missing coordinates: ``""`` (empty cells) or ``"nan"``.
        marker_names: ``J`` marker names (default: the joint set's joint names).

    Returns:
        The path written.
    """
    if units not in UNIT_SCALE:
        raise KeypointsError(f"TRC units {units!r} not supported; use one of {sorted(UNIT_SCALE)}")
    if missing not in ("", "nan", "NaN"):
        raise KeypointsError(f"missing={missing!r}: use '' (empty cells) or 'nan'")
    path = Path(path)
    if kp3d.n_people == 0:
        raise KeypointsError(f"{path}: the 3D keypoints hold no person to write")
    pdata = kp3d.data[:, 0] if person is None else kp3d.person(person)
    xyz = pdata[..., :3] * UNIT_SCALE[units]  # (T, J, 3)
    if y_up:
        xyz = xyz @ ZUP_TO_YUP.T
    T, J = xyz.shape[:2]
    names = list(marker_names) if marker_names is not None else joint_names(kp3d.joint_set, J, kp3d.meta)
    if len(names) != J:
        raise KeypointsError(f"{len(names)} marker names for {J} joints")
    for n in names:
        if not n or any(ch in n for ch in "\t\r\n"):
            raise KeypointsError(f"marker name {n!r} is empty or holds a tab or newline")
    frames = frame_indices(kp3d.meta, T) if "frame_indices" in kp3d.meta else np.arange(1, T + 1)
    start = int(frames[0]) if T else 1
    fps = _num(kp3d.fps)
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
        "\t".join(_HEADER_KEYS),
        "\t".join([fps, fps, str(T), str(J), units, fps, str(start), str(T)]),
        "Frame#\tTime\t" + "".join(f"{n}\t\t\t" for n in names),
        "\t\t" + "".join(f"X{j}\tY{j}\tZ{j}\t" for j in range(1, J + 1)),
        "",
    ]
    for t in range(T):
        cells = [str(int(frames[t])), repr(float(kp3d.timestamps[t]))]
        for j in range(J):
            p = xyz[t, j]
            if np.isfinite(p).all():
                cells.extend(fmt_float(v) for v in p)
            else:
                cells.extend([missing] * 3)
        lines.append("\t".join(cells) + "\t")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_trc_per_person(kp3d: Keypoints3D, path: str | Path, **kwargs) -> list[Path]:
    """Write one TRC file per person: ``<stem>_p<id>.trc`` beside ``path``; ``kwargs`` as :func:`write_trc`."""
    path = Path(path)
    return [write_trc(kp3d, path.with_name(f"{path.stem}_p{int(pid)}{path.suffix or '.trc'}"), person=int(pid),
                      **kwargs) for pid in kp3d.person_ids]


def _split_row(line: str) -> list[str]:
    return [c.strip() for c in line.rstrip("\r\n").split("\t")]


def read_trc(path: str | Path, y_up: bool = False, joint_set: str | None = None,
             person_id: int = 0) -> Keypoints3D:
    """Read a TRC marker file into :class:`Keypoints3D` (one person), in metres.

    Args:
        path: ``.trc`` file.
        y_up: the file is Y-up as written by ``write_trc(..., y_up=True)``: rotate back to Z-up.
        joint_set: joint-set name to give the result (default: matched from the marker names).
        person_id: stable id of the person.

    Returns:
        ``(T, 1, J, 4)`` keypoints; confidence 1 where present, NaN where missing; ``meta`` holds
        ``frame_indices``, ``units`` and ``joint_names``.

    Raises:
        DataError: the file is missing.
        KeypointsError: a malformed header, or a data row with the wrong number of columns (names the line).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such TRC file")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise KeypointsError(f"{path}: line 1 does not start with 'PathFileType'; not a TRC file")
    keys = [k for k in _split_row(lines[1]) if k]
    vals = [v for v in _split_row(lines[2]) if v]
    if len(keys) != len(vals):
        raise KeypointsError(f"{path}: line 3 has {len(vals)} values for the {len(keys)} header keys of line 2")
    header = dict(zip(keys, vals))
    for k in ("DataRate", "NumMarkers", "Units"):
        if k not in header:
            raise KeypointsError(f"{path}: header key {k!r} missing on line 2 (found {keys})")
    units = header["Units"].lower()
    if units not in UNIT_SCALE:
        raise KeypointsError(f"{path}: line 3: Units {header['Units']!r} not supported; expected m, cm or mm")
    try:
        fps = float(header["DataRate"])
        n_markers = int(header["NumMarkers"])
    except ValueError:
        raise KeypointsError(f"{path}: line 3: DataRate {header['DataRate']!r} or NumMarkers "
                             f"{header['NumMarkers']!r} is not a number") from None
    labels = [c for c in _split_row(lines[3]) if c]
    if labels[:2] != ["Frame#", "Time"]:
        raise KeypointsError(f"{path}: line 4 should start with 'Frame#' and 'Time', found {labels[:2]}")
    names = labels[2:]
    if len(names) != n_markers:
        raise KeypointsError(f"{path}: line 4 names {len(names)} markers but NumMarkers is {n_markers}")

    ncol = 2 + 3 * n_markers
    frames, times, rows = [], [], []
    for i in range(5, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        cells = _split_row(line)
        if len(cells) == ncol + 1 and cells[-1] == "":  # trailing tab
            cells = cells[:-1]
        if len(cells) != ncol:
            raise KeypointsError(f"{path}: line {i + 1} has {len(cells)} columns, expected {ncol} "
                                 f"(Frame#, Time and X/Y/Z for {n_markers} markers)",
                                 hint="the file is truncated or was edited; fix or delete that line")
        try:
            frames.append(int(float(cells[0])))
            times.append(float(cells[1]))
            rows.append([float(c) if c else np.nan for c in cells[2:]])
        except ValueError as e:
            raise KeypointsError(f"{path}: line {i + 1}: not a number ({e})") from None
    n_declared = header.get("NumFrames", "")
    if n_declared.isdigit() and int(n_declared) != len(rows):
        warnings.warn(f"{path}: header says NumFrames {n_declared} but the file has {len(rows)} data rows; "
                      "reading the rows found", MocapWarning, stacklevel=2)
    xyz = np.asarray(rows, dtype=float).reshape(len(rows), n_markers, 3) / UNIT_SCALE[units]
    if y_up:
        xyz = xyz @ ZUP_TO_YUP  # inverse rotation (orthogonal: R^-1 = R^T)
    xyz[~np.isfinite(xyz).all(-1)] = np.nan
    js = joint_set or match_joint_set(names) or CUSTOM_JOINT_SET
    meta = {"source": "trc", "units": units, "frame_indices": frames, "joint_names": names}
    return Keypoints3D(xyz[:, None], js, np.asarray(times, dtype=float), fps, person_ids=[person_id], meta=meta)
