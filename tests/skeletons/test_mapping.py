"""Mappings between joint sets: round trips in both directions for every pair, derived joints, aliases,
approximate flags, and index maps checked against the orders published by OpenPose, Pose2Sim and 4D Association."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mocap.errors import KeypointsError
from mocap.skeletons import (
    APPROXIMATE,
    approximate_mask,
    flip_left_right,
    get_joint_set,
    joint_index_map,
    joint_mapping,
    list_joint_sets,
    map_keypoints,
)
from mocap.skeletons.mapping import ALIASES, DERIVED, describe_mapping

BODY_SETS = [n for n in list_joint_sets() if n != "mediapipe_hand21"]
PAIRS = list(itertools.product(BODY_SETS, BODY_SETS))


def _random(name: str, rng: np.random.Generator, batch: tuple[int, ...] = (2,), d: int = 3) -> np.ndarray:
    return rng.normal(size=batch + (len(get_joint_set(name)), d))


@pytest.mark.parametrize("src, dst", PAIRS)
def test_round_trip_by_name(src, dst, rng):
    """src -> dst -> src returns every joint that exists in both, NaN for the others."""
    x = _random(src, rng)
    back = map_keypoints(map_keypoints(x, src, dst, derive=False, aliases=False), dst, src, derive=False,
                         aliases=False)
    shared = np.isin(get_joint_set(src).joints, get_joint_set(dst).joints)
    np.testing.assert_array_equal(back[:, shared], x[:, shared])
    assert np.isnan(back[:, ~shared]).all()


@pytest.mark.parametrize("src, dst", PAIRS)
def test_round_trip_with_aliases_and_derived_joints(src, dst, rng):
    """With the defaults, same-named joints still come back exactly and nothing is invented twice."""
    x = _random(src, rng)
    y = map_keypoints(x, src, dst)
    back = map_keypoints(y, dst, src)
    s, d = get_joint_set(src), get_joint_set(dst)
    shared = np.isin(s.joints, d.joints)
    np.testing.assert_array_equal(back[:, shared], x[:, shared])
    m = joint_mapping(src, dst)
    np.testing.assert_array_equal(np.isfinite(y).all(axis=(0, 2)), m.available)
    # Every matched target joint carries its source joint's value.
    hit = m.index >= 0
    np.testing.assert_array_equal(y[:, hit], x[:, m.index[hit]])


@pytest.mark.parametrize("src, dst", PAIRS)
def test_index_map_matches_names(src, dst):
    s, d = get_joint_set(src), get_joint_set(dst)
    idx = joint_index_map(src, dst, aliases=False)
    assert idx.shape == (len(d),) and idx.dtype.kind == "i"
    for j, i in enumerate(idx):
        if i >= 0:
            assert s.joints[i] == d.joints[j]
        else:
            assert d.joints[j] not in s.joints
    full = joint_index_map(src, dst)
    assert ((full == idx) | (idx == -1)).all(), "aliases only fill joints that have no same-named source"


@pytest.mark.parametrize("src, dst", PAIRS)
def test_mapping_commutes_with_left_right_flip(src, dst, rng):
    x = _random(src, rng)
    a = map_keypoints(flip_left_right(x, src), src, dst)
    b = flip_left_right(map_keypoints(x, src, dst), dst)
    np.testing.assert_array_equal(a, b)


def test_derived_neck_and_mid_hip_coco_to_body25(rng):
    coco, body = get_joint_set("coco17"), get_joint_set("body25")
    x = rng.uniform(0, 1000, size=(5, 3, 17, 3))
    x[..., 2] = rng.uniform(0.1, 1, size=(5, 3, 17))
    y = map_keypoints(x, "coco17", "body25", confidence_last=True)
    ls, rs, lh, rh = (coco.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"))
    np.testing.assert_allclose(y[..., body.index("neck"), :2], (x[..., ls, :2] + x[..., rs, :2]) / 2)
    np.testing.assert_allclose(y[..., body.index("mid_hip"), :2], (x[..., lh, :2] + x[..., rh, :2]) / 2)
    np.testing.assert_allclose(y[..., body.index("neck"), 2], np.minimum(x[..., ls, 2], x[..., rs, 2]))
    plain = map_keypoints(x, "coco17", "body25")
    np.testing.assert_allclose(plain[..., body.index("neck"), 2], (x[..., ls, 2] + x[..., rs, 2]) / 2)
    assert np.isnan(map_keypoints(x, "coco17", "body25", derive=False)[..., body.index("neck"), :]).all()
    # A missing shoulder makes the derived neck missing, not half a neck.
    x[0, 0, ls] = np.nan
    y = map_keypoints(x, "coco17", "body25")
    assert np.isnan(y[0, 0, body.index("neck")]).all() and np.isfinite(y[0, 1, body.index("neck")]).all()
    assert np.isfinite(y[0, 0, body.index("mid_hip")]).all()


def test_derived_joint_never_overrides_a_real_one(rng):
    x = _random("body25", rng)
    np.testing.assert_array_equal(map_keypoints(x, "body25", "body25"), x)
    m = joint_mapping("body25", "halpe26")
    assert not m.derived, "halpe26 has its own neck and mid hip"


def test_derived_mid_hip_on_shelf_ground_truth(shared_data):
    """Shelf's pelvis is the midpoint of its hips: dropping it (-> COCO) and deriving it back recovers it."""
    from tests.skeletons.test_sets import _read_4da

    gt = _read_4da(shared_data / "shelf" / "gt.txt")
    coco = map_keypoints(gt, "shelf15", "coco17")
    body = map_keypoints(coco, "coco17", "body25")
    shelf, b25 = get_joint_set("shelf15"), get_joint_set("body25")
    err = np.linalg.norm(body[:, b25.index("mid_hip")] - gt[:, shelf.index("mid_hip")], axis=1)
    assert err.max() < 1e-4


