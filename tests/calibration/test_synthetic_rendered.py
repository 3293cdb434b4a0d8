"""End to end on RENDERED images: board views drawn into a known 4-camera rig (with lens distortion), detected,
then intrinsics + extrinsics + bundle adjustment; the recovered rig is compared with the truth.

Targets (brief): focal lengths within 0.5 %, camera rotations within 0.2 deg, centres within 5 mm; with 20 % of
the frames corrupted (heavy blur or a hidden part of the board) within twice those.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

from mocap.calibration.boards import load_board
from mocap.calibration.detection import BoardDetector
from mocap.calibration.extrinsics import calibrate_extrinsics
from mocap.calibration.intrinsics import calibrate_intrinsics
from mocap.calibration.synthetic import BoardRenderer, arc_rig, corrupt, random_board_poses

N_VIEWS = 40


@functools.lru_cache(maxsize=1)
def _scene():
    """Truth rig, board poses and the rendered images (cached for the test session)."""
    board = load_board("charuco_a3")
    rig = arc_rig(4, radius=1.1, size=(640, 480), f=520, span_deg=90, seed=2)
    poses = random_board_poses(board, N_VIEWS, seed=2, spread=0.3, max_tilt_deg=35, facing=rig.centers.mean(0))
    r = BoardRenderer(board, px_per_m=2000, supersample=2)
    images = {(c.name, f): r.render(c, T) for c in rig for f, T in enumerate(poses)}
    return board, rig, poses, images


@functools.lru_cache(maxsize=2)
def _calibrate(corrupt_fraction: float):
    board, rig, poses, images = _scene()
    rng = np.random.default_rng(7)
    bad = set(rng.choice(N_VIEWS, int(round(corrupt_fraction * N_VIEWS)), replace=False).tolist())
    det = BoardDetector(board)
    dets = {c.name: [] for c in rig}
    for (name, f), img in images.items():
        d = det.detect(corrupt(img, rng) if f in bad else img, frame=f)
        if d is not None:
            dets[name].append(d)
    intr = {c.name: calibrate_intrinsics(dets[c.name], c.size, camera=c.name) for c in rig}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ext = calibrate_extrinsics(dets, intr, refine_intrinsics=True)
    return rig, ext, intr, dets


def _errors(truth, est):
    """Worst rotation error (deg), centre error (m) and relative focal error, in camera 0's frame."""
    rot, cen, foc = [], [], []
    for c, e in zip(truth, est):
        Rt, Re = c.R @ truth[0].R.T, e.R @ est[0].R.T
        rot.append(np.degrees(np.arccos(np.clip((np.trace(Rt.T @ Re) - 1) / 2, -1, 1))))
        Ct, Ce = truth[0].R @ c.center + truth[0].t, est[0].R @ e.center + est[0].t
        cen.append(np.linalg.norm(Ct - Ce))
        foc.append(max(abs(e.K[0, 0] / c.K[0, 0] - 1), abs(e.K[1, 1] / c.K[1, 1] - 1)))
    return max(rot), max(cen), max(foc)


@pytest.mark.slow
@pytest.mark.parametrize("corrupt_fraction, factor", [(0.0, 1.0), (0.2, 2.0)])
def test_rendered_rig_recovered(corrupt_fraction, factor):
    rig, ext, intr, dets = _calibrate(corrupt_fraction)
    assert all(len(v) >= 15 for v in dets.values())
    assert ext.bundle.converged and ext.bundle.final_rms < 0.5
    rot, cen, foc = _errors(rig, ext.rig)
    assert rot < 0.2 * factor, rot
    assert cen < 0.005 * factor, cen
    assert foc < 0.005 * factor, foc


@pytest.mark.slow
def test_reduced_distortion_model_chosen_for_partial_coverage():
    _, _, intr, _ = _calibrate(0.0)
    # the board never reaches the image corners here: k3 must not be estimated, and the choice is explained
    for it in intr.values():
        assert it.dist_model in ("k1", "k1k2", "k1k2p") and "distortion model" in it.dist_reason
        assert it.dist[4] == 0.0
