"""Reusable pieces of joint sets: the 21-point hand, the 68-point (iBUG 300-W) face and the 468-point face mesh.

All names follow the rule in :mod:`mocap.skeletons`; sides are the *subject's* left and right.
"""

from __future__ import annotations

FINGERS = ("thumb", "index", "middle", "ring", "pinky")
#: The 4 points along each finger, from the palm to the tip (the thumb's are CMC, MCP, IP, tip).
FINGER_POINTS = {
    "thumb": ("cmc", "mcp", "ip", "tip"),
    **{f: ("mcp", "pip", "dip", "tip") for f in FINGERS[1:]},
}

#: 21 hand points in the OpenPose / COCO-WholeBody / MediaPipe order: wrist, then 4 points per finger from the
#: thumb to the pinky. Side-less names; whole-body sets prefix them with ``left_`` / ``right_``.
HAND21 = ("hand_wrist",) + tuple(f"{f}_{p}" for f in FINGERS for p in FINGER_POINTS[f])


def hand_spec(side: str | None, wrist_parent: str | None) -> list[tuple[str, str | None]]:
    """``(joint, parent)`` of the 21 hand points; ``side`` ``"left"``/``"right"`` or ``None`` (side-less)."""
    pre = f"{side}_" if side else ""
    spec: list[tuple[str, str | None]] = [(f"{pre}hand_wrist", wrist_parent)]
    for f in FINGERS:
        parent = f"{pre}hand_wrist"
        for p in FINGER_POINTS[f]:
            spec.append((f"{pre}{f}_{p}", parent))
            parent = f"{pre}{f}_{p}"
    return spec


def _face68_names() -> tuple[str, ...]:
    jaw = [f"right_jaw_{k}" for k in range(1, 9)] + ["chin"] + [f"left_jaw_{k}" for k in range(8, 0, -1)]
    brows = [f"right_brow_{k}" for k in range(1, 6)] + [f"left_brow_{k}" for k in range(5, 0, -1)]
    nose = ["nose_bridge_1", "nose_bridge_2", "nose_bridge_3", "nose_tip",
            "right_nostril_2", "right_nostril_1", "nose_base", "left_nostril_1", "left_nostril_2"]
    eyes = ["right_eye_outer", "right_eye_upper_outer", "right_eye_upper_inner", "right_eye_inner",
            "right_eye_lower_inner", "right_eye_lower_outer",
            "left_eye_inner", "left_eye_upper_inner", "left_eye_upper_outer", "left_eye_outer",
            "left_eye_lower_outer", "left_eye_lower_inner"]
    outer_lips = ["right_mouth_corner", "right_upper_lip_2", "right_upper_lip_1", "upper_lip_top",
                  "left_upper_lip_1", "left_upper_lip_2", "left_mouth_corner", "left_lower_lip_2",
                  "left_lower_lip_1", "lower_lip_bottom", "right_lower_lip_1", "right_lower_lip_2"]
    inner_lips = ["right_inner_mouth_corner", "right_inner_upper_lip", "inner_upper_lip", "left_inner_upper_lip",
                  "left_inner_mouth_corner", "left_inner_lower_lip", "inner_lower_lip", "right_inner_lower_lip"]
    return tuple(jaw + brows + nose + eyes + outer_lips + inner_lips)


#: The 68 iBUG 300-W face landmarks (COCO-WholeBody face, OpenPose face, dlib) in their standard order:
#: jaw 0-16 (from the subject's right ear to the left), brows 17-26, nose 27-35, eyes 36-47, lips 48-67.
FACE68 = _face68_names()
#: The 17 jaw-contour points (iBUG 0-16); smplx returns the other 51 (iBUG 17-67) as its face landmarks.
FACE68_CONTOUR = FACE68[:17]
FACE68_INNER = FACE68[17:]


def _chain(idx: range, closed: bool = False) -> list[tuple[int, int]]:
    ids = list(idx)
    edges = list(zip(ids[:-1], ids[1:]))
    if closed:
        edges.append((ids[-1], ids[0]))
    return edges


#: Drawing edges of the 68-point face, as name pairs (outline, brows, nose, eyes and lips as polylines).
FACE68_EDGES: tuple[tuple[str, str], ...] = tuple(
    (FACE68[a], FACE68[b])
    for a, b in _chain(range(0, 17)) + _chain(range(17, 22)) + _chain(range(22, 27)) + _chain(range(27, 31))
    + _chain(range(31, 36)) + _chain(range(36, 42), True) + _chain(range(42, 48), True)
    + _chain(range(48, 60), True) + _chain(range(60, 68), True)
)

#: MediaPipe face-mesh points that get a name (index -> name); the others are ``face_000`` .. ``face_467``.
#: Sides are the subject's (mesh point 33 is the right eye's outer corner, 263 the left's), as in mediapipe's
#: ``FACEMESH_RIGHT_EYE`` / ``FACEMESH_LEFT_EYE``.
FACE_MESH_NAMED = {
    0: "face_upper_lip_top",
    1: "face_nose_tip",
    10: "face_forehead",
    17: "face_lower_lip_bottom",
    33: "face_right_eye_outer",
    61: "face_right_mouth_corner",
    133: "face_right_eye_inner",
    152: "face_chin",
    263: "face_left_eye_outer",
    291: "face_left_mouth_corner",
    362: "face_left_eye_inner",
}
#: Number of points of mediapipe's face mesh without the iris refinement.
FACE_MESH_SIZE = 468
FACE_MESH = tuple(FACE_MESH_NAMED.get(i, f"face_{i:03d}") for i in range(FACE_MESH_SIZE))
