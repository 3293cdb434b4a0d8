"""The body model's skinned mesh in glTF/GLB and FBX: linear-blend skinning computed from the exported files alone
(nodes, animation, inverse bind matrices / clusters, weights) reproduces the body model's own mesh
(:func:`mocap.body.fit.motion_vertices`) within 1 mm; the Khronos validator reports 0 errors / 0 warnings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mocap.errors import DataError
from mocap.export import body_skinned_animation, export_motion, from_body_motion, skin_vertices
from mocap.export.animation import ZUP_TO_YUP
from mocap.geometry.rotations import quat_xyzw_to_matrix, rotvec_to_quat_xyzw
from tests.export.test_gltf import _accessor, _validate

pygltflib = pytest.importorskip("pygltflib")
pytestmark = pytest.mark.slow  # builds the Anny model and its full mesh (~10 s)
FRAME = 4


@pytest.fixture(scope="module")
def anny_motion():
    """The Anny model and a smooth random motion of it (random shape), with its reference mesh at FRAME."""
    from mocap.body import BodyMotion, load_model
    from mocap.body.fit import motion_vertices
    from mocap.body.synthetic import synthetic_keypoints

    model = load_model("anny")
    rng = np.random.default_rng(7)
    T = 8
    _, _, _, pose, shape, _ = synthetic_keypoints(model, T, rng, fraction=0.7, smooth=True)
    q = rotvec_to_quat_xyzw(pose.astype(float))
    root = np.array([0.3, -0.2, 1.0]) + np.linspace(0, 0.4, T)[:, None] * [1.0, 0.5, 0.0]
    motion = BodyMotion(model="anny", joint_names=list(model.joint_names), parents=np.asarray(model.parents),
                        rest_offsets=model.rest_offsets(shape), shape=shape, root_translation=root,
                        root_orientation=q[:, 0], local_rotations=q, fps=30.0, params={"pose_rotvec": pose})
    ref = motion_vertices(model, motion, np.array([FRAME]))[0]
    return model, motion, ref


def _gltf_skinned(path, frame: int) -> tuple[np.ndarray, int]:
    """World vertices (V, 3) (glTF Y-up) at ``frame`` by LBS over the file's data; and the influences per vertex."""
    g = pygltflib.GLTF2().load(str(path))
    g.convert_buffers(pygltflib.BufferFormat.BINARYBLOB)
    skin = g.skins[0]
    joints = skin.joints
    n = len(g.nodes)
    trs = {j: [np.array(g.nodes[j].translation or [0, 0, 0], float),
               np.array(g.nodes[j].rotation or [0, 0, 0, 1], float)] for j in range(n)}
    for ch in g.animations[0].channels:
        out = _accessor(g, g.animations[0].samplers[ch.sampler].output).astype(float)
        trs[ch.target.node][0 if ch.target.path == "translation" else 1] = out[frame]
    parent = {c: p for p in range(n) for c in (g.nodes[p].children or [])}
    glob: dict[int, np.ndarray] = {}

    def world(j: int) -> np.ndarray:
        if j not in glob:
            m = np.eye(4)
            m[:3, :3] = quat_xyzw_to_matrix(trs[j][1])
            m[:3, 3] = trs[j][0]
            glob[j] = world(parent[j]) @ m if j in parent else m
        return glob[j]

    ibm = _accessor(g, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1).astype(float)
    M = np.stack([world(j) for j in joints]) @ ibm  # (J, 4, 4)
    prim = g.meshes[0].primitives[0]
    v = _accessor(g, prim.attributes.POSITION).astype(float)
    out = np.zeros_like(v)
    sets = 0
    for k in range(4):
        ja = getattr(prim.attributes, f"JOINTS_{k}", None)
        if ja is None:
            break
        sets += 1
        ji = _accessor(g, ja).astype(int)
        jw = _accessor(g, getattr(prim.attributes, f"WEIGHTS_{k}")).astype(float)
        for c in range(4):
            Mc = M[ji[:, c]]
            out += jw[:, c, None] * (np.einsum("vab,vb->va", Mc[:, :3, :3], v) + Mc[:, :3, 3])
    return out, 4 * sets


