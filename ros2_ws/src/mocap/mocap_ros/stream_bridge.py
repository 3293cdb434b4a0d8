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

from mocap.live.stream import SkeletonDescription, SkeletonFrame
from mocap.skeletons.orientations import offsets_in_parent_frames
from mocap_ros import convert


class SkeletonArrayToStream:
    """Stateful converter; :meth:`convert` returns ``(new descriptions, frame)`` (the frame by
    :func:`mocap_ros.convert.msg_to_frame`)."""

    def __init__(self) -> None:
        self._key: tuple | None = None

    def convert(self, msg) -> tuple[list[SkeletonDescription], SkeletonFrame]:  # noqa: ANN001
        frame = convert.msg_to_frame(msg)
        descs = []
        for sk, p in zip(msg.skeletons, frame.people, strict=True):
            names, parents = list(sk.joint_names), np.asarray(sk.parents, np.int64)
            key = (msg.joint_set, tuple(names), tuple(parents.tolist()), sk.body_model)
            if key != self._key and len(names) and p.valid().any():
                off = offsets_in_parent_frames(p.positions, parents, p.global_quat_xyzw)
                shape = np.asarray(sk.shape_params, float) if len(sk.shape_params) else None
                descs.append(SkeletonDescription(msg.joint_set or "skeleton", names, parents, off,
                                                 body_model=sk.body_model, shape=shape,
                                                 frame_id=msg.header.frame_id or "world"))
                self._key = key
        return descs, frame
