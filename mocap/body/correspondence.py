"""Which point of a body model each keypoint of a joint set corresponds to, and how much to trust the pair.

A keypoint ``k`` is predicted as a linear combination of model joints and model vertices:
``pred[k] = joint_coef[k] @ joints + vertex_coef[k] @ vertices[vertex_ids]``. Sources:

- model joints by canonical name (``left_knee``; SMPL-X names are the canonical names);
- vertex landmarks: nose, eyes, ears, toes, heels, fingertips (smplx's vertex ids for SMPL-X; Anny's COCO(+feet)
  keypoint regressor for COCO-like points and tip vertices for fingertips);
- midpoints for points between joints (``neck`` of BODY_25 = mid-shoulders, ``mid_hip``).

Weights down-weight approximate pairs (a detector's hip vs a model's hip-joint centre).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mocap.body.model import BodyModel
from mocap.errors import KeypointsError

# smplx.vertex_ids.vertex_ids["smplx"], by canonical name
SMPLX_VERTEX_LANDMARKS = {
    "nose": 9120, "right_eye": 9929, "left_eye": 9448, "right_ear": 616, "left_ear": 6,
    "left_big_toe": 5770, "left_small_toe": 5780, "left_heel": 8846,
    "right_big_toe": 8463, "right_small_toe": 8474, "right_heel": 8635,
    "left_thumb_tip": 5361, "left_index_tip": 4933, "left_middle_tip": 5058, "left_ring_tip": 5169,
    "left_pinky_tip": 5286, "right_thumb_tip": 8079, "right_index_tip": 7669, "right_middle_tip": 7794,
    "right_ring_tip": 7905, "right_pinky_tip": 8022,
}

# keypoint weights (default 1); approximate pairs (mocap.skeletons.APPROXIMATE across point kinds, aliases,
# approximate derivations) get APPROX_WEIGHT, vertex landmarks of SMPL-X LANDMARK_WEIGHT
LANDMARK_WEIGHT = 0.6
APPROX_WEIGHT = 0.4


@dataclass
class Correspondence:
    """Keypoint -> model mapping for one joint set and one model.

    Attributes:
        keypoints: ``(K,)`` indices of the used keypoints in the joint set.
        names: ``K`` keypoint names.
        weights: ``(K,)`` trust of each pair.
        joint_coef: ``(K, J)`` coefficients on model joints.
        vertex_ids: ``(V',)`` model vertices used.
        vertex_coef: ``(K, V')`` coefficients on those vertices.
        unmatched: names of keypoints with no counterpart (ignored).
    """

    keypoints: np.ndarray
    names: list[str]
    weights: torch.Tensor
    joint_coef: torch.Tensor
    vertex_ids: torch.Tensor
    vertex_coef: torch.Tensor
    unmatched: list[str]

    def predict(self, joints: torch.Tensor, vertices: torch.Tensor | None) -> torch.Tensor:
        """Predicted keypoints ``(B, K, 3)`` from joints ``(B, J, 3)`` and vertices ``(B, V', 3)``."""
        out = torch.einsum("kj,bjc->bkc", self.joint_coef, joints)
        if self.vertex_ids.numel():
            out = out + torch.einsum("kv,bvc->bkc", self.vertex_coef, vertices)
        return out

    @property
    def uses_hands(self) -> bool:
        """Whether the keypoints constrain the fingers (six or more finger points besides the tips)."""
        from mocap.body.priors import is_finger

        return sum(is_finger(n) and not n.endswith("_tip") for n in self.names) >= 6


def _resolve(name: str, canon: dict[str, int], vertex_src: dict, prefer_vertex: bool, depth: int = 0,
             keypoint_style: bool = False):
    """``(joint coefs, vertex coefs, approximate, landmark)`` for a canonical point name, or None.

    ``keypoint_style``: the data are detector keypoints, whose exactly derived points (OpenPose's ``neck`` = mid
    shoulders) are derived rather than matched to a same-named model joint (SMPL-X's neck is elsewhere)."""
    from mocap.skeletons.mapping import ALIASES, DERIVED

    d = DERIVED.get(name)
    if keypoint_style and depth == 0 and d is not None and not d.approximate:
        parts = [_resolve(src, canon, vertex_src, prefer_vertex, 1) for src in d.sources]
        if all(p is not None for p in parts):
            return _mean(parts, approximate=any(p[0] and not p[1] for p in parts) or any(p[2] for p in parts))

    if name in vertex_src and (prefer_vertex or name not in canon):
        ids, ws = vertex_src[name]
        vc: dict[int, float] = {}
        for i, x in zip(ids.tolist(), ws.tolist()):
            vc[i] = vc.get(i, 0.0) + x
        return {}, vc, False, not prefer_vertex
    if name in canon:
        return {canon[name]: 1.0}, {}, False, False
    if depth > 0:
        return None
    for alias, _note in ALIASES.get(name, []):
        hit = _resolve(alias, canon, vertex_src, prefer_vertex, depth + 1)
        if hit is not None:
            return hit[0], hit[1], True, hit[3]
    if d is not None:
        parts = [_resolve(src, canon, vertex_src, prefer_vertex, depth + 1) for src in d.sources]
        if all(p is not None for p in parts):
            return _mean(parts, approximate=True)
    return None


def _mean(parts: list, approximate: bool):
    jc: dict[int, float] = {}
    vc: dict[int, float] = {}
    for p in parts:
        for j, x in p[0].items():
            jc[j] = jc.get(j, 0.0) + x / len(parts)
        for v, x in p[1].items():
            vc[v] = vc.get(v, 0.0) + x / len(parts)
    return jc, vc, approximate, False


def build_correspondence(model: BodyModel, joint_names: list[str] | tuple[str, ...],
                         joint_set: str | None = None) -> Correspondence:
    """Match the keypoint names of a joint set (mocap.skeletons canonical names) to ``model``.

    Direct names first (model joints, or vertex landmarks: nose, eyes, ears, toes, heels, fingertips; for Anny its
    COCO(+feet) regressor wherever it has the point), then the registry's aliases (``left_foot_index`` ->
    ``left_big_toe``, ``left_index_knuckle`` -> ``left_index_mcp``...) and derived midpoints (``neck``, ``mid_hip``).

    Args:
        model: the body model.
        joint_names: the joint set's names in data order (lower-case snake case).
        joint_set: the registered joint-set name, when known: its point kinds (keypoint vs joint centre) decide
            which same-named pairs are approximate (``mocap.skeletons.APPROXIMATE``); unknown -> keypoint-style.

    Raises:
        KeypointsError: when fewer than 4 keypoints have a counterpart.
    """
    from mocap.skeletons import APPROXIMATE, JOINT_CENTRE

    kinds = None
    if joint_set is not None:
        try:
            from mocap.skeletons import get_joint_set

            js = get_joint_set(joint_set)
            if list(js.joints) == [n.lower() for n in joint_names]:
                kinds = [js.kind(i) for i in range(len(js.joints))]
        except Exception:  # noqa: BLE001 - an unregistered set is treated as keypoint-style
            kinds = None
    canon = model.canonical_index()
    J = model.n_joints
    vertex_src: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # name -> (vertex ids, weights)
    is_anny = model.name == "anny"
    if is_anny:
        labels, ids, W = model.coco_regressor()
        for i, lab in enumerate(labels):
            nz = W[i] > 0
            vertex_src[lab] = (ids[nz], W[i, nz])
        for name, vid in model.tip_vertices().items():
            vertex_src[name] = (torch.tensor([vid]), torch.ones(1, dtype=model.dtype))
    else:
        for name, vid in SMPLX_VERTEX_LANDMARKS.items():
            vertex_src[name] = (torch.tensor([vid]), torch.ones(1, dtype=model.dtype))
    rows: list[tuple[int, str, float, dict[int, float], dict[int, float]]] = []
    unmatched = []
    for k, raw in enumerate(joint_names):
        name = raw.lower()
        centre = kinds is not None and kinds[k] == JOINT_CENTRE
        # Anny's regressor is trained for detector (COCO) semantics: use it for keypoint-style data
        hit = _resolve(name, canon, vertex_src, prefer_vertex=is_anny and not centre, keypoint_style=not centre)
        if hit is None:
            unmatched.append(raw)
            continue
        jc, vc, approx, landmark = hit
        w = 1.0
        if landmark:
            w = LANDMARK_WEIGHT
        if approx or (not centre and jc and not vc and name in APPROXIMATE):
            w = APPROX_WEIGHT
        rows.append((k, raw, w, jc, vc))
    if len(rows) < 4:
        raise KeypointsError(
            f"only {len(rows)} of the {len(joint_names)} keypoints ({list(joint_names)[:8]}...) match points of the "
            f"{model.name} model; at least 4 are needed",
            hint="use a body joint set such as coco17, body25, halpe26, mediapipe33 or smplx55",
        )
    all_v = sorted({v for r in rows for v in r[4]})
    vpos = {v: i for i, v in enumerate(all_v)}
    t = dict(dtype=model.dtype, device=model.device)
    jcoef = torch.zeros(len(rows), J, **t)
    vcoef = torch.zeros(len(rows), len(all_v), **t)
    for r, (_, _, _, jc, vc) in enumerate(rows):
        for j, x in jc.items():
            jcoef[r, j] = x
        for v, x in vc.items():
            vcoef[r, vpos[v]] = x
    return Correspondence(
        keypoints=np.array([r[0] for r in rows]),
        names=[r[1] for r in rows],
        weights=torch.tensor([r[2] for r in rows], **t),
        joint_coef=jcoef,
        vertex_ids=torch.as_tensor(all_v, dtype=torch.long, device=model.device),
        vertex_coef=vcoef,
        unmatched=unmatched,
    )
