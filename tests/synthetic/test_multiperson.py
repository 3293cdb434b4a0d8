"""Synthetic multi-person scenes: placement, occlusion, shuffling, false positives, and the per-person scoring."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.cameras import Camera, CameraRig
from mocap.errors import DataError
from mocap.synthetic.multiperson import (
    _segment_distance,
    make_multiperson_scene,
    occlusion_mask,
    score_people,
)


@pytest.fixture(scope="module")
def clips(shared_data):
    return [shared_data / "bvh" / "131_01.bvh", shared_data / "bvh" / "01_01.bvh"]


@pytest.fixture(scope="module")
def scene(clips):
    return make_multiperson_scene(clips, n_people=3, n_cameras=5, n_frames=60, seed=0)


def test_scene_layout_and_shuffling(scene):
    T, C, S, J, _ = scene.kp2d.data.shape
    assert (T, C, J) == (60, 5, 17) and scene.gt.shape == (60, 3, 17, 3) and S >= 3
    assert scene.kp2d.joint_set == "coco17" and scene.kp2d.camera_names == scene.rig.names
    # every true person sits in exactly one slot per camera and frame where detected ...
    for p in range(3):
        n = (scene.slot_person == p).sum(-1)
        assert n.max() == 1 and n.mean() > 0.85  # missing where hidden behind others
    # ... and not in a fixed slot: the order is shuffled per camera and frame
    slot0 = np.argmax(scene.slot_person == 0, axis=-1)
    assert len(np.unique(slot0)) > 1 and (slot0[1:] != slot0[:-1]).mean() > 0.3
    # slots marked -1 with data are false positives, never a true person's projection
    fp = (scene.slot_person == -1) & np.isfinite(scene.kp2d.data[..., 0]).any(-1)
    assert fp.sum() > 0 and scene.meta["false_positives"] > 0
    # people keep their distance (hip centres >= min_gap_m = 0.4 m) and do come close (they cross paths)
    hips = scene.gt[:, :, [11, 12], :2].mean(2)
    d = np.linalg.norm(hips[:, :, None] - hips[:, None], axis=-1)
    d[:, np.arange(3), np.arange(3)] = np.inf
    assert d.min() >= 0.4 - 1e-9 and d.min() < 1.5


def test_detections_follow_the_ground_truth(scene):
    """Inliers are within a few pixels of the projection; about 6 % are outliers; occluded joints are hidden."""
    exact = np.moveaxis(scene.rig.project(scene.gt), 0, 1)  # (T, C, N, J, 2)
    errs, hidden_seen = [], 0
    for t in range(scene.gt.shape[0]):
        for c in range(len(scene.rig)):
            for s, p in enumerate(scene.slot_person[t, c]):
                if p < 0:
                    continue
                uv = scene.kp2d.data[t, c, s, :, :2]
                e = np.linalg.norm(uv - exact[t, c, p], axis=-1)
                errs.append(e[np.isfinite(e)])
                hidden_seen += int(np.isfinite(uv[scene.occluded[t, c, p]]).all(-1).sum())
    e = np.concatenate(errs)
    assert np.median(e) < 4.0  # 2 px noise per coordinate
    assert 0.03 < (e > 20).mean() < 0.09
    assert hidden_seen == 0 and scene.occluded.any()


def test_segment_distance_matches_brute_force(rng):
    for _ in range(20):
        p0, p1, q0, q1 = rng.normal(size=(4, 3))
        d, s = _segment_distance(p0, p1, q0, q1)
        u = np.linspace(0, 1, 401)
        P = p0 + u[:, None] * (p1 - p0)
        Q = q0 + u[:, None] * (q1 - q0)
        D = np.linalg.norm(P[:, None] - Q[None], axis=-1)
        assert d == pytest.approx(D.min(), abs=2e-3)
        assert np.linalg.norm(p0 + s * (p1 - p0) - P[np.unravel_index(D.argmin(), D.shape)[0]]) < 0.05


def test_occlusion_from_a_person_in_front():
    """Two identical people on the optical axis: the far one is hidden, the near one is not."""
    from mocap.synthetic.capture import COCO17

    person = np.zeros((17, 3))
    z = {"nose": 1.65, "left_shoulder": 1.45, "right_shoulder": 1.45, "left_elbow": 1.2, "right_elbow": 1.2,
         "left_wrist": 0.95, "right_wrist": 0.95, "left_hip": 0.95, "right_hip": 0.95, "left_knee": 0.5,
         "right_knee": 0.5, "left_ankle": 0.08, "right_ankle": 0.08}
    for i, n in enumerate(COCO17):
        person[i] = [0.0, 0.18 if n.startswith("left") else -0.18 if n.startswith("right") else 0.0,
                     z.get(n, 1.6)]
    people = np.stack([person + [1.0, 0, 0], person + [3.0, 0, 0]])[None]  # (1, 2, 17, 3)
    K = np.array([[800.0, 0, 640], [0, 800, 360], [0, 0, 1]])
    R = np.array([[0.0, -1, 0], [0, 0, -1], [1, 0, 0]])  # looking along +x
    rig = CameraRig([Camera.from_center("c", (1280, 720), K, R, np.array([-2.0, 0, 1.0]))])
    occ = occlusion_mask(rig, people)
    assert not occ[0, 0, 0].any()
    assert occ[0, 0, 1].mean() > 0.7


def test_arc_layout_and_bad_options(clips):
    s = make_multiperson_scene(clips, n_people=2, n_cameras=4, n_frames=10, seed=1, layout="arc",
                               false_positive_rate=0.0, outlier_rate=0.0, occlusion=False)
    centre = s.gt.reshape(-1, 3).mean(0)
    ang = np.arctan2(*(s.rig.centers[:, :2] - centre[:2]).T[::-1])
    spread = np.ptp(np.unwrap(np.sort(ang)))
    assert np.deg2rad(120) < spread < np.deg2rad(180)  # all on one side (150 degree arc)
    assert s.meta["false_positives"] == 0 and (s.slot_person >= -1).all()
    with pytest.raises(DataError, match="layout"):
        make_multiperson_scene(clips, layout="dome")
    with pytest.raises(DataError, match="cameras >= 2"):
        make_multiperson_scene(clips, n_cameras=1)


def test_score_people_counts_what_it_says(scene):
    gt = scene.gt
    T, N = gt.shape[:2]
    perfect = score_people(gt, np.arange(N), gt)
    for p in perfect["people"]:
        assert p["mpjpe_mm"] == 0 and p["frames_pct"] == 100 and p["pcp_pct"] == 100 and p["id_switches"] == 0
    assert perfect["false_positives"] == 0
    # columns swapped halfway: one identity switch for each of the two people involved
    swapped = gt.copy()
    swapped[T // 2:, [0, 1]] = gt[T // 2:, [1, 0]]
    r = score_people(swapped, np.arange(N), gt)
    assert [p["id_switches"] for p in r["people"]] == [1, 1, 0]
    # a person missing for 10 frames and a wrist 0.5 m off everywhere
    bad = gt.copy()
    bad[:10, 2] = np.nan
    bad[:, 0, 9, 0] += 0.5
    r = score_people(bad, np.arange(N), gt)
    assert r["people"][2]["frames_pct"] == pytest.approx(100 * (T - 10) / T)
    assert r["people"][2]["joints_pct"] == pytest.approx(100 * (T - 10) / T)
    assert r["people"][0]["pcp_pct"] == pytest.approx(90.0)  # the left forearm of 10 limbs is always wrong
    assert r["people"][0]["mpjpe_mm"] == pytest.approx(500 / 17, rel=1e-6)
    # an extra far-away person is a false positive in every frame
    extra = np.concatenate([gt, gt[:, :1] + [5.0, 0, 0]], axis=1)
    assert score_people(extra, np.arange(N + 1), gt)["false_positives"] == T
    with pytest.raises(DataError, match="expected"):
        score_people(gt[:, :, :10], np.arange(N), gt)


def test_benchmark_script_reports_both_modes(tmp_path):
    """`python benchmarks/bench_multiperson.py` on a short scene: every person, both modes, the targets line."""
    import json

    from benchmarks.bench_multiperson import main

    out = tmp_path / "mp.json"
    assert main(["--seeds", "0", "--frames", "40", "--scenes", "default", "--json", str(out)]) == 0
    res = json.loads(out.read_text())["default seed 0"]["modes"]
    assert set(res) == {"online", "offline", "per-frame + 3D tracker"}
    for mode in ("online", "offline"):
        assert len(res[mode]["people"]) == 3 and res[mode]["ms_per_frame_cpu"] > 0
        assert all(p["frames_pct"] >= 95 for p in res[mode]["people"])
