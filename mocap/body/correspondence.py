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

# other spellings of the same anatomical point -> canonical name
ALIASES = {
    "left_foot_index": "left_big_toe", "right_foot_index": "right_big_toe",
    "left_bigtoe": "left_big_toe", "right_bigtoe": "right_big_toe",
    "left_smalltoe": "left_small_toe", "right_smalltoe": "right_small_toe",
    "midhip": "mid_hip", "hip": "mid_hip", "pelvis_center": "mid_hip", "mid_shoulder": "neck_base",
    "left_eye_smplhf": "left_eye_ball", "right_eye_smplhf": "right_eye_ball",
    "left_hand_wrist": "left_wrist", "right_hand_wrist": "right_wrist",
}
for _s in ("left", "right"):
    for _f in ("thumb", "index", "middle", "ring", "pinky"):
        ALIASES[f"{_s}_{_f}4"] = f"{_s}_{_f}_tip"
        ALIASES[f"{_s}_{_f}_4"] = f"{_s}_{_f}_tip"
        ALIASES[f"{_s}_hand_{_f}4"] = f"{_s}_{_f}_tip"
        for _k in (1, 2, 3):
            ALIASES[f"{_s}_{_f}_{_k}"] = f"{_s}_{_f}{_k}"
            ALIASES[f"{_s}_hand_{_f}{_k}"] = f"{_s}_{_f}{_k}"
    # MediaPipe pose hand points are knuckle-level and approximate
    ALIASES[f"{_s}_pinky"] = f"{_s}_pinky1~"
    ALIASES[f"{_s}_index"] = f"{_s}_index1~"
    ALIASES[f"{_s}_thumb"] = f"{_s}_thumb2~"

# keypoint weights for approximate pairs (default 1)
WEIGHTS = {"left_hip": 0.5, "right_hip": 0.5, "mid_hip": 0.4, "neck": 0.4, "neck_base": 0.4,
           "left_shoulder": 0.8, "right_shoulder": 0.8, "pelvis": 0.5}
LANDMARK_WEIGHT = 0.6
APPROX_WEIGHT = 0.3


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
        from mocap.body.priors import is_finger

        return any(is_finger(n) for n in self.names)


def build_correspondence(model: BodyModel, joint_names: list[str] | tuple[str, ...]) -> Correspondence:
    """Match the keypoint names of a joint set to ``model``.

    Args:
        model: the body model.
        joint_names: the joint set's names in data order (lower-case snake case).

    Raises:
        KeypointsError: when fewer than 4 keypoints have a counterpart.
    """
    canon = model.canonical_index()
    J = model.n_joints
    vertex_src: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # name -> (vertex ids, weights)
    if model.name == "anny":
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
        name = ALIASES.get(raw.lower(), raw.lower())
        approx = name.endswith("~")
        name = name.rstrip("~")
        jc: dict[int, float] = {}
        vc: dict[int, float] = {}
        w = WEIGHTS.get(name, 1.0)
        if name in vertex_src and (model.name == "anny" or name not in canon):
            ids, ws = vertex_src[name]
            for i, x in zip(ids.tolist(), ws.tolist()):
                vc[i] = vc.get(i, 0.0) + x
            if model.name == "anny" and name in canon:
                w = 1.0  # Anny's regressor is trained for COCO semantics: not approximate
            elif name not in canon:
                w = LANDMARK_WEIGHT
        elif name in canon:
            jc[canon[name]] = 1.0
        elif name in ("mid_hip",) and "left_hip" in canon and "right_hip" in canon:
            jc = {canon["left_hip"]: 0.5, canon["right_hip"]: 0.5}
        elif name in ("neck", "neck_base") and "left_shoulder" in canon:
            jc = {canon["left_shoulder"]: 0.5, canon["right_shoulder"]: 0.5}
        else:
            unmatched.append(raw)
            continue
        if approx:
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
