"""Skeleton naming profiles: rename an animation's joints for a target tool.

- ``native``: the skeleton's own names (SMPL-X names for the standard IK skeleton and SMPL-X fits).
- ``mixamo``: Mixamo rig names with the ``mixamorig:`` prefix (``mixamorig:Hips``, ``mixamorig:LeftUpLeg``, ...).
- ``unity``: Unity Humanoid ``HumanBodyBones`` names (``Hips``, ``LeftUpperLeg``, ``Chest``, ``UpperChest``, ...).

Names are looked up from SMPL-X joint names (also accepted: names already in the target profile). Joints without
a counterpart (e.g. ``jaw`` for Mixamo) keep their own name (Mixamo: with the prefix) and are listed in
``meta["unmapped_joints"]``.
"""

from __future__ import annotations

from mocap.errors import DataError
from mocap.export.animation import Animation

PROFILES = ("native", "mixamo", "unity")

_BODY_MIXAMO = {
    "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck", "head": "Head",
    "left_eyeball": "LeftEye", "right_eyeball": "RightEye",
}
_BODY_UNITY = {
    "pelvis": "Hips", "spine1": "Spine", "spine2": "Chest", "spine3": "UpperChest", "neck": "Neck", "head": "Head",
    "jaw": "Jaw", "left_eyeball": "LeftEye", "right_eyeball": "RightEye",
}
_SIDE_MIXAMO = {"hip": "UpLeg", "knee": "Leg", "ankle": "Foot", "foot": "ToeBase", "collar": "Shoulder",
                "shoulder": "Arm", "elbow": "ForeArm", "wrist": "Hand"}
_SIDE_UNITY = {"hip": "UpperLeg", "knee": "LowerLeg", "ankle": "Foot", "foot": "Toes", "collar": "Shoulder",
               "shoulder": "UpperArm", "elbow": "LowerArm", "wrist": "Hand"}
_FINGERS = {"thumb": ("cmc", "mcp", "ip"), "index": ("mcp", "pip", "dip"), "middle": ("mcp", "pip", "dip"),
            "ring": ("mcp", "pip", "dip"), "pinky": ("mcp", "pip", "dip")}
_UNITY_FINGER = {"thumb": "Thumb", "index": "Index", "middle": "Middle", "ring": "Ring", "pinky": "Little"}
_UNITY_PHALANX = ("Proximal", "Intermediate", "Distal")


def _table(profile: str) -> dict[str, str]:
    body = dict(_BODY_MIXAMO if profile == "mixamo" else _BODY_UNITY)
    side = _SIDE_MIXAMO if profile == "mixamo" else _SIDE_UNITY
    for s, S in (("left", "Left"), ("right", "Right")):
        for k, v in side.items():
            body[f"{s}_{k}"] = S + v
        for finger, joints in _FINGERS.items():
            for i, j in enumerate(joints):
                if profile == "mixamo":
                    body[f"{s}_{finger}_{j}"] = f"{S}Hand{finger.capitalize()}{i + 1}"
                else:
                    body[f"{s}_{finger}_{j}"] = f"{S}{_UNITY_FINGER[finger]}{_UNITY_PHALANX[i]}"
    return body


def profile_names(names: list[str], profile: str) -> tuple[list[str], list[str]]:
    """Renamed joint names for ``profile`` and the names that had no counterpart.

    Raises:
        DataError: unknown profile, or a skeleton none of whose joints the profile knows.
    """
    if profile not in PROFILES:
        raise DataError(f"unknown skeleton profile {profile!r}; use one of {list(PROFILES)}")
    if profile == "native":
        return list(names), []
    table = _table(profile)
    targets = set(table.values())
    prefix = "mixamorig:" if profile == "mixamo" else ""
    out, unmapped = [], []
    for n in names:
        bare = n.split(":", 1)[1] if n.startswith("mixamorig:") else n
        if n in table:
            out.append(prefix + table[n])
        elif bare in targets:
            out.append(prefix + bare)
        else:
            unmapped.append(n)
            out.append(prefix + n)
    if len(unmapped) == len(names):
        raise DataError(f"none of the skeleton's joints ({', '.join(names[:6])}, ...) has a {profile} name",
                        hint="profiles map SMPL-X joint names (the standard skeleton of `mocap export` from "
                             "keypoints, SMPL-X fits); use --profile native for other skeletons")
    if len(set(out)) != len(out):
        dup = sorted({n for n in out if out.count(n) > 1})
        raise DataError(f"the {profile} profile maps several joints to the same name: {dup}")
    return out, unmapped


def apply_profile(anim: Animation, profile: str) -> Animation:
    """A copy of ``anim`` with joints renamed for ``profile`` (see the module notes)."""
    names, unmapped = profile_names(anim.joint_names, profile)
    if profile == "native":
        return anim
    rename = dict(zip(anim.joint_names, names, strict=True))
    meta = dict(anim.meta, profile=profile, unmapped_joints=unmapped)
    return anim.copy(joint_names=names, end_sites=[rename[n] for n in anim.end_sites], meta=meta)
