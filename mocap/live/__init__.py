"""Live (online, causal) capture: the skeleton stream contract (:mod:`mocap.live.stream`), multi-camera time
synchronisation (:mod:`mocap.live.sync`) and the online core (:mod:`mocap.live.core`) shared by ``mocap live`` and
the ROS 2 fusion node. Import the core from :mod:`mocap.live.core` (it loads the reconstruction stack)."""

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
