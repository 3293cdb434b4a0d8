"""Registry look-ups, aliases and user registration."""

from __future__ import annotations

import pytest

from mocap.errors import MocapError
from mocap.skeletons import JointSet, get_joint_set, list_joint_sets, register_joint_set, registered_joint_sets
from mocap.skeletons.registry import UnknownJointSetError, unregister_joint_set

REQUIRED = ["coco17", "coco_wholebody133", "halpe26", "body25", "body25b", "mediapipe33", "mediapipe_hand21",
            "mediapipe_holistic", "shelf15", "smplx55", "smplx_with_extras"]


def test_required_sets_are_registered_under_their_own_names():
    names = list_joint_sets()
    assert set(REQUIRED) <= set(names)
    assert registered_joint_sets() == names
    for n in names:
        assert get_joint_set(n).name == n


@pytest.mark.parametrize("alias, name", [("COCO", "coco17"), ("BODY_25", "body25"), ("body-25b", "body25b"),
                                          ("BlazePose", "mediapipe33"), ("HALPE_26", "halpe26"),
                                          ("coco_133", "coco_wholebody133"), ("SMPLX", "smplx55")])
def test_aliases(alias, name):
    assert get_joint_set(alias) is get_joint_set(name)


def test_unknown_name_is_a_user_error_listing_the_choices():
    with pytest.raises(UnknownJointSetError) as e:
        get_joint_set("body26")
    assert isinstance(e.value, MocapError) and isinstance(e.value, KeyError)
    assert "body26" in str(e.value) and "coco17" in str(e.value)


def test_a_joint_set_object_passes_through():
    js = get_joint_set("coco17")
    assert get_joint_set(js) is js


def test_register_custom_set_and_refuse_silent_overwrite():
    js = JointSet("test_custom_pair", ("left_x", "right_x"), (-1, 0), lr_pairs=((0, 1),))
    register_joint_set(js, overwrite=True)
    assert get_joint_set("test_custom_pair") is js
    assert "test_custom_pair" in list_joint_sets()
    with pytest.raises(ValueError, match="already registered"):
        register_joint_set(js)
    other = JointSet("test_custom_pair", ("a",), (-1,))
    register_joint_set(other, overwrite=True)
    try:
        assert get_joint_set("TEST_custom_pair") is other
    finally:
        unregister_joint_set("test_custom_pair")
    assert "test_custom_pair" not in list_joint_sets()
