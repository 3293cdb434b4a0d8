"""JointSet validation and its small helpers."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.skeletons.base import JOINT_CENTRE, KEYPOINT, JointSet


def _chain(n: int = 4) -> JointSet:
    return JointSet("chain", tuple(f"j{i}" for i in range(n)), (-1,) + tuple(range(n - 1)))


def test_bones_roots_and_kind_default():
    js = _chain(4)
    assert js.bones == [(0, 1), (1, 2), (2, 3)]
    assert js.roots == [0]
    assert js.kind(2) == KEYPOINT
    assert js.index("j3") == 3


def test_index_unknown_names_the_set():
    with pytest.raises(KeyError, match="chain"):
        _chain().index("nope")


@pytest.mark.parametrize(
    "parents, message",
    [((1, 2, 0), "cycle"), ((-1, 5, 0), "outside"), ((-1, 1, 0), "outside"), ((-1, 0), "parents")],
)
def test_bad_parents_are_rejected(parents, message):
    with pytest.raises(ValueError, match=message):
        JointSet("bad", ("a", "b", "c"), parents)


def test_duplicate_names_and_bad_pairs_are_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        JointSet("dup", ("a", "a"), (-1, 0))
    with pytest.raises(ValueError, match="pair"):
        JointSet("pairs", ("a", "b"), (-1, 0), lr_pairs=((0, 0),))
    with pytest.raises(ValueError, match="pair"):
        JointSet("pairs", ("a", "b"), (-1, 0), extra_bones=((0, 7),))
    with pytest.raises(ValueError, match="kinds"):
        JointSet("kinds", ("a", "b"), (-1, 0), kinds=(KEYPOINT,))


def test_kinds_and_flip_permutation():
    js = JointSet("k", ("mid", "left_x", "right_x"), (-1, 0, 0), lr_pairs=((1, 2),),
                  kinds=(JOINT_CENTRE, KEYPOINT, KEYPOINT))
    assert js.kind(0) == JOINT_CENTRE and js.kind(1) == KEYPOINT
    np.testing.assert_array_equal(js.flip_permutation, [0, 2, 1])
