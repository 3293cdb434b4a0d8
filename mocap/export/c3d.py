"""C3D writer (binary, written here from the format description at c3d.org), and TRC export.

Layout written: a 512-byte header block; parameter blocks from block 2 (groups POINT, ANALOG, TRIAL, MANUFACTURER);
then float point data (``POINT:SCALE = -1``), Intel byte order. Per frame and point four float32 words:
``x, y, z`` in ``units`` and a residual word (0 for a measured point, -1 for a missing one, which readers show as
invalid/NaN). Axes: our Z-up world as is (C3D is usually Z up). At most 65535 frames (16-bit frame counters).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from mocap.errors import DataError
from mocap.export.animation import UNIT_SCALE, Animation

_BLOCK = 512
_MAX_FRAMES = 65535


def _param(name: str, group_id: int, type_code: int, dims: tuple[int, ...], data: bytes, desc: str = "") -> bytes:
    """One parameter record (without its trailing 'next' offset fixed up: it is computed here)."""
    nb = name.upper().encode("ascii")
    body = struct.pack("<bB", type_code, len(dims)) + bytes(dims) + data
    d = desc.encode("ascii", "replace")[:255]
    tail = body + struct.pack("<B", len(d)) + d
    return struct.pack("<bb", len(nb), group_id) + nb + struct.pack("<h", len(tail) + 2) + tail


def _group(name: str, group_id: int, desc: str = "") -> bytes:
    nb = name.upper().encode("ascii")
    d = desc.encode("ascii", "replace")[:255]
    tail = struct.pack("<B", len(d)) + d
    return struct.pack("<bb", len(nb), -group_id) + nb + struct.pack("<h", len(tail) + 2) + tail


def _int16(name: str, gid: int, value: int, desc: str = "") -> bytes:
    return _param(name, gid, 2, (), struct.pack("<H", value & 0xFFFF), desc)


def _float(name: str, gid: int, value: float, desc: str = "") -> bytes:
    return _param(name, gid, 4, (), struct.pack("<f", value), desc)


def _chars(name: str, gid: int, text: str, desc: str = "") -> bytes:
    b = text.encode("ascii", "replace")
    return _param(name, gid, -1, (len(b),), b, desc)


def _strings(name: str, gid: int, items: list[str], desc: str = "") -> bytes:
    enc = [s.encode("ascii", "replace") for s in items]
    width = max([1] + [len(e) for e in enc])
    if width > 255 or len(enc) > 255:
        raise DataError(f"C3D parameter {name}: {len(enc)} strings of up to {width} characters do not fit "
                        "(at most 255 of each)")
    data = b"".join(e.ljust(width) for e in enc)
    return _param(name, gid, -1, (width, len(enc)), data, desc)


def write_c3d_points(points: np.ndarray, labels: list[str], fps: float, path: str | Path, units: str = "mm",
                     residuals: np.ndarray | None = None) -> Path:
    """Write marker trajectories as a C3D file.

    Args:
        points: ``(T, N, 3)`` positions, metres, world Z up; NaN where missing (written as invalid points).
        labels: ``N`` point labels (at most 255 characters each, ASCII).
        fps: frame rate, Hz.
        path: output ``.c3d``.
        units: ``"mm"`` (the usual C3D unit), ``"cm"`` or ``"m"``.
        residuals: optional ``(T, N)`` non-negative residuals in ``units`` for valid points (default 0).

    Returns:
        the path written.
    """
    pts = np.asarray(points, float)
    if pts.ndim != 3 or pts.shape[-1] != 3:
        raise DataError(f"C3D points have shape {pts.shape}; expected (frames, points, 3)")
    T, N = pts.shape[:2]
    if len(labels) != N:
        raise DataError(f"C3D export: {N} points but {len(labels)} labels")
    if T == 0 or T > _MAX_FRAMES:
        raise DataError(f"C3D export: {T} frames; C3D holds 1..{_MAX_FRAMES} frames per file",
                        hint="split the recording into shorter files")
    if N > 65535:
        raise DataError(f"C3D export: {N} points is more than 65535")
    if units not in UNIT_SCALE:
        raise DataError(f"unknown units {units!r}; use one of {list(UNIT_SCALE)}")
    if not fps > 0:
        raise DataError(f"C3D export: fps must be positive, got {fps}")
    scale = UNIT_SCALE[units]
    ok = np.isfinite(pts).all(-1)
    data = np.zeros((T, N, 4), dtype="<f4")
    data[..., :3] = np.where(ok[..., None], pts * scale, 0.0)
    res = np.zeros((T, N)) if residuals is None else np.nan_to_num(np.asarray(residuals, float)) * scale
    data[..., 3] = np.where(ok, np.maximum(res, 0.0), -1.0)

    # parameter section (group ids: 1 POINT, 2 ANALOG, 3 TRIAL, 4 MANUFACTURER)
    def params(data_start: int) -> bytes:
        recs = [
            _group("POINT", 1, "3D point data"),
            _int16("USED", 1, N, "number of points"),
            _int16("FRAMES", 1, T, "number of frames"),
            _int16("DATA_START", 1, data_start, "first block of the data"),
            _float("SCALE", 1, -1.0, "negative: float data"),
            _float("RATE", 1, float(fps), "frame rate, Hz"),
            _chars("UNITS", 1, units, "units of the point coordinates"),
            _strings("LABELS", 1, [str(s) for s in labels], "point labels"),
            _strings("DESCRIPTIONS", 1, ["" for _ in labels], ""),
            _group("ANALOG", 2, "analog data"),
            _int16("USED", 2, 0, "number of analog channels"),
            _float("RATE", 2, float(fps), "analog rate, Hz"),
            _group("TRIAL", 3, "trial"),
            _param("ACTUAL_START_FIELD", 3, 2, (2,), struct.pack("<HH", 1, 0)),
            _param("ACTUAL_END_FIELD", 3, 2, (2,), struct.pack("<HH", T & 0xFFFF, T >> 16)),
            _group("MANUFACTURER", 4, "writer"),
            _chars("COMPANY", 4, "mocap"),
            _chars("SOFTWARE", 4, "mocap.export.c3d"),
        ]
        # the last record's 'next' offset is 0: marks the end of the parameters
        last = recs[-1]
        nlen = abs(struct.unpack("<b", last[:1])[0])
        recs[-1] = last[: 2 + nlen] + struct.pack("<h", 0) + last[4 + nlen:]
        body = b"".join(recs)
        n_blocks = (4 + len(body) + _BLOCK - 1) // _BLOCK
        head = struct.pack("<BBBB", 1, 0x50, n_blocks, 84)  # 84: Intel processor
        out = head + body
        return out + b"\0" * (n_blocks * _BLOCK - len(out))

    sec = params(0)
    data_start = 2 + len(sec) // _BLOCK
    sec = params(data_start)
    header = np.zeros(256, dtype="<i2")
    hb = bytearray(header.tobytes())
    struct.pack_into("<BB", hb, 0, 2, 0x50)
    struct.pack_into("<HHHHH", hb, 2, N, 0, 1, T & 0xFFFF, 10)
    struct.pack_into("<f", hb, 12, -1.0)
    struct.pack_into("<HH", hb, 16, data_start, 0)
    struct.pack_into("<f", hb, 20, float(fps))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.tobytes()
    pad = (-len(raw)) % _BLOCK
    with open(path, "wb") as fh:
        fh.write(bytes(hb))
        fh.write(sec)
        fh.write(raw)
        fh.write(b"\0" * pad)
    return path


def write_c3d(source, path: str | Path, units: str = "mm", person: int | None = None) -> Path:  # noqa: ANN001
    """Write 3D keypoints (one person) or an animation's joint positions as C3D.

    Args:
        source: :class:`mocap.keypoints.Keypoints3D` (labels = joint names of its set) or :class:`Animation`
            (labels = joint names, positions from forward kinematics).
        path: output ``.c3d``.
        units: ``"mm"``, ``"cm"`` or ``"m"``.
        person: stable person id for keypoints (default: the first person).
    """
    if isinstance(source, Animation):
        pts = source.world_positions()
        pts[~source.valid] = np.nan
        return write_c3d_points(pts, source.joint_names, source.fps, path, units)
    from mocap.keypoints._common import joint_names

    pid = int(source.person_ids[0]) if person is None else int(person)
    d = source.person(pid)
    names = joint_names(source.joint_set, source.n_joints, source.meta)
    return write_c3d_points(d[..., :3], names, source.fps, path, units)


def write_trc(kp3d, path: str | Path, **kwargs) -> Path:  # noqa: ANN001
    """TRC export: delegates to :func:`mocap.keypoints.trc.write_trc` (same arguments)."""
    from mocap.keypoints.trc import write_trc as _write

    return _write(kp3d, path, **kwargs)
