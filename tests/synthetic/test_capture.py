"""Synthetic captures from BVH: CMU marker mapping (checked analytically and against bvhio), cameras, corruption."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import DataError
from mocap.synthetic import COCO17, bvh_markers, bvh_to_world, corrupt_2d, make_capture, read_bvh, ring_rig
from mocap.synthetic.capture import _CMU_BODY_MAX, _CMU_BODY_MB, _CMU_FACE

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
    with pytest.raises(DataError, match="cannot read BVH file"):
        read_bvh(tmp_path / "none.bvh")
    bad = tmp_path / "bad.bvh"
    bad.write_text("HIERARCHY\n}\n")
    with pytest.raises(DataError, match="bad.bvh:2"):
        read_bvh(bad)


def _cmu_like_bvh(body: dict[str, str], offsets: dict[str, tuple], frames: list[list[float]]) -> str:
    """A flat BVH: root Hips (6 channels) with one child per body joint and a Head (3 rotation channels each)."""
    lines = ["HIERARCHY", "ROOT Hips", "{", "  OFFSET 0 0 0",
             "  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation"]
    for name in [*body.values(), "Head"]:
        lines += [f"  JOINT {name}", "  {", "    OFFSET {} {} {}".format(*offsets[name]),
                  "    CHANNELS 3 Zrotation Yrotation Xrotation", "    End Site", "    {", "      OFFSET 0 1 0",
                  "    }", "  }"]
    lines += ["}", "MOTION", f"Frames: {len(frames)}", "Frame Time: 0.0083333"]
    return "\n".join(lines + [" ".join(map(str, f)) for f in frames]) + "\n"


def _rot(axis: str, deg: float) -> np.ndarray:
    c, s = np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    m = np.eye(3)
    m[i, i] = m[j, j] = c
    m[i, j], m[j, i] = -s, s
    return m


@pytest.mark.parametrize("body", [_CMU_BODY_MAX, _CMU_BODY_MB], ids=["3dsmax_names", "motionbuilder_names"])
def test_bvh_markers_analytic(tmp_path, body):
    """Markers of a hand-made CMU-named clip equal hand-computed forward kinematics: file x left, y up, z forward
    -> world x forward, y left, z up, scaled by ``unit_m``; face markers ride on the Head rotation; subsampling."""
    rng = np.random.default_rng(7)
    names = [*body.values(), "Head"]
    offsets = {n: tuple(np.round(rng.uniform(-9, 9, 3), 3)) for n in names}
    offsets[body["left_hip"]] = (2.0, 0.0, 0.0)  # pure subject-left
    offsets[body["right_hip"]] = (0.0, 0.0, 3.0)  # pure subject-forward
    n_per_joint = 3 * len(names)
    frames = [[1, 2, 3, 0, 0, 0] + [0] * n_per_joint,  # rest pose at (1, 2, 3)
              [0, 0, 0, 0, 90, 0] + [0] * n_per_joint,  # root yaw 90 degrees about the vertical
              [4, 5, 6, 0, 0, 0] + [0] * (n_per_joint - 3) + [0, 0, 30]]  # head pitched 30 degrees about file x
    path = tmp_path / "cmu_like.bvh"
    path.write_text(_cmu_like_bvh(body, offsets, frames))
    unit = 0.01
    got, fps = bvh_markers(path, unit_m=unit)
    assert got.shape == (3, 17, 3) and fps == pytest.approx(120.0, rel=1e-5)
    to_world = np.array([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]]) * unit  # file (x left, y up, z forward) -> world
    root = np.array([[1.0, 2, 3], [0, 0, 0], [4, 5, 6]])
    root_rot = [np.eye(3), _rot("y", 90), np.eye(3)]
    head_rot = [np.eye(3), np.eye(3), _rot("x", 30)]
    for t in range(3):
        for k, marker in enumerate(COCO17):
            if marker in body:
                p = root[t] + root_rot[t] @ np.asarray(offsets[body[marker]])
            else:
                p = root[t] + root_rot[t] @ (np.asarray(offsets["Head"]) + head_rot[t] @ np.asarray(_CMU_FACE[marker]))
            np.testing.assert_allclose(got[t, k], to_world @ p, atol=1e-12, err_msg=f"frame {t} {marker}")
    # axes: the rest-pose left hip is 2 units to the subject's left (+y), the right hip 3 units forward (+x)
    np.testing.assert_allclose(got[0, COCO17.index("left_hip")], [3 * unit, (1 + 2) * unit, 2 * unit], atol=1e-12)
    np.testing.assert_allclose(got[0, COCO17.index("right_hip")], [(3 + 3) * unit, 1 * unit, 2 * unit], atol=1e-12)
    sub, fps2 = bvh_markers(path, frame_step=2, unit_m=unit)
    np.testing.assert_array_equal(sub, got[::2])
    assert fps2 == pytest.approx(fps / 2)
    np.testing.assert_array_equal(bvh_markers(path, frame_step=1, max_frames=2, unit_m=unit)[0], got[:2])


def test_bvh_markers_needs_cmu_joints(tmp_path):
    p = tmp_path / "tiny.bvh"
    p.write_text(TINY_BVH)
    with pytest.raises(DataError, match="expected a CMU skeleton"):
        bvh_markers(p)


@pytest.mark.slow
def test_bvh_markers_match_bvhio(shared_data):
    """Both CMU naming schemes: markers equal bvhio's forward kinematics (float32: within 1e-5 m)."""
    bvhio = pytest.importorskip("bvhio")
    import glm  # bvhio's vector library

    step, n = 8, 25
    for clip in ("131_01", "01_01"):
        path = shared_data / "bvh" / f"{clip}.bvh"
        got, _ = bvh_markers(path, frame_step=step, max_frames=n)
        root = bvhio.readAsHierarchy(str(path))
        joints = {j.Name: j for j, _, _ in root.layout()}
        body = _CMU_BODY_MB if "LeftUpLeg" in joints else _CMU_BODY_MAX
        head = joints["Head"]
        root.loadRestPose()
        head_rest_inv = glm.inverse(glm.quat(head.RotationWorld))  # bvhio's joint frames are not BVH's at rest
        ref = np.empty_like(got)
        for i in range(n):
            root.loadPose(i * step)
            for k, marker in enumerate(COCO17):
                if marker in body:
                    ref[i, k] = tuple(joints[body[marker]].PositionWorld)
                else:
                    off = head_rest_inv * glm.vec3(*_CMU_FACE[marker])
                    ref[i, k] = tuple(head.PositionWorld + head.RotationWorld * off)
        err = np.abs(got - bvh_to_world(ref)).max()
        assert err < 1e-5, f"{clip}: {err:.2e} m from bvhio"


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