def test_approximate_flags():
    coco_to_smplx = joint_mapping("coco17", "smplx55")
    smplx = get_joint_set("smplx55")
    flagged = {smplx.joints[j] for j in np.flatnonzero(coco_to_smplx.approximate)}
    assert flagged == {"left_hip", "right_hip", "left_shoulder", "right_shoulder", "pelvis", "neck"}
    # pelvis from the two COCO hips, neck from the shoulders; both only approximate the SMPL-X joints.
    assert coco_to_smplx.derived == {0: (11, 12), 12: (5, 6)}
    assert all(name in APPROXIMATE for name in flagged)
    assert "left_hip" in coco_to_smplx.notes and "left_knee" not in coco_to_smplx.notes
    # Keypoint -> keypoint by name is exact, in both directions.
    assert not approximate_mask("body25", "coco17").any() and not approximate_mask("coco17", "body25").any()
    # Aliases are approximate: MediaPipe's foot tip stands in for the big toe.
    mp_to_body = joint_mapping("mediapipe33", "body25")
    b = get_joint_set("body25")
    assert mp_to_body.index[b.index("left_big_toe")] == get_joint_set("mediapipe33").index("left_foot_index")
    assert mp_to_body.approximate[b.index("left_big_toe")] and not mp_to_body.approximate[b.index("left_knee")]
    assert joint_index_map("mediapipe33", "body25", aliases=False)[b.index("left_big_toe")] == -1
    # Joint centre -> keypoint: SMPL-X pelvis stands in for the mid hip, flagged.
    m = joint_mapping("smplx55", "body25")
    assert m.index[b.index("mid_hip")] == 0 and m.approximate[b.index("mid_hip")]
    assert m.approximate[b.index("neck")] and not m.approximate[b.index("left_elbow")]


def test_aliases_and_derivations_are_consistent():
    for name, alts in ALIASES.items():
        for alt, _ in alts:
            assert any(back == name for back, _ in ALIASES[alt]), (name, alt)
    for name, d in DERIVED.items():
        assert len(d.sources) >= 2 and name not in d.sources


