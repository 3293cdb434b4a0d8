"""A minimal BVH reader for forward kinematics (synthetic data only; the full exporter lives in mocap.export).

It reads the HIERARCHY (joint names, parents, offsets, channel orders) and the MOTION block, and computes global
joint positions and rotations. BVH files are usually Y-up; :func:`bvh_to_world` converts to our Z-up world.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mocap.errors import DataError
from mocap.geometry.rotations import euler_to_matrix

#: CMU motion-capture BVH units (1/0.45 * inches) in metres.
CMU_UNIT_M = 0.056444

#: Y-up BVH frame (x left, y up, z forward for CMU) -> our Z-up world (x forward, y left, z up): a rotation.
YUP_TO_ZUP = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@dataclass
class BvhMotion:
    """A parsed BVH file.

    Attributes:
        joints: joint names (End Sites are named ``<parent>_end``).
        parents: parent index per joint (-1 for the root).
        offsets: ``(J, 3)`` rest offsets from the parent, file units.
        channels: per joint the channel names in file order (empty for End Sites).
        motion: ``(T, n_channels)`` channel values (degrees for rotations, file units for positions).
        frame_time: seconds per frame.
    """

    joints: list[str]
    parents: list[int]
    offsets: np.ndarray
    channels: list[list[str]]
    motion: np.ndarray
    frame_time: float

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def n_frames(self) -> int:
        return self.motion.shape[0]

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """Global joint positions ``(T, J, 3)`` (file units, file axes) and rotations ``(T, J, 3, 3)``."""
        T, J = self.n_frames, len(self.joints)
        pos = np.zeros((T, J, 3))
        rot = np.zeros((T, J, 3, 3))
        col = 0
        for j in range(J):
            ch = self.channels[j]
            vals = self.motion[:, col:col + len(ch)]
            col += len(ch)
            local_t = np.broadcast_to(self.offsets[j], (T, 3)).copy()
            rot_names = [c for c in ch if c.lower().endswith("rotation")]
            if rot_names:
                order = "".join(c[0].upper() for c in rot_names)
                ang = np.deg2rad(np.stack([vals[:, ch.index(c)] for c in rot_names], axis=1))
                local_r = euler_to_matrix(ang, order)
            else:
                local_r = np.broadcast_to(np.eye(3), (T, 3, 3))
            for k, axis in enumerate("XYZ"):
                name = f"{axis}position"
                if name in ch:
                    local_t[:, k] += vals[:, ch.index(name)]
            p = self.parents[j]
            if p < 0:
                pos[:, j], rot[:, j] = local_t, local_r
            else:
                pos[:, j] = pos[:, p] + np.einsum("tij,tj->ti", rot[:, p], local_t)
                rot[:, j] = rot[:, p] @ local_r
        return pos, rot


def read_bvh(path: str | Path) -> BvhMotion:
    """Parse a BVH file.

    Raises:
        DataError: naming the file and line when the file is not valid BVH.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"BVH file {path} does not exist")
    tokens_by_line = [ln.split() for ln in path.read_text(errors="replace").splitlines()]
    joints: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    pending: int | None = None
    i = 0

    def fail(msg: str) -> DataError:
        return DataError(f"{path}:{i + 1}: {msg}", hint="is this a BVH motion file?")

    n_lines = len(tokens_by_line)
    while i < n_lines:
        tok = tokens_by_line[i]
        if not tok:
            i += 1
            continue
        key = tok[0].upper()
        if key in ("ROOT", "JOINT"):
            if len(tok) < 2:
                raise fail("joint without a name")
            pending = len(joints)
            joints.append(tok[1])
            parents.append(stack[-1] if stack else -1)
            offsets.append([0.0, 0.0, 0.0])
            channels.append([])
        elif key == "END":
            pending = len(joints)
            joints.append(f"{joints[stack[-1]]}_end" if stack else "end")
            parents.append(stack[-1] if stack else -1)
            offsets.append([0.0, 0.0, 0.0])
            channels.append([])
        elif key == "{":
            if pending is None:
                raise fail("'{' without a joint")
            stack.append(pending)
            pending = None
        elif key == "}":
            if not stack:
                raise fail("unbalanced '}'")
            stack.pop()
        elif key == "OFFSET":
            try:
                offsets[stack[-1]] = [float(v) for v in tok[1:4]]
            except (ValueError, IndexError):
                raise fail("bad OFFSET line") from None
        elif key == "CHANNELS":
            n = int(tok[1])
            channels[stack[-1]] = tok[2:2 + n]
        elif key == "MOTION":
            break
        i += 1
    if not joints:
        raise fail("no HIERARCHY joints found")
    frame_time, rows = None, []
    i += 1
    while i < n_lines:
        tok = tokens_by_line[i]
        if tok and tok[0].lower().startswith("frames"):
            pass
        elif tok and tok[0].lower() == "frame" and len(tok) >= 3:
            frame_time = float(tok[2])
        elif tok:
            rows.append([float(v) for v in tok])
        i += 1
    n_ch = sum(len(c) for c in channels)
    if frame_time is None or not rows:
        raise DataError(f"{path}: no MOTION frames found")
    motion = np.array([r for r in rows if len(r) == n_ch])
    if motion.shape[0] != len(rows):
        raise DataError(f"{path}: some motion lines do not have {n_ch} values")
    return BvhMotion(joints, parents, np.array(offsets), channels, motion, frame_time)


def bvh_to_world(points: np.ndarray, unit_m: float = CMU_UNIT_M) -> np.ndarray:
    """BVH positions ``(..., 3)`` (file units, Y up) -> world metres, Z up (x forward, y left for CMU)."""
    return (np.asarray(points, float) @ YUP_TO_ZUP.T) * unit_m
