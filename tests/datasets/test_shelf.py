"""Shelf loader, OpenPose PAF assembly, the PCP protocol, and the full multi-person pipeline on real data."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.datasets.shelf import (
    BODY25_LR_PAIRS,
    assemble_people_paf,
    body25_to_shelf15,
    evaluate_shelf,
    load_shelf,
    shelf_people2d,
)
from mocap.errors import DataError
from mocap.reconstruct.association import reconstruct_frame
from mocap.reconstruct.tracking import track_sequence


@pytest.fixture(scope="module")
def shelf(shared_data):
    return load_shelf(shared_data / "shelf")


def test_loader_shapes_and_alignment(shelf):
    assert len(shelf.rig) == 5 and shelf.n_frames == 301
    assert shelf.gt.shape == (301, 4, 15, 3)
    assert all(len(c) == 301 for c in shelf.candidates)
    # pelvis (joint 14) is the hip centre; people stand on a Z-up floor
    g = shelf.gt[np.isfinite(shelf.gt[..., 0, 0])]
    np.testing.assert_allclose(g[:, 14], 0.5 * (g[:, 2] + g[:, 3]), atol=1e-4)
    assert np.all(g[:, 13, 2] > g[:, 0, 2])
    # frame alignment: ground truth projects closer to this frame's candidates than to those 5 frames away
    def median_error(offset: int) -> float:
        errs = []
        for t in range(10, 290, 10):
            for c, cam in enumerate(shelf.rig):
                for shelf_j, body_j in ((8, 2), (9, 5), (6, 4), (11, 7)):  # shoulders and wrists
                    cand = shelf.candidates[c][t].joints[body_j]
                    for p in range(4):
                        g = shelf.gt[t + offset, p, shelf_j]
                        if np.isfinite(g).all() and len(cand):
                            errs.append(np.min(np.linalg.norm(cand[:, :2] - cam.project(g), axis=1)))
        return float(np.median(errs))

    e0 = median_error(0)
    assert e0 < 20.0 and e0 < median_error(-5) and e0 < median_error(5)


def test_paf_assembly_makes_whole_people(shelf):
    people = shelf_people2d(shelf, 100)
    assert len(people) == 5
    for p in people:
        assert p.ndim == 3 and p.shape[1:] == (25, 3)
        assert 2 <= len(p) <= 6
        assert np.isfinite(p[0, :, 0]).sum() >= 15  # the best person is nearly complete
    # a candidate is used by at most one person
    for p in people:
        uv = p[..., :2].reshape(-1, 2)
        uv = uv[np.isfinite(uv).all(1)]
        assert len(np.unique(uv, axis=0)) == len(uv)


def test_paf_assembly_on_a_toy_image():
    joints = [np.zeros((0, 3)) for _ in range(25)]
    joints[1] = np.array([[10.0, 10, 0.9], [100, 10, 0.8]])  # two necks
    joints[8] = np.array([[100.0, 60, 0.9], [10, 60, 0.9]])  # two mid-hips, listed in the other order
    joints[2] = np.array([[0.0, 12, 0.7]])  # one right shoulder
    from mocap.datasets.shelf import BODY25_PAF_PAIRS

    pafs = [np.zeros((len(joints[a]), len(joints[b]))) for a, b in BODY25_PAF_PAIRS]
    pafs[0][:] = [[0.1, 0.9], [0.8, 0.2]]  # neck0-hip1, neck1-hip0 (the greedy pick beats the diagonal)
    pafs[7][:] = [[0.7], [0.3]]  # shoulder belongs to neck0 more than neck1
    out = assemble_people_paf(joints, pafs, min_joints=2, min_mean_score=0.0)
    assert out.shape == (2, 25, 3)
    first = out[np.isfinite(out[:, 2, 0])][0]
    np.testing.assert_allclose(first[[1, 8, 2], :2], [[10, 10], [10, 60], [0, 12]])


def test_pcp_protocol_on_ground_truth(shelf):
    gt = shelf.gt
    perfect = [gt[t][np.isfinite(gt[t, :, 0, 0])] for t in range(gt.shape[0])]
    res = evaluate_shelf(perfect, gt)
    assert res["pcp_avg"] == 1.0 and all(v == pytest.approx(0.0) for v in res["mpjpe_mm"].values())
    # shifting every joint by 0.3 of the shortest limb length keeps PCP at 1; moving wrists far breaks arms
    shifted = [p + [0.0, 0.0, 0.03] for p in perfect]
    assert evaluate_shelf(shifted, gt)["pcp_avg"] == 1.0
    bad = [p.copy() for p in perfect]
    for p in bad:
        p[:, [6, 11]] += 0.5
    r = evaluate_shelf(bad, gt)
    assert r["pcp_limbs"][0]["left_lower_arm"] == 0.0 and r["pcp_limbs"][0]["left_upper_arm"] == 1.0
    # a missing person scores zero
    r = evaluate_shelf([np.zeros((0, 15, 3))] * gt.shape[0], gt)
    assert r["pcp_avg"] == 0.0 and r["missed"][0] == r["frames"][0] > 0


def test_body25_to_shelf15_maps_named_joints():
    X = np.arange(25 * 3, dtype=float).reshape(25, 3)
    X[:, 2] = np.linspace(0, 1.7, 25)
    out = body25_to_shelf15(X)
    assert out.shape == (15, 3)
    np.testing.assert_allclose(out[[0, 8, 9, 14]], X[[11, 2, 5, 8]])  # r ankle, r/l shoulder, pelvis


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="calibration.json"):
        load_shelf(tmp_path)


@pytest.mark.slow
def test_shelf_pipeline_pcp(shelf):
    """Full pipeline on all 301 frames: measured 96.7% average PCP (99.7 / 92.7 / 97.8 for actors 1-3)."""
    people = [reconstruct_frame(shelf.rig, shelf_people2d(shelf, f)).people for f in range(shelf.n_frames)]
    stacked, ids = track_sequence(people, fps=25.0, max_gap=5)
    assert 3 <= len(ids) <= 12
    preds = [body25_to_shelf15(p[np.isfinite(p[..., 0]).any(-1)]) for p in stacked]
    res = evaluate_shelf(preds, shelf.gt)
    assert res["pcp_avg"] > 0.95
    assert res["pcp"][0] > 0.98 and res["pcp"][2] > 0.96
    assert all(m == 0 for m in res["missed"].values())


@pytest.mark.slow
def test_shelf_swap_correction_runs_on_real_views(shelf):
    rec = reconstruct_frame(shelf.rig, shelf_people2d(shelf, 150), lr_pairs=BODY25_LR_PAIRS)
    assert rec.people.shape[0] >= 3 and rec.swapped.shape[1:] == (5, len(BODY25_LR_PAIRS))
