"""Shelf calibration.json: layout, units and convention checked against the benchmark's 3D ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mocap.cameras import Camera
from mocap.cameras.formats import detect_format, read_calibration, write_calibration
from mocap.errors import CalibrationError
from tests.cameras.formats.helpers import assert_rigs_equal


def _gt_first_frame(path) -> np.ndarray:
    """Visible ground-truth joints ``(N, 3)`` (metres) of the first frame of ``gt.txt``."""
    tok = path.read_text().split()
    n_joints, i = int(tok[0]), 2
    pts = []
    for _ in range(int(tok[i])):
        m = np.array(tok[i + 2: i + 2 + 4 * n_joints], float).reshape(4, n_joints)
        pts.append(m[:3].T[m[3] > 0])
        i += 1 + 4 * n_joints
    return np.concatenate(pts)


def _detections_first_frame(path) -> np.ndarray:
    """All OpenPose BODY_25 candidates ``(N, 2)`` of the first frame, normalised 0..1."""
    tok = path.read_text().split()
    i, out = 2, []
    for _ in range(25):
        n = int(tok[i])
        out.append(np.array(tok[i + 1: i + 1 + 3 * n], float).reshape(3, n)[:2].T)
        i += 1 + 3 * n
    return np.concatenate(out)


def _nearest_px(cam: Camera, X: np.ndarray, det: np.ndarray) -> np.ndarray:
    uv = cam.project(X)
    d = np.linalg.norm(uv[:, None] - (det * np.array(cam.size))[None], axis=-1).min(axis=1)
    return np.where(np.isnan(d), 1e6, d)


def test_shelf_ground_truth_lands_on_detections(shared_data):
    shelf = shared_data / "shelf"
    path = shelf / "calibration.json"
    assert detect_format(path) == "shelf"
    rig = read_calibration(path)
    assert rig.names == ["0", "1", "2", "3", "4"]
    X = _gt_first_frame(shelf / "gt.txt")
    assert X.shape[0] >= 15
    for i, cam in enumerate(rig):
        assert cam.size == (1032, 776)
        assert np.all(cam.world_to_camera(X)[:, 2] > 1.5)  # in front, metres away
        assert 1.0 < np.linalg.norm(cam.center[:2]) < 5.0 and 0.5 < cam.center[2] < 3.0  # metres, Z up
        det = _detections_first_frame(shelf / "detection" / f"{i}.txt")
        near = _nearest_px(cam, X, det)
        assert np.median(near) < 25, (cam.name, np.median(near))
        inverse = Camera(cam.name, cam.size, cam.K, cam.dist, cam.R.T, -cam.R.T @ cam.t)  # the other convention
        assert np.median(_nearest_px(inverse, X, det)) > 100


def test_shelf_round_trip_and_layout(shared_data, tmp_path):
    rig = read_calibration(shared_data / "shelf" / "calibration.json")
    out = tmp_path / "calibration.json"
    write_calibration(rig, out)
    doc = json.loads(out.read_text())
    assert list(doc) == rig.names
    assert set(doc["0"]) == {"K", "RT", "imgSize"}  # no distortion -> no extra key
    assert len(doc["0"]["K"]) == 9 and len(doc["0"]["RT"]) == 12 and doc["0"]["imgSize"] == [1032, 776]
    assert_rigs_equal(read_calibration(out), rig, atol=0)


def test_shelf_errors_name_file_camera_field(tmp_path):
    bad = {"0": {"K": [1000, 0, 500, 0, 1000, 380, 0, 0, 1], "RT": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
                 "imgSize": [1032, 776]}}
    p = tmp_path / "calibration.json"
    p.write_text(json.dumps(bad))
    with pytest.raises(CalibrationError, match=r"calibration\.json: camera '0': field 'RT' has 11 numbers, "
                                               r"expected 3x4"):
        read_calibration(p)
    bad["0"]["RT"].append(2.0)
    bad["0"]["imgSize"] = [1032]
    p.write_text(json.dumps(bad))
    with pytest.raises(CalibrationError, match=r"camera '0': field 'imgSize' has 1 numbers, expected 2 numbers"):
        read_calibration(p)
