"""End to end on real data: the Pose2Sim demo videos through detection, sync, triangulation and the report."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import MocapError


@pytest.mark.slow
def test_demo_pipeline_end_to_end(pose2sim_single, tmp_path):
    from mocap.keypoints import load_npz, read_trc
    from mocap.pipeline import run_pipeline
    from mocap.viz.report import compute_stats

    videos = sorted((pose2sim_single / "videos").glob("*.mp4"))
    res = run_pipeline(videos, pose2sim_single / "calibration" / "Calib.qca.txt", tmp_path, max_frames=60,
                       fit_model="anny", export_formats=("bvh", "glb", "c3d"))
    assert res.kp2d.data.shape[:2] == (60, 4) and res.kp3d.data.shape == (60, 1, 33, 4)
    stats = compute_stats(res.rig, res.kp2d, res.kp3d, res.extras["used"])
    for cam in res.kp2d.camera_names:
        # (after sync, the frames a late camera cannot cover at the ends are empty: 4 of 60 for cam03)
        assert stats.detected_fraction[cam] >= 0.9, cam
        # kept views reproject within the threshold the data set (offline "auto": 3.5 median residuals, ~28 px for
        # these MediaPipe detections on 1920-px frames; measured 11.2-16.6 px on all 100 frames), and few views are
        # rejected (0.2-18.6 %; at a fixed 15 px, 22-44 % were)
        assert stats.reproj_error_px[cam] < 20.0, (cam, stats.reproj_error_px[cam])
        assert stats.views_rejected[cam] < 0.3, (cam, stats.views_rejected[cam])
    assert stats.reconstructed_fraction > 0.98
    # limbs keep their lengths (measured: mean CV 4.1 % over the 8 limb bones on 100 frames; 5.8 % at a fixed 15 px)
    limb = stats.people[0].limb_bone_cv
    assert len(limb) == 8 and np.mean(list(limb.values())) < 0.06, limb
    # the person stands on the floor of a Z-up world: ankles near z = 0, nose 1.3-2 m up
    from mocap.skeletons import get_joint_set

    js = get_joint_set("mediapipe33")
    z = res.kp3d.xyz[:, 0, :, 2]
    assert abs(np.nanmedian(z[:, js.index("left_ankle")])) < 0.25
    assert 1.2 < np.nanmedian(z[:, js.index("nose")]) < 2.1
    # every stage's output is on disk and reads back
    back = load_npz(res.outputs["keypoints3d"])
    np.testing.assert_allclose(back.data, res.kp3d.data, equal_nan=True)
    trc = read_trc(res.outputs["trc"])
    np.testing.assert_allclose(trc.xyz[:, 0], res.kp3d.xyz[:, 0], atol=1e-5, equal_nan=True)
    report = res.outputs["report"]
    assert report.exists() and (report.parent / "overlay_cam01.png").exists()
    assert (report.parent / "skeleton_snapshots.png").stat().st_size > 10_000
    # cam03 of this demo is measurably late: the calibrated sync finds and applies it
    assert res.extras["sync"]["cam03"][2] > 1.0
    # the body fit follows the keypoints and stays inside the joint limits; every asked format is written
    motion = res.extras["motion"]
    assert np.nanmedian(motion.quality["residual_m"]) < 0.03
    assert motion.quality["limit_excess_deg"].max() < 1e-3  # degrees: clamped to the limits
    assert res.outputs["fit_check"].stat().st_size > 10_000
    from mocap.export import read_bvh

    anim = read_bvh(res.outputs["export_bvh"])  # the BVH's joints land where the fitted body's joints are
    w, b = motion.world_joints(), anim.world_positions()
    cols = [anim.joint_names.index(n) for n in motion.joint_names]
    assert b.shape[0] == 60 and np.abs(w - b[:, cols]).max() < 1e-4
    assert res.outputs["export_glb"].read_bytes()[:4] == b"glTF"
    assert res.outputs["export_c3d"].stat().st_size > 1000


def test_pipeline_rejects_missing_videos(tmp_path):
    from mocap.pipeline import run_pipeline

    with pytest.raises(MocapError, match="does not exist"):
        run_pipeline([tmp_path / "a.mp4", tmp_path / "b.mp4"], tmp_path / "calib.toml", tmp_path / "out")


def test_pipeline_needs_two_cameras(tmp_path):
    from mocap.pipeline import run_pipeline

    v = tmp_path / "a.mp4"
    v.write_bytes(b"")
    with pytest.raises(MocapError, match="at least 2"):
        run_pipeline([v], tmp_path / "calib.toml", tmp_path / "out")


def _two_people_session(tmp_path, shared_data):
    """Synthetic 2D of two people (a CMU walk and the same walk 1.6 m to the side, 20 frames later) in 4 cameras,
    each camera's people in a shuffled order; a calibration file. Returns (npz, calib, gt (T, 2, J, 3))."""
    from mocap.cameras.formats import write_calibration
    from mocap.keypoints import Keypoints2D, save_npz
    from mocap.synthetic.capture import bvh_markers, ring_rig

    gt1, fps = bvh_markers(shared_data / "bvh" / "131_01.bvh", frame_step=4, max_frames=60)
    gt2, _ = bvh_markers(shared_data / "bvh" / "131_01.bvh", frame_step=4, max_frames=80)
    gt2 = gt2[20:80] + np.array([0.0, 1.6, 0.0])
    gt = np.stack([gt1, gt2], axis=1)  # (T, 2, J, 3)
    rig = ring_rig(gt.reshape(len(gt), -1, 3), 4, seed=0, distortion=False)
    uv = np.moveaxis(rig.project(gt), 0, 1)  # (T, C, 2, J, 2)
    rng = np.random.default_rng(0)
    uv = uv + rng.normal(0, 1.0, uv.shape)
    data = np.concatenate([uv, np.ones(uv.shape[:-1] + (1,))], axis=-1)
    for t in range(len(data)):  # detectors give people in any order
        for c in range(4):
            data[t, c] = data[t, c, rng.permutation(2)]
    npz = save_npz(Keypoints2D(data, "coco17", rig.names, fps=fps), tmp_path / "kp2d.npz")
    calib = write_calibration(rig, tmp_path / "calib.toml")
    return npz, calib, gt


