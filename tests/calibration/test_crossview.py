"""Cross-view errors, and the self-calibration of the real charuco_4cam rig judged on caliscope's detections."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mocap.calibration.boards import load_board
from mocap.calibration.crossview import (
    board_transfer_errors,
    cross_view_errors,
    detections_to_points,
    read_caliscope_xy,
    rms,
)
from mocap.calibration.synthetic import arc_rig, random_board_poses
from tests.calibration.test_extrinsics import _observe


def test_errors_small_for_truth_large_for_wrong_focal(rng):
    board = load_board("charuco_a3")
    rig = arc_rig(3, radius=1.5, size=(640, 480), f=560)
    dets = _observe(rig, random_board_poses(board, 10, seed=2, spread=0.3, max_tilt_deg=40), board, rng, noise=0.1)
    good_t = rms(np.concatenate(list(board_transfer_errors(rig, dets).values())))
    good_l = rms(cross_view_errors(rig, detections_to_points(dets)))
    wrong = rig.copy()
    wrong["cam1"].K[:2, :2] *= 1.03
    bad_t = rms(np.concatenate(list(board_transfer_errors(wrong, dets).values())))
    assert good_t < 0.5 and good_l < 0.3
    assert bad_t > 3 * good_t


@pytest.mark.slow
def test_charuco_selfcal_against_caliscope(shared_data):
    """Acceptance of issue 16 on the real rig: intrinsic RMS < 1 px per camera; cross-view error on caliscope's own
    detections <= 1.10x caliscope's (in-sample for it); every focal length within 1.5 % of caliscope's or its
    2-sigma uncertainty covers the difference."""
    from mocap.calibration.pipeline import calibrate_rig, resolve_sources
    from mocap.cameras.formats import read_calibration

    d = shared_data / "charuco_4cam"
    theirs = read_caliscope_xy(d / "calibration/extrinsic/xy.csv")
    assert sorted(theirs) == ["port_0", "port_1", "port_2", "port_3"] and len(theirs["port_1"]) == 48
    ref = read_calibration(d / "config.toml")
    for c, n in zip(ref.cameras, theirs):
        c.name = n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate_rig(resolve_sources([d / "calibration/extrinsic"]), "charuco_4x5_dict4x4_1000_inverted")
    ours = rms(np.concatenate(list(board_transfer_errors(cal.rig, theirs).values())))
    base = rms(np.concatenate(list(board_transfer_errors(ref, theirs).values())))
    assert ours <= 1.10 * base, (ours, base)
    for n, it in cal.intrinsics.items():
        assert it.rms < 1.0
        diff = abs(cal.rig[n].K[0, 0] / ref[n].K[0, 0] - 1)
        assert diff <= 0.015 or diff <= 2 * cal.uncertainty[n].focal_rel, (n, diff, cal.uncertainty[n].focal_rel)
    # weakly determined focal lengths are flagged with the camera, the value and the fix
    assert any("focal length +-" in w and "--intrinsics" in w for w in cal.uncertainty_warnings)
