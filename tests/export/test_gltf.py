"""glTF/GLB writer: structure read back with pygltflib, animation decoded and compared with our forward
kinematics, and the Khronos glTF-Validator (0 errors, 0 warnings) when node and the validator are installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mocap.errors import DataError
from mocap.export.animation import ZUP_TO_YUP, Animation
from mocap.export.bvh import read_bvh
from mocap.export.gltf import SkinnedMesh, bone_mesh, write_gltf
from tests.export.helpers import CMU_SCALE, chain_animation

pygltflib = pytest.importorskip("pygltflib")
REPO = Path(__file__).resolve().parents[2]
VALIDATOR = REPO / ".cache" / "gltf-validator" / "node_modules"
SCRIPT = REPO / "scripts" / "blender_check" / "gltf_validate.js"

_TYPES = {5126: np.float32, 5123: np.uint16, 5125: np.uint32}
_WIDTH = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def _accessor(g, i: int) -> np.ndarray:
    acc = g.accessors[i]
    view = g.bufferViews[acc.bufferView]
    blob = g.binary_blob()
    dt = _TYPES[acc.componentType]
    n = acc.count * _WIDTH[acc.type]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    return np.frombuffer(blob, dtype=dt, count=n, offset=start).reshape(acc.count, -1)


def _fk_from_gltf(g, n_joints: int) -> np.ndarray:
    """World positions (T, J, 3) from the file's nodes and animation samplers (glTF Y-up)."""
    from mocap.geometry.rotations import quat_xyzw_to_matrix

    anim = g.animations[0]
    T = g.accessors[anim.samplers[0].input].count
    trans = {j: np.tile(g.nodes[j].translation, (T, 1)) for j in range(n_joints)}
    rots = {j: np.tile(g.nodes[j].rotation or [0, 0, 0, 1], (T, 1)) for j in range(n_joints)}
    for ch in anim.channels:
        out = _accessor(g, anim.samplers[ch.sampler].output).astype(float)
        (trans if ch.target.path == "translation" else rots)[ch.target.node] = out
    parent = {c: p for p in range(n_joints) for c in (g.nodes[p].children or [])}
    P = np.zeros((T, n_joints, 3))
    G = np.zeros((T, n_joints, 3, 3))
    for j in range(n_joints):  # parents come first in our files
        L = quat_xyzw_to_matrix(rots[j])
        if j not in parent:
            G[:, j], P[:, j] = L, trans[j]
        else:
            p = parent[j]
            G[:, j] = G[:, p] @ L
            P[:, j] = P[:, p] + np.einsum("tij,tj->ti", G[:, p], trans[j])
    return P


def _validate(path: Path) -> dict:
    if shutil.which("node") is None:
        pytest.skip("node is not installed (needed for the Khronos glTF validator)")
    if not (VALIDATOR / "gltf-validator").is_dir():
        pytest.skip("gltf-validator is not installed: run `bash scripts/blender_check/setup.sh`")
    env = dict(os.environ, NODE_PATH=str(VALIDATOR))
    r = subprocess.run(["node", str(SCRIPT), str(path)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("suffix", [".glb", ".gltf"])
def test_animation_round_trip(tmp_path, rng, suffix):
    anim = chain_animation(rng, T=30, J=7, fps=30.0)
    p = write_gltf(anim, tmp_path / f"a{suffix}", mesh="bones")
    g = pygltflib.GLTF2().load(str(p))
    g.convert_buffers(pygltflib.BufferFormat.BINARYBLOB)
    assert [n.name for n in g.nodes[:7]] == anim.joint_names
    times = _accessor(g, g.animations[0].samplers[0].input).ravel()
    np.testing.assert_allclose(times, np.arange(30) / 30.0, atol=1e-6)
    assert {s.interpolation for s in g.animations[0].samplers} == {"LINEAR"}
    np.testing.assert_allclose(_fk_from_gltf(g, 7), anim.world_positions() @ ZUP_TO_YUP.T, atol=2e-6)
    ibm = _accessor(g, g.skins[0].inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)
    rest_y = anim.rest_positions() @ ZUP_TO_YUP.T
    np.testing.assert_allclose(ibm[:, :3, 3], -rest_y, atol=1e-6)


def test_filled_frames_listed_in_extras(tmp_path, rng):
    anim = chain_animation(rng, T=10)
    anim.local_rotations[4:6] = np.nan
    g = pygltflib.GLTF2().load(str(write_gltf(anim, tmp_path / "a.glb", mesh="none")))
    assert g.animations[0].extras["filled_frames"] == [4, 5]
    assert not g.skins and not g.meshes


def test_custom_mesh_and_bad_mesh(tmp_path, rng):
    anim = chain_animation(rng, T=5, J=4)
    m = bone_mesh(anim)
    w = np.abs(rng.normal(size=m.weights.shape))
    p = write_gltf(anim, tmp_path / "m.glb", mesh=SkinnedMesh(m.vertices, m.faces, w))
    g = pygltflib.GLTF2().load(str(p))
    prim = g.meshes[0].primitives[0]
    wts = _accessor(g, prim.attributes.WEIGHTS_0)
    np.testing.assert_allclose(wts.sum(1), 1.0, atol=1e-6)
    with pytest.raises(DataError, match="expected \\(V, 3\\), \\(F, 3\\), \\(V, 4\\)"):
        write_gltf(anim, tmp_path / "b.glb", mesh=SkinnedMesh(m.vertices, m.faces, w[:, :2]))
    with pytest.raises(DataError, match="must end in .glb or .gltf"):
        write_gltf(anim, tmp_path / "b.obj")


def test_khronos_validator_clean(tmp_path, shared_data):
    anim = read_bvh(shared_data / "bvh" / "01_01.bvh", scale=CMU_SCALE)
    anim = Animation(anim.joint_names, anim.parents, anim.offsets, anim.root_translation[:200],
                     anim.local_rotations[:200], anim.fps, end_sites=anim.end_sites)
    anim.local_rotations[50:60, 5] = np.nan
    for name, mesh in (("bones.glb", "bones"), ("skeleton.gltf", "none")):
        report = _validate(write_gltf(anim, tmp_path / name, mesh=mesh))
        issues = report["issues"]
        assert (issues["numErrors"], issues["numWarnings"]) == (0, 0), issues["messages"][:5]
