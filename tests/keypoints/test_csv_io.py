from __future__ import annotations

import csv

import numpy as np
import pytest

from mocap.errors import KeypointsError
from mocap.keypoints import Keypoints2D, Keypoints3D, read_csv, write_csv
from tests.keypoints.helpers import make_kp2d, make_kp3d


def test_csv_round_trip_2d(tmp_path, rng):
    kp = make_kp2d(rng, T=5, C=2, P=3)
    kp.data[2] = np.nan  # a frame with nothing at all
    kp.data[0, 0, 0, 0, 2] = np.nan  # a point with coordinates but no confidence
    back = read_csv(write_csv(kp, tmp_path / "kp2d.csv"))
    assert isinstance(back, Keypoints2D)
    np.testing.assert_array_equal(back.data, kp.data)
    np.testing.assert_array_equal(back.timestamps, kp.timestamps)
    assert back.camera_names == kp.camera_names and back.joint_set == kp.joint_set and back.fps == kp.fps


def test_csv_round_trip_3d(tmp_path, rng):
    kp = make_kp3d(rng)
    kp.meta["frame_indices"] = list(range(50, 50 + kp.n_frames))
    back = read_csv(write_csv(kp, tmp_path / "kp3d.csv"))
    assert isinstance(back, Keypoints3D)
    np.testing.assert_array_equal(back.data, kp.data)
    np.testing.assert_array_equal(back.person_ids, kp.person_ids)
    for k in kp.quality:
        np.testing.assert_array_equal(back.quality[k], kp.quality[k])
    assert back.meta == kp.meta


def test_csv_is_plain_long_format(tmp_path, rng):
    kp = make_kp3d(rng, T=2, P=1, J=3, hole_frac=0.0, quality=False)
    kp.data[1, 0, 2] = np.nan
    path = write_csv(kp, tmp_path / "a.csv")
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# mocap {")
    rows = list(csv.DictReader(lines[1:]))
    assert list(rows[0]) == ["frame", "time", "person", "joint", "x", "y", "z", "conf"]
    assert len(rows) == 5  # 6 points, one missing entirely
    assert float(rows[4]["z"]) == kp.data[1, 0, 1, 2]
    assert rows[0]["person"] == str(kp.person_ids[0])


def test_csv_without_header_line(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("frame,time,camera,person,joint,u,v,conf\n"
                    "10,0.5,left,0,nose,1.5,2.5,0.9\n"
                    "11,0.55,right,1,neck,3,4,\n")
    kp = read_csv(path)
    assert kp.data.shape == (2, 2, 2, 2, 3)
    assert kp.camera_names == ["left", "right"]
    assert kp.fps == pytest.approx(20.0)
    assert kp.meta["frame_indices"] == [10, 11] and kp.meta["joint_names"] == ["nose", "neck"]
    np.testing.assert_array_equal(kp.data[0, 0, 0, 0], [1.5, 2.5, 0.9])
    assert np.isnan(kp.data[1, 1, 1, 1, 2]) and kp.data[1, 1, 1, 1, 0] == 3


def test_csv_errors_name_the_line(tmp_path, rng):
    path = write_csv(make_kp3d(rng, T=2, P=1, J=2), tmp_path / "bad.csv")
    lines = path.read_text().splitlines()
    cells = lines[3].split(",")
    cells[1] = "oops"
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(KeypointsError, match=r"bad\.csv: line 4: column 'time' is 'oops'"):
        read_csv(path)
    path.write_text("a,b\n1,2\n")
    with pytest.raises(KeypointsError, match="not a keypoints CSV"):
        read_csv(path)
    path.write_text("frame,time,person,joint,x,y,z,conf\n0,0,0,nose,1,2\n")
    with pytest.raises(KeypointsError, match="line 2 has 6 columns, expected 8"):
        read_csv(path)
