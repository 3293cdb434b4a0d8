"""OpenCV FileStorage: our layout, OpenCV's calibration-sample layout, EasyMocap's intri/extri pair."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mocap.cameras.formats import detect_format, read_calibration, write_calibration
from mocap.errors import CalibrationError, MocapWarning
from tests.cameras.formats.helpers import assert_rigs_equal, varied_rig

K = np.array([[912.5, 0, 641.2], [0, 910.1, 362.7], [0, 0, 1.0]])
D = np.array([[-0.11, 0.04, 0.001, -0.0005, -0.01]])


def _write(path, items):
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    for k, v in items.items():
        if isinstance(v, list):
            fs.startWriteStruct(k, cv2.FileNode_SEQ)
            for x in v:
                fs.write("", x)
            fs.endWriteStruct()
        else:
            fs.write(k, v)
    fs.release()
    return path


@pytest.mark.parametrize("ext", [".yml", ".xml"])
def test_reads_opencv_calibration_sample_layout(tmp_path, ext):
    p = _write(tmp_path / f"out_camera_data{ext}", {"image_width": 1280, "image_height": 720, "camera_matrix": K,
                                                     "distortion_coefficients": D.T, "avg_reprojection_error": 0.3})
    assert detect_format(p) == "opencv"
    rig = read_calibration(p)
    assert rig.names == ["out_camera_data"] and rig[0].size == (1280, 720)
    np.testing.assert_array_equal(rig[0].K, K)
    np.testing.assert_array_equal(rig[0].dist, D.ravel())
    np.testing.assert_array_equal(rig[0].R, np.eye(3))
    np.testing.assert_array_equal(rig[0].t, np.zeros(3))


def test_reads_easymocap_intri_extri(tmp_path):
    rvec = np.array([[0.1], [-0.3], [0.2]])
    T = np.array([[0.5], [0.1], [3.0]])
    _write(tmp_path / "intri.yml", {"names": ["01", "02"], "K_01": K, "dist_01": D, "K_02": K * [[1.01], [1.01], [1]],
                                    "dist_02": D, "H_01": 720, "W_01": 1280, "H_02": 720, "W_02": 1280})
    _write(tmp_path / "extri.yml", {"names": ["01", "02"], "R_01": rvec, "Rot_01": cv2.Rodrigues(rvec)[0], "T_01": T,
                                    "R_02": -rvec, "Rot_02": cv2.Rodrigues(-rvec)[0], "T_02": -T})
    rig = read_calibration(tmp_path / "intri.yml")
    assert rig.names == ["01", "02"]
    np.testing.assert_allclose(rig["01"].rvec, rvec.ravel(), atol=1e-12)
    np.testing.assert_allclose(rig["02"].t, -T.ravel())
    assert rig["02"].size == (1280, 720)


def test_missing_image_size_warns(tmp_path):
    p = _write(tmp_path / "cam.yml", {"camera_matrix": K, "distortion_coefficients": D})
    with pytest.warns(MocapWarning, match=r"cam\.yml: camera 'cam' field 'image_size' is missing; assuming 1282x725"):
        rig = read_calibration(p)
    assert rig[0].size == (1282, 725)


def test_our_layout_nodes(tmp_path):
    rig = varied_rig(2, dist=(0.1, -0.02, 0.003, -0.001), model="fisheye")
    p = write_calibration(rig, tmp_path / "calib.yaml")
    fs = cv2.FileStorage(str(p), cv2.FILE_STORAGE_READ)
    assert fs.getNode("format").string() == "mocap-opencv" and fs.getNode("units").string() == "m"
    node = fs.getNode("camera_1")
    assert node.getNode("model").string() == "fisheye" and node.getNode("name").string() == "cam1"
    np.testing.assert_array_equal(node.getNode("t").mat().ravel(), rig[1].t)
    np.testing.assert_array_equal(node.getNode("R").mat(), rig[1].R)
    fs.release()
    assert_rigs_equal(read_calibration(p), rig, atol=0)


def test_opencv_errors(tmp_path):
    p = write_calibration(varied_rig(3), tmp_path / "calib.yml")
    text = p.read_text()
    p.write_text(text.replace("camera_count: 3", "camera_count: 4"))
    with pytest.raises(CalibrationError, match=r"calib\.yml: field 'camera_count' says 4 cameras but the file holds 3"):
        read_calibration(p)
    bad = _write(tmp_path / "bad.yml", {"image_width": 1280, "image_height": 720, "camera_matrix": K[:2]})
    with pytest.raises(CalibrationError, match=r"bad\.yml: camera 'bad': field 'camera_matrix' has 6 numbers, "
                                               r"expected 3x3"):
        read_calibration(bad)
    junk = tmp_path / "junk.yml"
    junk.write_text("%YAML:1.0\n---\nK: !!opencv-matrix\n   rows: 3\n   cols: [\n")
    with pytest.raises(CalibrationError, match=r"junk\.yml: not a readable OpenCV FileStorage file"):
        read_calibration(junk)
