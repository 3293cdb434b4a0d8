"""``mocap_msgs/SkeletonArray`` -> the library's skeleton stream (:mod:`mocap.live.stream`), for the app nodes.

The VMC bridge and the game-control node are thin: they turn each message into a
:class:`~mocap.live.stream.SkeletonFrame` (and a :class:`~mocap.live.stream.SkeletonDescription` whenever the joint
set changes) and hand it to the same ROS-free sinks ``mocap live`` uses (:class:`mocap.apps.vmc.VmcSender`,
:class:`mocap.apps.gestures.GestureMapper`). A message carries no rest offsets; they are derived from the first
skeleton of a joint set as ``offset_j = G_parent^T (p_j - p_parent)``, which is exact for a fitted body model (rigid
bones) and unused for keypoint skeletons (those go through the IK rig, which measures bone lengths itself).
"""

from __future__ import annotations

import numpy as np

from mocap.live.stream import PersonSkeleton, SkeletonDescription, SkeletonFrame, TrackState
from mocap.skeletons.orientations import offsets_in_parent_frames
from mocap_ros import convert


class SkeletonArrayToStream:
    """Stateful converter; :meth:`convert` returns ``(new descriptions, frame)``."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self.frames = 0

    def convert(self, msg) -> tuple[list[SkeletonDescription], SkeletonFrame]:  # noqa: ANN001
        people, descs = [], []
        for sk in msg.skeletons:
            X, conf, g, loc = convert.skeleton_to_arrays(sk)
            names, parents = list(sk.joint_names), np.asarray(sk.parents, np.int64)
            key = (msg.joint_set, tuple(names), tuple(parents.tolist()), sk.body_model)
            if key != self._key and np.isfinite(X).all(-1).any():
                descs.append(self._describe(msg, sk, names, parents, X, g))
                self._key = key
            state = getattr(sk, "state", "")  # newer messages carry the tracking state
            people.append(PersonSkeleton(int(sk.person_id), X, conf, loc, g,
                                         state=TrackState(state) if state in TrackState._value2member_map_
                                         else TrackState.TRACKED))
        frame = SkeletonFrame(convert.stamp_to_sec(msg.header.stamp), self.frames, people, msg.joint_set,
                              list(msg.cameras))
        self.frames += 1
        return descs, frame

    @staticmethod
    def _describe(msg, sk, names, parents, X, g) -> SkeletonDescription:  # noqa: ANN001
        off = offsets_in_parent_frames(X, parents, g)
        return SkeletonDescription(msg.joint_set or "skeleton", names, parents, off, body_model=sk.body_model,
                                   shape=np.asarray(sk.shape_params, float) if len(sk.shape_params) else None,
                                   frame_id=msg.header.frame_id or "world")
