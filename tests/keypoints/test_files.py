from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import DataError, KeypointsError
from mocap.keypoints import is_keypoints_path, load_keypoints, save_keypoints
from mocap.keypoints.summary import describe_keypoints, missing_fraction_per_joint
from tests.keypoints.helpers import make_kp2d, make_kp3d


@pytest.mark.parametrize("name", ["k.npz", "k.csv", "k.trc"])
def test_dispatch_by_suffix_3d(tmp_path, rng, name):
    kp = make_kp3d(rng, P=1)
    path = save_keypoints(kp, tmp_path / name)
    assert is_keypoints_path(path)
    back = load_keypoints(path)
    np.testing.assert_allclose(back.xyz, kp.xyz, atol=1e-9)


def test_dispatch_openpose_folder(tmp_path, rng):
    kp = make_kp2d(rng, T=3, C=2, P=1)
    folder = save_keypoints(kp, tmp_path / "pose")
    assert is_keypoints_path(folder)
    back = load_keypoints(folder, fps=kp.fps)
    np.testing.assert_allclose(back.data, kp.data, atol=1e-9)


def test_dispatch_errors(tmp_path, rng):
    with pytest.raises(KeypointsError, match="TRC holds 3D"):
        save_keypoints(make_kp2d(rng), tmp_path / "a.trc")
    with pytest.raises(KeypointsError, match="OpenPose JSON folders hold 2D"):
        save_keypoints(make_kp3d(rng), tmp_path / "folder")
    with pytest.raises(DataError, match="unknown keypoints format"):
        save_keypoints(make_kp3d(rng), tmp_path / "a.xyz")
    (tmp_path / "a.xyz").write_text("x")
    with pytest.raises(DataError, match="unknown keypoints format"):
        load_keypoints(tmp_path / "a.xyz")


def test_missing_fraction_per_joint(rng):
    kp = make_kp2d(rng, T=4, C=2, P=1, J=3, hole_frac=0.0)
    kp.data[:, :, :, 1] = np.nan
    kp.data[:2, 0, :, 2] = np.nan
    np.testing.assert_allclose(missing_fraction_per_joint(kp), [0.0, 1.0, 0.25])
    text = describe_keypoints(kp)
    assert "missing per camera: cam01 50.0%, cam02 33.3%" in text
