"""caliscope config.toml: the real sample reprojects caliscope's own 3D estimates onto its detections."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from mocap.cameras import Camera
from mocap.cameras.formats import detect_format, read_calibration, write_calibration
from mocap.errors import CalibrationError
from tests.cameras.formats.helpers import assert_rigs_equal


@pytest.fixture(scope="module")
def sample(shared_data):
    return shared_data / "charuco_4cam"


def test_caliscope_sample_reprojects_point_estimates(sample):
    path = sample / "config.toml"
    assert detect_format(path) == "caliscope"
    rig = read_calibration(path)
    assert rig.names == ["cam_0", "cam_1", "cam_2", "cam_3"]
    assert all(c.size == (1280, 720) for c in rig)
    est = tomllib.loads((sample / "point_estimates.toml").read_text())
    obj, img = np.array(est["obj"]), np.array(est["img"])
    cam_idx, obj_idx = np.array(est["camera_indices"]), np.array(est["obj_indices"])
    for i, cam in enumerate(rig):
        sel = cam_idx == i
        X = obj[obj_idx[sel]]
        err = np.linalg.norm(cam.project(X) - img[sel], axis=1)
        assert sel.sum() > 100
        assert np.median(err) < 1.0, (cam.name, np.median(err))  # sub-pixel: world-to-camera, metres
        inverse = Camera(cam.name, cam.size, cam.K, cam.dist, cam.R.T, -cam.R.T @ cam.t)
        if np.linalg.norm(cam.t) > 0.1:  # (cam_1 sits at the origin, where both readings coincide)
            assert np.nanmedian(np.linalg.norm(inverse.project(X) - img[sel], axis=1)) > 20


def test_caliscope_round_trip_keeps_settings(sample, tmp_path):
    rig = read_calibration(sample / "config.toml")
    out = tmp_path / "config.toml"
    write_calibration(rig, out, fmt="caliscope")
    a = tomllib.loads((sample / "config.toml").read_text())
    b = tomllib.loads(out.read_text())
    assert set(a) == set(b)  # top-level keys and tables (charuco, capture_volume) kept
    for k in ("cam_0", "cam_3", "charuco", "capture_volume"):
        assert {f: b[k].get(f) for f in a[k]} == a[k], k  # every field caliscope wrote comes back equal
    assert_rigs_equal(read_calibration(out), rig, atol=0)


def test_caliscope_uncalibrated_camera_is_named(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text('fps_recording = 24\n\n[cam_0]\nport = 0\nsize = [1280, 720]\nrotation_count = 0\n')
    assert detect_format(p) == "caliscope"
    with pytest.raises(CalibrationError, match=r"config\.toml: camera 'cam_0': field 'matrix' is missing: this "
                                               "camera is not calibrated"):
        read_calibration(p)


def test_caliscope_rotation_vector_also_read(sample, tmp_path):
    text = (sample / "config.toml").read_text()
    doc = tomllib.loads(text)
    rig = read_calibration(sample / "config.toml")
    rv = rig["cam_2"].rvec
    old = "rotation = [ [ -0.9967644634943604,"
    start = text.index(old)
    end = text.index("\n", start)
    p = tmp_path / "config.toml"
    p.write_text(text[:start] + f"rotation = [{rv[0]!r}, {rv[1]!r}, {rv[2]!r}]" + text[end:])
    back = read_calibration(p)
    np.testing.assert_allclose(back["cam_2"].R, np.array(doc["cam_2"]["rotation"]), atol=1e-12)
