"""C3D written by our own encoder, read back by ezc3d; TRC export delegates to mocap.keypoints.trc."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import DataError
from mocap.export.c3d import write_c3d, write_c3d_points, write_trc
from mocap.keypoints import Keypoints3D
from tests.export.helpers import chain_animation

ezc3d = pytest.importorskip("ezc3d")


def _read(path):
    c = ezc3d.c3d(str(path))
    pts = np.transpose(c["data"]["points"][:3], (2, 1, 0))  # (T, N, 3)
    return c, pts


@pytest.mark.parametrize("units,scale", [("mm", 1000.0), ("m", 1.0), ("cm", 100.0)])
def test_points_read_back_equal(tmp_path, rng, units, scale):
    P = rng.normal(size=(37, 5, 3))
    P[4, 2] = np.nan
    P[10] = np.nan
    labels = ["nose", "left_wrist", "a_rather_long_marker_label", "x", "y"]
    write_c3d_points(P, labels, 59.94, tmp_path / "a.c3d", units=units)
    c, got = _read(tmp_path / "a.c3d")
    par = c["parameters"]["POINT"]
    assert par["LABELS"]["value"] == labels
    assert par["RATE"]["value"][0] == pytest.approx(59.94, rel=1e-6)
    assert par["UNITS"]["value"] == [units]
    assert par["SCALE"]["value"][0] == -1.0
    assert got.shape == P.shape
    missing = ~np.isfinite(P).all(-1)
    assert np.array_equal(~np.isfinite(got).all(-1), missing)
    np.testing.assert_allclose(got[~missing] / scale, P[~missing], atol=1e-6)
    assert c["header"]["points"]["frame_rate"] == pytest.approx(59.94, rel=1e-6)


def test_keypoints3d_and_animation_sources(tmp_path, rng):
    kp = Keypoints3D(rng.normal(size=(12, 2, 17, 3)), "coco17", fps=30.0, person_ids=np.array([7, 9]))
    write_c3d(kp, tmp_path / "k.c3d", person=9)
    c, got = _read(tmp_path / "k.c3d")
    assert c["parameters"]["POINT"]["LABELS"]["value"][9] == "left_wrist"
    np.testing.assert_allclose(got / 1000, kp.person(9)[..., :3], atol=1e-6)
    anim = chain_animation(rng, T=8)
    anim.valid[3] = False
    write_c3d(anim, tmp_path / "a.c3d", units="m")
    c, got = _read(tmp_path / "a.c3d")
    P = anim.world_positions()
    assert np.isnan(got[3]).all()  # filled frames are flagged invalid
    np.testing.assert_allclose(np.delete(got, 3, axis=0), np.delete(P, 3, axis=0), atol=1e-6)


def test_limits_and_bad_input(tmp_path):
    with pytest.raises(DataError, match="frames"):
        write_c3d_points(np.zeros((0, 2, 3)), ["a", "b"], 30, tmp_path / "x.c3d")
    with pytest.raises(DataError, match="2 points but 1 labels"):
        write_c3d_points(np.zeros((3, 2, 3)), ["a"], 30, tmp_path / "x.c3d")
    with pytest.raises(DataError, match="expected \\(frames, points, 3\\)"):
        write_c3d_points(np.zeros((3, 2)), ["a", "b"], 30, tmp_path / "x.c3d")


def test_trc_delegates_to_keypoints_writer(tmp_path, rng):
    from mocap.keypoints.trc import read_trc

    kp = Keypoints3D(rng.normal(size=(5, 1, 17, 3)), "coco17", fps=60.0)
    p = write_trc(kp, tmp_path / "a.trc", units="mm")
    back = read_trc(p)
    np.testing.assert_allclose(back.xyz, kp.xyz, atol=1e-5)
