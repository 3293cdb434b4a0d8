"""Skeleton naming profiles."""

from __future__ import annotations

import pytest

from mocap.errors import DataError
from mocap.export.ik import STANDARD_JOINTS
from mocap.export.profiles import apply_profile, profile_names
from mocap.skeletons import get_joint_set
from tests.export.helpers import chain_animation, random_standard_animation


def test_mixamo_names_of_standard_skeleton():
    names, unmapped = profile_names(list(STANDARD_JOINTS), "mixamo")
    assert unmapped == []
    assert all(n.startswith("mixamorig:") for n in names)
    m = dict(zip(STANDARD_JOINTS, names, strict=True))
    assert m["pelvis"] == "mixamorig:Hips" and m["left_hip"] == "mixamorig:LeftUpLeg"
    assert m["right_elbow"] == "mixamorig:RightForeArm" and m["left_foot"] == "mixamorig:LeftToeBase"
    assert m["spine3"] == "mixamorig:Spine2" and m["left_collar"] == "mixamorig:LeftShoulder"


def test_unity_names_cover_smplx_body_and_hands():
    smplx = list(get_joint_set("smplx55").joints)
    names, unmapped = profile_names(smplx, "unity")
    assert unmapped == []
    m = dict(zip(smplx, names, strict=True))
    assert m["spine2"] == "Chest" and m["spine3"] == "UpperChest" and m["left_knee"] == "LeftLowerLeg"
    assert m["left_thumb_cmc"] == "LeftThumbProximal" and m["right_pinky_dip"] == "RightLittleDistal"
    assert m["jaw"] == "Jaw" and len(set(names)) == 55


def test_mixamo_keeps_unmapped_with_prefix():
    smplx = list(get_joint_set("smplx55").joints)
    names, unmapped = profile_names(smplx, "mixamo")
    assert unmapped == ["jaw"] and "mixamorig:jaw" in names
    assert "mixamorig:LeftHandIndex1" in names and "mixamorig:RightHandThumb3" in names


def test_apply_profile_renames_and_keeps_motion(rng):
    anim = random_standard_animation(rng, T=4)
    out = apply_profile(anim, "unity")
    assert out.joint_names[0] == "Hips" and out.meta["profile"] == "unity"
    assert (out.world_positions() == anim.world_positions()).all()
    assert apply_profile(anim, "native") is anim


def test_unknown_profile_and_unknown_skeleton(rng):
    with pytest.raises(DataError, match="unknown skeleton profile 'maya'"):
        profile_names(list(STANDARD_JOINTS), "maya")
    with pytest.raises(DataError, match="has a mixamo name"):
        apply_profile(chain_animation(rng), "mixamo")
