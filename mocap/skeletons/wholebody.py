"""Whole-body joint sets (body + hands + face): COCO-WholeBody 133, OpenPose BODY_135, the MediaPipe hand and
MediaPipe Holistic."""

from __future__ import annotations

from mocap.skeletons._build import build
from mocap.skeletons.base import JointSet
from mocap.skeletons.body import COCO17_ORDER, _coco_head_arms, _legs, body25b, mediapipe33
from mocap.skeletons.parts import FACE68, FACE68_EDGES, FACE_MESH, hand_spec

_TORSO_EDGES = [("left_shoulder", "right_shoulder"), ("left_hip", "right_hip")]


def coco_wholebody133() -> JointSet:
    """COCO-WholeBody: 17 body + 6 feet + 68 face (iBUG order) + 21 left hand + 21 right hand.

    The hands' own wrist points are ``left_hand_wrist`` / ``right_hand_wrist`` (the body's are ``left_wrist``);
    face points have no parent (they are drawn through :data:`~mocap.skeletons.parts.FACE68_EDGES`).
    """
    body = _coco_head_arms(None) + _legs(None, feet=True)
    order = COCO17_ORDER + ["left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe",
                            "right_heel"]
    by_name = dict(body)
    spec = [(j, by_name[j]) for j in order]
    spec += [(f, None) for f in FACE68]
    spec += hand_spec("left", "left_wrist") + hand_spec("right", "right_wrist")
    return build("coco_wholebody133", spec, extra_edges=_TORSO_EDGES + list(FACE68_EDGES),
                 source="COCO-WholeBody (Jin et al. 2020)")


def body135() -> JointSet:
    """OpenPose BODY_135 (experimental whole-body model): the 25 BODY_25B points, 20 left-hand and 20 right-hand
    points (the 21-point hand without its wrist, which is the body's wrist), then 70 face points (the 68 iBUG points
    and the right and left pupils)."""
    body = body25b()
    spec = [(j, body.joints[p] if p >= 0 else None) for j, p in zip(body.joints, body.parents)]
    for side in ("left", "right"):
        hand = hand_spec(side, f"{side}_wrist")
        wrist = hand[0][0]
        spec += [(j, f"{side}_wrist" if p == wrist else p) for j, p in hand[1:]]
    spec += [(f, None) for f in FACE68] + [("right_pupil", "right_eye"), ("left_pupil", "left_eye")]
    extra = [(body.joints[a], body.joints[b]) for a, b in body.extra_bones] + list(FACE68_EDGES)
    return build("body135", spec, extra_edges=extra,
                 source="OpenPose experimental_models BODY_135 (openpose_train); Pose2Sim skeletons.py")


def mediapipe_hand21() -> JointSet:
    """MediaPipe Hands 21 landmarks (``HandLandmark`` order; same order as OpenPose and COCO-WholeBody hands).

    Side-less names (``hand_wrist``, ``thumb_cmc`` .. ``pinky_tip``): whole-body sets use the same names prefixed
    with ``left_`` / ``right_``.
    """
    palm = [("index_mcp", "middle_mcp"), ("middle_mcp", "ring_mcp"), ("ring_mcp", "pinky_mcp")]
    return build("mediapipe_hand21", hand_spec(None, None), extra_edges=palm,
                 source="mediapipe.solutions.hands.HandLandmark")


def mediapipe_holistic() -> JointSet:
    """MediaPipe Holistic: 33 pose + 21 left hand + 21 right hand + 468 face-mesh points (no iris refinement).

    Face points are ``face_000`` .. ``face_467`` except a few named ones (see
    :data:`~mocap.skeletons.parts.FACE_MESH_NAMED`); only the named ones have left/right partners, so
    :func:`~mocap.skeletons.ops.flip_left_right` leaves the other mesh points in place.
    """
    pose = mediapipe33()
    spec = [(j, pose.joints[p] if p >= 0 else None) for j, p in zip(pose.joints, pose.parents)]
    spec += hand_spec("left", "left_wrist") + hand_spec("right", "right_wrist")
    spec += [(f, None) for f in FACE_MESH]
    extra = [(pose.joints[a], pose.joints[b]) for a, b in pose.extra_bones]
    return build("mediapipe_holistic", spec, extra_edges=extra,
                 source="mediapipe.solutions.holistic: pose_landmarks, left/right_hand_landmarks, face_landmarks")
