"""Anny (NAVER, Apache-2.0; data shipped in its wheel) with the :class:`~mocap.body.model.BodyModel` interface.

Anny's default full-body model: 13,718 vertices, 104 bones, world Z up, facing -Y, +X = body's left, metres.
Shape = 6 phenotype values in [0, 1] (gender, age, muscle, weight, height, proportions; 0.5 = average).
The first construction builds Anny's cache (~35-110 s, ~830 MB in ``ANNY_CACHE_DIR``, default ~/.cache/anny);
later ones take ~1 s. One instance per process is shared (:func:`get_anny`).

Pose: Anny's ``"local-ref"`` parameterisation is exactly our convention (local rotations in world-aligned axes);
the kinematics and skinning are recomputed here in the same code as SMPL-X and checked against ``anny.Anny``.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from mocap.body.model import BodyModel, RestState
from mocap.errors import DataError

# Anny bone -> canonical joint name (mocap.skeletons naming: anatomical finger points, ``left_eyeball``)
_SIDE = {
    "upperleg01": "hip", "lowerleg01": "knee", "foot": "ankle", "toe1-1": "foot", "clavicle": "collar",
    "upperarm01": "shoulder", "lowerarm01": "elbow", "wrist": "wrist",
    "finger1-1": "thumb_cmc", "finger1-2": "thumb_mcp", "finger1-3": "thumb_ip",
    "finger2-1": "index_mcp", "finger2-2": "index_pip", "finger2-3": "index_dip",
    "finger3-1": "middle_mcp", "finger3-2": "middle_pip", "finger3-3": "middle_dip",
    "finger4-1": "ring_mcp", "finger4-2": "ring_pip", "finger4-3": "ring_dip",
    "finger5-1": "pinky_mcp", "finger5-2": "pinky_pip", "finger5-3": "pinky_dip",
    "eye": "eyeball",
}
_CENTRE = {"root": "pelvis", "spine04": "spine1", "spine02": "spine2", "spine01": "spine3", "neck01": "neck",
           "head": "head"}
PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")


@functools.lru_cache(maxsize=2)
def get_anny(dtype_name: str = "float32"):
    """The shared ``anny.Anny()`` instance (built once per process; the first build ever fills the cache)."""
    try:
        import anny
    except ImportError as e:  # pragma: no cover - anny is a pinned dependency
        raise DataError("the 'anny' package is not installed", hint="pip install anny==0.6.2") from e
    try:
        m = anny.Anny(skinning_method="lbs")
    except OSError as e:
        raise DataError(f"cannot build the Anny model: {e}",
                        hint="check that ANNY_CACHE_DIR (default ~/.cache/anny) is writable with ~1 GB free") from e
    return m.to(getattr(torch, dtype_name))


def canonical_anny_name(bone: str) -> str | None:
    """Canonical joint name of an Anny bone (``"lowerleg01.L"`` -> ``"left_knee"``), or None."""
    if bone in _CENTRE:
        return _CENTRE[bone]
    if bone.endswith((".L", ".R")):
        base, side = bone[:-2], "left" if bone.endswith(".L") else "right"
        if base in _SIDE:
            return f"{side}_{_SIDE[base]}"
    return None


class AnnyModel(BodyModel):
    """Anny full-body model (the default: no licence or download needed).

    Args:
        device, dtype: torch placement (float32 by default).
    """

    name = "anny"
    canonical_rot = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # Z-up, -Y forward -> y up, z forward

    def __init__(self, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> None:
        super().__init__(device, dtype)
        self.anny = get_anny(str(dtype).replace("torch.", "")).to(self.device)
        m = self.anny
        self.joint_names = tuple(m.bone_labels)
        self.parents = np.asarray(m.bone_parents, dtype=np.int64)
        self.parents[0] = -1
        self.n_shape = len(m.phenotype_labels)
        self.phenotype_labels = tuple(m.phenotype_labels)
        self.faces = m.get_triangular_faces().cpu().numpy()
        self.canonical_names = {i: c for i, b in enumerate(self.joint_names) if (c := canonical_anny_name(b))}
        self.U = m.reference_bone_orientations  # (J, 3, 3)
        self.skin_w = m.vertex_bone_weights
        self.skin_idx = m.vertex_bone_indices.long()
        self._no_extra = torch.zeros(1, 0, dtype=dtype, device=self.device)
        self._rest_cache: tuple[torch.Tensor, dict] | None = None

    def default_shape(self) -> torch.Tensor:
        return torch.full((self.n_shape,), 0.5, dtype=self.dtype, device=self.device)

    def shape_penalty(self, shape: torch.Tensor) -> torch.Tensor:
        # phenotypes live in [0, 1]: pull gently to average, strongly back inside the range
        out = ((shape - 0.5) ** 2).sum(-1) + 100 * (torch.relu(shape - 1) ** 2 + torch.relu(-shape) ** 2).sum(-1)
        return out.mean()

    def clamp_shape(self, shape: torch.Tensor) -> torch.Tensor:
        return shape.clamp(0.0, 1.0)

    def _rest_model(self, shape: torch.Tensor) -> dict:
        shape = shape.reshape(-1, self.n_shape)
        c = self._rest_cache
        if c is not None and not shape.requires_grad and c[0].shape == shape.shape and torch.equal(c[0], shape):
            return c[1]
        B = shape.shape[0]
        coeffs = self.anny._get_phenotype_blendshape_coefficients(
            shape, self._no_extra.expand(B, 0), self._no_extra.expand(B, 0))
        rest = self.anny.get_rest_model(coeffs)
        rest["coeffs"] = coeffs
        if not shape.requires_grad:
            self._rest_cache = (shape.detach().clone(), rest)
        return rest

    def rest_state(self, shape: torch.Tensor) -> RestState:
        rest = self._rest_model(shape)
        h = rest["rest_bone_heads"]  # (B, J, 3)
        R = rest["rest_bone_poses"][..., :3, :3]  # (B, J, 3, 3)
        A = self.U[None] @ R.transpose(-1, -2)  # rest -> reference orientation of each bone
        par = torch.as_tensor(np.maximum(self.parents, 0), device=self.device)
        off = (A[:, par] @ (h - h[:, par])[..., None])[..., 0]
        off[:, 0] = h[:, 0]
        # reference joints: cumulative sums of the offsets down the tree (parents come first)
        q_list = [off[:, 0]]
        for j in range(1, len(self.parents)):
            q_list.append(q_list[self.parents[j]] + off[:, j])
        q = torch.stack(q_list, 1)
        return RestState(joints=q, bind_heads=h, bind_rot=A)

    def rest_vertices(self, shape: torch.Tensor, vertex_ids: torch.Tensor | None = None) -> torch.Tensor:
        v = self._rest_model(shape)["rest_vertices"]
        return v if vertex_ids is None else v[:, vertex_ids]

    def skinning(self, vertex_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if vertex_ids is None:
            return self.skin_w, self.skin_idx
        return self.skin_w[vertex_ids], self.skin_idx[vertex_ids]

    def anny_forward(self, shape: torch.Tensor, pose: torch.Tensor, root_position: torch.Tensor) -> torch.Tensor:
        """Vertices ``(B, V, 3)`` from ``anny.Anny`` itself for our parameters (a cross-check of :meth:`forward`)."""
        from mocap.body.model import rotvec_to_matrix_torch

        B = pose.shape[0]
        D = torch.eye(4, dtype=self.dtype, device=self.device).repeat(B, self.n_joints, 1, 1)
        D[:, :, :3, :3] = rotvec_to_matrix_torch(pose)
        U0 = self.U[0]
        D[:, 0, :3, :3] = U0 @ D[:, 0, :3, :3]
        D[:, 0, :3, 3] = root_position @ U0.T
        out = self.anny(pose_parameters=D, phenotype_kwargs=shape.reshape(-1, self.n_shape).expand(B, -1),
                        pose_parameterization="local-ref")
        return out["vertices"]

    def tip_vertices(self) -> dict[str, int]:
        """Vertex ids of fingertips (``"left_index_tip"``...) and toe tips: the vertex of each last finger bone
        farthest along the bone's direction (computed from the mean shape)."""
        if hasattr(self, "_tips"):
            return self._tips
        with torch.no_grad():
            rest = self._rest_model(self.default_shape()[None])
            v = rest["rest_vertices"][0]
            h = rest["rest_bone_heads"][0]
            w = self.skin_w
            idx = self.skin_idx
            tips = {}
            for side, s in (("left", "L"), ("right", "R")):
                for k, finger in enumerate(("thumb", "index", "middle", "ring", "pinky"), start=1):
                    b = self.joint_names.index(f"finger{k}-3.{s}")
                    p = self.joint_names.index(f"finger{k}-2.{s}")
                    direction = h[b] - h[p]
                    direction = direction / direction.norm()
                    main = (idx[:, 0] == b) & (w[:, 0] > 0.5)
                    cand = torch.nonzero(main)[:, 0]
                    proj = ((v[cand] - h[b]) @ direction)
                    tips[f"{side}_{finger}_tip"] = int(cand[torch.argmax(proj)])
        self._tips = tips
        return tips

    def coco_regressor(self) -> tuple[list[str], torch.Tensor, torch.Tensor]:
        """Anny's COCO(+feet) regressor, sparsified: labels (23), vertex ids ``(V',)``, weights ``(23, V')``."""
        import anny

        reg = anny.KeypointsRegressor.coco(self.anny)
        W = reg.regression_weights.to(self.dtype)
        W = torch.where(W > 1e-4 * W.max(1, keepdim=True).values, W, torch.zeros_like(W))
        W = W / W.sum(1, keepdim=True)
        ids = torch.nonzero(W.sum(0) > 0)[:, 0]
        return list(reg.labels), ids, W[:, ids]
