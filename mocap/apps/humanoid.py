"""Retarget a skeleton of the stream onto Unity's humanoid bones (``HumanBodyBones``), T-pose calibrated.

An avatar driven over VMC (VSeeFace, Warudo, VNyan, a Unity app with EVMC4U) applies LOCAL bone rotations to a
normalised humanoid whose rest pose is a T-pose: every bone rotation identity = standing, facing forward, arms out
sideways, legs straight down. Our skeletons have identity rest orientations too (:mod:`mocap.live.stream`), but their
rest pose is whatever their rest offsets say: SMPL-X's T-pose facing +Z in its Y-up frame, Anny's A-pose facing -Y,
the IK rig's T-pose facing -Y (:mod:`mocap.export.ik`), a CMU clip's rest pose with slanted legs.

The calibration step (:class:`HumanoidRetarget`, once per description) makes the avatar's rest pose match ours:
for every humanoid bone ``b`` (our joint ``j``) it finds a constant rotation ``C_b`` that takes the canonical
T-pose direction of the bone (:data:`TPOSE_DIRECTIONS`, REP 103: facing +X, left +Y, up +Z) to our rest-pose
direction, composed down the tree (a bone's swing is applied after its parent's correction, so twist is inherited
and no bone spins about itself). The hips get a full frame (left from the hips, up along the spine). Per frame:

- avatar global rotation ``A_b = G_j @ C_b`` (``G_j`` our joint's world rotation), so ``A_b`` moves the T-pose
  bone exactly as ``G_j`` moves our rest bone;
- avatar local rotation ``L'_b = A_a^T @ A_b`` for the humanoid parent ``a``;
- avatar rest offset ``o_b = C_a^T @ (rest_b - rest_a)``: constant, so ``p_b = p_a + A_a @ o_b`` reproduces our
  joint positions exactly when the joints between ``a`` and ``b`` in our skeleton do not rotate relative to ``a``
  (true for SMPL-X, Anny's mapped chain and the IK rig). The per-frame local position actually observed,
  ``A_a^T @ (p_b - p_a)``, is returned too; it differs from ``o_b`` only for skeletons with rotating joints the
  humanoid does not have.

Everything here is in our REP 103 world; :mod:`mocap.apps.unity` converts to Unity's left-handed Y-up axes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mocap.errors import MocapError
from mocap.geometry.rotations import matrix_to_quat_xyzw, quat_xyzw_to_matrix
from mocap.live.stream import SkeletonDescription

#: Unity's ``HumanBodyBones`` enum, in enum order (0 .. 54).
HUMAN_BODY_BONES: tuple[str, ...] = (
    "Hips", "LeftUpperLeg", "RightUpperLeg", "LeftLowerLeg", "RightLowerLeg", "LeftFoot", "RightFoot", "Spine",
    "Chest", "Neck", "Head", "LeftShoulder", "RightShoulder", "LeftUpperArm", "RightUpperArm", "LeftLowerArm",
    "RightLowerArm", "LeftHand", "RightHand", "LeftToes", "RightToes", "LeftEye", "RightEye", "Jaw",
    *(f"{s}{f}{p}" for s in ("Left", "Right") for f in ("Thumb", "Index", "Middle", "Ring", "Little")
      for p in ("Proximal", "Intermediate", "Distal")),
    "UpperChest",
)

_FINGERS = ("Thumb", "Index", "Middle", "Ring", "Little")
_PHALANGES = ("Proximal", "Intermediate", "Distal")


def _humanoid_parents() -> dict[str, str | None]:
    par: dict[str, str | None] = {"Hips": None, "Spine": "Hips", "Chest": "Spine", "UpperChest": "Chest",
                                  "Neck": "UpperChest", "Head": "Neck", "Jaw": "Head", "LeftEye": "Head",
                                  "RightEye": "Head"}
    for s in ("Left", "Right"):
        par.update({f"{s}UpperLeg": "Hips", f"{s}LowerLeg": f"{s}UpperLeg", f"{s}Foot": f"{s}LowerLeg",
                    f"{s}Toes": f"{s}Foot", f"{s}Shoulder": "UpperChest", f"{s}UpperArm": f"{s}Shoulder",
                    f"{s}LowerArm": f"{s}UpperArm", f"{s}Hand": f"{s}LowerArm"})
        for f in _FINGERS:
            prev = f"{s}Hand"
            for p in _PHALANGES:
                par[f"{s}{f}{p}"] = prev
                prev = f"{s}{f}{p}"
    return par


#: Unity's humanoid hierarchy: bone -> parent bone (an optional parent that is absent is skipped upwards).
HUMANOID_PARENT: dict[str, str | None] = _humanoid_parents()


def _tpose_directions() -> dict[str, tuple[float, float, float]]:
    up, down, fwd = (0.0, 0.0, 1.0), (0.0, 0.0, -1.0), (1.0, 0.0, 0.0)
    d = {b: up for b in ("Hips", "Spine", "Chest", "UpperChest", "Neck", "Head")}
    d.update(Jaw=fwd, LeftEye=fwd, RightEye=fwd)
    for s, side in (("Left", (0.0, 1.0, 0.0)), ("Right", (0.0, -1.0, 0.0))):
        d.update({f"{s}UpperLeg": down, f"{s}LowerLeg": down, f"{s}Foot": fwd, f"{s}Toes": fwd,
                  f"{s}Shoulder": side, f"{s}UpperArm": side, f"{s}LowerArm": side, f"{s}Hand": side})
        for f in _FINGERS:
            for p in _PHALANGES:
                d[f"{s}{f}{p}"] = side
    return d


#: Direction from each bone toward its main child in the canonical T-pose, REP 103 (facing +X, left +Y, up +Z).
TPOSE_DIRECTIONS: dict[str, tuple[float, float, float]] = _tpose_directions()

#: The child that sets a bone's direction, in order of preference (the first one mapped is used).
MAIN_CHILD: dict[str, tuple[str, ...]] = {
    "Hips": ("Spine", "Chest", "UpperChest", "Neck", "Head"), "Spine": ("Chest", "UpperChest", "Neck", "Head"),
    "Chest": ("UpperChest", "Neck", "Head"), "UpperChest": ("Neck", "Head"), "Neck": ("Head",),
    **{f"{s}{k}": v for s in ("Left", "Right") for k, v in (
        ("UpperLeg", (f"{s}LowerLeg",)), ("LowerLeg", (f"{s}Foot",)), ("Foot", (f"{s}Toes",)),
        ("Shoulder", (f"{s}UpperArm",)), ("UpperArm", (f"{s}LowerArm",)), ("LowerArm", (f"{s}Hand",)),
        ("Hand", (f"{s}MiddleProximal", f"{s}IndexProximal", f"{s}RingProximal")),
        *((f"{f}{p}", (f"{s}{f}{_PHALANGES[i + 1]}",)) for f in _FINGERS for i, p in enumerate(_PHALANGES[:2])))},
}


def humanoid_bone_map(joint_names: list[str] | tuple[str, ...]) -> dict[str, int]:
    """Humanoid bone -> index of our joint that drives it, from the joint names.

    Understood names: Unity's own (``Hips``...), SMPL-X / the IK rig's standard skeleton (``pelvis``,
    ``spine1..3``, ``left_collar``, fingers ``left_index1`` or canonical ``left_index_mcp``) and Anny's bones
    (``root``, ``spine04``, ``upperarm01.L``...). Joints without a humanoid counterpart are left out.
    """
    from mocap.export.profiles import profile_names
    from mocap.skeletons.smplx_joints import SMPLX_RENAMES

    names = [str(n) for n in joint_names]
    anny = anny_names(names)
    canon = [SMPLX_RENAMES.get(n, anny.get(n, n)) for n in names]
    try:
        unity, _ = profile_names(canon, "unity")
    except MocapError:
        unity = canon
    known = set(HUMAN_BODY_BONES)
    out: dict[str, int] = {}
    for j, u in enumerate(unity):
        if u in known and u not in out:
            out[u] = j
    return out


def anny_names(names: list[str]) -> dict[str, str]:
    """Anny bone -> canonical joint name for the names that are Anny bones (imports the Anny model module, and so
    torch, only when some name looks like one)."""
    if not any(n.endswith((".L", ".R")) or n == "root" or n.startswith(("spine0", "neck0")) for n in names):
        return {}
    from mocap.body.anny_model import canonical_anny_name

    return {n: c for n in names if (c := canonical_anny_name(n))}


@dataclass
class HumanoidPose:
    """One frame of the humanoid in our REP 103 world (metres, xyzw).

    Attributes:
        local_quat_xyzw: ``(B, 4)`` local rotation of each bone relative to its humanoid parent (Hips: world).
        local_positions: ``(B, 3)`` observed offset of each bone from its humanoid parent in the parent's frame
            (Hips: world position of the hips).
        global_quat_xyzw: ``(B, 4)`` world rotation of each bone.
        positions: ``(B, 3)`` world position of each bone (our joint's position).
    """

    local_quat_xyzw: np.ndarray
    local_positions: np.ndarray
    global_quat_xyzw: np.ndarray
    positions: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray | None:
    n = float(np.linalg.norm(v))
    return v / n if np.isfinite(n) and n > 1e-6 else None


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation ``(3, 3)`` taking unit vector ``a`` to unit vector ``b``."""
    v, c = np.cross(a, b), float(np.dot(a, b))
    if c < -1 + 1e-9:  # opposite: half a turn about an axis perpendicular to a
        ax = _unit(np.cross(a, [1.0, 0.0, 0.0]))
        ax = ax if ax is not None else _unit(np.cross(a, [0.0, 1.0, 0.0]))
        return 2 * np.outer(ax, ax) - np.eye(3)
    vx = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


class HumanoidRetarget:
    """Map a skeleton description onto humanoid bones and calibrate its rest pose against the T-pose.

    Args:
        description: the skeleton (its rest offsets are our rest pose).
        bone_map: humanoid bone -> our joint name, overriding/adding to :func:`humanoid_bone_map`.

    Attributes:
        bones: mapped humanoid bone names, parents before children.
        parents: ``(B,)`` index into ``bones`` of each bone's humanoid parent (-1 for Hips).
        joints: ``(B,)`` our joint index per bone.
        calibration: ``(B, 3, 3)`` the rest-pose corrections ``C_b`` (module notes).
        rest_offsets: ``(B, 3)`` the avatar's T-pose offsets ``o_b`` (Hips: our rest position of the hips), metres.

    Raises:
        MocapError: the skeleton lacks the hips, both upper legs, or any spine/neck/head joint, or a humanoid
            parent's joint is not an ancestor of its child's joint.
    """

    REQUIRED = ("Hips", "LeftUpperLeg", "RightUpperLeg")

    def __init__(self, description: SkeletonDescription, bone_map: dict[str, str] | None = None) -> None:
        self.description = description
        mapping = humanoid_bone_map(description.joint_names)
        for bone, joint in (bone_map or {}).items():
            if bone not in HUMANOID_PARENT:
                raise MocapError(f"bone map: {bone!r} is not a Unity HumanBodyBones name",
                                 hint=f"use names such as {', '.join(HUMAN_BODY_BONES[:6])}")
            mapping[bone] = description.index(joint)
        missing = [b for b in self.REQUIRED if b not in mapping]
        if missing or not any(b in mapping for b in ("Spine", "Chest", "UpperChest", "Neck", "Head")):
            raise MocapError(
                f"skeleton {description.joint_set!r} cannot drive a humanoid avatar: no joint for "
                f"{', '.join(missing) or 'the spine/neck/head'} (joints: {', '.join(description.joint_names[:8])}...)",
                hint="stream a body-model skeleton (SMPL-X, Anny) or keypoints through the IK rig "
                     "(mocap.apps.keypoint_rig), or pass a bone_map")
        self.bones = self._order(list(mapping))
        self.joints = np.array([mapping[b] for b in self.bones], dtype=np.int64)
        self.parents = np.array([self._mapped_parent(b) for b in self.bones], dtype=np.int64)
        par = description.parents
        for b, a in zip(self.bones, self.parents, strict=True):
            if a >= 0 and not self._is_ancestor(par, self.joints[a], mapping[b]):
                raise MocapError(f"bone map: {self.bones[a]} ({description.joint_names[self.joints[a]]}) is not an "
                                 f"ancestor of {b} ({description.joint_names[mapping[b]]}) in {description.joint_set}")
        self.calibration = self._calibrate(description.rest_positions())
        rest = description.rest_positions()[self.joints]
        self.rest_offsets = rest.copy()
        for i, a in enumerate(self.parents):
            if a >= 0:
                self.rest_offsets[i] = self.calibration[a].T @ (rest[i] - rest[a])

    @property
    def n_bones(self) -> int:
        return len(self.bones)

    # ------------------------------------------------------------------ set-up
    @staticmethod
    def _depth(bone: str) -> int:
        d, b = 0, HUMANOID_PARENT[bone]
        while b is not None:
            d, b = d + 1, HUMANOID_PARENT[b]
        return d

    def _order(self, bones: list[str]) -> list[str]:
        return sorted(bones, key=lambda b: (self._depth(b), HUMAN_BODY_BONES.index(b)))

    def _mapped_parent(self, bone: str) -> int:
        p = HUMANOID_PARENT[bone]
        while p is not None and p not in self.bones:
            p = HUMANOID_PARENT[p]
        return -1 if p is None else self.bones.index(p)

    @staticmethod
    def _is_ancestor(parents: np.ndarray, a: int, j: int) -> bool:
        while j >= 0:
            j = int(parents[j])
            if j == a:
                return True
        return False

    def _calibrate(self, rest_pos: np.ndarray) -> np.ndarray:
        """``(B, 3, 3)`` rotations ``C_b`` taking the canonical T-pose of each bone to our rest pose."""
        B = self.n_bones
        C = np.tile(np.eye(3), (B, 1, 1))
        pos = {b: rest_pos[j] for b, j in zip(self.bones, self.joints, strict=True)}
        for i, b in enumerate(self.bones):
            if b == "Hips":
                C[i] = self._hips_frame(pos)
                continue
            Cp = C[self.parents[i]]
            child = next((c for c in MAIN_CHILD.get(b, ()) if c in pos and _unit(pos[c] - pos[b]) is not None), None)
            if child is None:  # a leaf (or a zero-length bone): keep the parent's correction
                C[i] = Cp
                continue
            d = _unit(pos[child] - pos[b])
            a = Cp @ np.asarray(TPOSE_DIRECTIONS[b], float)
            C[i] = _swing(a, d) @ Cp
        return C

    @staticmethod
    def _hips_frame(pos: dict[str, np.ndarray]) -> np.ndarray:
        left = _unit(pos["LeftUpperLeg"] - pos["RightUpperLeg"])
        top = next((pos[b] for b in ("Neck", "UpperChest", "Chest", "Head", "Spine")
                    if b in pos and _unit(pos[b] - pos["Hips"]) is not None), None)
        if left is None or top is None:
            raise MocapError("the skeleton's rest pose has coincident hips or no spine above the hips; "
                             "cannot calibrate the avatar's rest pose")
        up = _unit(top - pos["Hips"])
        left = _unit(left - np.dot(left, up) * up)
        if left is None:
            raise MocapError("the skeleton's rest pose has the hips' left-right axis along the spine")
        fwd = np.cross(left, up)
        return np.stack([fwd, left, up], axis=1)  # canonical (x fwd, y left, z up) -> ours

    # ------------------------------------------------------------------ per frame
    def retarget(self, positions: np.ndarray, global_quat_xyzw: np.ndarray) -> HumanoidPose:
        """The humanoid pose of one frame.

        Args:
            positions: ``(J, 3)`` our joints' world positions, metres.
            global_quat_xyzw: ``(J, 4)`` our joints' world rotations.

        Returns:
            :class:`HumanoidPose` with ``B`` bones in :attr:`bones` order.
        """
        X = np.asarray(positions, float)[self.joints]
        G = quat_xyzw_to_matrix(np.asarray(global_quat_xyzw, float)[self.joints])
        A = G @ self.calibration
        L = A.copy()
        loc = X.copy()
        has = self.parents >= 0
        Ap = A[self.parents[has]]
        L[has] = np.swapaxes(Ap, -1, -2) @ A[has]
        loc[has] = np.einsum("nji,nj->ni", Ap, X[has] - X[self.parents[has]])
        return HumanoidPose(matrix_to_quat_xyzw(L), loc, matrix_to_quat_xyzw(A), X)

    def forward(self, local_quat_xyzw: np.ndarray, hips_position: np.ndarray,
                offsets: np.ndarray | None = None) -> np.ndarray:
        """``(B, 3)`` world bone positions from local rotations, the hips' position and the rest offsets (default
        :attr:`rest_offsets`): the forward kinematics an avatar runs."""
        L = quat_xyzw_to_matrix(np.asarray(local_quat_xyzw, float))
        off = self.rest_offsets if offsets is None else np.asarray(offsets, float)
        A = L.copy()
        X = np.zeros((self.n_bones, 3))
        for i, a in enumerate(self.parents):
            if a < 0:
                X[i] = hips_position
            else:
                A[i] = A[a] @ L[i]
                X[i] = X[a] + A[a] @ off[i]
        return X
