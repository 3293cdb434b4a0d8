"""BVH import and export: CMU clips, channel orders, units and axes, malformed files, and bvhio as checker."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import DataError
from mocap.export.animation import ZUP_TO_YUP
from mocap.export.bvh import read_bvh, write_bvh
from tests.export.helpers import CMU_SCALE, chain_animation

_SMALL = """HIERARCHY
ROOT hips
{
  OFFSET 1 2 3
  CHANNELS 6 Yrotation Xposition Zrotation Yposition Zposition Xrotation
  JOINT chest
  {
    OFFSET 0 10 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
  JOINT leg
  {
    OFFSET 2 -10 0
    CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 -8 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
90 1 0 2 3 0   0 0 90   1 0 0 0 0 0
0 0 0 0 0 0    0 0 0    1 0 0 0 90 0
"""


@pytest.fixture(scope="module")
def cmu_clips(shared_data):
    return sorted((shared_data / "bvh").glob("*.bvh"))


def test_read_small_any_channel_order(tmp_path):
    p = tmp_path / "small.bvh"
    p.write_text(_SMALL)
    a = read_bvh(p, scale=0.01, up="z")
    assert a.joint_names == ["hips", "chest", "chest_end", "leg", "leg_end"]
    assert a.end_sites == ["chest_end", "leg_end"]
    assert a.fps == pytest.approx(25.0)
    P = a.world_positions()
    # frame 0: root at offset + (1, 2, 3), rotated +90 deg about Y; chest rotated +90 about Z
    np.testing.assert_allclose(P[0, 0], [0.02, 0.04, 0.06], atol=1e-12)
    np.testing.assert_allclose(P[0, 1], P[0, 0] + [0, 0.1, 0], atol=1e-12)  # Y rotation keeps +Y
    np.testing.assert_allclose(P[0, 2], P[0, 1] + [0, 0, 0.05], atol=1e-12)  # Ry(90) Rz(90): +Y -> -X -> +Z
    # leg: offset (2, -10, 0) + position channels (1, 0, 0), rotated by the root's Ry(90): (x, y, z) -> (z, y, -x)
    np.testing.assert_allclose(P[0, 3], P[0, 0] + [0, -0.1, -0.03], atol=1e-12)


def test_read_y_up_converts_to_z_up(tmp_path):
    p = tmp_path / "small.bvh"
    p.write_text(_SMALL)
    yup = read_bvh(p, scale=0.01, up="y").world_positions()
    raw = read_bvh(p, scale=0.01, up="z").world_positions()
    np.testing.assert_allclose(yup @ ZUP_TO_YUP.T, raw, atol=1e-12)
    assert yup[1, 1, 2] > yup[1, 0, 2]  # the chest is above the hips in Z


def test_cmu_clip_reads(cmu_clips):
    assert len(cmu_clips) >= 2
    a = read_bvh(cmu_clips[0], scale=CMU_SCALE)
    assert a.n_joints - len(a.end_sites) == 31
    assert a.fps == pytest.approx(120.0, rel=1e-4)
    P = a.world_positions()
    head = a.joint_names.index("Head")
    height = np.median(P[:, head, 2] - P[:, :, 2].min(axis=1))
    assert 1.2 < height < 1.9  # a person's head joint height, metres, Z up


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "YZX", "ZYX", "XZY", "YXZ"])
def test_write_read_round_trip_every_order(tmp_path, rng, order):
    anim = chain_animation(rng, T=15, J=7)
    p = write_bvh(anim, tmp_path / "a.bvh", channel_order=order, units="cm")
    back = read_bvh(p, scale=0.01)
    np.testing.assert_allclose(_by_name(back, anim), anim.world_positions(), atol=2e-7)
    assert back.fps == pytest.approx(anim.fps, rel=1e-6)


def test_write_z_up_and_resampled(tmp_path, rng):
    anim = chain_animation(rng, T=21, fps=50)
    p = write_bvh(anim, tmp_path / "z.bvh", up="z", units="mm", fps=25)
    back = read_bvh(p, scale=0.001, up="z")
    assert back.n_frames == 11 and back.fps == pytest.approx(25)
    np.testing.assert_allclose(_by_name(back, anim)[5], anim.world_positions()[10], atol=2e-6)


def test_nan_frames_are_filled(tmp_path, rng):
    anim = chain_animation(rng, T=6)
    anim.local_rotations[2] = np.nan
    back = read_bvh(write_bvh(anim, tmp_path / "n.bvh"))
    assert np.isfinite(back.local_rotations).all()
    np.testing.assert_allclose(_by_name(back, anim)[3], anim.world_positions()[3], atol=2e-6)


@pytest.mark.parametrize("text,match", [
    ("HIERARCHY\nROOT a\n{\n OFFSET 0 0\n", "OFFSET expects a number|unexpected end"),
    ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 1 Qrotation\n}\nMOTION\nFrames: 1\nFrame Time: 0.1\n0\n",
     "unknown channel 'Qrotation'"),
    ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation Zrotation\n}\nMOTION\nFrames: 2\n"
     "Frame Time: 0.1\n0 0 0\n", "expected 2 frames x 3 channels"),
    ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n}\n", "no MOTION section"),
    ("hello\n", "not a BVH file"),
])
def test_malformed_files_name_the_problem(tmp_path, text, match):
    p = tmp_path / "bad.bvh"
    p.write_text(text)
    with pytest.raises(DataError, match=match) as e:
        read_bvh(p)
    assert "bad.bvh" in str(e.value)


def test_bad_write_arguments(tmp_path, rng):
    anim = chain_animation(rng)
    with pytest.raises(DataError, match="channel order"):
        write_bvh(anim, tmp_path / "a.bvh", channel_order="XXY")
    with pytest.raises(DataError, match="units"):
        write_bvh(anim, tmp_path / "a.bvh", units="inch")


def _by_name(back, anim) -> np.ndarray:
    """``back``'s world positions reordered as ``anim``'s joints (a file is written depth-first)."""
    idx = [back.joint_names.index(n) for n in anim.joint_names]
    return back.world_positions()[:, idx]


def _bvhio_positions(path, scale: float) -> tuple[np.ndarray, list[str]]:
    import bvhio

    root = bvhio.readAsHierarchy(str(path))
    joints = [j for j, _, _ in root.layout()]
    out = np.empty((len(root.Keyframes), len(joints), 3))
    for f in range(out.shape[0]):
        root.loadPose(f)
        out[f] = [tuple(j.PositionWorld) for j in joints]
    return out * scale, [j.Name for j in joints]


@pytest.mark.slow
def test_cmu_round_trip_checked_by_bvhio(tmp_path, cmu_clips):
    """Every shared clip, imported (metres, Z up) and re-exported (Y up, metres): bvhio's forward kinematics of
    both files agree within 0.1 mm on every frame and joint."""
    pytest.importorskip("bvhio")
    for clip in cmu_clips:
        out = write_bvh(read_bvh(clip, scale=CMU_SCALE), tmp_path / clip.name, up="y", units="m")
        ref, ref_names = _bvhio_positions(clip, CMU_SCALE)
        got, got_names = _bvhio_positions(out, 1.0)
        assert got_names == ref_names
        err = np.linalg.norm(got - ref, axis=-1)
        assert err.max() < 1e-4, f"{clip.name}: max error {err.max() * 1000:.4f} mm"
