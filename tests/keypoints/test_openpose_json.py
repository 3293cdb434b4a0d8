from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from mocap.errors import DataError, KeypointsError, MocapWarning
from mocap.keypoints import Keypoints2D, read_openpose_folders, write_openpose_folders
from tests.keypoints.helpers import make_kp2d


def _write_frame(folder, cam, frame, people, n_joints=25):
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": list(map(float, p)),
                                       "face_keypoints_2d": [], "hand_left_keypoints_2d": [],
                                       "hand_right_keypoints_2d": []} for p in people]}
    (folder / f"{cam}_{frame:012d}_keypoints.json").write_text(json.dumps(doc))


def test_openpose_round_trip(tmp_path, rng):
    kp = make_kp2d(rng, T=6, C=3, P=2)
    dirs = write_openpose_folders(kp, tmp_path / "pose")
    assert [d.name for d in dirs] == ["cam01_json", "cam02_json", "cam03_json"]
    names = sorted(p.name for p in dirs[0].iterdir())
    assert names[0] == "cam01_000000000000_keypoints.json" and len(names) == 6
    back = read_openpose_folders(tmp_path / "pose", joint_set="body25", fps=60.0)
    assert back.camera_names == kp.camera_names
    assert back.data.shape == kp.data.shape
    np.testing.assert_allclose(back.data, kp.data, atol=1e-9, rtol=0)  # NaN where NaN
    np.testing.assert_allclose(back.timestamps, kp.timestamps, atol=1e-12)


def test_openpose_files_follow_the_openpose_layout(tmp_path, rng):
    kp = make_kp2d(rng, T=1, C=1, P=1, hole_frac=0.0)
    kp.data[0, 0, 0, 4] = np.nan
    d = write_openpose_folders(kp, tmp_path, person_ids=False)[0]
    doc = json.loads(next(d.iterdir()).read_text())
    assert doc["version"] == 1.3
    person = doc["people"][0]
    assert person["person_id"] == [-1]
    assert len(person["pose_keypoints_2d"]) == 75
    assert person["pose_keypoints_2d"][12:15] == [0.0, 0.0, 0.0]  # missing joint 4 -> 0, 0, 0
    for part in ("face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d"):
        assert person[part] == []


def test_openpose_people_count_varies_per_frame(tmp_path, rng):
    cam = tmp_path / "cam01_json"
    a, b = rng.uniform(1, 100, 75), rng.uniform(1, 100, 75)
    _write_frame(cam, "cam01", 0, [a])
    _write_frame(cam, "cam01", 1, [a, b])
    _write_frame(cam, "cam01", 2, [])
    kp = read_openpose_folders(tmp_path)
    assert kp.data.shape == (3, 1, 2, 25, 3)
    assert kp.camera_names == ["cam01"]
    np.testing.assert_array_equal(kp.data[1, 0, 1].ravel(), b)
    assert np.isnan(kp.data[0, 0, 1]).all() and np.isnan(kp.data[2]).all()


def test_openpose_zero_confidence_is_missing(tmp_path):
    pts = np.tile([10.0, 20.0, 0.5], 25)
    pts[3:6] = [0, 0, 0]
    pts[6:9] = [5, 6, 0]  # zero confidence with coordinates: still missing
    _write_frame(tmp_path / "c", "c", 3, [pts])
    kp = read_openpose_folders([tmp_path / "c"], camera_names=["left"])
    assert kp.camera_names == ["left"]
    assert kp.meta["frame_indices"] == [3]
    assert np.isnan(kp.data[0, 0, 0, 1:3]).all()
    np.testing.assert_array_equal(kp.data[0, 0, 0, 0], [10, 20, 0.5])


def test_openpose_different_frame_counts_warn_and_pad(tmp_path, rng):
    for f in range(5):
        _write_frame(tmp_path / "cam01", "cam01", f, [rng.uniform(1, 9, 75)])
    for f in (1, 2):
        _write_frame(tmp_path / "cam02", "cam02", f, [rng.uniform(1, 9, 75)])
    with pytest.warns(MocapWarning, match=r"cam01: 5 files.*cam02: 2 files \(frames 1-2\)"):
        kp = read_openpose_folders(tmp_path)
    assert kp.n_frames == 5
    assert np.isnan(kp.data[[0, 3, 4], 1]).all()
    assert np.isfinite(kp.data[[1, 2], 1]).all()


def test_openpose_person_ids_keep_slots(tmp_path, rng):
    kp = make_kp2d(rng, T=4, C=1, P=3, hole_frac=0.0)
    kp.data[1, 0, 0] = np.nan  # person 0 absent in frame 1: person 1 must stay in slot 1
    kp.meta["frame_indices"] = [100, 101, 102, 103]
    write_openpose_folders(kp, tmp_path)
    assert (tmp_path / "cam01_json" / "cam01_000000000101_keypoints.json").is_file()
    back = read_openpose_folders(tmp_path, fps=kp.fps)
    np.testing.assert_allclose(back.data, kp.data, atol=1e-9)
    assert back.meta["frame_indices"] == [100, 101, 102, 103]
    np.testing.assert_allclose(back.timestamps, np.arange(100, 104) / kp.fps)


def test_openpose_truncated_json_names_file_and_frame(tmp_path, rng):
    _write_frame(tmp_path / "cam01", "cam01", 0, [rng.uniform(1, 9, 75)])
    (tmp_path / "cam01" / "cam01_000000000012_keypoints.json").write_text('{"version":1.3,"people":[{"pose_ke')
    with pytest.raises(KeypointsError, match=r"cam01_000000000012_keypoints\.json \(frame 12\): malformed JSON"):
        read_openpose_folders(tmp_path)


def test_openpose_wrong_joint_count(tmp_path, rng):
    _write_frame(tmp_path / "cam01", "cam01", 0, [rng.uniform(1, 9, 51)])  # 17 joints
    with pytest.raises(KeypointsError, match=r"has 51 values, expected 75"):
        read_openpose_folders(tmp_path, joint_set="body25")
    kp = read_openpose_folders(tmp_path, joint_set=None)
    assert kp.n_joints == 17


def test_openpose_missing_folder_and_duplicates(tmp_path, rng):
    with pytest.raises(DataError, match="no such folder"):
        read_openpose_folders(tmp_path / "nope")
    with pytest.raises(DataError, match="no .json files"):
        read_openpose_folders(tmp_path)
    _write_frame(tmp_path / "a", "a", 1, [rng.uniform(1, 9, 75)])
    (tmp_path / "a" / "a_1_keypoints.json").write_text('{"people": []}')
    with pytest.raises(KeypointsError, match="both hold frame 1"):
        read_openpose_folders(tmp_path)


def test_openpose_empty_people_everywhere(tmp_path):
    _write_frame(tmp_path / "cam01", "cam01", 0, [])
    _write_frame(tmp_path / "cam01", "cam01", 1, [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kp = read_openpose_folders(tmp_path)
    assert isinstance(kp, Keypoints2D)
    assert kp.data.shape[:3] == (2, 1, 0)
