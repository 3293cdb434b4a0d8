"""The skeleton stream contract: shapes checked at construction, defaults for missing quality fields."""

import numpy as np
import pytest

from mocap.errors import MocapError
from mocap.live import (
    PersonSkeleton,
    SkeletonDescription,
    SkeletonFrame,
    TrackState,
    check_frame_against,
    identity_quats,
)


def _desc() -> SkeletonDescription:
    return SkeletonDescription("chain3", ["a", "b", "c"], [-1, 0, 1], [[0, 0, 1.0], [0, 0, 0.5], [0.2, 0, 0]])


def test_rest_positions_accumulate_offsets():
    X = _desc().rest_positions()
    np.testing.assert_allclose(X, [[0, 0, 1.0], [0, 0, 1.5], [0.2, 0, 1.5]])


def test_description_rejects_parent_after_child():
    with pytest.raises(MocapError, match="parent"):
        SkeletonDescription("bad", ["a", "b"], [1, -1], np.zeros((2, 3)))


def test_description_rejects_wrong_offsets_shape():
    with pytest.raises(MocapError, match="rest_offsets"):
        SkeletonDescription("bad", ["a", "b"], [-1, 0], np.zeros((3, 3)))


def test_person_defaults_and_validity():
    X = np.array([[0, 0, 1.0], [np.nan, np.nan, np.nan], [0, 0, 2.0]])
    p = PersonSkeleton(3, X, [1.0, 0.0, 0.0], identity_quats(3), identity_quats(3), state="predicted")
    assert p.state is TrackState.PREDICTED
    assert p.velocities.shape == (3, 3) and np.isnan(p.velocities).all()
    assert p.views_used.tolist() == [0, 0, 0]
    assert p.valid().tolist() == [True, False, False]


def test_person_rejects_wrong_quaternion_shape():
    with pytest.raises(MocapError, match="local_quat_xyzw"):
        PersonSkeleton(0, np.zeros((3, 3)), np.ones(3), np.zeros((3, 3)), identity_quats(3))


def test_frame_joint_count_checked_against_description():
    p = PersonSkeleton(0, np.zeros((2, 3)), np.ones(2), identity_quats(2), identity_quats(2))
    frame = SkeletonFrame(0.0, 0, [p], joint_set="chain3")
    assert frame.person(0) is p and frame.person(1) is None and frame.person_ids == [0]
    with pytest.raises(MocapError, match="2 joints"):
        check_frame_against(_desc(), frame)
