"""Human arm -> robot end-effector pose (position AND orientation), with workspace scaling and clamping.

The operator's frame is fixed when teleoperation is armed (:meth:`ArmRetarget.engage`): the heading frame
(forward, left, up; Z up) from the shoulders, the hand's position and orientation, and the robot's end-effector
pose at that instant. Afterwards (:meth:`ArmRetarget.target`):

- ``mode="relative"`` (default; the robot does not jump when armed):
  ``p = p_ee0 + scale * H^T ((wrist - shoulder) - (wrist0 - shoulder0))``;
- ``mode="absolute"``: ``p = offset + scale * H^T (wrist - shoulder)``, the shoulder->wrist vector optionally
  rescaled so that a stretched arm has length ``reach``;
- orientation: ``R = (H^T dR H) R_ee0`` with ``dR = R_hand R_hand0^T`` the hand's rotation since arming, in the world
  frame (from the first frame the hand is seen, when it was hidden at arming). ``orientation="hand"`` takes the
  hand's frame from hand keypoints (:func:`hand_frame`: wrist, index and pinky knuckles, or the hand model's
  points), ``"body"`` from the fitted body's wrist rotation (``PersonSkeleton.global_quat_xyzw``),
  ``"none"`` keeps the tool orientation of the arming instant;
- the position is clamped into the workspace box ``[workspace_min, workspace_max]`` (base frame).

``H`` is the operator's heading frame: a person facing the robot's +x axis moves the tool along +x when reaching
forward. Units: metres; rotations are 3x3 matrices (quaternions xyzw at the stream's boundary).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mocap.errors import MocapError
from mocap.geometry.rotations import quat_xyzw_to_matrix
from mocap.live.stream import PersonSkeleton, SkeletonDescription

ORIENTATION_MODES = ("hand", "body", "none")
MODES = ("relative", "absolute")


def heading_frame(left_shoulder: np.ndarray, right_shoulder: np.ndarray) -> np.ndarray | None:
    """``(3, 3)`` rotation whose columns are the person's forward, left and up axes (world Z up); None when the
    shoulders are missing or stacked vertically."""
    y = np.asarray(left_shoulder, float) - np.asarray(right_shoulder, float)
    y = np.array([y[0], y[1], 0.0])
    n = float(np.linalg.norm(y))
    if not np.isfinite(n) or n < 1e-6:
        return None
    y /= n
    z = np.array([0.0, 0.0, 1.0])
    return np.column_stack([np.cross(y, z), y, z])


def hand_frame(wrist: np.ndarray, index_base: np.ndarray, pinky_base: np.ndarray, side: str) -> np.ndarray | None:
    """``(3, 3)`` rotation of a hand from three points: x along the hand (wrist -> between the knuckles), z the
    palm normal (out of the back of the hand for both sides), y = z x x. None when degenerate or missing.

    Args:
        wrist, index_base, pinky_base: ``(3,)`` world positions (m) of the wrist and the index and pinky knuckles
            (MCP joints, or MediaPipe pose's ``*_index_knuckle`` / ``*_pinky_knuckle``).
        side: ``"left"`` or ``"right"`` (the palm normal's sign depends on it).
    """
    w, i, p = (np.asarray(a, float) for a in (wrist, index_base, pinky_base))
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(i)) and np.all(np.isfinite(p))):
        return None
    x = (i + p) / 2 - w
    across = i - p  # pinky -> index
    nx = float(np.linalg.norm(x))
    if nx < 1e-6:
        return None
    x /= nx
    z = np.cross(x, across) if side == "right" else np.cross(across, x)
    nz = float(np.linalg.norm(z))
    if nz < 1e-9:
        return None
    z /= nz
    return np.column_stack([x, np.cross(z, x), z])


@dataclass
class RetargetConfig:
    """Parameters of :class:`ArmRetarget` (metres, radians)."""

    arm: str = "right"                       # right | left (the operator's own side)
    mode: str = "relative"                   # relative | absolute
    orientation: str = "hand"                # hand | body | none
    scale: list = field(default_factory=lambda: [1.0, 1.0, 1.0])
    offset: list = field(default_factory=lambda: [0.4, 0.0, 0.4])  # absolute mode: the shoulder's target (m)
    reach: float = 0.0                       # absolute mode: > 0 maps a stretched arm to this length (m)
    workspace_min: list = field(default_factory=lambda: [0.1, -0.6, 0.05])
    workspace_max: list = field(default_factory=lambda: [0.8, 0.6, 0.9])
    min_confidence: float = 0.3

    def validate(self) -> None:
        """Raise :class:`~mocap.errors.MocapError` for an invalid value (names the parameter)."""
        if self.arm not in ("left", "right"):
            raise MocapError(f"arm must be 'left' or 'right', not {self.arm!r}")
        if self.mode not in MODES:
            raise MocapError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.orientation not in ORIENTATION_MODES:
            raise MocapError(f"orientation must be one of {ORIENTATION_MODES}, not {self.orientation!r}")
        for k in ("scale", "offset", "workspace_min", "workspace_max"):
            v = np.asarray(getattr(self, k), float)
            if v.shape != (3,) or not np.all(np.isfinite(v)):
                raise MocapError(f"{k} must be 3 finite numbers, got {getattr(self, k)!r}")
        if not np.all(np.asarray(self.workspace_min, float) < np.asarray(self.workspace_max, float)):
            raise MocapError(f"workspace_min {list(self.workspace_min)} must be below workspace_max "
                             f"{list(self.workspace_max)} on every axis")
        if not 0 <= self.min_confidence <= 1:
            raise MocapError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if self.reach < 0:
            raise MocapError(f"reach must be >= 0 m, got {self.reach}")


@dataclass
class ArmPose:
    """The operator's arm in one frame (world): shoulder, elbow, wrist ``(3,)`` m, the other shoulder, and the
    hand's rotation ``(3, 3)`` (None when unknown)."""

    shoulder: np.ndarray
    elbow: np.ndarray
    wrist: np.ndarray
    other_shoulder: np.ndarray | None
    hand_rotation: np.ndarray | None


@dataclass
class EETarget:
    """Target pose in the robot base frame: ``position (3,)`` m (clamped), ``rotation (3, 3)``, ``raw_position``
    (before clamping) and whether the clamp was active."""

    position: np.ndarray
    rotation: np.ndarray
    raw_position: np.ndarray
    clamped: bool


class ArmRetarget:
    """Operator arm -> end-effector target pose (see the module docstring).

    Args:
        cfg: the parameters (validated).
        description: the skeleton description of the stream (joint names).
    """

    def __init__(self, cfg: RetargetConfig, description: SkeletonDescription) -> None:
        cfg.validate()
        self.cfg = cfg
        self.description = description
        s, o = cfg.arm, "left" if cfg.arm == "right" else "right"
        names = description.joint_names
        self.idx = {k: description.index(f"{s}_{k}") for k in ("shoulder", "elbow", "wrist")}
        self.idx_other = names.index(f"{o}_shoulder") if f"{o}_shoulder" in names else None
        # hand orientation points, best first: the hand model's points, then MediaPipe pose's knuckles
        self.hand_pts = None
        for w, i, p in ((f"{s}_hand_wrist", f"{s}_index_mcp", f"{s}_pinky_mcp"),
                        (f"{s}_wrist", f"{s}_index_mcp", f"{s}_pinky_mcp"),
                        (f"{s}_wrist", f"{s}_index_knuckle", f"{s}_pinky_knuckle")):
            if all(n in names for n in (w, i, p)):
                self.hand_pts = (names.index(w), names.index(i), names.index(p))
                break
        if cfg.orientation == "hand" and self.hand_pts is None:
            raise MocapError(f"orientation 'hand' needs hand keypoints ({s}_index_mcp and {s}_pinky_mcp, or "
                             f"MediaPipe's {s}_index_knuckle/{s}_pinky_knuckle) but joint set "
                             f"{description.joint_set!r} has none", hint="use orientation 'body' or 'none'")
        if cfg.orientation == "body" and not description.body_model:
            raise MocapError(f"orientation 'body' needs a fitted body model's wrist rotation; the stream "
                             f"({description.joint_set!r}) has none", hint="use orientation 'hand' or 'none'")
        self.lo, self.hi = np.asarray(cfg.workspace_min, float), np.asarray(cfg.workspace_max, float)
        self.H: np.ndarray | None = None
        self.ref: ArmPose | None = None
        self.ee0: tuple[np.ndarray, np.ndarray] | None = None
        self.last_rotation: np.ndarray | None = None
        self.rot_ref: tuple[np.ndarray, np.ndarray] | None = None  # (hand rotation, tool rotation) it maps onto

    def arm_pose(self, person: PersonSkeleton) -> tuple[ArmPose | None, str]:
        """The arm of ``person``, or None and why (a joint missing or below ``min_confidence``)."""
        P, c = person.positions, person.joint_confidence
        bad = [n for n, j in self.idx.items()
               if not (np.all(np.isfinite(P[j])) and c[j] >= self.cfg.min_confidence)]
        if bad:
            return None, f"{self.cfg.arm} {', '.join(bad)} not tracked (confidence < {self.cfg.min_confidence})"
        other = None
        if self.idx_other is not None and np.all(np.isfinite(P[self.idx_other])) \
                and c[self.idx_other] >= self.cfg.min_confidence:
            other = P[self.idx_other]
        R = None
        if self.cfg.orientation == "hand":
            w, i, p = self.hand_pts
            if min(c[w], c[i], c[p]) >= self.cfg.min_confidence:
                R = hand_frame(P[w], P[i], P[p], self.cfg.arm)
        elif self.cfg.orientation == "body":
            R = quat_xyzw_to_matrix(person.global_quat_xyzw[self.idx["wrist"]])
        return ArmPose(P[self.idx["shoulder"]].copy(), P[self.idx["elbow"]].copy(), P[self.idx["wrist"]].copy(),
                       other, R), ""

    def engage(self, arm: ArmPose, ee_position: np.ndarray, ee_rotation: np.ndarray) -> None:
        """Fix the operator's heading frame and the reference poses (call when arming)."""
        if arm.other_shoulder is not None:
            left, right = ((arm.shoulder, arm.other_shoulder) if self.cfg.arm == "left"
                           else (arm.other_shoulder, arm.shoulder))
            H = heading_frame(left, right)
        else:
            H = None
        self.H = np.eye(3) if H is None else H
        self.ref = arm
        self.ee0 = (np.asarray(ee_position, float).copy(), np.asarray(ee_rotation, float).copy())
        self.last_rotation = self.ee0[1]
        self.rot_ref = None if arm.hand_rotation is None else (arm.hand_rotation, self.ee0[1])

    @property
    def engaged(self) -> bool:
        return self.ref is not None

    def release(self) -> None:
        """Forget the arming references."""
        self.H = self.ref = self.ee0 = self.last_rotation = self.rot_ref = None

    def target(self, arm: ArmPose) -> EETarget:
        """End-effector target for the arm pose (after :meth:`engage`)."""
        if self.ref is None or self.H is None or self.ee0 is None:
            raise MocapError("ArmRetarget.target before engage(): arm teleoperation first")
        c, H = self.cfg, self.H
        scale = np.asarray(c.scale, float)
        if c.mode == "relative":  # shoulder-anchored: the operator may step or sway without moving the tool
            raw = self.ee0[0] + scale * (H.T @ ((arm.wrist - arm.shoulder) - (self.ref.wrist - self.ref.shoulder)))
        else:
            v = arm.wrist - arm.shoulder
            if c.reach > 0:
                length = np.linalg.norm(arm.elbow - arm.shoulder) + np.linalg.norm(arm.wrist - arm.elbow)
                v = v * (c.reach / max(float(length), 1e-6))
            raw = np.asarray(c.offset, float) + scale * (H.T @ v)
        pos = np.clip(raw, self.lo, self.hi)
        R = self.ee0[1] if self.last_rotation is None else self.last_rotation  # hand not seen: keep the last one
        if c.orientation != "none" and arm.hand_rotation is not None:
            if self.rot_ref is None:  # first sight of the hand since arming: it refers to the current tool rotation
                self.rot_ref = (arm.hand_rotation, R)
            dR = arm.hand_rotation @ self.rot_ref[0].T
            R = (H.T @ dR @ H) @ self.rot_ref[1]
        self.last_rotation = R
        return EETarget(pos, R, raw, bool(np.any(pos != raw)))
