"""Keypoint -> model correspondences use mocap.skeletons' canonical names for every registered body joint set."""

from __future__ import annotations

import pytest

from mocap.body.correspondence import APPROX_WEIGHT, build_correspondence
from mocap.errors import KeypointsError
from mocap.skeletons import get_joint_set

BODY_SETS = ("coco17", "body25", "halpe26", "mediapipe33", "coco_wholebody133", "smplx55")


def _matched(model, set_name):
    js = get_joint_set(set_name)
    c = build_correspondence(model, js.joints, set_name)
    return c, dict(zip(c.names, c.weights.tolist()))


@pytest.mark.parametrize("set_name", BODY_SETS)
def test_body_sets_map_onto_smplx(smplx_model, set_name):
    c, w = _matched(smplx_model, set_name)
    for n in ("left_wrist", "right_knee", "left_ankle", "left_elbow"):
        assert n in w
    assert (c.joint_coef.sum(1) + c.vertex_coef.sum(1) - 1).abs().max() < 1e-5  # each row is an affine combination


def test_canonical_names_and_approximate_pairs(smplx_model):
    c, w = _matched(smplx_model, "mediapipe33")
    canon = smplx_model.canonical_index()
    k = c.names.index("left_index_knuckle")  # alias of left_index_mcp, the SMPL-X left_index1 joint
    assert c.joint_coef[k, canon["left_index_mcp"]] == 1.0 and w["left_index_knuckle"] == pytest.approx(APPROX_WEIGHT)
    assert w["left_hip"] == pytest.approx(APPROX_WEIGHT)  # detector hip keypoint vs joint centre
    assert w["left_elbow"] == 1.0
    assert "left_eye_inner" in c.unmatched
    c55, w55 = _matched(smplx_model, "smplx55")
    assert w55["left_hip"] == 1.0 and "left_eyeball" in w55 and "left_thumb_cmc" in w55
    cb, wb = _matched(smplx_model, "body25")
    k = cb.names.index("neck")  # derived: mean of the shoulders
    assert cb.joint_coef[k, canon["left_shoulder"]] == 0.5 and cb.joint_coef[k, canon["right_shoulder"]] == 0.5


def test_too_few_matching_keypoints(smplx_model):
    with pytest.raises(KeypointsError, match="at least 4"):
        build_correspondence(smplx_model, ["nose", "foo", "bar", "baz"])


@pytest.mark.slow
@pytest.mark.parametrize("set_name", BODY_SETS)
def test_body_sets_map_onto_anny(anny_model, set_name):
    c, w = _matched(anny_model, set_name)
    for n in ("left_wrist", "right_knee", "left_ankle", "left_elbow"):
        assert n in w
    if set_name in ("coco17", "mediapipe33"):
        assert c.vertex_ids.numel() > 0  # Anny's COCO regressor for detector-style keypoints
    if set_name == "smplx55":
        assert "left_index_pip" in w and "spine2" in w
