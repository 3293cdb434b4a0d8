"""The one body-model interface: shape and pose in; joints, vertices, rotations and the skeleton out.

Every model is expressed the same way (what :class:`BodyModel` subclasses provide):

- a kinematic tree of ``J`` joints (``joint_names``, ``parents`` with ``parents[j] < j``);
- per shape ``(S,)``: reference joint positions ``q (J, 3)`` in the model's rest frame (metres) and the rest
  mesh; the rest offsets of the skeleton are ``q[j] - q[parent[j]]``;
- a pose: local rotations ``(J, 3)`` axis-angle (radians) in *world-aligned rest axes* (the SMPL / BVH
  convention: the global rotation of joint ``j`` is ``G_j = G_parent @ L_j``, rest pose = all identity), where
  ``L_0`` is the root orientation mapping the model's rest frame to the world; plus the world position of the
  root joint ``(3,)`` metres.

Posed joint ``j``: ``p_j = p_parent + G_parent @ (q_j - q_parent)``. Vertices are linear-blend skinned with
transforms ``T_j = [G_j B_j | p_j - G_j B_j h_j]`` where ``h_j`` is the joint's bind position and ``B_j`` a bind
rotation correction (identity for SMPL-X; Anny's rest bones are not world-aligned).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

from mocap.errors import MocapError


def rotvec_to_matrix_torch(rv: torch.Tensor) -> torch.Tensor:
    """Axis-angle ``(..., 3)`` radians -> rotation matrices ``(..., 3, 3)``, with finite gradients at zero."""
    theta2 = (rv * rv).sum(-1, keepdim=True)
    small = theta2 < 1e-8
    theta2_safe = torch.where(small, torch.ones_like(theta2), theta2)
    theta = torch.sqrt(theta2_safe)
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / theta2_safe)
    x, y, z = rv.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(rv.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=rv.dtype, device=rv.device).expand(k.shape)
    kk = torch.matmul(k, k)
    return eye + a[..., None] * k + b[..., None] * kk


def matrix_to_rotvec_torch(m: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(..., 3, 3)`` -> axis-angle ``(..., 3)`` (no gradient needed; via numpy)."""
    from mocap.geometry.rotations import matrix_to_rotvec

    return torch.as_tensor(matrix_to_rotvec(m.detach().cpu().numpy()), dtype=m.dtype, device=m.device)


def kinematic_levels(parents: np.ndarray | list[int]) -> list[np.ndarray]:
    """Joint indices grouped by depth in the tree (level 0 = roots). Requires ``parents[j] < j``."""
    parents = np.asarray(parents, dtype=int)
    depth = np.zeros(len(parents), dtype=int)
    for j, p in enumerate(parents):
        if p >= j:
            raise ValueError(f"kinematic tree: joint {j} has parent {p}; parents must come before children")
        depth[j] = 0 if p < 0 else depth[p] + 1
    return [np.flatnonzero(depth == d) for d in range(depth.max() + 1)]


@dataclass
class RestState:
    """Shape-dependent rest data of a model, batch ``B`` (1 when one shape is shared by all frames).

    Attributes:
        joints: ``(B, J, 3)`` reference joint positions (rest frame, metres).
        bind_heads: ``(B, J, 3)`` joint positions of the bind pose used by skinning.
        bind_rot: ``(B, J, 3, 3)`` bind rotation correction, or None for identity.
    """

    joints: torch.Tensor
    bind_heads: torch.Tensor
    bind_rot: torch.Tensor | None = None


@dataclass
class BodyOutput:
    """Posed model, batch ``B``.

    Attributes:
        joints: ``(B, J, 3)`` world joint positions, metres.
        global_rot: ``(B, J, 3, 3)`` world rotations of the joints relative to the rest pose.
        local_rot: ``(B, J, 3, 3)`` local rotations (world-aligned rest axes).
        vertices: ``(B, V', 3)`` world vertices (all, or the ones asked for), or None.
        rest: the :class:`RestState` used.
    """

    joints: torch.Tensor
    global_rot: torch.Tensor
    local_rot: torch.Tensor
    vertices: torch.Tensor | None
    rest: RestState


