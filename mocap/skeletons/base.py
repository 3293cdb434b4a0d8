"""Joint sets: names, parent indices (bones) and left/right pairs, in one immutable type."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Kind of a joint: a 2D/3D *keypoint* as annotated in detector datasets (COCO, OpenPose, MediaPipe, the smplx
#: vertex keypoints chosen to match them), roughly where a person sees the joint on the body's outline.
KEYPOINT = "keypoint"
#: Kind of a joint: an anatomical *joint centre* inside the body (the rotation centres of a body model such as
#: SMPL-X). Same name, different point for hips, shoulders and neck (see :data:`mocap.skeletons.mapping.APPROXIMATE`).
JOINT_CENTRE = "joint_centre"
KINDS = (KEYPOINT, JOINT_CENTRE)


@dataclass(frozen=True)
class JointSet:
    """A named list of joints with a kinematic tree.

    Attributes:
        name: registry name (lower case, e.g. ``"coco17"``).
        joints: joint names in data order; names are lower-case snake case and shared across sets where the
            anatomical point is the same (``"left_wrist"``), which is what cross-set mapping relies on.
        parents: parent index per joint, ``-1`` for roots.
        lr_pairs: ``(left_index, right_index)`` pairs (for flipping and left/right swap checks).
        extra_bones: extra drawing edges that are not parent links (e.g. face outline), as index pairs.
        kinds: per-joint kind (:data:`KEYPOINT` or :data:`JOINT_CENTRE`); empty means every joint is a keypoint.
        source: where the joint order was taken from (documentation only).
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    lr_pairs: tuple[tuple[int, int], ...] = ()
    extra_bones: tuple[tuple[int, int], ...] = field(default=())
    kinds: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.joints)
        if n != len(self.parents):
            raise ValueError(f"joint set {self.name}: {n} joints but {len(self.parents)} parents")
        if len(set(self.joints)) != n:
            dup = sorted({j for j in self.joints if self.joints.count(j) > 1})
            raise ValueError(f"joint set {self.name}: duplicate joint names {dup}")
        bad = [i for i, p in enumerate(self.parents) if not -1 <= p < n or p == i]
        if bad:
            raise ValueError(f"joint set {self.name}: joints {bad} have a parent index outside -1..{n - 1} or self")
        for a, b in tuple(self.lr_pairs) + tuple(self.extra_bones):
            if not (0 <= a < n and 0 <= b < n) or a == b:
                raise ValueError(f"joint set {self.name}: pair ({a}, {b}) is not two distinct joint indices")
        if self.kinds and (len(self.kinds) != n or not set(self.kinds) <= set(KINDS)):
            raise ValueError(f"joint set {self.name}: kinds must be {n} values among {KINDS}")
        self._check_acyclic()

    def _check_acyclic(self) -> None:
        n = len(self.parents)
        for start in range(n):
            j, steps = start, 0
            while j >= 0:
                j = self.parents[j]
                steps += 1
                if steps > n:
                    raise ValueError(f"joint set {self.name}: parent links of joint {start} form a cycle")

    def __len__(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        """Index of a joint by name (KeyError with the available names if absent)."""
        try:
            return self.joints.index(joint)
        except ValueError:
            raise KeyError(f"joint {joint!r} is not in joint set {self.name!r}") from None

    def kind(self, i: int) -> str:
        """Kind of joint ``i``: :data:`KEYPOINT` or :data:`JOINT_CENTRE`."""
        return self.kinds[i] if self.kinds else KEYPOINT

    @property
    def bones(self) -> list[tuple[int, int]]:
        """``(parent, child)`` index pairs of the tree."""
        return [(p, i) for i, p in enumerate(self.parents) if p >= 0]

    @property
    def roots(self) -> list[int]:
        """Indices of the joints without a parent."""
        return [i for i, p in enumerate(self.parents) if p < 0]

    @property
    def flip_permutation(self) -> np.ndarray:
        """``(J,)`` index permutation that swaps every left joint with its right counterpart."""
        perm = np.arange(len(self.joints))
        for a, b in self.lr_pairs:
            perm[a], perm[b] = b, a
        return perm
