"""Gripper command from the operator's hand opening (hand keypoints: MediaPipe Holistic or a WholeBody set).

Hand opening = mean distance of the four fingertips (index .. pinky) from the wrist, divided by the mean
distance of their knuckles (MCP joints) from the wrist. It does not depend on the hand's size, position or
orientation: about 1.9-2.0 for a flat open hand, about 1.0 or below for a fist (the tips curl back to the knuckles).
:class:`GripperFromHand` turns it into an opening in [0, 1] (the command) and a binary open/closed decision with
hysteresis (close below ``close_below``, open above ``open_above``), holding its last decision while the hand is
not seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mocap.errors import MocapError
from mocap.live.stream import PersonSkeleton, SkeletonDescription

TIPS = ("index_tip", "middle_tip", "ring_tip", "pinky_tip")
KNUCKLES = ("index_mcp", "middle_mcp", "ring_mcp", "pinky_mcp")


def hand_opening(wrist: np.ndarray, tips: np.ndarray, knuckles: np.ndarray) -> float:
    """Opening ratio of one hand (see the module docstring); NaN when points are missing.

    Args:
        wrist: ``(3,)`` (or ``(2,)``) position of the wrist.
        tips: ``(4, 3)`` index, middle, ring, pinky fingertips.
        knuckles: ``(4, 3)`` their MCP joints.
    """
    w = np.asarray(wrist, float)
    t = np.asarray(tips, float)
    k = np.asarray(knuckles, float)
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(t)) and np.all(np.isfinite(k))):
        return float("nan")
    base = float(np.linalg.norm(k - w, axis=-1).mean())
    if base < 1e-6:
        return float("nan")
    return float(np.linalg.norm(t - w, axis=-1).mean() / base)


@dataclass
class GripperConfig:
    """Thresholds of :class:`GripperFromHand` (opening ratios) and the gripper's range."""

    close_below: float = 1.3
    open_above: float = 1.55
    ratio_closed: float = 1.0       # ratio mapped to opening 0
    ratio_open: float = 1.9         # ratio mapped to opening 1
    min_confidence: float = 0.3

    def validate(self) -> None:
        if not self.ratio_closed < self.close_below < self.open_above < self.ratio_open:
            raise MocapError("gripper thresholds must satisfy ratio_closed < close_below < open_above < ratio_open, "
                             f"got {self.ratio_closed}, {self.close_below}, {self.open_above}, {self.ratio_open}")


@dataclass
class GripperCommand:
    """Opening in [0, 1] (0 closed), the open/closed decision, the raw ratio (NaN when the hand was not seen) and
    whether this frame measured the hand."""

    opening: float
    closed: bool
    ratio: float
    measured: bool


class GripperFromHand:
    """Hand keypoints of one side -> gripper command, with hysteresis.

    Args:
        description: the stream's skeleton description; it must hold the side's hand points
            (``<side>_hand_wrist`` or ``<side>_wrist``, ``<side>_index_mcp`` ... ``<side>_pinky_tip``).
        side: the operator's ``"left"`` or ``"right"`` hand.
    """

    def __init__(self, description: SkeletonDescription, side: str = "right",
                 cfg: GripperConfig | None = None) -> None:
        self.cfg = cfg or GripperConfig()
        self.cfg.validate()
        names = description.joint_names
        wrist = f"{side}_hand_wrist" if f"{side}_hand_wrist" in names else f"{side}_wrist"
        need = [wrist, *(f"{side}_{n}" for n in TIPS + KNUCKLES)]
        missing = [n for n in need if n not in names]
        if missing:
            raise MocapError(f"gripper from hand opening needs hand keypoints; joint set {description.joint_set!r} "
                             f"lacks {missing[:4]}{'...' if len(missing) > 4 else ''}",
                             hint="detect with MediaPipe Holistic or a WholeBody model, or disable the gripper")
        self.idx = np.array([names.index(n) for n in need])
        self.closed = False
        self.opening = 1.0

    def update(self, person: PersonSkeleton) -> GripperCommand:
        """Command for one frame of the operator (holds the last decision when the hand is not measured)."""
        c = self.cfg
        P = person.positions[self.idx]
        ok = bool(np.all(person.joint_confidence[self.idx] >= c.min_confidence))
        r = hand_opening(P[0], P[1:5], P[5:9]) if ok else float("nan")
        if not np.isfinite(r):
            return GripperCommand(self.opening, self.closed, float("nan"), False)
        if self.closed and r > c.open_above:
            self.closed = False
        elif not self.closed and r < c.close_below:
            self.closed = True
        self.opening = float(np.clip((r - c.ratio_closed) / (c.ratio_open - c.ratio_closed), 0.0, 1.0))
        return GripperCommand(self.opening, self.closed, r, True)