class BodyModel(ABC):
    """A parametric body model on torch (CPU, or GPU when ``device="cuda"``).

    Subclasses define the rest data; this class does the kinematics and skinning, so every model shares the
    exact same pose convention (see the module docstring).

    Attributes:
        name: ``"smplx"`` or ``"anny"``.
        joint_names: model joint names, ``J``.
        parents: ``(J,)`` parent indices, ``-1`` for the root, ``parents[j] < j``.
        n_shape: number of shape parameters ``S``.
        faces: ``(F, 3)`` triangle vertex indices.
        canonical_rot: ``(3, 3)`` rotation from the model's rest frame to the canonical body frame
            (x = body's left, y = up, z = forward) used by the joint limits.
        canonical_names: model joint index -> canonical joint name (``"left_knee"``) for the joints that have one.
    """

    name: str = "body"
    joint_names: tuple[str, ...]
    parents: np.ndarray
    n_shape: int
    faces: np.ndarray
    canonical_rot: np.ndarray = np.eye(3)
    canonical_names: dict[int, str]

    def __init__(self, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self.device = torch.device(device)
        self.dtype = dtype

    # ----- to be provided by each model -----
    @abstractmethod
    def default_shape(self) -> torch.Tensor:
        """``(S,)`` the mean / neutral shape parameters."""

    @abstractmethod
    def rest_state(self, shape: torch.Tensor) -> RestState:
        """Rest data for shapes ``(B, S)``."""

    @abstractmethod
    def rest_vertices(self, shape: torch.Tensor, vertex_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Rest vertices ``(B, V', 3)`` for shapes ``(B, S)`` (all vertices, or ``vertex_ids (V',)``)."""

    @abstractmethod
    def skinning(self, vertex_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Sparse skinning of the vertices: ``(weights (V', K), joint indices (V', K))``."""

    def pose_offsets(self, local_rot: torch.Tensor, vertex_ids: torch.Tensor | None) -> torch.Tensor | None:
        """Pose-dependent vertex offsets ``(B, V', 3)`` in the rest frame (SMPL-X posedirs), or None."""
        return None

    def shape_penalty(self, shape: torch.Tensor) -> torch.Tensor:
        """Shape regulariser (scalar) for shapes ``(B, S)``: 0 at the mean shape."""
        return ((shape - self.default_shape()) ** 2).sum(-1).mean()

    def clamp_shape(self, shape: torch.Tensor) -> torch.Tensor:
        """Project shapes ``(B, S)`` onto their valid range (in place is not required)."""
        return shape

    @property
    def n_joints(self) -> int:
        return len(self.joint_names)

    @property
    def n_vertices(self) -> int:
        return int(self.rest_vertices(self.default_shape()[None]).shape[1])

    # ----- shared kinematics -----
    def _levels(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if not hasattr(self, "_level_cache"):
            lv = kinematic_levels(self.parents)
            self._level_cache = [
                (torch.as_tensor(ix, device=self.device), torch.as_tensor(self.parents[ix], device=self.device))
                for ix in lv
            ]
            order = np.concatenate(lv)
            self._inverse_order = torch.as_tensor(np.argsort(order), device=self.device)
        return self._level_cache

    def forward(
        self,
        shape: torch.Tensor,
        pose: torch.Tensor,
        root_position: torch.Tensor,
        vertex_ids: torch.Tensor | None | str = "all",
        rest: RestState | None = None,
        root_rot: torch.Tensor | None = None,
    ) -> BodyOutput:
        """Pose the model.

        Args:
            shape: ``(B, S)`` or ``(1, S)`` shape parameters (1 = shared by the batch).
            pose: ``(B, J, 3)`` local axis-angle rotations (radians), world-aligned rest axes; ``pose[:, 0]`` is the
                root orientation in the world.
            root_position: ``(B, 3)`` world position of the root joint, metres.
            vertex_ids: ``"all"`` for the whole mesh, a ``(V',)`` index tensor for some vertices, or None for none.
            rest: a precomputed :meth:`rest_state` of ``shape`` (saves time when the shape is fixed).
            root_rot: ``(B, 3, 3)`` root orientation matrices replacing ``pose[:, 0]`` (optional).

        Returns:
            :class:`BodyOutput` with joints ``(B, J, 3)`` and vertices ``(B, V', 3)`` in world metres.
        """
        if pose.ndim != 3 or pose.shape[1:] != (self.n_joints, 3):
            raise MocapError(f"{self.name} pose has shape {tuple(pose.shape)}, expected (B, {self.n_joints}, 3)")
        rest = self.rest_state(shape) if rest is None else rest
        local = rotvec_to_matrix_torch(pose)
        if root_rot is not None:
            local = torch.cat([root_rot[:, None], local[:, 1:]], 1)
        joints, glob = self.forward_kinematics(local, root_position, rest.joints)
        verts = None
        if vertex_ids is not None:
            ids = None if isinstance(vertex_ids, str) else vertex_ids
            verts = self.skin(shape, local, glob, joints, rest, ids)
        return BodyOutput(joints=joints, global_rot=glob, local_rot=local, vertices=verts, rest=rest)

    def forward_kinematics(
        self, local: torch.Tensor, root_position: torch.Tensor, q: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posed joints ``(B, J, 3)`` and global rotations ``(B, J, 3, 3)`` from local rotations ``(B, J, 3, 3)``,
        root positions ``(B, 3)`` and reference joints ``q`` ``(B|1, J, 3)``."""
        B = local.shape[0]
        q = q.expand(B, -1, -1)
        levels = self._levels()
        lookup = self._pos_lookup
        g_list, p_list = [], []
        for lvl, (ix, par) in enumerate(levels):
            if lvl == 0:
                G = local[:, ix]
                P = root_position[:, None, :].expand(B, len(ix), 3)
            else:  # a joint's parent is always in the previous level
                Gp = g_list[-1][:, lookup[lvl]]
                Pp = p_list[-1][:, lookup[lvl]]
                off = (q[:, ix] - q[:, par])[..., None]
                G = Gp @ local[:, ix]
                P = Pp + (Gp @ off)[..., 0]
            g_list.append(G)
            p_list.append(P)
        glob = torch.cat(g_list, 1)[:, self._inverse_order]
        joints = torch.cat(p_list, 1)[:, self._inverse_order]
        return joints, glob

    @property
    def _pos_lookup(self) -> list[torch.Tensor]:
        """Per level: the position of each joint's parent within the previous level."""
        if not hasattr(self, "_pos_cache"):
            levels = self._levels()
            self._pos_cache = [torch.zeros(0, dtype=torch.long, device=self.device)]
            for (prev, _), (_, par) in zip(levels[:-1], levels[1:]):
                where = {int(j): k for k, j in enumerate(prev.cpu().numpy())}
                self._pos_cache.append(torch.as_tensor([where[int(p)] for p in par.cpu().numpy()],
                                                       device=self.device))
        return self._pos_cache

    def skin(
        self,
        shape: torch.Tensor,
        local: torch.Tensor,
        glob: torch.Tensor,
        joints: torch.Tensor,
        rest: RestState,
        vertex_ids: torch.Tensor | None,
    ) -> torch.Tensor:
        """Linear-blend skinned vertices ``(B, V', 3)`` (all when ``vertex_ids`` is None)."""
        B = glob.shape[0]
        v = self.rest_vertices(shape, vertex_ids).expand(B, -1, -1)
        off = self.pose_offsets(local, vertex_ids)
        if off is not None:
            v = v + off
        rot = glob if rest.bind_rot is None else glob @ rest.bind_rot.expand(B, -1, -1, -1)
        heads = rest.bind_heads.expand(B, -1, -1)
        trans = joints - (rot @ heads[..., None])[..., 0]  # (B, J, 3)
        w, idx = self.skinning(vertex_ids)  # (V', K)
        R = rot[:, idx]  # (B, V', K, 3, 3)
        t = trans[:, idx]  # (B, V', K, 3)
        per = (R @ v[:, :, None, :, None])[..., 0] + t  # (B, V', K, 3)
        return (per * w[None, :, :, None]).sum(2)

    # ----- skeleton description -----
    def rest_offsets(self, shape: torch.Tensor | None = None) -> np.ndarray:
        """``(J, 3)`` offset of each joint from its parent in the rest pose (root: its rest position), metres."""
        shape = self.default_shape() if shape is None else torch.as_tensor(shape, dtype=self.dtype,
                                                                           device=self.device)
        with torch.no_grad():
            q = self.rest_state(shape.reshape(1, -1)).joints[0].cpu().numpy().astype(float)
        off = q.copy()
        par = np.asarray(self.parents)
        off[par >= 0] = q[par >= 0] - q[par[par >= 0]]
        return off

    def canonical_index(self) -> dict[str, int]:
        """Canonical joint name -> model joint index."""
        return {v: k for k, v in self.canonical_names.items()}

    def zero_pose(self, batch: int = 1) -> torch.Tensor:
        """``(batch, J, 3)`` identity pose."""
        return torch.zeros(batch, self.n_joints, 3, dtype=self.dtype, device=self.device)

    def mesh(self, shape: torch.Tensor, pose: torch.Tensor, root_position: torch.Tensor) -> np.ndarray:
        """Convenience: world vertices ``(B, V, 3)`` as numpy."""
        with torch.no_grad():
            out = self.forward(shape, pose, root_position, vertex_ids="all")
        return out.vertices.cpu().numpy().astype(float)
