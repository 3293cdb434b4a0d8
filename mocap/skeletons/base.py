"""Joint sets: names, parent indices (bones) and left/right pairs, in one immutable type."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    lr_pairs: tuple[tuple[int, int], ...] = ()
    extra_bones: tuple[tuple[int, int], ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.joints) != len(self.parents):
            raise ValueError(f"joint set {self.name}: {len(self.joints)} joints but {len(self.parents)} parents")
        if len(set(self.joints)) != len(self.joints):
            raise ValueError(f"joint set {self.name}: duplicate joint names")

    def __len__(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        """Index of a joint by name (KeyError with the available names if absent)."""
        try:
            return self.joints.index(joint)
        except ValueError:
            raise KeyError(f"joint {joint!r} is not in joint set {self.name!r}") from None

    @property
    def bones(self) -> list[tuple[int, int]]:
        """``(parent, child)`` index pairs of the tree."""
        return [(p, i) for i, p in enumerate(self.parents) if p >= 0]

    @property
    def flip_permutation(self) -> np.ndarray:
        """``(J,)`` index permutation that swaps every left joint with its right counterpart."""
        perm = np.arange(len(self.joints))
        for a, b in self.lr_pairs:
            perm[a], perm[b] = b, a
        return perm
