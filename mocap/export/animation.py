"""A skeleton animation: what every animation exporter (BVH, FBX, glTF) writes.

Skeleton semantics (the same as :class:`mocap.body.motion.BodyMotion`, BVH-like): every joint's rest
orientation is the identity, joint ``j``'s world rotation is ``G_j = G_parent @ L_j`` with ``L_j`` =
``local_rotations[:, j]`` (``L_root`` = the root's world orientation) and its world position is
``p_j = p_parent + G_parent @ offsets[j]``; the root's world position is ``root_translation``. ``offsets[root]``
is the root's rest position. Units metres; world right-handed, Z up. Exporters convert to Y-up at the boundary
with :func:`change_basis`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from mocap.errors import DataError
from mocap.geometry.rotations import matrix_to_quat_xyzw, quat_xyzw_normalize, quat_xyzw_to_matrix

#: Our Z-up world -> the Y-up convention of glTF, FBX (Y-up), BVH and Blender's exporters:
#: ``(x, y, z) -> (x, z, -y)`` (forward -Y stays the viewer-facing +Z side, left +X stays +X).
ZUP_TO_YUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
YUP_TO_ZUP = ZUP_TO_YUP.T

#: File units per metre.
UNIT_SCALE = {"m": 1.0, "cm": 100.0, "mm": 1000.0}


@dataclass
class Animation:
    """Local joint rotations of one skeleton over time.

    Attributes:
        joint_names: ``J`` unique joint names.
        parents: ``(J,)`` parent indices, ``-1`` for the single root; parents come before children.
        offsets: ``(J, 3)`` rest offset of each joint from its parent, metres (root: its rest position).
        root_translation: ``(T, 3)`` world position of the root joint, metres.
        local_rotations: ``(T, J, 4)`` local rotations, quaternions xyzw (``[:, root]`` = root world orientation).
        fps: frames per second.
        valid: ``(T,)`` bool, False on frames that were filled in (interpolated or held) from missing data.
        end_sites: names of leaf joints that are BVH "End Site"s (no channels of their own).
        meta: free-form provenance (source file, joint set, profile).
    """

    joint_names: list[str]
    parents: np.ndarray
    offsets: np.ndarray
    root_translation: np.ndarray
    local_rotations: np.ndarray
    fps: float
    valid: np.ndarray | None = None
    end_sites: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.joint_names = [str(n) for n in self.joint_names]
        self.parents = np.asarray(self.parents, dtype=int).ravel()
        self.offsets = np.asarray(self.offsets, dtype=float)
        self.root_translation = np.asarray(self.root_translation, dtype=float)
        self.local_rotations = np.asarray(self.local_rotations, dtype=float)
        if self.local_rotations.ndim != 3 or self.local_rotations.shape[-1] != 4:
            raise DataError(f"Animation.local_rotations has shape {self.local_rotations.shape}; expected (T, J, 4)")
        T, J = self.local_rotations.shape[:2]
        checks = {"root_translation": (T, 3), "offsets": (J, 3), "parents": (J,)}
        for name, shp in checks.items():
            if getattr(self, name).shape != shp:
                raise DataError(f"Animation.{name} has shape {getattr(self, name).shape}, expected {shp}")
        if len(self.joint_names) != J:
            raise DataError(f"Animation has {J} joints but {len(self.joint_names)} joint names")
        if len(set(self.joint_names)) != J:
            dup = sorted({n for n in self.joint_names if self.joint_names.count(n) > 1})
            raise DataError(f"Animation joint names are not unique: {dup}")
        roots = np.flatnonzero(self.parents < 0)
        if roots.size != 1 or roots[0] != 0:
            raise DataError(f"Animation needs exactly one root joint at index 0 (roots at {roots.tolist()})")
        if np.any(self.parents[1:] >= np.arange(1, J)):
            raise DataError("Animation parents must come before their children (parents[j] < j)")
        if not float(self.fps) > 0:
            raise DataError(f"Animation fps must be positive, got {self.fps}")
        self.fps = float(self.fps)
        self.valid = np.ones(T, bool) if self.valid is None else np.asarray(self.valid, bool).ravel()
        if self.valid.shape != (T,):
            raise DataError(f"Animation.valid has shape {self.valid.shape}, expected ({T},)")
        unknown = [n for n in self.end_sites if n not in self.joint_names]
        if unknown:
            raise DataError(f"Animation end sites {unknown} are not joints")

    @property
    def n_frames(self) -> int:
        return self.local_rotations.shape[0]

    @property
    def n_joints(self) -> int:
        return self.local_rotations.shape[1]

    def children(self, j: int) -> list[int]:
        """Indices of the children of joint ``j``."""
        return [int(c) for c in np.flatnonzero(self.parents == j)]

    def world_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """Forward kinematics: world positions ``(T, J, 3)`` metres and rotations ``(T, J, 3, 3)``."""
        T, J = self.n_frames, self.n_joints
        L = quat_xyzw_to_matrix(self.local_rotations)
        G = np.empty((T, J, 3, 3))
        P = np.empty((T, J, 3))
        G[:, 0] = L[:, 0]
        P[:, 0] = self.root_translation
        for j in range(1, J):
            p = self.parents[j]
            G[:, j] = G[:, p] @ L[:, j]
            P[:, j] = P[:, p] + G[:, p] @ self.offsets[j]
        return P, G

    def world_positions(self) -> np.ndarray:
        """``(T, J, 3)`` world joint positions, metres."""
        return self.world_transforms()[0]

    def rest_positions(self) -> np.ndarray:
        """``(J, 3)`` joint positions in the rest pose (all local rotations identity), metres."""
        P = np.zeros((self.n_joints, 3))
        P[0] = self.offsets[0]
        for j in range(1, self.n_joints):
            P[j] = P[self.parents[j]] + self.offsets[j]
        return P

    def copy(self, **changes) -> Animation:
        """A deep copy with some fields replaced."""
        base = replace(self, joint_names=list(self.joint_names), parents=self.parents.copy(),
                       offsets=self.offsets.copy(), root_translation=self.root_translation.copy(),
                       local_rotations=self.local_rotations.copy(), valid=self.valid.copy(),
                       end_sites=list(self.end_sites), meta=dict(self.meta))
        return replace(base, **changes) if changes else base


def change_basis(anim: Animation, m: np.ndarray, scale: float = 1.0) -> Animation:
    """Express an animation in another frame: positions ``p -> scale * m @ p``, rotations ``R -> m @ R @ m.T``.

    Args:
        anim: the animation.
        m: ``(3, 3)`` proper rotation from the current frame to the new one (e.g. :data:`ZUP_TO_YUP`).
        scale: unit factor applied to offsets and translations (e.g. 100 for metres -> centimetres).
    """
    m = np.asarray(m, float)
    L = quat_xyzw_to_matrix(anim.local_rotations)
    L2 = m @ L @ m.T
    return anim.copy(offsets=scale * anim.offsets @ m.T, root_translation=scale * anim.root_translation @ m.T,
                     local_rotations=matrix_to_quat_xyzw(L2))


def from_body_motion(motion) -> Animation:  # noqa: ANN001 (mocap.body.motion.BodyMotion, imported lazily)
    """Convert a :class:`mocap.body.motion.BodyMotion` (the same skeleton semantics) to an :class:`Animation`.

    The root's local rotation is set from ``root_orientation`` (BodyMotion keeps both; they should agree).
    ``meta["body"]`` keeps the model name and shape, so exporters can rebuild the body mesh
    (:func:`mocap.export.body_mesh.body_skinned_animation`).
    """
    q = np.array(motion.local_rotations, dtype=float, copy=True)
    q[:, 0] = motion.root_orientation
    valid = None
    if "valid" in getattr(motion, "quality", {}):
        v = np.asarray(motion.quality["valid"]).ravel()
        if v.shape == (q.shape[0],):
            valid = v.astype(bool)
    return Animation(list(motion.joint_names), np.asarray(motion.parents), np.asarray(motion.rest_offsets),
                     np.asarray(motion.root_translation), q, float(motion.fps), valid=valid,
                     meta={"source": "body_motion", "model": str(motion.model),
                           "body": {"model": str(motion.model),
                                    "shape": [float(v) for v in np.asarray(motion.shape, float).ravel()]}})


def fill_missing(anim: Animation) -> Animation:
    """Fill non-finite values joint by joint: rotations slerped and the root translation interpolated between the
    nearest finite frames of that joint, held at the ends; a joint never finite gets the identity. Frames that
    had any non-finite value get ``valid = False``.

    Raises:
        DataError: when no frame at all is finite.
    """
    q = anim.local_rotations
    okq = np.isfinite(q).all(axis=2)  # (T, J)
    okt = np.isfinite(anim.root_translation).all(axis=1)
    frame_ok = okq.all(axis=1) & okt
    if frame_ok.all():
        return anim
    if not okq.any():
        raise DataError("the animation has no valid frame (every frame has NaN rotations or root positions)")
    out_q = q.copy()
    for j in np.flatnonzero(~okq.all(axis=0)):
        if not okq[:, j].any():
            out_q[:, j] = (0.0, 0.0, 0.0, 1.0)
            continue
        a, b, w = _neighbours(okq[:, j])
        bad = ~okq[:, j]
        out_q[bad, j] = _slerp(q[a, j], q[b, j], w)[bad]
    tr = anim.root_translation.copy()
    if not okt.all():
        if not okt.any():
            raise DataError("the animation has no finite root position")
        a, b, w = _neighbours(okt)
        tr[~okt] = ((1 - w)[:, None] * tr[a] + w[:, None] * tr[b])[~okt]
    return anim.copy(local_rotations=out_q, root_translation=tr, valid=anim.valid & frame_ok)


def _neighbours(ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each frame: the previous and next valid frame and the interpolation weight (held at the ends)."""
    idx = np.flatnonzero(ok)
    t = np.arange(ok.size)
    ip = np.searchsorted(idx, t, side="right") - 1  # last valid frame <= t (-1: none)
    inx = np.searchsorted(idx, t, side="left")  # first valid frame >= t (len: none)
    a = idx[np.clip(ip, 0, idx.size - 1)]
    b = idx[np.clip(inx, 0, idx.size - 1)]
    a = np.where(ip < 0, b, a)
    b = np.where(inx >= idx.size, a, b)
    w = np.clip((t - a) / np.maximum(b - a, 1), 0.0, 1.0)
    return a, b, w


