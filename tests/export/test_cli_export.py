"""`mocap export` end to end: keypoints, body motion and BVH inputs to every format, and its error messages."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.cli.main import main
from mocap.export.bvh import read_bvh
from mocap.keypoints import Keypoints3D
from mocap.keypoints.npz_io import save_npz
from tests.export.helpers import random_standard_animation


@pytest.fixture
def kp_file(tmp_path, rng):
    from mocap.export.ik import STANDARD_JOINTS

    P = random_standard_animation(rng, T=20, scale=0.1).world_positions()
    smplx = np.full((20, 55, 3), np.nan)
    smplx[:, : len(STANDARD_JOINTS)] = P
    return save_npz(Keypoints3D(smplx, "smplx55", fps=30.0), tmp_path / "kp.npz"), P


@pytest.mark.parametrize("fmt", ["bvh", "fbx", "glb", "gltf", "c3d", "trc"])
def test_keypoints_to_every_format(tmp_path, kp_file, fmt, capsys):
    out = tmp_path / f"o.{fmt}"
    assert main(["export", str(kp_file[0]), "--out", str(out)]) == 0
    assert out.is_file() and out.stat().st_size > 0
    assert "wrote" in capsys.readouterr().out


def test_keypoints_to_bvh_mixamo_reproduces_positions(tmp_path, kp_file):
    out = tmp_path / "m.bvh"
    assert main(["export", str(kp_file[0]), "--format", "bvh", "--out", str(out), "--profile", "mixamo",
                 "--units", "cm"]) == 0
    anim = read_bvh(out, scale=0.01)
    assert anim.joint_names[0] == "mixamorig:Hips"
    P = anim.world_positions()[:, [anim.joint_names.index("mixamorig:LeftHand"),
                                   anim.joint_names.index("mixamorig:RightFoot")]]
    ref = kp_file[1][:, [20, 8]]
    assert np.linalg.norm(P - ref, axis=-1).max() < 0.05


def test_body_motion_npz_input(tmp_path, rng):
    from mocap.body.motion import BodyMotion
    from mocap.geometry.rotations import rotvec_to_quat_xyzw

    q = rotvec_to_quat_xyzw(rng.normal(scale=0.4, size=(9, 4, 3)))
    motion = BodyMotion(model="anny", joint_names=["root", "a", "b", "c"], parents=np.array([-1, 0, 1, 1]),
                        rest_offsets=rng.normal(scale=0.2, size=(4, 3)), shape=np.zeros(3),
                        root_translation=rng.normal(size=(9, 3)), root_orientation=q[:, 0], local_rotations=q,
                        fps=25.0)
    src = motion.save(tmp_path / "motion.npz")
    out = tmp_path / "m.bvh"
    assert main(["export", str(src), "--out", str(out), "--fps", "25"]) == 0
    back = read_bvh(out)
    idx = [back.joint_names.index(n) for n in motion.joint_names]
    np.testing.assert_allclose(back.world_positions()[:, idx], motion.world_joints(), atol=2e-6)


def test_bvh_input_with_scale(tmp_path, shared_data):
    out = tmp_path / "o.c3d"
    assert main(["export", str(shared_data / "bvh" / "131_01.bvh"), "--bvh-scale", "0.056444",
                 "--out", str(out), "--units", "m"]) == 0
    ezc3d = pytest.importorskip("ezc3d")
    pts = ezc3d.c3d(str(out))["data"]["points"]
    assert pts.shape[2] == 994 and 1.2 < np.nanmax(pts[2]) < 2.2  # heights in metres


@pytest.mark.parametrize("args,match", [
    (["--out", "x.abc"], "unknown export format 'abc'"),
    (["--out", "x.bvh", "--profile", "maya"], "invalid choice"),
    (["--out", "x.fbx", "--up", "z"], "FBX export writes Y-up"),
    (["--out", "x.glb", "--units", "cm"], "glTF is always in metres"),
])
def test_errors_are_one_line(tmp_path, kp_file, capsys, args, match):
    argv = ["export", str(kp_file[0])] + [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse choice errors
        code = e.code
    assert code == 2
    assert match in capsys.readouterr().err


def test_missing_input(tmp_path, capsys):
    assert main(["export", str(tmp_path / "none.npz"), "--out", str(tmp_path / "o.bvh")]) == 2
    assert "no such file" in capsys.readouterr().err
