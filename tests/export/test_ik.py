"""Keypoints -> standard skeleton by bone-direction fitting: exactness on synthetic motion, hinge twist, real
Shelf ground truth, missing data."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import KeypointsError
from mocap.export.ik import STANDARD_JOINTS, fit_standard_skeleton, keypoints_to_animation, standard_targets
from mocap.geometry.rotations import quat_xyzw_to_matrix, rotation_angle_between, rotvec_to_quat_xyzw
from mocap.keypoints import Keypoints3D
from tests.export.helpers import random_standard_animation, standard_offsets

IDX = {n: i for i, n in enumerate(STANDARD_JOINTS)}


def test_exact_positions_with_known_offsets(rng):
    truth = random_standard_animation(rng, T=30)
    P = truth.world_positions()
    fit = fit_standard_skeleton(P, 30.0, offsets=standard_offsets())
    np.testing.assert_allclose(fit.world_positions(), P, atol=1e-9)
    assert fit.valid.all()


def test_measured_offsets_are_close(rng):
    truth = random_standard_animation(rng, T=60, scale=0.15)
    P = truth.world_positions()
    fit = fit_standard_skeleton(P, 30.0)
    err = np.linalg.norm(fit.world_positions() - P, axis=-1)
    assert np.median(err) < 0.01 and err.max() < 0.05
    # limb bone lengths are measured exactly
    for name in ("left_knee", "right_elbow", "left_wrist"):
        assert np.linalg.norm(fit.offsets[IDX[name]]) == pytest.approx(np.linalg.norm(truth.offsets[IDX[name]]))


def test_hinge_joints_recover_rotations(rng):
    """Knees and ankles bending about their X axis only: twist from the child plane recovers hips, knees and
    ankles exactly (swing-only fitting would put the hip's twist into the knee)."""
    truth = random_standard_animation(rng, T=25, scale=0.3)
    for name in ("left_knee", "right_knee", "left_ankle", "right_ankle"):
        angle = rng.uniform(np.deg2rad(20), np.deg2rad(100), size=25) * (1 if "knee" in name else -0.4)
        rv = np.zeros((25, 3))
        rv[:, 0] = angle
        truth.local_rotations[:, IDX[name]] = rotvec_to_quat_xyzw(rv)
    fit = fit_standard_skeleton(truth.world_positions(), 30.0, offsets=standard_offsets())
    for name in ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"):
        j = IDX[name]
        ang = rotation_angle_between(quat_xyzw_to_matrix(fit.local_rotations[:, j]),
                                     quat_xyzw_to_matrix(truth.local_rotations[:, j]))
        assert ang.max() < 1e-6, name


def test_real_shelf_ground_truth(shared_data):
    from mocap.datasets.shelf import read_shelf_gt

    gt = read_shelf_gt(shared_data / "shelf" / "gt.txt")[:, 0]  # person 0, shelf15, metres
    kp = Keypoints3D(gt, "shelf15", fps=25.0)
    anim = keypoints_to_animation(kp)
    annotated = np.isfinite(gt).all(axis=(1, 2))
    assert np.array_equal(anim.valid, annotated)
    P = anim.world_positions()
    from mocap.skeletons import get_joint_set

    names = get_joint_set("shelf15").joints
    for parent, child in (("left_hip", "left_knee"), ("right_knee", "right_ankle"), ("left_shoulder", "left_elbow"),
                          ("right_elbow", "right_wrist")):
        d_fit = P[annotated, IDX[child]] - P[annotated, IDX[parent]]
        d_obs = gt[annotated, names.index(child)] - gt[annotated, names.index(parent)]
        cos = np.sum(d_fit * d_obs, -1) / np.linalg.norm(d_fit, axis=-1) / np.linalg.norm(d_obs, axis=-1)
        assert np.rad2deg(np.arccos(np.clip(cos, -1, 1))).max() < 1e-4, (parent, child)  # directions exact
    err = np.linalg.norm(P[annotated, IDX["left_wrist"]] - gt[annotated, names.index("left_wrist")], axis=-1)
    assert np.median(err) < 0.06  # positions differ only by the annotation's bone-length jitter


def test_targets_from_coco_and_missing_feet(rng):
    truth = random_standard_animation(rng, T=5, scale=0.1)
    P = truth.world_positions()
    coco = np.full((5, 17, 3), np.nan)
    for k, n in enumerate(("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
                           "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                           "right_ankle"), start=5):
        coco[:, k] = P[:, IDX[n]]
    tg = standard_targets(coco, "coco17")
    assert np.isnan(tg[:, IDX["left_foot"]]).all() and np.isnan(tg[:, IDX["head"]]).all()
    np.testing.assert_allclose(tg[:, IDX["pelvis"]], 0.5 * (P[:, IDX["left_hip"]] + P[:, IDX["right_hip"]]))
    anim = keypoints_to_animation(Keypoints3D(coco, "coco17", fps=30.0))
    assert np.isfinite(anim.local_rotations).all()
    q_ankle = anim.local_rotations[:, IDX["left_ankle"]]
    np.testing.assert_allclose(np.abs(q_ankle[:, 3]), 1.0)  # no foot keypoint: the ankle keeps its parent's turn


def test_frames_without_hips_are_filled_and_flagged(rng):
    truth = random_standard_animation(rng, T=12, scale=0.1)
    P = truth.world_positions()
    P[4:7, IDX["left_hip"]] = np.nan
    anim = fit_standard_skeleton(P, 30.0)
    assert anim.valid.tolist() == [True] * 4 + [False] * 3 + [True] * 5
    assert np.isfinite(anim.world_positions()).all()
    P[:, [IDX["left_hip"], IDX["right_hip"]]] = np.nan
    with pytest.raises(KeypointsError, match="hips"):
        fit_standard_skeleton(P, 30.0)
