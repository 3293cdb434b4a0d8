"""Synthetic captures from BVH: parser, forward kinematics, cameras, corruption."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import DataError
from mocap.synthetic import COCO17, bvh_markers, corrupt_2d, make_capture, read_bvh, ring_rig

TINY_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT Spine
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.1
1 2 3 0 0 0 0 0 0
0 0 0 90 0 0 0 0 0
"""


def test_read_bvh_and_forward_kinematics(tmp_path):
    p = tmp_path / "tiny.bvh"
    p.write_text(TINY_BVH)
    mot = read_bvh(p)
    assert mot.joints == ["Hips", "Spine", "Spine_end"] and mot.parents == [-1, 0, 1]
    assert mot.n_frames == 2 and mot.fps == pytest.approx(10.0)
    pos, rot = mot.forward_kinematics()
    np.testing.assert_allclose(pos[0], [[1, 2, 3], [1, 12, 3], [1, 17, 3]], atol=1e-12)
    # 90 degrees about Z turns +Y into -X
    np.testing.assert_allclose(pos[1], [[0, 0, 0], [-10, 0, 0], [-15, 0, 0]], atol=1e-12)
    assert np.allclose(np.linalg.det(rot), 1.0)


def test_read_bvh_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_bvh(tmp_path / "none.bvh")
    bad = tmp_path / "bad.bvh"
    bad.write_text("HIERARCHY\n}\n")
    with pytest.raises(DataError, match="bad.bvh:2"):
        read_bvh(bad)


def test_corrupt_2d_rates(rng):
    T, C, J = 400, 4, 17
    uv = rng.uniform(100, 600, (T, C, J, 2))
    out, conf = corrupt_2d(uv, (1280, 720), 2.0, 0.1, 0.05, rng)
    miss = np.isnan(out).any(-1)
    assert 0.04 < miss.mean() < 0.06
    d = np.linalg.norm(out - uv, axis=-1)[~miss]
    assert 0.08 < (d > 15).mean() < 0.12  # outliers
    inl = d[d < 15]
    assert 1.5 < np.sqrt(np.mean(inl ** 2) / 2) < 2.5  # per-coordinate sigma
    assert np.isnan(conf[miss]).all() and (conf[~miss] >= 0.5).all()


@pytest.mark.slow
def test_make_capture_cmu_clips(shared_data):
    for clip in ("131_01", "01_01"):
        gt, fps = bvh_markers(shared_data / "bvh" / f"{clip}.bvh", frame_step=4, max_frames=50)
        assert gt.shape == (50, 17, 3) and fps == pytest.approx(30.0, rel=1e-4)
        # Z up, metres: ankles near the floor, nose at head height; plausible thigh length
        assert -0.05 < np.median(gt[:, COCO17.index("left_ankle"), 2]) < 0.25
        assert 1.3 < np.median(gt[:, 0, 2]) < 1.95
        thigh = np.linalg.norm(gt[:, 11] - gt[:, 13], axis=-1)
        assert 0.35 < thigh.mean() < 0.5 and thigh.std() < 1e-9
        # subject's left is left: facing +x means left shoulder has larger y... check via cross product
        fwd = np.cross(gt[:, 5] - gt[:, 6], [0, 0, 1.0])  # left-right axis x up = forward
        nose_fwd = np.einsum("ti,ti->t", gt[:, 0] - 0.5 * (gt[:, 5] + gt[:, 6]), fwd)
        assert np.mean(nose_fwd > 0) > 0.9
    rig, kp, gt = make_capture(shared_data / "bvh" / "131_01.bvh", 6, noise_px=0.0, outlier_rate=0.0,
                               dropout_rate=0.0, frame_step=8)
    assert len(rig) == 6 and kp.data.shape == (gt.shape[0], 6, 1, 17, 3) and kp.joint_set == "coco17"
    uv = np.moveaxis(kp.data[:, :, 0, :, :2], 1, 0)
    assert np.isfinite(uv).all()
    np.testing.assert_allclose(uv, rig.project(gt[:, 0]), atol=1e-9)
    for c in rig:
        assert (uv[rig.names.index(c.name)] >= 0).all() and (uv[rig.names.index(c.name)][..., 0] < c.size[0]).all()
        assert np.abs(c.dist).max() > 0  # distorted cameras


def test_ring_rig_frames_points(rng):
    P = rng.uniform([-1, -1, 0], [1, 1, 1.8], (500, 3))
    rig = ring_rig(P, 5, seed=3)
    uv = rig.project(P)
    assert np.isfinite(uv).all()
    for i, c in enumerate(rig):
        assert (uv[i] >= 0).all() and (uv[i, :, 0] < c.size[0]).all() and (uv[i, :, 1] < c.size[1]).all()
