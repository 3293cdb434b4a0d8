"""Uncertainty of calibrated parameters: honest on synthetic boards (truth within 2 sigma), carried into the
calibration file, and turned into warnings that name the camera, the value and the fix."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mocap.calibration.boards import load_board
from mocap.calibration.extrinsics import calibrate_extrinsics
from mocap.calibration.synthetic import arc_rig, random_board_poses, relative_errors, rendered_trial
from mocap.calibration.uncertainty import CameraUncertainty, schur_covariance, uncertainty_warnings
from tests.calibration.test_extrinsics import _intr, _observe


def test_schur_covariance_equals_full_inverse(rng):
    # two nuisance blocks (columns 3-4 and 5-6) that share no residual, like two board poses
    Jr = rng.normal(size=(60, 7))
    Jr[:30, 5:] = 0
    Jr[30:, 3:5] = 0
    keep, blocks = np.array([0, 1, 2]), np.array([[3, 4], [5, 6]])
    full = np.linalg.inv(Jr.T @ Jr)[:3, :3]
    assert np.allclose(schur_covariance(Jr, keep, blocks, 1.0), full)
    r = rng.normal(size=60)
    H = np.linalg.inv(Jr.T @ Jr)
    g = np.stack([Jr[i::3].T @ r[i::3] for i in range(3)], 1)  # 3 clusters: rows i, i+3, ...
    cl = np.arange(60) % 3
    sand = (H @ g @ g.T @ H)[:3, :3] * 3 / 2
    assert np.allclose(schur_covariance(Jr, keep, blocks, 1.0, clusters=cl, r=r), sand)


@pytest.mark.slow
def test_projected_boards_truth_within_two_sigma():
    """Gaussian corner noise, 8 rigs: the true focal lengths and camera centres lie within 2 sigma in >= 90 %."""
    board = load_board("charuco_a3")
    hits_f, hits_c = [], []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        rig = arc_rig(4, radius=1.5, size=(640, 480), f=560, seed=seed)
        dets = _observe(rig, random_board_poses(board, 15, seed=seed, spread=0.35, max_tilt_deg=40), board, rng,
                        noise=0.3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = calibrate_extrinsics(dets, _intr(rig, 0.01), refine_intrinsics=True, select_models=False)
        for n, e in relative_errors(rig, res.rig).items():
            u = res.bundle.uncertainty[n]
            hits_f += list(np.abs(e["focal"]) < 2 * np.array([u.fx_total, u.fy_total]))
            if n != rig[0].name:
                hits_c += list(np.abs(e["center"]) < 2 * u.center_m)
    assert np.mean(hits_f) >= 0.9 and np.mean(hits_c) >= 0.9, (np.mean(hits_f), np.mean(hits_c))


@pytest.mark.slow
def test_rendered_boards_truth_within_two_sigma():
    """Boards rendered and detected like real images (3 seeds here; `mocap bench calibration` runs 50)."""
    hits_f, hits_c = [], []
    for seed in range(3):
        truth, cal = rendered_trial(seed, n_views=14)
        for n, e in relative_errors(truth, cal.rig).items():
            u = cal.uncertainty[n]
            hits_f += list(np.abs(e["focal"]) < 2 * np.array([u.fx_total, u.fy_total]))
            if n != truth[0].name:
                hits_c += list(np.abs(e["center"]) < 2 * u.center_m)
    assert np.mean(hits_f) >= 0.85 and np.mean(hits_c) >= 0.85, (np.mean(hits_f), np.mean(hits_c))


def test_warning_names_camera_value_and_fix():
    from mocap.calibration.detection import BoardDetection

    u = CameraUncertainty("cam2", fx=20.0, fy=20.0, focal=(640.0, 640.0), relative_to="cam0",
                          center_cov=np.diag([0.03 ** 2, 1e-6, 1e-6]), rotation_deg=0.05)
    pts = np.array([[500, 300], [700, 300], [700, 420], [500, 420]], float)
    views = [BoardDetection(0, np.arange(4), pts, np.zeros((4, 3)), (1280, 720))]
    w = uncertainty_warnings(u, (1280, 720), views)
    import re

    assert any(re.match(r"cam2 focal length \+-3\.1 %: the board covered \d+ % of the image; film it closer, at the "
                        r"image corners and tilted, or pass --intrinsics$", m) for m in w), w
    assert any(m.startswith("cam2 position +-3.0 cm relative to cam0") for m in w), w
    assert not any("rotation" in m for m in w)


def test_uncertainty_in_toml_round_trip(tmp_path, rng):
    from mocap.calibration.pipeline import solve_rig, write_rig
    from mocap.cameras.formats import read_calibration

    board = load_board("charuco_a3")
    rig = arc_rig(3, radius=1.5, size=(640, 480), f=560)
    dets = _observe(rig, random_board_poses(board, 14, seed=4, spread=0.35, max_tilt_deg=45), board, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = solve_rig(dets, {c.name: c.size for c in rig}, board, {c.name: c.name for c in rig})
    assert set(cal.uncertainty) == set(rig.names)
    path = write_rig(cal.rig, tmp_path / "c.toml")
    back = read_calibration(path)
    for c in back:
        u = c.meta["uncertainty"]
        assert u == cal.rig[c.name].meta["uncertainty"]
        assert u["fx_px"] > 0 and len(u["center_m"]) == 3 and u["relative_to"] == "cam0"
    assert back["cam0"].meta["uncertainty"]["center_m"] == [0.0, 0.0, 0.0]
    assert back["cam1"].meta["uncertainty"]["center_m"][0] > 0
    assert "relative to camera 'cam0'" in back.meta["uncertainty"]


def test_view_with_collinear_corners_is_skipped(rng):
    """A view whose corners lie on one board row (no homography) used to make OpenCV's initialisation fail."""
    from mocap.calibration.detection import BoardDetection
    from mocap.calibration.intrinsics import calibrate_intrinsics

    board = load_board("charuco_a3")
    rig = arc_rig(1, radius=1.5, size=(640, 480), f=560)
    dets = _observe(rig, random_board_poses(board, 10, seed=5, spread=0.3, max_tilt_deg=40), board, rng)["cam0"]
    d = dets[0]
    row = np.flatnonzero(np.isclose(d.object_points[:, 1], d.object_points[0, 1]))[:6]
    line = BoardDetection(99, d.ids[row], d.image_points[row], d.object_points[row], d.image_size)
    assert line.collinear and not d.collinear and len(row) == 6
    res = calibrate_intrinsics([line, *dets], (640, 480))
    assert all(v.frame != 99 for v in res.views) and res.rms < 0.5
