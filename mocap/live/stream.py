"""The skeleton stream every live consumer reads: a description sent once, then frames.

This is the contract between the online core (``mocap live``, the ROS fusion node) and its consumers (ROS
messages, VMC avatars, gesture events, the viewer, teleoperation, the dataset recorder). Consumers are adapters
of it; none needs to know which detector, triangulator or body model produced the skeleton.

Conventions (the same as the rest of mocap): metres, seconds, radians; world frame right-handed, Z up
(REP 103); quaternions scalar-last ``(x, y, z, w)``. Missing values are NaN (positions, velocities, errors),
with confidence 0, 0 views, and identity orientations.

- :class:`SkeletonDescription`: sent once per joint set / body model (and again when it changes): joint names,
  parents, rest-pose offsets, body model and shape. A late subscriber needs it to interpret frames.
- :class:`PersonSkeleton`: one person in one frame.
- :class:`SkeletonFrame`: one synchronised frame: time, frame index, people.
- :class:`SkeletonSink`: what a consumer implements (``describe``, ``send``, ``close``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, runtime_checkable

import numpy as np

from mocap.errors import MocapError
from mocap.geometry.checks import check_shape


class TrackState(str, Enum):
    """Tracking state of a person: ``new`` (first frames of a track), ``tracked`` (measured this frame),
    ``predicted`` (not measured this frame; values extrapolated from the track), ``lost`` (last message of a
    track that ended; consumers must stop using it)."""

    NEW = "new"
    TRACKED = "tracked"
    PREDICTED = "predicted"
    LOST = "lost"


@dataclass
class SkeletonDescription:
    """What a consumer needs once to interpret :class:`SkeletonFrame` s.

    Attributes:
        joint_set: joint-set name (``mocap.skeletons.get_joint_set``) or body-model skeleton name.
        joint_names: ``J`` joint names, in the order of every per-joint array of the frames.
        parents: ``(J,)`` int index of each joint's parent, -1 for a root; a parent comes before its children.
        rest_offsets: ``(J, 3)`` rest-pose offset of each joint from its parent, in the parent's frame, metres
            (for a root: its rest position in the world frame). Rest orientations are identity: in the rest pose
            every joint frame is aligned with the world frame, so ``global = local = identity`` reproduces it.
        body_model: ``""`` (skeleton from keypoints) or the fitted model's name (``"smplx"``, ``"anny"``).
        shape: ``(S,)`` body-model shape parameters, or None.
        frame_id: the world frame's name (ROS ``header.frame_id``).
        person_id: the person this description is for (body-model rest poses differ per person), or -1 when
            it holds for everybody (keypoint skeletons).
    """

    joint_set: str
    joint_names: list[str]
    parents: np.ndarray
    rest_offsets: np.ndarray
    body_model: str = ""
    shape: np.ndarray | None = None
    frame_id: str = "world"
    person_id: int = -1

    def __post_init__(self) -> None:
        self.joint_names = [str(n) for n in self.joint_names]
        J = len(self.joint_names)
        self.parents = check_shape(np.asarray(self.parents, dtype=np.int64), (J,), "parents", "SkeletonDescription")
        self.rest_offsets = check_shape(np.asarray(self.rest_offsets, dtype=float), (J, 3), "rest_offsets",
                                        "SkeletonDescription")
        if np.any(self.parents >= np.arange(J)) or np.any(self.parents < -1):
            raise MocapError("SkeletonDescription: every parent index must be -1 or smaller than its joint's index")
        if self.shape is not None:
            self.shape = np.asarray(self.shape, dtype=float).reshape(-1)

    @property
    def n_joints(self) -> int:
        """Number of joints ``J``."""
        return len(self.joint_names)

    def index(self, name: str) -> int:
        """Index of joint ``name`` (raises :class:`~mocap.errors.MocapError` naming the joint set)."""
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise MocapError(f"joint {name!r} is not in joint set {self.joint_set!r}") from None

    def rest_positions(self) -> np.ndarray:
        """``(J, 3)`` world rest-pose joint positions, metres (offsets accumulated down the tree)."""
        X = np.zeros((self.n_joints, 3))
        for j, p in enumerate(self.parents):
            X[j] = self.rest_offsets[j] if p < 0 else X[p] + self.rest_offsets[j]
        return X


@dataclass
class PersonSkeleton:
    """One person in one frame. Per-joint arrays follow :attr:`SkeletonDescription.joint_names`.

    Attributes:
        person_id: stable id across frames (>= 0).
        state: :class:`TrackState`.
        confidence: overall confidence in [0, 1].
        positions: ``(J, 3)`` world positions, metres; NaN = missing.
        joint_confidence: ``(J,)`` in [0, 1]; 0 = missing.
        local_quat_xyzw: ``(J, 4)`` rotation of each joint's frame relative to its parent's frame.
        global_quat_xyzw: ``(J, 4)`` rotation of each joint's frame relative to the world frame.
        velocities: ``(J, 3)`` m/s (NaN = unknown).
        views_used: ``(J,)`` number of cameras that supported each joint (0 = none).
        reprojection_error_px: ``(J,)`` mean reprojection error over the views used, pixels (NaN = unknown).
        root_translation: ``(3,)`` world position of a fitted body model's root, metres, or None.
    """

    person_id: int
    positions: np.ndarray
    joint_confidence: np.ndarray
    local_quat_xyzw: np.ndarray
    global_quat_xyzw: np.ndarray
    state: TrackState = TrackState.TRACKED
    confidence: float = 1.0
    velocities: np.ndarray | None = None
    views_used: np.ndarray | None = None
    reprojection_error_px: np.ndarray | None = None
    root_translation: np.ndarray | None = None

    def __post_init__(self) -> None:
        where = f"PersonSkeleton {self.person_id}"
        self.positions = check_shape(np.asarray(self.positions, dtype=float), ("J", 3), "positions", where)
        J = len(self.positions)
        self.joint_confidence = check_shape(np.asarray(self.joint_confidence, dtype=float), (J,),
                                            "joint_confidence", where)
        self.local_quat_xyzw = check_shape(np.asarray(self.local_quat_xyzw, dtype=float), (J, 4),
                                           "local_quat_xyzw", where)
        self.global_quat_xyzw = check_shape(np.asarray(self.global_quat_xyzw, dtype=float), (J, 4),
                                            "global_quat_xyzw", where)
        self.velocities = (np.full((J, 3), np.nan) if self.velocities is None else
                           check_shape(np.asarray(self.velocities, dtype=float), (J, 3), "velocities", where))
        self.views_used = (np.zeros(J, dtype=np.int64) if self.views_used is None else
                           check_shape(np.asarray(self.views_used, dtype=np.int64), (J,), "views_used", where))
        self.reprojection_error_px = (
            np.full(J, np.nan) if self.reprojection_error_px is None else
            check_shape(np.asarray(self.reprojection_error_px, dtype=float), (J,), "reprojection_error_px", where))
        if self.root_translation is not None:
            self.root_translation = check_shape(np.asarray(self.root_translation, dtype=float), (3,),
                                                "root_translation", where)
        self.state = TrackState(self.state)
        self.person_id = int(self.person_id)
        self.confidence = float(self.confidence)

    @property
    def n_joints(self) -> int:
        """Number of joints ``J``."""
        return len(self.positions)

    def valid(self) -> np.ndarray:
        """``(J,)`` bool: joints with a finite position and positive confidence."""
        return np.isfinite(self.positions).all(axis=1) & (self.joint_confidence > 0)


@dataclass
class SkeletonFrame:
    """One synchronised frame of the stream.

    Attributes:
        stamp: capture time of the frame, seconds (the cameras' clock; not the time it was processed).
        frame_index: running index of synchronised frames, from 0.
        people: one :class:`PersonSkeleton` per person.
        joint_set: the :attr:`SkeletonDescription.joint_set` the arrays follow.
        cameras: names of the cameras whose 2D went into this frame.
        latency_s: processing time from the newest input's arrival to this frame's output, seconds (NaN unknown).
    """

    stamp: float
    frame_index: int
    people: list[PersonSkeleton] = field(default_factory=list)
    joint_set: str = ""
    cameras: list[str] = field(default_factory=list)
    latency_s: float = float("nan")

    def person(self, person_id: int) -> PersonSkeleton | None:
        """The person with ``person_id``, or None when not in this frame."""
        for p in self.people:
            if p.person_id == person_id:
                return p
        return None

    @property
    def person_ids(self) -> list[int]:
        """Ids of the people in this frame, in order."""
        return [p.person_id for p in self.people]


@runtime_checkable
class SkeletonSink(Protocol):
    """A consumer of the skeleton stream (VMC sender, gesture mapper, viewer, recorder, ROS publisher...).

    ``describe`` is called before the first frame and whenever the description changes; ``send`` once per
    frame, in order; ``close`` once at the end (flush and release resources; never raise for a peer gone away).
    """

    def describe(self, description: SkeletonDescription) -> None: ...

    def send(self, frame: SkeletonFrame) -> None: ...

    def close(self) -> None: ...


def check_frame_against(description: SkeletonDescription, frame: SkeletonFrame) -> None:
    """Raise :class:`~mocap.errors.MocapError` when a frame's people do not have the description's joint count."""
    for p in frame.people:
        if p.n_joints != description.n_joints:
            raise MocapError(
                f"frame {frame.frame_index}: person {p.person_id} has {p.n_joints} joints but the skeleton "
                f"description ({description.joint_set}) has {description.n_joints}",
                hint="send a new SkeletonDescription before frames of another joint set")


def identity_quats(n: int) -> np.ndarray:
    """``(n, 4)`` identity quaternions (xyzw)."""
    q = np.zeros((n, 4))
    q[:, 3] = 1.0
    return q


__all__: Sequence[str] = (
    "TrackState", "SkeletonDescription", "PersonSkeleton", "SkeletonFrame", "SkeletonSink", "check_frame_against",
    "identity_quats",
)
