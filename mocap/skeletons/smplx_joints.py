"""SMPL-X joint sets: the 55 model joints (``smplx55``) and the joints ``smplx`` 0.1.28 returns
(``smplx_with_extras``: 55 joints + 21 vertex keypoints + 51 face landmarks, 127; ``smplx_with_extras_contour``:
+ 17 face-contour landmarks, 144, with ``use_face_contour=True``).

Order checked against the installed package: ``smplx/joint_names.py`` (``JOINT_NAMES``),
``smplx/vertex_joint_selector.py`` (face, feet then fingertip vertices) and ``SMPLX.forward`` (landmarks appended
last, the dynamic contour after the 51 static ones). Hand joints use the canonical finger names:
smplx ``index1/2/3`` = ``index_mcp/pip/dip``, ``thumb1/2/3`` = ``thumb_cmc/mcp/ip``.
"""

from __future__ import annotations

from mocap.skeletons._build import build
from mocap.skeletons.base import JOINT_CENTRE, KEYPOINT, JointSet
from mocap.skeletons.parts import FACE68_CONTOUR, FACE68_EDGES, FACE68_INNER, FINGER_POINTS

# smplx's own finger order inside each hand (not the thumb-first order of the 21-point hand).
_SMPLX_FINGERS = ("index", "middle", "pinky", "ring", "thumb")

#: smplx name -> canonical name, for the joints whose smplx name differs.
SMPLX_RENAMES = {
    "left_eye_smplhf": "left_eyeball",
    "right_eye_smplhf": "right_eyeball",
    **{f"{s}_{f}{k + 1}": f"{s}_{f}_{FINGER_POINTS[f][k]}"
       for s in ("left", "right") for f in _SMPLX_FINGERS for k in range(3)},
    **{f"{s}_{f}": f"{s}_{f}_tip" for s in ("left", "right") for f in _SMPLX_FINGERS},
}

_BODY = [
    ("pelvis", None), ("left_hip", "pelvis"), ("right_hip", "pelvis"), ("spine1", "pelvis"),
    ("left_knee", "left_hip"), ("right_knee", "right_hip"), ("spine2", "spine1"), ("left_ankle", "left_knee"),
    ("right_ankle", "right_knee"), ("spine3", "spine2"), ("left_foot", "left_ankle"), ("right_foot", "right_ankle"),
    ("neck", "spine3"), ("left_collar", "spine3"), ("right_collar", "spine3"), ("head", "neck"),
    ("left_shoulder", "left_collar"), ("right_shoulder", "right_collar"), ("left_elbow", "left_shoulder"),
    ("right_elbow", "right_shoulder"), ("left_wrist", "left_elbow"), ("right_wrist", "right_elbow"),
    ("jaw", "head"), ("left_eyeball", "head"), ("right_eyeball", "head"),
]


def _smplx55_spec() -> list[tuple[str, str | None]]:
    spec = list(_BODY)
    for s in ("left", "right"):
        for f in _SMPLX_FINGERS:
            parent = f"{s}_wrist"
            for k in range(3):
                name = f"{s}_{f}_{FINGER_POINTS[f][k]}"
                spec.append((name, parent))
                parent = name
    return spec


def _vertex_keypoints() -> list[tuple[str, str | None]]:
    """The 21 vertex keypoints of ``VertexJointSelector`` (smplx's use_hands and use_feet_keypoints defaults)."""
    spec: list[tuple[str, str | None]] = [("nose", "head"), ("right_eye", "head"), ("left_eye", "head"),
                                          ("right_ear", "head"), ("left_ear", "head")]
    for s in ("left", "right"):
        spec += [(f"{s}_big_toe", f"{s}_foot"), (f"{s}_small_toe", f"{s}_foot"), (f"{s}_heel", f"{s}_ankle")]
    for s in ("left", "right"):
        spec += [(f"{s}_{f}_tip", f"{s}_{f}_{FINGER_POINTS[f][2]}") for f in ("thumb", "index", "middle", "ring",
                                                                             "pinky")]
    return spec


def smplx55() -> JointSet:
    """The 55 SMPL-X joints in smplx's order; parents = the model's kintree (joint centres)."""
    spec = _smplx55_spec()
    return build("smplx55", spec, kinds=[JOINT_CENTRE] * len(spec), source="smplx 0.1.28 JOINT_NAMES[:55]")


def _with_extras(name: str, contour: bool) -> JointSet:
    spec = _smplx55_spec() + _vertex_keypoints() + [(f, None) for f in FACE68_INNER]
    if contour:
        spec += [(f, None) for f in FACE68_CONTOUR]
    names = {j for j, _ in spec}
    edges = [(a, b) for a, b in FACE68_EDGES if a in names and b in names]
    kinds = [JOINT_CENTRE] * 55 + [KEYPOINT] * (len(spec) - 55)
    return build(name, spec, extra_edges=edges, kinds=kinds,
                 source="smplx 0.1.28 SMPLX.forward joints (JOINT_NAMES order)")


def smplx_with_extras() -> JointSet:
    """What ``smplx.SMPLX(...)(...).joints`` holds by default: 55 joints, nose/eyes/ears, 6 foot points,
    10 fingertips and the 51 static face landmarks (iBUG 17-67): 127 points."""
    return _with_extras("smplx_with_extras", contour=False)


def smplx_with_extras_contour() -> JointSet:
    """``smplx_with_extras`` + the 17 dynamic face-contour landmarks (iBUG 0-16) of ``use_face_contour=True``: 144."""
    return _with_extras("smplx_with_extras_contour", contour=True)
