"""3D reconstruction: triangulation, temporal filters, bone-length constraints, live (online) triangulation.

Multi-person association and tracking live in :mod:`mocap.reconstruct.association` and
:mod:`mocap.reconstruct.tracking`; :func:`reconstruct_multiperson` runs both over a sequence.
"""

from mocap.reconstruct.bones import (
    bone_length_stability,
    bones_of,
    constrain_bone_lengths,
    estimate_bone_lengths,
)
from mocap.reconstruct.filters import (
    ButterworthStep,
    KalmanFilter,
    OneEuroFilter,
    butterworth_filter,
    fill_gaps,
    kalman_filter,
    one_euro_filter,
)
from mocap.reconstruct.multiperson import needs_association, reconstruct_multiperson
from mocap.reconstruct.online import OnlineTriangulator
from mocap.reconstruct.sequence import triangulate_keypoints
from mocap.reconstruct.triangulation import (
    REASONS,
    TriangulationResult,
    triangulate,
    triangulate_weighted_dlt,
)

__all__ = [
    "REASONS", "TriangulationResult", "triangulate", "triangulate_keypoints", "triangulate_weighted_dlt",
    "butterworth_filter", "ButterworthStep", "one_euro_filter", "OneEuroFilter", "kalman_filter", "KalmanFilter",
    "fill_gaps", "bones_of", "estimate_bone_lengths", "constrain_bone_lengths", "bone_length_stability",
    "OnlineTriangulator", "reconstruct_multiperson", "needs_association",
]
