"""The body-motion contract: everything an exporter or a ROS message needs, whichever model produced it.

Skeleton semantics (BVH-like): joint ``j``'s world rotation is ``G_j = G_parent @ L_j`` with ``L_j`` =
``local_rotations[:, j]`` (``L_0`` = ``root_orientation``), and its world position
``p_j = p_parent + G_parent @ rest_offsets[j]``, ``p_0 = root_translation``. The rest pose (all identity) is the
model's rest pose in its own frame (SMPL-X: y up; Anny: z up); ``root_orientation`` maps it into our Z-up world.

Saved as ``.npz`` with our fields plus, for SMPL-X, the AMASS names: ``poses (T, 165)`` axis-angle, ``trans (T, 3)``
(smplx ``transl``: pelvis minus its rest position), ``betas``, ``gender``, ``mocap_framerate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mocap.errors import DataError
from mocap.geometry.rotations import quat_xyzw_to_matrix

_ARRAYS = ("parents", "rest_offsets", "shape", "root_translation", "root_orientation", "local_rotations",
           "timestamps")


@dataclass
class BodyMotion:
    """A fitted body motion of one person.

    Attributes:
        model: ``"smplx"`` or ``"anny"``.
        joint_names: ``J`` joint names of the model's skeleton.
        parents: ``(J,)`` parent indices (-1 for the root).
        rest_offsets: ``(J, 3)`` offset of each joint from its parent at rest, metres (root: rest position).
        shape: ``(S,)`` shape parameters (SMPL-X betas; Anny phenotypes in [0, 1]).
        root_translation: ``(T, 3)`` world position of the root joint, metres.
        root_orientation: ``(T, 4)`` xyzw world orientation of the root.
        local_rotations: ``(T, J, 4)`` xyzw local rotations (``[:, 0]`` = root orientation).
        fps: frames per second.
        timestamps: ``(T,)`` seconds.
        params: model-specific arrays (AMASS fields for SMPL-X; ``phenotypes`` etc. for Anny).
        quality: per-frame diagnostics, e.g. ``residual_m (T, K)``, ``valid (T,)``.
        meta: free-form (joint set, fitting settings).
    """

    model: str
    joint_names: list[str]
    parents: np.ndarray
    rest_offsets: np.ndarray
    shape: np.ndarray
    root_translation: np.ndarray
    root_orientation: np.ndarray
    local_rotations: np.ndarray
    fps: float
    timestamps: np.ndarray | None = None
    params: dict[str, np.ndarray] = field(default_factory=dict)
    quality: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        T, J = self.local_rotations.shape[:2]
        if self.timestamps is None:
            self.timestamps = np.arange(T) / float(self.fps)
        checks = {"root_translation": (T, 3), "root_orientation": (T, 4), "local_rotations": (T, J, 4),
                  "rest_offsets": (J, 3), "parents": (J,)}
        for name, shp in checks.items():
            if np.shape(getattr(self, name)) != shp:
                raise DataError(f"BodyMotion.{name} has shape {np.shape(getattr(self, name))}, expected {shp}")

    @property
    def n_frames(self) -> int:
        return self.local_rotations.shape[0]

    def world_joints(self) -> np.ndarray:
        """``(T, J, 3)`` world joint positions from the skeleton alone (forward kinematics), metres."""
        T, J = self.local_rotations.shape[:2]
        L = quat_xyzw_to_matrix(self.local_rotations)
        G = np.zeros((T, J, 3, 3))
        P = np.zeros((T, J, 3))
        for j in range(J):
            p = self.parents[j]
            if p < 0:
                G[:, j] = L[:, j]
                P[:, j] = self.root_translation
            else:
                G[:, j] = G[:, p] @ L[:, j]
                P[:, j] = P[:, p] + (G[:, p] @ self.rest_offsets[j])
        return P

    def save(self, path: str | Path) -> Path:
        """Write ``.npz`` (our fields + model-specific AMASS-style fields)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        out = {k: np.asarray(getattr(self, k)) for k in _ARRAYS}
        out.update(model=np.array(self.model), joint_names=np.array(self.joint_names), fps=np.array(self.fps))
        for k, v in self.params.items():
            out[k] = np.asarray(v)
        for k, v in self.quality.items():
            out[f"quality_{k}"] = np.asarray(v)
        import json

        out["meta_json"] = np.array(json.dumps(self.meta, default=str))
        np.savez_compressed(path, **out)
        return path

    @classmethod
    def load(cls, path: str | Path) -> BodyMotion:
        """Read a file written by :meth:`save`."""
        import json

        path = Path(path)
        try:
            z = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read body motion {path}: {e}") from None
        with z:
            if "local_rotations" not in z.files:
                raise DataError(f"{path} is not a mocap body-motion file (no 'local_rotations')")
            kw = {k: z[k] for k in _ARRAYS}
            fixed = set(_ARRAYS) | {"model", "joint_names", "fps", "meta_json"}
            params = {k: z[k] for k in z.files if k not in fixed and not k.startswith("quality_")}
            quality = {k[8:]: z[k] for k in z.files if k.startswith("quality_")}
            return cls(model=str(z["model"]), joint_names=[str(s) for s in z["joint_names"]], fps=float(z["fps"]),
                       params=params, quality=quality, meta=json.loads(str(z["meta_json"])), **kw)
