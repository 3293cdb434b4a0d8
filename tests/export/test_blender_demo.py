"""The pipeline's exports of a body fit (Pose2Sim demo, 20 frames, Anny) open in Blender (bpy 4.5 LTS, test-only,
own venv): GLB and FBX give a 104-bone armature over the right frame range with the skinned 13,718-vertex body, bone
heads where our forward kinematics puts them, and three rendered frames that show a moving body.

Set up once with ``bash scripts/blender_check/setup.sh`` (creates ``.venv-blender``); skipped otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.export.helpers import BLENDER_MARKS, BLENDER_PY, BLENDER_SCRIPT

N_FRAMES = 20
FRAMES = (0, 9, 19)  # 0-based frames of our animation

pytestmark = BLENDER_MARKS


@pytest.fixture(scope="module")
def demo_export(tmp_path_factory, pose2sim_single):
    from mocap.pipeline import run_pipeline

    out = tmp_path_factory.mktemp("demo")
    videos = sorted((pose2sim_single / "videos").glob("cam*.mp4"))
    res = run_pipeline(videos, pose2sim_single / "calibration" / "Calib.qca.txt", out, max_frames=N_FRAMES,
                       report=False, fit_model="anny", export_formats=("glb", "fbx"))
    return res, out


def _blender(kind: str, path: Path, fps: float, first: int, out_dir: Path) -> dict:
    out = out_dir / f"{kind}.json"
    cmd = [str(BLENDER_PY), str(BLENDER_SCRIPT), "--kind", kind, "--file", str(path), "--fps", repr(fps),
           "--frames", ",".join(str(f + first) for f in FRAMES), "--out", str(out),
           "--render", str(out_dir / f"render_{kind}"), "--render-frames", ",".join(str(f + first) for f in FRAMES)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, HOME=str(out_dir)), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("kind", ["gltf", "fbx"])
def test_blender_imports_demo_body(demo_export, kind, tmp_path):
    from PIL import Image

    from mocap.export import from_body_motion

    res, out = demo_export
    motion = res.extras["motion"]
    path = res.outputs["export_glb" if kind == "gltf" else "export_fbx"]
    first = 0 if kind == "gltf" else 1  # Blender puts FBX frame 0 at 1, glTF at 0
    got = _blender(kind, path, motion.fps, first, tmp_path)
    assert len(got["bones"]) == len(motion.joint_names) == 104
    assert set(got["bones"]) == set(motion.joint_names)
    assert got["frame_range"] == [first, first + N_FRAMES - 1]
    assert got["fps"] == pytest.approx(motion.fps)
    body = [m for m in got["meshes"].values() if m["skinned"]]
    assert len(body) == 1 and body[0]["vertices"] == 13718
    anim = from_body_motion(motion)
    P = anim.world_positions()
    errs = [np.linalg.norm(np.array(got["heads"][str(f + first)][n]) - P[f, anim.joint_names.index(n)])
            for f in FRAMES for n in got["bones"]]
    assert max(errs) < 1e-3, f"{kind}: max bone-head error {max(errs) * 1000:.3f} mm"
    # the deformed body follows the skeleton: its bounding box contains the pelvis and spans a person's height
    for f in FRAMES:
        lo, hi = (np.array(v) for v in body[0]["bbox"][str(f + first)])
        assert np.all(lo - 0.05 < P[f, 0]) and np.all(P[f, 0] < hi + 0.05)
        assert 1.2 < hi[2] - lo[2] < 2.2
    imgs = [np.asarray(Image.open(p).convert("RGB"), dtype=float) for p in got["renders"]]
    assert len(imgs) == 3
    for img in imgs:  # the orange body is drawn
        orange = (img[..., 0] > img[..., 2] + 40)
        assert orange.mean() > 0.002
    assert np.abs(imgs[0] - imgs[-1]).mean() > 0.1  # and it moves
