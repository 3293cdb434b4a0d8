"""Joint sets (names, parents, left/right pairs) and mappings between them.

Naming rule
-----------
Joint names are lower-case snake case and **the same anatomical point has the same name in every set**; that is
what :func:`~mocap.skeletons.mapping.map_keypoints` relies on.

- Sides are the subject's own (not the image's): ``left_shoulder`` is the person's left shoulder. A sided name has
  the token ``left`` or ``right`` (usually first: ``left_wrist``; after a family prefix: ``face_left_eye_outer``)
  and its mirror partner is the same name with that token swapped; left/right pairs are built from the names.
- Body: ``nose``, ``left_eye``, ``left_ear``, ``left_shoulder``, ``left_elbow``, ``left_wrist``, ``left_hip``,
  ``left_knee``, ``left_ankle``, ``left_big_toe``, ``left_small_toe``, ``left_heel``; midline points ``neck``
  (OpenPose's: between the shoulders), ``mid_hip`` (between the hips), ``upper_neck``, ``head_top``.
- Hands (21 points): ``left_hand_wrist`` (the hand model's own wrist point), then per finger ``thumb``, ``index``,
  ``middle``, ``ring``, ``pinky`` the points from palm to tip: ``left_thumb_cmc/_mcp/_ip/_tip``,
  ``left_index_mcp/_pip/_dip/_tip`` ... The side-less ``mediapipe_hand21`` uses the names without ``left_``.
- Face (iBUG 68): ``right_jaw_1`` .. ``chin`` .. ``left_jaw_1``, ``right_brow_1`` (outer) .. ``_5`` (inner),
  ``nose_bridge_1..3``, ``nose_tip``, nostrils, ``right_eye_outer`` / ``_inner`` / eyelid points,
  ``right_mouth_corner``, lips (see :data:`~mocap.skeletons.parts.FACE68`). MediaPipe's face mesh:
  ``face_000`` .. ``face_467`` with a few named points (``face_nose_tip``, ``face_left_eye_outer`` ...).
- Body-model joints keep their model's name where no detector has that point (``pelvis``, ``spine1``,
  ``left_collar``, ``head``, ``jaw``, ``left_foot``, ``left_eyeball``); SMPL-X finger joints use the hand names.
- Different points get different names even when tools reuse a word: MediaPipe's pose ``left_index`` is a knuckle
  (``left_index_knuckle``), its ``left_foot_index`` is the foot tip. Points that are *nearly* the same are linked
  as aliases in :mod:`mocap.skeletons.mapping` and flagged approximate there, as are same-named points that differ
  between detector keypoints and body-model joint centres (``left_hip``: see ``mapping.APPROXIMATE``).

Registered sets: see :func:`list_joint_sets` (coco17, coco_wholebody133, halpe26, body25, body25b, mediapipe33,
mediapipe_hand21, mediapipe_holistic, shelf15, skel19, smplx55, smplx_with_extras, smplx_with_extras_contour).
"""

from mocap.skeletons.base import JOINT_CENTRE, KEYPOINT, JointSet
from mocap.skeletons.mapping import (
    APPROXIMATE,
    approximate_mask,
    describe_mapping,
    joint_index_map,
    joint_mapping,
    map_keypoints,
)
from mocap.skeletons.ops import flip_left_right, skeleton_edges
from mocap.skeletons.registry import (
    UnknownJointSetError,
    get_joint_set,
    list_joint_sets,
    register_joint_set,
    registered_joint_sets,
)

__all__ = [
    "APPROXIMATE", "JOINT_CENTRE", "KEYPOINT", "JointSet", "UnknownJointSetError", "approximate_mask",
    "describe_mapping",
    "flip_left_right", "get_joint_set", "joint_index_map", "joint_mapping", "list_joint_sets", "map_keypoints",
    "register_joint_set", "registered_joint_sets", "skeleton_edges",
]
