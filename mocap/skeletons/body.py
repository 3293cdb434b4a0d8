"""Body joint sets of 2D detectors and benchmarks: COCO-17, OpenPose COCO-18, HALPE-26, OpenPose BODY_25 /
BODY_25B, MediaPipe BlazePose 33, the Shelf/Campus 15-joint ground truth and the 4D-Association SKEL19.

Each set is written as ``(joint, parent)`` in data order; see :mod:`mocap.skeletons` for the naming rule.
"""

from __future__ import annotations

from mocap.skeletons._build import build
from mocap.skeletons.base import JointSet


def _legs(hip_parent: str | None, feet: bool) -> list[tuple[str, str | None]]:
    """Both legs: hip -> knee -> ankle [-> big toe -> small toe; ankle -> heel].

    ``hip_parent`` is the joint the hips hang from, or ``None`` to hang each hip from its shoulder (sets without a
    mid hip).
    """
    out: list[tuple[str, str | None]] = []
    for s in ("left", "right"):
        out += [(f"{s}_hip", hip_parent or f"{s}_shoulder"), (f"{s}_knee", f"{s}_hip"), (f"{s}_ankle", f"{s}_knee")]
        if feet:
            out += [(f"{s}_big_toe", f"{s}_ankle"), (f"{s}_small_toe", f"{s}_big_toe"), (f"{s}_heel", f"{s}_ankle")]
    return out


def _order(spec: list[tuple[str, str | None]], order: list[str]) -> list[tuple[str, str | None]]:
    """Re-order ``(joint, parent)`` pairs into the data order ``order`` (every joint exactly once)."""
    by_name = dict(spec)
    if sorted(by_name) != sorted(order):
        raise ValueError(f"spec and order differ: {sorted(set(by_name) ^ set(order))}")
    return [(j, by_name[j]) for j in order]


COCO17_ORDER = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
]


def _coco_head_arms(root: str | None) -> list[tuple[str, str | None]]:
    """Face and arms of the COCO points: eyes and ears hang off the nose; nose and shoulders off ``root``
    (the shoulders off the nose when ``root`` is ``None``)."""
    spec: list[tuple[str, str | None]] = [("nose", root)]
    for s in ("left", "right"):
        spec += [(f"{s}_eye", "nose"), (f"{s}_ear", f"{s}_eye"), (f"{s}_shoulder", root or "nose"),
                 (f"{s}_elbow", f"{s}_shoulder"), (f"{s}_wrist", f"{s}_elbow")]
    return spec


# Drawing edges COCO draws but that are not parent links (the torso quad).
_TORSO_EDGES = [("left_shoulder", "right_shoulder"), ("left_hip", "right_hip")]


def coco17() -> JointSet:
    """COCO-17 keypoints (the MS-COCO person keypoints order)."""
    spec = _coco_head_arms(None) + _legs(None, feet=False)
    return build("coco17", _order(spec, COCO17_ORDER), extra_edges=_TORSO_EDGES, source="MS-COCO person keypoints")


def halpe26() -> JointSet:
    """HALPE-26 (AlphaPose, RTMPose): COCO-17 + head top, neck, mid hip and 6 foot points."""
    spec = [("mid_hip", None), ("neck", "mid_hip"), ("head_top", "neck")]
    spec += _coco_head_arms("neck") + _legs("mid_hip", feet=True)
    order = COCO17_ORDER + ["head_top", "neck", "mid_hip", "left_big_toe", "right_big_toe", "left_small_toe",
                            "right_small_toe", "left_heel", "right_heel"]
    return build("halpe26", _order(spec, order), source="Halpe Full-Body (AlphaPose), 26-keypoint body")


def coco18() -> JointSet:
    """OpenPose COCO-18 (the original OpenPose COCO model): COCO-17's points plus the neck, in OpenPose's order."""
    spec = _coco_head_arms("neck") + _legs("neck", feet=False) + [("neck", None)]
    order = ["nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
             "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
             "right_eye", "left_eye", "right_ear", "left_ear"]
    return build("coco18", _order(spec, order), extra_edges=_TORSO_EDGES, source="OpenPose COCO (doc/02_output.md)")


def body25() -> JointSet:
    """OpenPose BODY_25: neck and mid hip added to COCO, plus 6 foot points."""
    spec = [("mid_hip", None), ("neck", "mid_hip")] + _coco_head_arms("neck") + _legs("mid_hip", feet=True)
    order = ["nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
             "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
             "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe", "left_heel",
             "right_big_toe", "right_small_toe", "right_heel"]
    return build("body25", _order(spec, order), source="OpenPose BODY_25 (doc/02_output.md)")


def body25b() -> JointSet:
    """OpenPose BODY_25B (experimental models): COCO-17 + upper neck, head top and 6 foot points; no mid hip."""
    spec = [("upper_neck", None), ("head_top", "upper_neck")]
    spec += _coco_head_arms("upper_neck") + _legs(None, feet=True)
    order = COCO17_ORDER + ["upper_neck", "head_top", "left_big_toe", "left_small_toe", "left_heel",
                            "right_big_toe", "right_small_toe", "right_heel"]
    return build("body25b", _order(spec, order), extra_edges=_TORSO_EDGES,
                 source="OpenPose experimental_models BODY_25B (openpose_train); Pose2Sim skeletons.py")


