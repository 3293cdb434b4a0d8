"""Our TOML format: layout, anipose compatibility, units, and validation messages naming file/camera/field."""

from __future__ import annotations

import tomllib
import warnings

import numpy as np
import pytest

from mocap import __version__
from mocap.cameras.formats import detect_format, read_calibration, write_calibration
from mocap.errors import CalibrationError, MocapWarning
from tests.cameras.formats.helpers import assert_rigs_equal, varied_rig

ANIPOSE = """
[cam_0]
name = "A"
size = [ 1280, 720,]
matrix = [ [ 900.0, 0.0, 640.0,], [ 0.0, 900.0, 360.0,], [ 0.0, 0.0, 1.0,],]
distortions = [ -0.1, 0.01, 0.0, 0.0, 0.0,]
rotation = [ 0.1, -0.2, 0.05,]
translation = [ 0.3, 0.1, 3.0,]

[cam_1]
name = "B"
size = [ 1280, 720,]
matrix = [ [ 910.0, 0.0, 641.0,], [ 0.0, 910.0, 359.0,], [ 0.0, 0.0, 1.0,],]
distortions = [ 0.05, -0.01, 0.002, 0.001,]
rotation = [ 0.0, 1.5, 0.0,]
translation = [ -0.2, 0.1, 3.2,]
fisheye = true
"""


def test_layout(tmp_path):
    rig = varied_rig(2)
    rig[0].meta = {"serial": "123-abc", "error_px": 0.31}
    rig.meta = {"note": "lab A"}
    p = write_calibration(rig, tmp_path / "calib.toml")
    doc = tomllib.loads(p.read_text())
    assert doc["metadata"]["units"] == "m" and doc["metadata"]["version"] == __version__
    assert doc["metadata"]["format"] == "mocap" and doc["metadata"]["note"] == "lab A"
    cam = doc["cam_0"]
    assert cam["name"] == "cam0" and cam["size"] == [1280, 720] and cam["fisheye"] is False
    np.testing.assert_array_equal(cam["matrix"], rig[0].K)
    np.testing.assert_array_equal(cam["rotation"], rig[0].rvec)
    np.testing.assert_array_equal(cam["translation"], rig[0].t)
    assert cam["meta"] == {"serial": "123-abc", "error_px": 0.31}
    back = read_calibration(p)
    assert back[0].meta == rig[0].meta and back.meta["note"] == "lab A"
    assert "cam_1" in doc and "meta" not in doc["cam_1"]


def test_reads_anipose_file(tmp_path):
    p = tmp_path / "calibration.toml"
    p.write_text(ANIPOSE)
    assert detect_format(p) == "mocap"
    rig = read_calibration(p)
    assert rig.names == ["A", "B"]
    assert rig["B"].model == "fisheye" and rig["A"].model == "pinhole"
    np.testing.assert_allclose(rig["A"].rvec, [0.1, -0.2, 0.05], atol=1e-12)
    np.testing.assert_allclose(rig["B"].t, [-0.2, 0.1, 3.2])


def test_millimetre_units_are_converted(tmp_path):
    rig = varied_rig(3)
    with pytest.warns(MocapWarning, match=r"mm\.toml: camera 'cam2' field 't'.*millimetres"):
        p = write_calibration(rig.scaled(1000.0), tmp_path / "mm.toml")
    text = p.read_text().replace('units = "m"', 'units = "mm"')
    p.write_text(text)
    assert_rigs_equal(read_calibration(p), rig, atol=1e-9)


def _bad(tmp_path, old, new, name="calib.toml"):
    p = write_calibration(varied_rig(3, names=["cam_0", "cam_1", "cam_2"]), tmp_path / name)
    text = p.read_text()
    assert old in text, old
    p.write_text(text.replace(old, new))
    return p


