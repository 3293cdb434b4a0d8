"""ROS camera_info YAML: single camera files (identity pose), distortion models, multi-document rigs."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from mocap.cameras.formats import detect_format, read_calibration, write_calibration
from mocap.errors import CalibrationError
from tests.cameras.formats.helpers import varied_rig

# as camera_calibration (ROS) writes it
CAMERA_INFO = """image_width: 640
image_height: 480
camera_name: narrow_stereo
camera_matrix:
  rows: 3
  cols: 3
  data: [438.783367, 0.000000, 305.593336, 0.000000, 437.302876, 243.738352, 0.000000, 0.000000, 1.000000]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.361976, 0.110510, 0.001014, 0.000505, 0.000000]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1.000000, 0.000000, 0.000000, 0.000000, 1.000000, 0.000000, 0.000000, 0.000000, 1.000000]
projection_matrix:
  rows: 3
  cols: 4
  data: [361.069519, 0.000000, 305.681749, 0.000000, 0.000000, 415.496979, 244.001373, 0.000000,
         0.000000, 0.000000, 1.000000, 0.000000]
"""


def test_reads_single_camera_info_with_identity_pose(tmp_path):
    p = tmp_path / "narrow.yaml"
    p.write_text(CAMERA_INFO)
    assert detect_format(p) == "ros"
    rig = read_calibration(p)
    cam = rig[0]
    assert rig.names == ["narrow_stereo"] and cam.size == (640, 480) and cam.model == "pinhole"
    np.testing.assert_allclose(cam.K[0], [438.783367, 0, 305.593336])
    np.testing.assert_allclose(cam.dist, [-0.361976, 0.110510, 0.001014, 0.000505, 0.0])
    np.testing.assert_array_equal(cam.R, np.eye(3))
    np.testing.assert_array_equal(cam.t, np.zeros(3))


def test_writes_multi_document_with_extrinsics(tmp_path):
    rig = varied_rig(3, dist=(0.1, -0.02, 0.003, -0.001), model="fisheye")
    p = write_calibration(rig, tmp_path / "cams.yaml", fmt="ros")
    docs = list(yaml.safe_load_all(p.read_text()))
    assert [d["camera_name"] for d in docs] == rig.names
    d = docs[1]
    assert d["distortion_model"] == "equidistant" and d["distortion_coefficients"]["cols"] == 4
    assert d["projection_matrix"]["data"][3] == 0.0 and d["rectification_matrix"]["data"] == np.eye(3).ravel().tolist()
    np.testing.assert_array_equal(np.reshape(d["mocap_extrinsics"]["rotation_matrix"], (3, 3)), rig[1].R)
    assert d["mocap_extrinsics"]["units"] == "m"
    back = read_calibration(p)
    assert [c.model for c in back] == ["fisheye"] * 3


def test_four_coefficients_written_as_plumb_bob(tmp_path):
    rig = varied_rig(1, dist=(-0.1, 0.01, 0.001, 0.002))
    p = write_calibration(rig, tmp_path / "c.yaml", fmt="ros")
    d = yaml.safe_load(p.read_text())
    assert d["distortion_model"] == "plumb_bob" and d["distortion_coefficients"]["data"] == [-0.1, 0.01, 0.001, 0.002,
                                                                                              0.0]


def test_ros_errors(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(CAMERA_INFO.replace("plumb_bob", "kannala_brandt"))
    with pytest.raises(CalibrationError, match=r"c\.yaml: camera 'narrow_stereo': field 'distortion_model' is "
                                               r"'kannala_brandt'"):
        read_calibration(p)
    p.write_text(CAMERA_INFO.replace("  rows: 3\n  cols: 3\n  data: [438", "  rows: 2\n  cols: 3\n  data: [438"))
    with pytest.raises(CalibrationError, match=r"field 'camera_matrix' is 2x3, expected 3x3"):
        read_calibration(p)
    p.write_text(CAMERA_INFO.replace("cols: 5\n  data: [-0.361976, 0.110510, 0.001014, 0.000505, 0.000000]",
                                     "cols: 3\n  data: [-0.361976, 0.110510, 0.001014]"))
    with pytest.raises(CalibrationError, match=r"'distortion_coefficients' has 3 numbers; plumb_bob takes 4 or 5"):
        read_calibration(p)
    p.write_text(CAMERA_INFO.replace("image_height: 480\n", ""))
    with pytest.raises(CalibrationError, match=r"camera 'narrow_stereo': field 'image_height' is missing"):
        read_calibration(p)