def mediapipe33() -> JointSet:
    """MediaPipe BlazePose 33 landmarks (``mediapipe.solutions.pose.PoseLandmark`` order).

    The hand points of the pose model are knuckles, not the hand model's points: ``left_pinky_knuckle`` (pose 17),
    ``left_index_knuckle`` (19), ``left_thumb_knuckle`` (21); ``left_foot_index`` (31) is the tip of the foot.
    Mapping treats them as approximate counterparts of ``left_pinky_mcp``, ``left_index_mcp``, ``left_thumb_mcp``
    and ``left_big_toe``.
    """
    spec: list[tuple[str, str | None]] = [("nose", None)]
    for s in ("left", "right"):
        spec += [(f"{s}_eye_inner", "nose"), (f"{s}_eye", f"{s}_eye_inner"), (f"{s}_eye_outer", f"{s}_eye"),
                 (f"{s}_ear", f"{s}_eye_outer"), (f"{s}_mouth_corner", "nose"), (f"{s}_shoulder", "nose"),
                 (f"{s}_elbow", f"{s}_shoulder"), (f"{s}_wrist", f"{s}_elbow"),
                 (f"{s}_pinky_knuckle", f"{s}_wrist"), (f"{s}_index_knuckle", f"{s}_wrist"),
                 (f"{s}_thumb_knuckle", f"{s}_wrist"), (f"{s}_hip", f"{s}_shoulder"), (f"{s}_knee", f"{s}_hip"),
                 (f"{s}_ankle", f"{s}_knee"), (f"{s}_heel", f"{s}_ankle"), (f"{s}_foot_index", f"{s}_ankle")]
    order = ["nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
             "right_eye_outer", "left_ear", "right_ear", "left_mouth_corner", "right_mouth_corner"]
    for part in ("shoulder", "elbow", "wrist", "pinky_knuckle", "index_knuckle", "thumb_knuckle", "hip", "knee",
                 "ankle", "heel", "foot_index"):
        order += [f"left_{part}", f"right_{part}"]
    extra = _TORSO_EDGES + [("left_mouth_corner", "right_mouth_corner")]
    extra += [(f"{s}_{a}", f"{s}_{b}") for s in ("left", "right")
              for a, b in (("pinky_knuckle", "index_knuckle"), ("heel", "foot_index"))]
    return build("mediapipe33", _order(spec, order), extra_edges=extra,
                 source="mediapipe.solutions.pose.PoseLandmark (BlazePose GHUM 3D)")


def shelf15() -> JointSet:
    """Shelf / Campus ground truth, 15 joints (the 14 of Belagiannis et al. + the pelvis).

    ``upper_neck`` is the benchmark's "bottom head" and ``head_top`` its "top head"; ``mid_hip`` is the pelvis,
    which the ground truth stores as the exact midpoint of the two hips.
    """
    spec = [("mid_hip", None), ("upper_neck", "mid_hip"), ("head_top", "upper_neck")]
    for s in ("left", "right"):
        spec += [(f"{s}_hip", "mid_hip"), (f"{s}_knee", f"{s}_hip"), (f"{s}_ankle", f"{s}_knee"),
                 (f"{s}_shoulder", "upper_neck"), (f"{s}_elbow", f"{s}_shoulder"), (f"{s}_wrist", f"{s}_elbow")]
    order = ["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
             "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "upper_neck", "head_top",
             "mid_hip"]
    return build("shelf15", _order(spec, order),
                 source="Shelf/Campus (Belagiannis et al. 2014), 4D Association SHELF15")


def skel19() -> JointSet:
    """SKEL19 of 4D Association (Zhang et al. 2020): the skeleton of ``data/shelf/skel.txt`` results."""
    spec = [("mid_hip", None), ("neck", "mid_hip"), ("nose", "neck")]
    for s in ("left", "right"):
        spec += [(f"{s}_hip", "mid_hip"), (f"{s}_knee", f"{s}_hip"), (f"{s}_ankle", f"{s}_knee"),
                 (f"{s}_big_toe", f"{s}_ankle"), (f"{s}_shoulder", "neck"), (f"{s}_elbow", f"{s}_shoulder"),
                 (f"{s}_wrist", f"{s}_elbow"), (f"{s}_ear", "nose")]
    order = ["mid_hip", "neck", "right_hip", "left_hip", "nose", "right_shoulder", "left_shoulder", "right_knee",
             "left_knee", "right_ear", "left_ear", "right_elbow", "left_elbow", "right_ankle", "left_ankle",
             "right_wrist", "left_wrist", "left_big_toe", "right_big_toe"]
    return build("skel19", _order(spec, order), source="4D Association (zhangyux15/4d_association) SKEL19")


BODY_SETS = {f.__name__: f for f in (coco17, halpe26, body25, body25b, mediapipe33, shelf15, skel19)}
