"""Package-level API: round trips through every format, detection from content, extension defaults."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mocap.cameras.formats import (
    detect_format,
    format_from_extension,
    list_formats,
    read_calibration,
    write_calibration,
)
from mocap.errors import CalibrationError, MocapWarning
from tests.cameras.formats.helpers import assert_rigs_equal, varied_rig

# (format, file name, rig kinds it must hold exactly)
CASES = [
    ("mocap", "calib.toml", ["pinhole5", "pinhole4", "rational8", "fisheye", "skew"]),
    ("pose2sim", "Calib.toml", ["pinhole4", "fisheye"]),
    ("qualisys", "calib.qca.txt", ["pinhole5", "pinhole4", "skew"]),
    ("opencv", "calib.yml", ["pinhole5", "pinhole4", "rational8", "fisheye", "skew"]),
    ("opencv", "calib.xml", ["pinhole5", "fisheye"]),
    ("ros", "camera_info.yaml", ["pinhole5", "rational8", "fisheye", "skew"]),
    ("caliscope", "config.toml", ["pinhole5", "pinhole4"]),
    ("shelf", "calibration.json", ["pinhole5", "rational8", "skew"]),
]
KINDS = {
    "pinhole5": dict(dist=(-0.12, 0.03, 0.001, -0.002, 0.004)),
    "pinhole4": dict(dist=(-0.12, 0.03, 0.001, -0.002)),
    "rational8": dict(dist=(-0.12, 0.03, 0.001, -0.002, 0.004, 0.01, -0.02, 0.003)),
    "fisheye": dict(dist=(0.05, -0.01, 0.002, -0.0004), model="fisheye"),
    "skew": dict(skew=0.75),
}


@pytest.mark.parametrize(("fmt", "fname", "kind"), [(f, n, k) for f, n, ks in CASES for k in ks])
def test_round_trip_exact(tmp_path, fmt, fname, kind):
    names = [f"cam_{i}" for i in range(4)] if fmt == "caliscope" else ["left", "right cam", "c-3", "cam 4"]
    rig = varied_rig(4, names=names, **KINDS[kind])
    path = tmp_path / fname
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no lossy-conversion warning for what the format can hold
        write_calibration(rig, path, fmt=fmt)
        assert detect_format(path) == fmt
        back = read_calibration(path)
    assert back.meta["source_format"] == fmt
    assert_rigs_equal(rig, back, atol=1e-9)
    # writing what was read gives the same file content (stable output)
    path2 = tmp_path / ("again_" + fname)
    write_calibration(back, path2, fmt=fmt)
    assert_rigs_equal(read_calibration(path2), back, atol=1e-12)


@pytest.mark.parametrize(("fname", "fmt"), [("a.toml", "mocap"), ("a.qca.txt", "qualisys"), ("a.QCA.TXT", "qualisys"),
                                            ("a.yml", "opencv"), ("a.yaml", "opencv"), ("a.xml", "opencv"),
                                            ("a.json", "shelf"), ("a.txt", None), ("a", None)])
def test_format_from_extension(fname, fmt):
    assert format_from_extension(fname) == fmt


def test_list_formats_names():
    assert list_formats() == ["mocap", "pose2sim", "qualisys", "opencv", "ros", "caliscope", "shelf"]


def test_detection_uses_content_not_extension(tmp_path):
    rig = varied_rig(2, dist=(-0.12, 0.03, 0.001, -0.002))
    # a Pose2Sim file saved with a .txt name and an OpenCV file saved as .toml-less name are still recognised
    write_calibration(rig, tmp_path / "p.toml", fmt="pose2sim")
    (tmp_path / "p.txt").write_bytes((tmp_path / "p.toml").read_bytes())
    assert detect_format(tmp_path / "p.txt") == "pose2sim"
    write_calibration(rig, tmp_path / "r.yaml", fmt="ros")
    write_calibration(rig, tmp_path / "o.yaml", fmt="opencv")
    assert detect_format(tmp_path / "r.yaml") == "ros"
    assert detect_format(tmp_path / "o.yaml") == "opencv"
    assert_rigs_equal(read_calibration(tmp_path / "p.txt"), rig)


def test_unknown_content_names_file(tmp_path):
    p = tmp_path / "notes.toml"
    p.write_text('title = "not a calibration"\n')
    with pytest.raises(CalibrationError, match=r"notes\.toml.*not a calibration format.*--from"):
        detect_format(p)
    with pytest.raises(CalibrationError, match="not found"):
        read_calibration(tmp_path / "missing.toml")


def test_write_needs_format_for_unknown_extension(tmp_path):
    with pytest.raises(CalibrationError, match="extension"):
        write_calibration(varied_rig(2), tmp_path / "calib.txt")
    with pytest.raises(CalibrationError, match="unknown calibration format 'vicon'"):
        write_calibration(varied_rig(2), tmp_path / "calib.toml", fmt="vicon")


def test_failed_write_keeps_existing_file(tmp_path):
    path = tmp_path / "calib.qca.txt"
    write_calibration(varied_rig(2), path)
    before = path.read_bytes()
    with pytest.raises(CalibrationError, match="fisheye"):  # Qualisys cannot hold fisheye cameras
        write_calibration(varied_rig(2, dist=(0.1, 0, 0, 0), model="fisheye"), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calib.qca.txt"]  # no temporary left behind


def test_invalid_rig_is_not_written(tmp_path):
    rig = varied_rig(2)
    rig[1].t = np.array([np.nan, 0, 0])
    with pytest.raises(CalibrationError, match=r"camera 'cam1': field 't' contains NaN"):
        write_calibration(rig, tmp_path / "x.toml")
    assert not (tmp_path / "x.toml").exists()


def test_lossy_writes_warn(tmp_path):
    rig = varied_rig(2, skew=0.5)
    with pytest.warns(MocapWarning) as record:
        write_calibration(rig, tmp_path / "Calib.toml", fmt="pose2sim")
    messages = [str(w.message) for w in record]
    assert any(m.startswith("Calib.toml: camera 'cam0' field 'matrix'") and "skew" in m for m in messages)
    assert any(m.startswith("Calib.toml: camera 'cam1' field 'distortions': 5 coefficients") for m in messages)
    assert_rigs_equal(read_calibration(tmp_path / "Calib.toml"), rig)  # still written in full
    with pytest.raises(CalibrationError, match="thin-prism"):
        write_calibration(varied_rig(1, dist=list(np.arange(1, 13) * 1e-3)), tmp_path / "c.yaml", fmt="ros")
