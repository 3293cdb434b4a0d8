"""BVH (Biovision Hierarchy) import and export.

Reading: any channel order, per-joint channel lists (3 or 6 channels, or any subset), End Sites (kept as leaf
joints named ``<parent>_end`` and listed in :attr:`Animation.end_sites`), file units scaled to metres by ``scale``
and Y-up files rotated to our Z-up world (``(x, y, z)_yup -> (x, -z, y)``, the inverse of
:data:`~mocap.export.animation.ZUP_TO_YUP`). The root's world position is its OFFSET plus its position channels.
A frame rate within 10 ppm of an integer is rounded to it (frame times are written truncated: ``.0083333``).
Position channels on non-root joints are folded into their offset (their mean, with a warning when they move).

Writing: the hierarchy and offsets from the rest pose, root channels ``Xposition Yposition Zposition`` plus three
rotations in ``channel_order`` (intrinsic, e.g. ``"ZXY"`` means ``R = Rz @ Rx @ Ry``), other joints three rotations,
angles in degrees, ``Frame Time`` = 1 / fps. The root OFFSET is written as zero and its channels carry its
absolute position (readers disagree on whether a root's OFFSET adds to its channels; zero makes them agree).
Leaf joints that are not End Sites get an End Site a third of their bone length further along.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from mocap.errors import DataError, MocapWarning
from mocap.export.animation import (
    UNIT_SCALE,
    YUP_TO_ZUP,
    ZUP_TO_YUP,
    Animation,
    change_basis,
    fill_missing,
    resample,
)
from mocap.geometry.rotations import euler_to_matrix, matrix_to_euler, matrix_to_quat_xyzw, quat_xyzw_to_matrix

_ORDERS = {"XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"}


class _Tokens:
    def __init__(self, text: str, path: Path) -> None:
        self.lines = text.splitlines()
        self.path = path
        self.items: list[tuple[str, int]] = []
        self.pos = 0
        self.motion_line = len(self.lines)
        for i, line in enumerate(self.lines):
            if line.strip().upper().startswith("MOTION"):
                self.motion_line = i
                break
            for tok in line.split():
                self.items.append((tok, i + 1))

    def next(self, what: str) -> tuple[str, int]:
        if self.pos >= len(self.items):
            raise DataError(f"{self.path}: unexpected end of HIERARCHY while reading {what}",
                            hint="the file is truncated or not a BVH file")
        tok = self.items[self.pos]
        self.pos += 1
        return tok

    def expect(self, word: str) -> None:
        tok, line = self.next(word)
        if tok.upper() != word.upper():
            raise DataError(f"{self.path}:{line}: expected {word!r}, found {tok!r}")

    def floats(self, n: int, what: str) -> np.ndarray:
        out = []
        for _ in range(n):
            tok, line = self.next(what)
            try:
                out.append(float(tok))
            except ValueError:
                raise DataError(f"{self.path}:{line}: {what} expects a number, found {tok!r}") from None
        return np.array(out)


def read_bvh(path: str | Path, scale: float = 1.0, up: str = "y") -> Animation:
    """Read a BVH file into an :class:`Animation` (metres, Z-up world).

    Args:
        path: the ``.bvh`` file.
        scale: metres per file unit (CMU files: 0.056444; centimetre files: 0.01).
        up: the file's up axis, ``"y"`` (most BVH files: converted to Z-up) or ``"z"`` (kept).

    Raises:
        DataError: unreadable or malformed file (the message names the line).
    """
    path = Path(path)
    if up not in ("y", "z"):
        raise DataError(f"up must be 'y' or 'z', got {up!r}")
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        raise DataError(f"cannot read BVH file {path}: {e.strerror or e}") from None
    tk = _Tokens(text, path)
    tok, line = tk.next("HIERARCHY")
    if tok.upper() != "HIERARCHY":
        raise DataError(f"{path}:{line}: not a BVH file (expected 'HIERARCHY', found {tok!r})")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[np.ndarray] = []
    channels: list[list[str]] = []
    end_sites: list[str] = []

    def parse_joint(parent: int) -> None:
        kind, line = tk.next("ROOT/JOINT")
        if kind.upper() == "END":
            tk.expect("Site")
            base = names[parent] + "_end"
            name = base
            k = 1
            while name in names:
                k += 1
                name = f"{base}{k}"
            end_sites.append(name)
        else:
            name, _ = tk.next("joint name")
            if name in names:
                raise DataError(f"{path}:{line}: duplicate joint name {name!r}")
        idx = len(names)
        names.append(name)
        parents.append(parent)
        offsets.append(np.zeros(3))
        channels.append([])
        tk.expect("{")
        while True:
            word, line = tk.next("joint body")
            w = word.upper()
            if w == "OFFSET":
                offsets[idx] = tk.floats(3, "OFFSET")
            elif w == "CHANNELS":
                n = int(tk.floats(1, "CHANNELS")[0])
                chans = [tk.next("channel name")[0] for _ in range(n)]
                for c in chans:
                    if c.lower() not in {f"{a}{k}" for a in "xyz" for k in ("position", "rotation")}:
                        raise DataError(f"{path}:{line}: unknown channel {c!r} of joint {name!r}")
                channels[idx] = chans
            elif w in ("JOINT", "END"):
                tk.pos -= 1
                parse_joint(idx)
            elif w == "}":
                return
            else:
                raise DataError(f"{path}:{line}: unexpected {word!r} in joint {name!r}")

    kind, line = tk.next("ROOT")
    if kind.upper() != "ROOT":
        raise DataError(f"{path}:{line}: expected 'ROOT', found {kind!r}")
    tk.pos -= 1
    parse_joint(-1)
    if tk.pos < len(tk.items):
        tok, line = tk.items[tk.pos]
        raise DataError(f"{path}:{line}: found {tok!r} after the root joint",
                        hint="only one skeleton (one ROOT) per BVH file is supported")
    motion, frame_time = _read_motion(tk.lines, tk.motion_line, sum(len(c) for c in channels), path)
    return _to_animation(names, parents, np.array(offsets), channels, motion, frame_time, end_sites, scale, up,
                         path)


def _read_motion(lines: list[str], start: int, n_channels: int, path: Path) -> tuple[np.ndarray, float]:
    if start >= len(lines):
        raise DataError(f"{path}: no MOTION section", hint="the file is truncated")
    n_frames = None
    frame_time = None
    i = start + 1
    while i < len(lines) and (n_frames is None or frame_time is None):
        s = lines[i].strip()
        i += 1
        if not s:
            continue
        key, _, val = s.partition(":")
        try:
            if key.strip().lower() == "frames":
                n_frames = int(val)
            elif key.strip().lower() == "frame time":
                frame_time = float(val)
            else:
                raise ValueError
        except ValueError:
            raise DataError(f"{path}:{i}: expected 'Frames: N' and 'Frame Time: S', found {s!r}") from None
    if n_frames is None or frame_time is None or frame_time <= 0:
        raise DataError(f"{path}: MOTION needs 'Frames:' and a positive 'Frame Time:'")
    try:
        values = np.array(" ".join(lines[i:]).split(), dtype=float)
    except ValueError:
        raise DataError(f"{path}: non-numeric value in the MOTION data") from None
    if values.size < n_frames * n_channels:
        raise DataError(f"{path}: MOTION has {values.size} values, expected {n_frames} frames x {n_channels} "
                        f"channels = {n_frames * n_channels}", hint="the file is truncated")
    return values[: n_frames * n_channels].reshape(n_frames, n_channels), frame_time


def _to_animation(names, parents, offsets, channels, motion, frame_time, end_sites, scale, up, path) -> Animation:  # noqa: ANN001
    T, J = motion.shape[0], len(names)
    q = np.zeros((T, J, 4))
    q[..., 3] = 1.0
    offsets = offsets.copy()
    root_t = np.broadcast_to(offsets[0], (T, 3)).copy()
    col = 0
    for j, ch in enumerate(channels):
        vals = motion[:, col: col + len(ch)]
        col += len(ch)
        rot = [k for k, c in enumerate(ch) if c.lower().endswith("rotation")]
        if rot:
            order = "".join(ch[k][0].upper() for k in rot)
            q[:, j] = matrix_to_quat_xyzw(euler_to_matrix(np.deg2rad(vals[:, rot]), order))
        trans = np.zeros((T, 3))
        has_t = False
        for k, c in enumerate(ch):
            if c.lower().endswith("position"):
                trans[:, "xyz".index(c[0].lower())] = vals[:, k]
                has_t = True
        if has_t and j == 0:
            root_t = root_t + trans
        elif has_t:
            if np.ptp(trans, axis=0).max() > 1e-6 * max(1.0, np.abs(trans).max()):
                warnings.warn(f"{path}: joint {names[j]!r} has moving position channels; using their mean as its "
                              "bone offset", MocapWarning, stacklevel=3)
            offsets[j] = offsets[j] + trans.mean(axis=0)
    fps = 1.0 / frame_time
    if abs(fps - round(fps)) < 1e-5 * fps:  # frame times are written truncated (CMU: .0083333 for 120 Hz)
        fps = float(round(fps))
    anim = Animation(names, np.array(parents), offsets * scale, root_t * scale, q, fps,
                     end_sites=end_sites, meta={"source": str(path)})
    return change_basis(anim, YUP_TO_ZUP) if up == "y" else anim


def _fmt(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".") if x != 0 else "0"


def write_bvh(anim: Animation, path: str | Path, channel_order: str = "ZXY", up: str = "y", units: str = "m",
              fps: float | None = None, precision: int = 6) -> Path:
    """Write an animation as BVH.

    Args:
        anim: the animation (metres, Z-up world). Frames with NaN are filled first (see
            :func:`~mocap.export.animation.fill_missing`): BVH cannot flag them.
        path: output ``.bvh``.
        channel_order: rotation channel order, intrinsic (``"ZXY"``: ``R = Rz @ Rx @ Ry``).
        up: ``"y"`` writes a Y-up file (``(x, y, z) -> (x, z, -y)``), ``"z"`` keeps our Z-up axes.
        units: ``"m"``, ``"cm"`` or ``"mm"``.
        fps: resample to this frame rate (default: the animation's).
        precision: decimals of the written numbers.

    Returns:
        the path written.
    """
    order = channel_order.upper()
    if order not in _ORDERS:
        raise DataError(f"unknown BVH channel order {channel_order!r}; use one of {sorted(_ORDERS)}")
    if up not in ("y", "z"):
        raise DataError(f"up must be 'y' or 'z', got {up!r}")
    if units not in UNIT_SCALE:
        raise DataError(f"unknown units {units!r}; use one of {list(UNIT_SCALE)}")
    anim = fill_missing(anim)
    if fps is not None:
        anim = resample(anim, fps)
    a = change_basis(anim, ZUP_TO_YUP if up == "y" else np.eye(3), UNIT_SCALE[units])
    T, J = a.n_frames, a.n_joints
    names = [n.replace(" ", "_") for n in a.joint_names]
    kids = [a.children(j) for j in range(J)]
    is_end = [names[j] in set(a.end_sites) and not kids[j] and j > 0 for j in range(J)]
    rot_order = " ".join(f"{c}rotation" for c in order)
    lines = ["HIERARCHY"]
    animated: list[int] = []

    def emit(j: int, depth: int) -> None:
        ind = "\t" * depth
        off = np.zeros(3) if j == 0 else a.offsets[j]
        if is_end[j]:
            lines.extend([f"{ind}End Site", f"{ind}{{", f"{ind}\tOFFSET {' '.join(_fmt(v) for v in off)}",
                          f"{ind}}}"])
            return
        lines.append(f"{ind}{'ROOT' if j == 0 else 'JOINT'} {names[j]}")
        lines.append(f"{ind}{{")
        lines.append(f"{ind}\tOFFSET {' '.join(_fmt(v) for v in off)}")
        lines.append(f"{ind}\tCHANNELS 6 Xposition Yposition Zposition {rot_order}" if j == 0
                     else f"{ind}\tCHANNELS 3 {rot_order}")
        animated.append(j)
        for c in kids[j]:
            emit(c, depth + 1)
        if not kids[j]:
            tip = (a.offsets[j] / 3.0 if j > 0 and np.linalg.norm(a.offsets[j]) > 0
                   else np.array([0, 0.05, 0.0]) * UNIT_SCALE[units])
            lines.extend([f"{ind}\tEnd Site", f"{ind}\t{{", f"{ind}\t\tOFFSET {' '.join(_fmt(v) for v in tip)}",
                          f"{ind}\t}}"])
        lines.append(f"{ind}}}")

    emit(0, 0)
    L = quat_xyzw_to_matrix(a.local_rotations[:, animated])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scipy's gimbal-lock note: the rotation is still exact
        eul = np.rad2deg(matrix_to_euler(L, order)).reshape(T, -1)
    data = np.concatenate([a.root_translation, eul], axis=1)
    lines += ["MOTION", f"Frames: {T}", f"Frame Time: {1.0 / a.fps:.8f}"]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
        np.savetxt(fh, data, fmt=f"%.{int(precision)}f", delimiter=" ")
    return path