def test_hands_and_face_map_between_whole_body_sets(rng):
    x = _random("coco_wholebody133", rng)
    y = map_keypoints(x, "coco_wholebody133", "smplx_with_extras_contour")
    w, s = get_joint_set("coco_wholebody133"), get_joint_set("smplx_with_extras_contour")
    for n in ("left_index_mcp", "right_thumb_ip", "left_pinky_tip", "chin", "left_eye_outer", "right_brow_1"):
        np.testing.assert_array_equal(y[:, s.index(n)], x[:, w.index(n)])
    h = map_keypoints(x, "coco_wholebody133", "mediapipe_holistic")
    hol = get_joint_set("mediapipe_holistic")
    np.testing.assert_array_equal(h[:, hol.index("right_ring_dip")], x[:, w.index("right_ring_dip")])
    np.testing.assert_array_equal(h[:, hol.index("face_chin")], x[:, w.index("chin")])  # alias
    assert np.isnan(h[:, hol.index("face_100")]).all()


PUBLISHED_BODY25_TO_COCO = [0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11]  # OpenPose COCO from BODY_25
# 4D Association skel.h: BODY25 joint i -> SKEL19 joint; evaluate_shelf/main.cpp: SHELF15 joint j <- SKEL19 joint.
PUBLISHED_BODY25_TO_SKEL19 = [4, 1, 5, 11, 15, 6, 12, 16, 0, 2, 7, 13, 3, 8, 14, -1, -1, 9, 10, 17, -1, -1, 18, -1, -1]
PUBLISHED_SHELF15_FROM_SKEL19 = [13, 7, 2, 3, 8, 14, 15, 11, 5, 6, 12, 16, 1, 4, 0]


def test_orders_agree_with_published_mappings():
    np.testing.assert_array_equal(joint_index_map("body25", "coco17"), PUBLISHED_BODY25_TO_COCO)
    to_skel = joint_index_map("body25", "skel19")
    for i, k in enumerate(PUBLISHED_BODY25_TO_SKEL19):
        if k >= 0:
            assert to_skel[k] == i
    # 4D Association fills the Shelf bottom/top head from neck and nose, then re-estimates them; by name they
    # have no SKEL19 counterpart, every other joint must agree.
    expected = list(PUBLISHED_SHELF15_FROM_SKEL19)
    expected[12] = expected[13] = -1
    np.testing.assert_array_equal(joint_index_map("skel19", "shelf15"), expected)
    # Pose2Sim skeletons.py ids of the points beyond COCO-17.
    b25b, halpe = get_joint_set("body25b"), get_joint_set("halpe26")
    feet = ["left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel"]
    assert [b25b.index(n) for n in ["upper_neck", "head_top"] + feet] == list(range(17, 25))
    halpe_ids = {"head_top": 17, "neck": 18, "mid_hip": 19, "left_big_toe": 20, "right_big_toe": 21,
                 "left_small_toe": 22, "right_small_toe": 23, "left_heel": 24, "right_heel": 25}
    assert {n: halpe.index(n) for n in halpe_ids} == halpe_ids
    assert b25b.joints[:17] == halpe.joints[:17] == get_joint_set("coco17").joints


def test_bad_shapes_raise_a_keypoints_error(rng):
    with pytest.raises(KeypointsError, match="coco17"):
        map_keypoints(rng.normal(size=(4, 25, 3)), "coco17", "body25")
    with pytest.raises(KeypointsError):
        map_keypoints(np.zeros(17), "coco17", "body25")


def test_accepts_joint_set_objects_and_lists():
    coco = get_joint_set("coco17")
    y = map_keypoints(np.arange(17 * 2, dtype=float).reshape(17, 2).tolist(), coco, "shelf15")
    assert y.shape == (15, 2)
    assert y[get_joint_set("shelf15").index("left_wrist"), 0] == 2 * coco.index("left_wrist")


def test_describe_mapping_lists_every_target_joint():
    text = describe_mapping("coco17", "smplx55")
    assert len(text.splitlines()) == 1 + 55
    assert "mean(left_hip, right_hip)" in text and "~" in text
