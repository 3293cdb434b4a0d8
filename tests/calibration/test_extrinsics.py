import numpy as np
import pytest

from mocap.calibration.boards import load_board
from mocap.calibration.detection import BoardDetection
from mocap.calibration.extrinsics import calibrate_extrinsics, scale_warnings
from mocap.calibration.intrinsics import IntrinsicsResult
from mocap.calibration.synthetic import arc_rig, random_board_poses
from mocap.errors import CalibrationError


def _observe(rig, poses, board, rng, noise=0.1, skip=None):
    obj = board.object_points()
    dets = {c.name: [] for c in rig}
    for f, T in enumerate(poses):
        X = obj @ T[:3, :3].T + T[:3, 3]
        for ci, c in enumerate(rig):
            if skip and skip(ci, f):
                continue
            uv = c.project(X) + rng.normal(0, noise, (len(obj), 2))
            w, h = c.size
            ok = np.isfinite(uv).all(1) & (uv[:, 0] > 0) & (uv[:, 0] < w) & (uv[:, 1] > 0) & (uv[:, 1] < h)
            if ok.sum() >= 6:
                ids = np.flatnonzero(ok)
                dets[c.name].append(BoardDetection(f, ids, uv[ok], obj[ids], c.size))
    return dets


def _intr(rig, perturb=0.0):
    return {c.name: IntrinsicsResult(c.K * np.array([[1 + perturb, 1, 1], [1, 1 + perturb, 1], [1, 1, 1]]), c.dist,
                                     "pinhole", c.size, 0.1, [], np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)))
            for c in rig}


def test_recovers_rig(rng):
    board = load_board("charuco_a3")
    rig = arc_rig(4, radius=1.5, size=(640, 480), f=560)
    poses = random_board_poses(board, 20, seed=6, spread=0.35, max_tilt_deg=50)
    dets = _observe(rig, poses, board, rng)
    res = calibrate_extrinsics(dets, _intr(rig, 0.003), refine_intrinsics=True)
    assert res.bundle.converged and res.bundle.final_rms < 0.2
    est = res.rig.transformed(rig[0].R.T, -rig[0].R.T @ rig[0].t)  # express in the true world
    for c, e in zip(rig, est):
        ang = np.degrees(np.arccos(np.clip((np.trace(c.R.T @ e.R) - 1) / 2, -1, 1)))
        assert ang < 0.2
        assert np.linalg.norm(c.center - e.center) < 0.005
        assert abs(e.K[0, 0] / c.K[0, 0] - 1) < 0.005


def test_too_few_shared_views_named(rng):
    board = load_board("charuco_a3")
    rig = arc_rig(3, radius=1.5, size=(640, 480), f=560)
    poses = random_board_poses(board, 12, seed=3, spread=0.2)
    dets = _observe(rig, poses, board, rng, skip=lambda ci, f: ci == 2 and f > 1)
    with pytest.raises(CalibrationError, match="cam2.*share too few"):
        calibrate_extrinsics(dets, _intr(rig))


def test_board_world_frame(rng):
    board = load_board("charuco_a3")
    rig = arc_rig(2, radius=1.5, size=(640, 480), f=560, span_deg=40)
    poses = random_board_poses(board, 10, seed=4, spread=0.2, max_tilt_deg=20)
    dets = _observe(rig, poses, board, rng, noise=0.05)
    res = calibrate_extrinsics(dets, _intr(rig), world="board", world_frame=0)
    T = res.board_poses[0]
    assert np.allclose(T[:3, 3], 0, atol=1e-6)
    # cameras are in front of the printed side: positive world z
    assert (res.rig.centers[:, 2] > 0.5).all()


def test_scale_warning():
    rig = arc_rig(2, radius=1.5).scaled(1000.0)
    assert "millimetres" in scale_warnings(rig)[0]


def test_divergence_keeps_initial(rng):
    from mocap.calibration.bundle import bundle_adjust

    board = load_board("charuco_a3")
    rig = arc_rig(2, radius=1.5, size=(640, 480), f=560, span_deg=40)
    poses = random_board_poses(board, 5, seed=5, spread=0.1, max_tilt_deg=20)
    dets = _observe(rig, poses, board, rng)
    obs = [(ci, d.frame, d) for ci, c in enumerate(rig) for d in dets[c.name]]
    res = bundle_adjust(rig, poses, obs, diverge_factor=-1.0)  # any result counts as diverged
    assert not res.converged and "diverged" in res.warnings[0]
    assert np.allclose(res.rig[1].t, rig[1].t)
