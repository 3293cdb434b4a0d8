"""CMU BVH conventions for synthetic data, on top of the project's BVH reader :func:`mocap.export.read_bvh`.

Parsing and forward kinematics live in :mod:`mocap.export` (:func:`~mocap.export.read_bvh`,
:meth:`~mocap.export.Animation.world_transforms`). This module only fixes what synthetic captures assume about
CMU clips: their unit (:data:`CMU_UNIT_M`) and the Y-up file -> Z-up world rotation :data:`YUP_TO_ZUP`
(x forward, y left, z up for a CMU subject; a 90 degree yaw away from mocap.export's Y-up -> Z-up rotation).
:func:`read_bvh` / :class:`BvhMotion` give a clip in file units and file axes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mocap.export.animation import ZUP_TO_YUP, Animation
from mocap.export.bvh import read_bvh as _read_animation

#: CMU motion-capture BVH units (1/0.45 * inches) in metres.
CMU_UNIT_M = 0.056444

#: Y-up BVH frame (x left, y up, z forward for CMU) -> our Z-up world (x forward, y left, z up): a rotation.
YUP_TO_ZUP = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

#: The Z-up world of ``mocap.export.read_bvh(path, up="y")`` -> the synthetic world above (+90 degrees about Z).
EXPORT_TO_WORLD = YUP_TO_ZUP @ ZUP_TO_YUP


@dataclass
class BvhMotion:
    """A BVH clip in file units and file axes (usually Y up).

    Attributes:
        animation: the clip as read by :func:`mocap.export.read_bvh` with ``scale=1, up="z"`` (no unit or axis
            change); End Sites are leaf joints named ``<parent>_end``.
    """

    animation: Animation

    @property
    def joints(self) -> list[str]:
        """Joint names, parents before children."""
        return self.animation.joint_names

    @property
    def parents(self) -> list[int]:
        """Parent index per joint (-1 for the root)."""
        return self.animation.parents.tolist()

    @property
    def offsets(self) -> np.ndarray:
        """``(J, 3)`` rest offsets from the parent, file units (root: its OFFSET)."""
        return self.animation.offsets

    @property
    def fps(self) -> float:
        return self.animation.fps

    @property
    def frame_time(self) -> float:
        return 1.0 / self.animation.fps

    @property
    def n_frames(self) -> int:
        return self.animation.n_frames

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """Global joint positions ``(T, J, 3)`` (file units, file axes) and rotations ``(T, J, 3, 3)``."""
        return self.animation.world_transforms()


def read_bvh(path: str | Path) -> BvhMotion:
    """Read a BVH file in file units and file axes (see :func:`mocap.export.read_bvh` for the parsing).

    Raises:
        DataError: naming the file (and line) when it cannot be read or is not valid BVH.
    """
    return BvhMotion(_read_animation(path, scale=1.0, up="z"))


def bvh_to_world(points: np.ndarray, unit_m: float = CMU_UNIT_M) -> np.ndarray:
    """BVH positions ``(..., 3)`` (file units, Y up) -> world metres, Z up (x forward, y left for CMU)."""
    return (np.asarray(points, float) @ YUP_TO_ZUP.T) * unit_m
