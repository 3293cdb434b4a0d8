"""Blender (bpy 4.5 LTS in its own venv, test-only) imports our BVH, FBX (both importers) and GLB: bone count,
frame range and bone heads at chosen frames match our forward kinematics within 1 mm; a frame renders.

Set up once with ``bash scripts/blender_check/setup.sh`` (creates ``.venv-blender``); skipped otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mocap.export.bvh import read_bvh, write_bvh
from mocap.export.fbx import write_fbx
from mocap.export.gltf import write_gltf
from tests.export.helpers import BLENDER_MARKS, BLENDER_PY, BLENDER_SCRIPT, CMU_SCALE

FRAMES = (0, 97, 239)  # 0-based frames of our animation

pytestmark = BLENDER_MARKS


@pytest.fixture(scope="module")
def exported(tmp_path_factory, shared_data):
    d = tmp_path_factory.mktemp("blender")
    a = read_bvh(shared_data / "bvh" / "131_01.bvh", scale=CMU_SCALE)
    a = a.copy(fps=120.0, local_rotations=a.local_rotations[:240], root_translation=a.root_translation[:240],
               valid=a.valid[:240])
    files = {"bvh": write_bvh(a, d / "a.bvh"), "fbx": write_fbx(a, d / "a.fbx", mesh="bones"),
             "gltf": write_gltf(a, d / "a.glb", mesh="bones")}
    files["fbx_ufbx"] = files["fbx"]
    return a, files, d


def _run_blender(kind: str, path: Path, out_dir: Path, first: int, render: bool) -> dict:
    out = out_dir / f"{kind}.json"
    cmd = [str(BLENDER_PY), str(BLENDER_SCRIPT), "--kind", kind, "--file", str(path), "--fps", "120",
           "--frames", ",".join(str(f + first) for f in FRAMES), "--out", str(out)]
    if render:
        cmd += ["--render", str(out_dir / f"render_{kind}"), "--render-frames", str(FRAMES[1] + first)]
    env = dict(os.environ, HOME=str(out_dir))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("kind", ["bvh", "fbx", "fbx_ufbx", "gltf"])
def test_blender_import_matches(exported, kind):
    anim, files, d = exported
    first = 0 if kind == "gltf" else 1  # Blender puts BVH/FBX frame 0 at 1, glTF at 0
    res = _run_blender(kind, files[kind], d, first, render=(kind == "fbx"))
    bones = set(res["bones"])
    expected = set(anim.joint_names) - (set(anim.end_sites) if kind == "bvh" else set())
    assert bones == expected
    assert res["frame_range"] == [first, first + anim.n_frames - 1]
    P = anim.world_positions()
    errs = [np.linalg.norm(np.array(res["heads"][str(f + first)][n]) - P[f, anim.joint_names.index(n)])
            for f in FRAMES for n in bones]
    assert max(errs) < 1e-3, f"{kind}: max bone-head error {max(errs) * 1000:.3f} mm"
    if kind == "fbx":
        from PIL import Image

        png = Path(res["renders"][0])
        img = np.asarray(Image.open(png).convert("L"), dtype=float)
        assert img.shape == (480, 480) and (img < 200).mean() > 0.005  # the bone mesh is drawn