def test_matrix_with_wrong_count(tmp_path):
    p = _bad(tmp_path, "[0.0, 927.7, 348.29999999999995], [0.0, 0.0, 1.0]]",
             "[0.0, 927.7, 348.29999999999995], [0.0, 0.0]]")
    with pytest.raises(CalibrationError, match=r"^calib\.toml: camera 'cam_2': field 'matrix' has 8 numbers, "
                                               r"expected 3x3"):
        read_calibration(p)


def test_nan_and_missing_fields(tmp_path):
    p = _bad(tmp_path, "[cam_1]\nname = \"cam_1\"", "[cam_1]\nname = \"cam_1\"\nbogus = 1", "ok.toml")
    read_calibration(p)  # unknown keys are fine
    text = p.read_text()
    i = text.index("translation", text.index("[cam_1]"))
    j = text.index("\n", i)
    p.write_text(text[:i] + "translation = [nan, 0.0, 3.0]" + text[j:])
    with pytest.raises(CalibrationError, match=r"ok\.toml: camera 'cam_1': field 'translation' contains NaN"):
        read_calibration(p)
    p.write_text(text[:i] + text[j:])
    with pytest.raises(CalibrationError, match=r"ok\.toml: camera 'cam_1': field 'translation' is missing"):
        read_calibration(p)
    p.write_text(text[:i] + "translation = [0.0, 3.0]" + text[j:])
    with pytest.raises(CalibrationError, match=r"camera 'cam_1': field 'translation' has 2 numbers, expected 3"):
        read_calibration(p)


def test_distortion_length_and_fisheye_flag(tmp_path):
    p = _bad(tmp_path, "distortions = [-0.12, 0.03, 0.001, -0.002, 0.004]\n",
             "distortions = [-0.12, 0.03, 0.001, -0.002, 0.004, 0.1]\n")
    with pytest.raises(CalibrationError, match=r"camera 'cam_0': field 'distortions' has 6 numbers, expected 4 or 5 "
                                               r"or 8 or 12"):
        read_calibration(p)
    p = _bad(tmp_path, "fisheye = false", 'fisheye = "no"')
    with pytest.raises(CalibrationError, match=r"camera 'cam_0': field 'fisheye' is 'no', expected true or false"):
        read_calibration(p)


def test_rotation_and_intrinsics_validated(tmp_path):
    p = _bad(tmp_path, "size = [1296, 728]", "size = [129, 728]")  # typo: principal point far outside
    with pytest.raises(CalibrationError, match=r"camera 'cam_2': field 'K' has principal point .* outside"):
        read_calibration(p)
    p = _bad(tmp_path, 'units = "m"', 'units = "inch"')
    with pytest.raises(CalibrationError, match=r"calib\.toml: field 'metadata\.units' is 'inch'"):
        read_calibration(p)


def test_millimetre_scale_warns_and_camera_count_checked(tmp_path):
    with pytest.warns(MocapWarning):
        p = write_calibration(varied_rig(3).scaled(1000.0), tmp_path / "calib.toml")
    with pytest.warns(MocapWarning, match=r"calib\.toml: camera '.*' field 't'.*millimetres.*--scale 0\.001"):
        read_calibration(p)
    p = write_calibration(varied_rig(3), tmp_path / "calib.toml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_calibration(p, expected_cameras=3)
    with pytest.raises(CalibrationError, match=r"calib\.toml: the calibration has 3 cameras .* but the data has 4"):
        read_calibration(p, expected_cameras=4)
    with pytest.raises(CalibrationError, match=r"cameras \['cam9'\] of the data are not in the calibration"):
        read_calibration(p, expected_cameras=["cam0", "cam9"])


def test_duplicate_camera_names_rejected(tmp_path):
    p = _bad(tmp_path, 'name = "cam_1"', 'name = "cam_0"')
    with pytest.raises(CalibrationError, match=r"camera name 'cam_0' appears twice"):
        read_calibration(p)


def test_syntax_error_names_file(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text("[cam_0\nname = 1\n")
    with pytest.raises(CalibrationError, match=r"broken\.toml: not valid TOML"):
        read_calibration(p, fmt="mocap")