def _slerp(qa: np.ndarray, qb: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Spherical interpolation of quaternions ``(..., 4)`` with weights ``(...)`` in [0, 1]."""
    dot = np.sum(qa * qb, axis=-1)
    qb = np.where(dot[..., None] < 0, -qb, qb)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    s = np.sin(theta)
    small = s < 1e-6
    wa = np.where(small, 1 - w, np.sin((1 - w) * theta) / np.where(small, 1, s))
    wb = np.where(small, w, np.sin(w * theta) / np.where(small, 1, s))
    return quat_xyzw_normalize(wa[..., None] * qa + wb[..., None] * qb)


def resample(anim: Animation, fps: float) -> Animation:
    """Resample to another frame rate (slerp rotations, lerp translations) over the same duration."""
    fps = float(fps)
    if fps <= 0:
        raise DataError(f"fps must be positive, got {fps}")
    if abs(fps - anim.fps) < 1e-9:
        return anim
    T = anim.n_frames
    dur = (T - 1) / anim.fps
    n = int(np.floor(dur * fps + 1e-9)) + 1
    src = np.arange(n) / fps * anim.fps
    a = np.clip(np.floor(src).astype(int), 0, T - 1)
    b = np.clip(a + 1, 0, T - 1)
    w = src - a
    q = _slerp(anim.local_rotations[a], anim.local_rotations[b], np.broadcast_to(w[:, None], (n, anim.n_joints)))
    tr = (1 - w)[:, None] * anim.root_translation[a] + w[:, None] * anim.root_translation[b]
    valid = anim.valid[a] & anim.valid[b]
    return anim.copy(local_rotations=q, root_translation=tr, fps=fps, valid=valid)
