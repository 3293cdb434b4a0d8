"""Live (online, causal) capture: the skeleton stream contract and the online core shared by ``mocap live`` and
the ROS 2 fusion node."""

from mocap.live.stream import (
    PersonSkeleton,
    SkeletonDescription,
    SkeletonFrame,
    SkeletonSink,
    TrackState,
    check_frame_against,
    identity_quats,
)

__all__ = [
    "PersonSkeleton", "SkeletonDescription", "SkeletonFrame", "SkeletonSink", "TrackState", "check_frame_against",
    "identity_quats",
]