def test_rebinding_is_exact_and_keeps_joint_positions(anny_motion):
    model, motion, ref = anny_motion
    anim = from_body_motion(motion)
    rebound, mesh = body_skinned_animation(anim, model)
    np.testing.assert_allclose(rebound.world_positions(), anim.world_positions(), atol=1e-6)
    assert mesh.vertices.shape == (13718, 3) and mesh.faces.shape[1] == 3
    np.testing.assert_allclose(mesh.weights.sum(1), 1.0, atol=1e-9)
    got = skin_vertices(rebound, mesh, np.array([FRAME]))[0]
    assert np.linalg.norm(got - ref, axis=1).max() < 1e-5
    # a skeleton-only animation has no body mesh
    with pytest.raises(DataError, match="no body mesh"):
        body_skinned_animation(anim.copy(meta={}), model)


@pytest.mark.parametrize("influences,tol", [(8, 1e-3), (4, None)])
def test_glb_body_mesh_matches_model(tmp_path, anny_motion, influences, tol):
    model, motion, ref = anny_motion
    p = export_motion(motion, tmp_path / "body.glb", body_model=model, max_influences=influences)
    got, sets = _gltf_skinned(p, FRAME)
    assert sets == influences and got.shape == (13718, 3)
    err = np.linalg.norm(got - ref @ ZUP_TO_YUP.T, axis=1)
    if tol is not None:
        assert err.max() < tol, f"max skinned-vertex error {err.max() * 1000:.3f} mm"
    else:  # 4 influences: truncating Anny's (up to 9) weights moves only the vertices that had more
        rebound, mesh = body_skinned_animation(from_body_motion(motion), model)
        expect = skin_vertices(rebound, mesh, np.array([FRAME]), max_influences=4)[0] @ ZUP_TO_YUP.T
        assert np.abs(got - expect).max() < 1e-4
        many = (mesh.weights > 0).sum(1) > 4
        assert err[~many].max() < 1e-3


def test_body_glb_passes_khronos_validator(tmp_path, anny_motion):
    model, motion, _ = anny_motion
    for influences in (4, 8):
        report = _validate(export_motion(motion, tmp_path / f"b{influences}.glb", body_model=model,
                                         max_influences=influences))
        issues = report["issues"]
        assert (issues["numErrors"], issues["numWarnings"]) == (0, 0), issues["messages"][:5]
        assert report["info"]["totalVertexCount"] == 13718


def test_fbx_body_mesh_read_by_ufbx_matches_model(tmp_path, anny_motion):
    pytest.importorskip("ufbx")
    model, motion, ref = anny_motion
    p = export_motion(motion, tmp_path / "body.fbx", body_model=model)
    # ufbx read in a child process (tests/export/ufbx_skin.py: a crash of the C reader must not end the suite);
    # one retry when the child dies of a signal, then a clear failure
    out_npz = tmp_path / "skin.npz"
    cmd = [sys.executable, "-m", "tests.export.ufbx_skin", str(p), str(FRAME / motion.fps), str(out_npz)]
    for _ in range(2):
        r = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300)
        if r.returncode >= 0:
            break
    assert r.returncode == 0, f"ufbx reader exited with {r.returncode}: {r.stderr[-2000:]}"
    res = np.load(out_npz)
    nm, nsk, npo, nv, nt = res["counts"].tolist()
    out, wsum = res["vertices"], res["weight_sums"]
    assert (nm, nsk, npo) == (1, 1, 1)
    assert (nv, nt) == (13718, len(model.faces))
    np.testing.assert_allclose(wsum, 1.0, atol=1e-6)
    err = np.linalg.norm(out / 100.0 - ref @ ZUP_TO_YUP.T, axis=1)  # file in cm
    assert err.max() < 1e-3, f"max skinned-vertex error {err.max() * 1000:.3f} mm"


def test_mesh_options(tmp_path, anny_motion):
    model, motion, _ = anny_motion
    g = pygltflib.GLTF2().load(str(export_motion(motion, tmp_path / "b.glb", body_model=model, mesh="bones")))
    assert g.accessors[g.meshes[0].primitives[0].attributes.POSITION].count != 13718
    g = pygltflib.GLTF2().load(str(export_motion(motion, tmp_path / "n.glb", body_model=model, mesh="none")))
    assert not g.meshes and not g.skins
    with pytest.raises(DataError, match="unknown mesh option"):
        export_motion(motion, tmp_path / "x.glb", mesh="cube")
    # keypoint-less skeletons (no body fit) cannot have a body mesh
    with pytest.raises(DataError, match="no body mesh"):
        export_motion(from_body_motion(motion).copy(meta={}), tmp_path / "y.glb", mesh="body")
