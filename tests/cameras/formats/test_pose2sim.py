"""Pose2Sim Calib.toml: the exact layout Pose2Sim's toml_write produces, and reading its files."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from mocap.cameras.formats import detect_format, read_calibration, write_calibration
from mocap.errors import CalibrationError
from tests.cameras.formats.helpers import varied_rig

# As Pose2Sim writes it (Pose2Sim.calibration.toml_write): section = name, sizes as floats, 4 distortions.
POSE2SIM_FILE = """[cam_01]
name = "cam_01"
size = [ 1088.0, 1920.0]
matrix = [ [ 1681.244873046875, 0.0, 532.97369384375], [ 0.0, 1681.075439453125, 948.137390140625], [ 0.0, 0.0, 1.0]]
distortions = [ -0.000721609375, 0.002187234375, 9.5e-06, 1.078125e-05]
rotation = [ 1.6882754758, 1.0483220483, -0.4195585221]
translation = [ 0.3211048858, 0.9563320588, 2.8907130484]
fisheye = false

[cam_02]
name = "cam_02"
size = [ 1088.0, 1920.0]
matrix = [ [ 1673.729614265625, 0.0, 534.494567875], [ 0.0, 1673.79724121875, 963.225891109375], [ 0.0, 0.0, 1.0]]
distortions = [ -0.000747609375, 0.00213728125, 1.51875e-05, 4.546875e-06]
rotation = [ 1.3497587522, 1.5963809072, -1.1983285832]
translation = [ -0.1115282835, 0.7766184795, 3.0675519637]
fisheye = false

[metadata]
adjusted = false
error = 0.0
"""


def test_reads_pose2sim_file(tmp_path):
    p = tmp_path / "Calib_qualisys.toml"
    p.write_text(POSE2SIM_FILE)
    assert detect_format(p) == "pose2sim"
    rig = read_calibration(p)
    assert rig.names == ["cam_01", "cam_02"]
    assert rig[0].size == (1088, 1920)
    np.testing.assert_allclose(rig[1].rvec, [1.3497587522, 1.5963809072, -1.1983285832], atol=1e-9)
    np.testing.assert_allclose(rig[1].t, [-0.1115282835, 0.7766184795, 3.0675519637])
    assert rig[0].dist.size == 4
    assert rig.meta["adjusted"] is False and rig.meta["error"] == 0.0


def test_writes_pose2sim_layout(tmp_path):
    rig = varied_rig(2, dist=(-0.1, 0.02, 0.001, 0.002, 0.0), names=["cam_01", "cam 02"])
    rig.meta = {"adjusted": True, "error": 0.42}
    p = write_calibration(rig, tmp_path / "Calib.toml", fmt="pose2sim")
    text = p.read_text()
    lines = text.splitlines()
    assert lines[:3] == ["[cam_01]", 'name = "cam_01"', "size = [ 1280.0, 720.0]"]
    assert "[cam_02]" in lines and 'name = "cam 02"' in lines  # section names are TOML bare keys
    assert lines[-3:] == ["[metadata]", "adjusted = true", "error = 0.42"]
    doc = tomllib.loads(text)
    assert list(doc) == ["cam_01", "cam_02", "metadata"]
    assert set(doc["cam_01"]) == {"name", "size", "matrix", "distortions", "rotation", "translation", "fisheye"}
    assert len(doc["cam_01"]["distortions"]) == 4  # trailing zero k3 dropped, as Pose2Sim writes
    np.testing.assert_array_equal(doc["cam_01"]["rotation"], rig[0].rvec)


def test_pose2sim_errors(tmp_path):
    p = tmp_path / "Calib.toml"
    p.write_text(POSE2SIM_FILE.replace("distortions = [ -0.000747609375, 0.00213728125, 1.51875e-05, 4.546875e-06]",
                                       "distortions = [ -0.000747609375, 0.00213728125, 1.51875e-05]"))
    with pytest.raises(CalibrationError, match=r"Calib\.toml: camera 'cam_02': field 'distortions' has 3 numbers"):
        read_calibration(p)
    p.write_text(POSE2SIM_FILE.replace("rotation = [ 1.6882754758, 1.0483220483, -0.4195585221]",
                                       "rotation = [ 1.6882754758, 1.0483220483]"))
    with pytest.raises(CalibrationError, match=r"camera 'cam_01': field 'rotation' has 2 numbers, expected a "
                                               r"rotation vector \(3\) or a 3x3 matrix"):
        read_calibration(p)