def test_pipeline_two_people_from_keypoints_and_bad_cameras(shared_data, tmp_path):
    """Two people from 2D keypoints (``mocap run --keypoints``): both tracked with stable ids, one TRC each, the
    (T, P, J, 4) NPZ; a camera that sees nobody and a person seen by one camera only are reported per camera."""
    from mocap.keypoints import Keypoints2D, load_npz, read_trc, save_npz
    from mocap.pipeline import run_pipeline
    from mocap.viz.report import compute_stats

    npz, calib, gt = _two_people_session(tmp_path, shared_data)
    res = run_pipeline([], calib, tmp_path / "out", keypoints=npz, cutoff_hz=None)
    assert res.extras["people_mode"] == "multi" and res.kp3d.n_people == 2
    # each track follows one person: its error against the nearer ground-truth person stays small in every frame
    for p in range(2):
        X = res.kp3d.xyz[:, p]
        err = np.stack([np.nanmean(np.linalg.norm(X - gt[:, q], axis=-1), axis=-1) for q in range(2)], -1)
        who = np.argmin(err, axis=-1)
        assert (who == who[0]).all() and np.nanmax(err[:, who[0]]) < 0.03
    assert set(res.outputs) >= {"trc_p0", "trc_p1", "keypoints3d"}
    assert load_npz(res.outputs["keypoints3d"]).data.shape == (60, 2, 17, 4)
    assert read_trc(res.outputs["trc_p1"]).n_frames == 60
    stats = compute_stats(res.rig, res.kp2d, res.kp3d, res.extras["used"], res.extras["view_error_px"])
    assert [round(s.limb_complete_fraction, 2) for s in stats.people] == [1.0, 1.0]
    assert not stats.camera_notes

    # cam04 sees nobody; a third person is seen by cam01 only
    kp = load_npz(npz)
    data = np.concatenate([kp.data, np.full(kp.data.shape[:2] + (1,) + kp.data.shape[3:], np.nan)], axis=2)
    data[:, 3] = np.nan
    data[:, 0, 2] = data[:, 0, 0] + np.array([300.0, 0.0, 0.0])  # someone else, only in cam01
    bad = save_npz(Keypoints2D(data, kp.joint_set, kp.camera_names, kp.timestamps, kp.fps), tmp_path / "bad.npz")
    res = run_pipeline([], calib, tmp_path / "bad", keypoints=bad, cutoff_hz=None)
    assert res.kp3d.n_people == 2
    notes = compute_stats(res.rig, res.kp2d, res.kp3d, res.extras["used"], res.extras["view_error_px"]).camera_notes
    assert "nobody detected" in notes["cam04"]
    assert "match no reconstructed person" in notes["cam01"]
    html = res.outputs["report"].read_text()
    assert "Cameras to check" in html and "nobody detected in any frame" in html


def test_pipeline_nobody_in_any_camera(shared_data, tmp_path):
    """Videos without people: no crash; the NPZ and a report saying so per camera; no TRC."""
    from mocap.keypoints import Keypoints2D, load_npz, save_npz
    from mocap.pipeline import run_pipeline

    npz, calib, _ = _two_people_session(tmp_path, shared_data)
    kp = load_npz(npz)
    empty = save_npz(Keypoints2D(np.full_like(kp.data, np.nan), kp.joint_set, kp.camera_names, kp.timestamps,
                                 kp.fps), tmp_path / "empty.npz")
    res = run_pipeline([], calib, tmp_path / "out", keypoints=empty, fit_model="anny", export_formats=("bvh",))
    assert res.kp3d.n_people == 0 and not any(k.startswith("trc") for k in res.outputs)
    html = res.outputs["report"].read_text()
    assert "nobody was reconstructed" in html and html.count("nobody detected in any frame") == 4
