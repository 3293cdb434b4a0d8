from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import DataError, KeypointsError
from mocap.keypoints import Keypoints2D, Keypoints3D, load_npz, save_npz
from tests.keypoints.helpers import make_kp2d, make_kp3d


def test_npz_round_trip_2d(tmp_path, rng):
    kp = make_kp2d(rng)
    kp.meta = {"detector": "rtmpose", "frame_indices": np.arange(7) + 10}
    out = save_npz(kp, tmp_path / "kp2d")
    assert out.suffix == ".npz"
    back = load_npz(out)
    assert isinstance(back, Keypoints2D)
    np.testing.assert_array_equal(back.data, kp.data)  # NaN positions equal too
    np.testing.assert_array_equal(back.timestamps, kp.timestamps)
    assert back.camera_names == kp.camera_names
    assert back.joint_set == kp.joint_set
    assert back.fps == kp.fps
    assert back.meta == {"detector": "rtmpose", "frame_indices": list(range(10, 17))}


def test_npz_round_trip_3d_with_quality(tmp_path, rng):
    kp = make_kp3d(rng)
    back = load_npz(save_npz(kp, tmp_path / "kp3d.npz", compressed=False))
    assert isinstance(back, Keypoints3D)
    np.testing.assert_array_equal(back.data, kp.data)
    np.testing.assert_array_equal(back.person_ids, kp.person_ids)
    assert sorted(back.quality) == sorted(kp.quality)
    for k in kp.quality:
        np.testing.assert_array_equal(back.quality[k], kp.quality[k])
    assert back.meta == kp.meta
    assert back.fps == 30.0


def test_npz_needs_no_pickle(tmp_path, rng):
    path = save_npz(make_kp3d(rng), tmp_path / "a.npz")
    with np.load(path, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


def test_npz_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="bad.npz"):
        load_npz(bad)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(KeypointsError, match="'kind' is missing"):
        load_npz(other)
    with pytest.raises(DataError, match="no such"):
        load_npz(tmp_path / "absent.npz")
