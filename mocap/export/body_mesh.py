"""The body model's own skinned mesh for glTF/FBX export, with the skeleton re-bound to the mesh's rest pose.

A :class:`~mocap.body.model.BodyModel` skins vertex ``v`` (rest frame) with ``T_j = [G_j A_j | p_j - G_j A_j h_j]``
(``h_j`` bind head, ``A_j`` bind rotation correction: identity for SMPL-X, small for Anny), while the skeleton of
a :class:`~mocap.body.motion.BodyMotion` has identity rest orientations and rest offsets ``q_j - q_parent =
A_parent (h_j - h_parent)``. Standard skinning (glTF, FBX: bind pose = the skeleton's rest pose, inverse bind
matrices = inverse rest joint transforms) reproduces the model exactly when the exported skeleton is re-bound:

- rest offsets ``h_j - h_parent`` (root: ``h_0``), so the rest pose is the mesh's own rest pose;
- local rotations ``L'_j = A_parent^T L_j A_j`` (root: ``L_0 A_0``), so the world joint frames are ``G_j A_j``;

world joint positions are unchanged (``p'_j = p_j``), and LBS with pure-translation inverse bind matrices
``[I | -h_j]`` gives exactly the model's ``T_j`` (up to dropping SMPL-X's pose-corrective blend shapes, which
LBS files cannot carry, and, for glTF, keeping the 4 largest weights per vertex).
"""

from __future__ import annotations

import numpy as np

from mocap.errors import DataError
from mocap.export.animation import Animation
from mocap.export.gltf import SkinnedMesh
from mocap.geometry.rotations import matrix_to_quat_xyzw, quat_xyzw_to_matrix


def body_info(anim: Animation) -> dict | None:
    """The body model name and shape an animation came from (set by :func:`from_body_motion`), or None."""
    info = anim.meta.get("body")
    if isinstance(info, dict) and "model" in info and "shape" in info:
        return info
    return None


def body_skinned_animation(anim: Animation, model=None, tol: float = 1e-3) -> tuple[Animation, SkinnedMesh]:  # noqa: ANN001
    """Re-bind an animation of a body model's skeleton to the model's rest mesh (see the module notes).

    Args:
        anim: an animation of the body model's skeleton (from :func:`mocap.export.from_body_motion`; the model name
            and shape are read from ``anim.meta["body"]``). Joints may have been renamed (profiles), not reordered.
        model: the :class:`~mocap.body.model.BodyModel` (default: loaded by name with
            :func:`mocap.body.load_model`).
        tol: largest allowed difference (metres) between the animation's rest offsets and the model's for this
            shape: a larger one means the animation was not made with this model/shape.

    Returns:
        ``(re-bound animation, mesh)``: the mesh's vertices ``(V, 3)`` (rest frame, metres), faces ``(F, 3)`` and
        dense weights ``(V, J)`` (all of the model's influences, rows summing to 1).
    """
    import torch

    info = body_info(anim)
    if info is None:
        raise DataError("this animation does not come from a body model fit, so it has no body mesh",
                        hint="use mesh='bones' or mesh='none', or export a body-motion .npz from `mocap fit`")
    if model is None:
        from mocap.body import load_model

        model = load_model(str(info["model"]))
    if getattr(model, "name", None) != info["model"]:
        raise DataError(f"the motion was fitted with the {info['model']!r} model but the {model.name!r} model was "
                        "given for its mesh")
    J = anim.n_joints
    if model.n_joints != J or not np.array_equal(np.asarray(model.parents), anim.parents):
        raise DataError(f"the animation's skeleton ({J} joints) is not the {model.name} model's "
                        f"({model.n_joints} joints)", hint="export body motions without changing their skeleton")
    shape = torch.as_tensor(np.asarray(info["shape"], float), dtype=model.dtype, device=model.device).reshape(1, -1)
    with torch.no_grad():
        rest = model.rest_state(shape)
        verts = model.rest_vertices(shape)[0].cpu().numpy().astype(float)
        w, idx = model.skinning()
    q = rest.joints[0].cpu().numpy().astype(float)
    h = rest.bind_heads[0].cpu().numpy().astype(float)
    A = np.broadcast_to(np.eye(3), (J, 3, 3)) if rest.bind_rot is None else rest.bind_rot[0].cpu().numpy()
    A = np.asarray(A, float)
    par = anim.parents
    off_model = q.copy()
    off_model[1:] = q[1:] - q[par[1:]]
    err = float(np.abs(off_model - anim.offsets).max())
    if err > tol:
        raise DataError(f"the animation's rest offsets differ from the {model.name} model's for its shape by "
                        f"{err * 1000:.1f} mm", hint="the motion's shape parameters do not match its skeleton")
    new_off = h.copy()
    new_off[1:] = h[1:] - h[par[1:]]
    L = quat_xyzw_to_matrix(anim.local_rotations)  # (T, J, 3, 3)
    Ap = A[np.maximum(par, 0)]
    Ap[0] = np.eye(3)
    L2 = np.swapaxes(Ap, -1, -2)[None] @ L @ A[None]
    rebound = anim.copy(offsets=new_off, local_rotations=matrix_to_quat_xyzw(L2),
                        meta=dict(anim.meta, rest_pose="body_mesh"))
    dense = np.zeros((verts.shape[0], J))
    np.add.at(dense, (np.arange(verts.shape[0])[:, None], idx.cpu().numpy()), w.cpu().numpy().astype(float))
    s = dense.sum(1, keepdims=True)
    if np.any(s <= 0):
        raise DataError(f"{int((s <= 0).sum())} vertices of the {model.name} mesh have no skinning weight")
    faces = np.asarray(model.faces, dtype=np.int64)
    return rebound, SkinnedMesh(verts, faces, dense / s)


def skin_vertices(anim: Animation, mesh: SkinnedMesh, frames: np.ndarray, max_influences: int | None = None
                  ) -> np.ndarray:
    """Standard linear-blend skinning of an exported skeleton + mesh (what glTF/FBX viewers compute).

    Bind pose = the skeleton's rest pose (identity rotations, joints at :meth:`Animation.rest_positions`).

    Args:
        anim: the animation; mesh: its skinned mesh (rest pose); frames: ``(F,)`` frame indices.
        max_influences: keep only this many largest weights per vertex, renormalised (glTF: 4); None: all.

    Returns:
        ``(F, V, 3)`` world vertices, metres.
    """
    w = np.asarray(mesh.weights, float)
    if max_influences is not None:
        order = np.argsort(-w, axis=1, kind="stable")  # ties broken as the glTF writer does
        keep = np.zeros_like(w, dtype=bool)
        np.put_along_axis(keep, order[:, :max_influences], True, axis=1)
        w = np.where(keep, w, 0.0)
        w /= w.sum(1, keepdims=True)
    rest = anim.rest_positions()
    P, G = anim.world_transforms()
    frames = np.asarray(frames, int)
    v = np.asarray(mesh.vertices, float)
    out = np.zeros((len(frames), v.shape[0], 3))
    for k, f in enumerate(frames):
        # per joint: x -> G (x - rest) + P ; blended by the weights
        rel = v[None] - rest[:, None]  # (J, V, 3)
        moved = np.einsum("jab,jvb->jva", G[f], rel) + P[f][:, None]
        out[k] = np.einsum("vj,jva->va", w, moved)
    return out
