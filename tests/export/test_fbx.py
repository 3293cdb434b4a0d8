"""Binary FBX 7.4 writer, checked with the independent reader ufbx."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from mocap.errors import DataError
from mocap.export.animation import ZUP_TO_YUP
from mocap.export.bvh import read_bvh
from mocap.export.fbx import write_fbx
from mocap.export.fbx_binary import Int64, Node, write_fbx_nodes
from tests.export.helpers import CMU_SCALE, chain_animation

ufbx = pytest.importorskip("ufbx")


def _world(scene, names, t) -> np.ndarray:
    out = []
    with scene.evaluate(scene.anim, t) as es:  # freed here, before the scene (ufbx objects point into it)
        for n in names:
            c3 = es.find_node(n).node_to_world.c3
            out.append((c3.x, c3.y, c3.z))
    return np.array(out)


def test_container_layout(tmp_path):
    p = write_fbx_nodes([Node("A", 1, Int64(2), 3.5, "s", np.arange(50, dtype="<f8"), children=[Node("B")])],
                        tmp_path / "x.fbx")
    raw = p.read_bytes()
    assert raw[:23] == b"Kaydara FBX Binary  \x00\x1a\x00"
    assert struct.unpack("<I", raw[23:27])[0] == 7400
    end, n_props, _, name_len = struct.unpack("<IIIB", raw[27:40])
    assert (n_props, name_len, raw[40:41]) == (5, 1, b"A")
    assert raw[end - 13: end] == b"\0" * 13  # child list closed by a null record
    footer = len(raw) - 140  # version (4) + 120 zeros + 16-byte magic, starting 16-aligned
    assert footer % 16 == 0 and struct.unpack("<I", raw[footer: footer + 4])[0] == 7400


@pytest.mark.parametrize("units,scale", [("cm", 100.0), ("m", 1.0)])
def test_ufbx_reads_animation_exactly(tmp_path, rng, units, scale):
    anim = chain_animation(rng, T=25, J=8, fps=30.0)
    write_fbx(anim, tmp_path / "a.fbx", units=units)
    scene = ufbx.load_file(str(tmp_path / "a.fbx"))
    assert scene.settings.frames_per_second == pytest.approx(30.0)
    assert scene.settings.unit_meters == pytest.approx(1.0 / scale)
    assert scene.anim_stacks[0].time_end == pytest.approx(24 / 30.0, abs=1e-6)
    P = anim.world_positions()
    for f in (0, 7, 24):
        got = _world(scene, anim.joint_names, f / 30.0) / scale
        np.testing.assert_allclose(got, P[f] @ ZUP_TO_YUP.T, atol=1e-6)


def test_cmu_clip_with_skinned_bone_mesh(tmp_path, shared_data):
    anim = read_bvh(shared_data / "bvh" / "131_01.bvh", scale=CMU_SCALE)
    anim = anim.copy(local_rotations=anim.local_rotations[:120], root_translation=anim.root_translation[:120],
                     valid=anim.valid[:120])
    write_fbx(anim, tmp_path / "c.fbx", mesh="bones")
    scene = ufbx.load_file(str(tmp_path / "c.fbx"))
    assert len(scene.meshes) == 1 and len(scene.poses) == 1
    assert len(scene.skin_clusters) == len({int(anim.parents[j]) for j in range(1, anim.n_joints)
                                             if np.linalg.norm(anim.offsets[j]) > 1e-6})
    P = anim.world_positions()
    for f in (0, 60, 119):
        got = _world(scene, anim.joint_names, f / anim.fps) / 100.0
        np.testing.assert_allclose(got, P[f] @ ZUP_TO_YUP.T, atol=1e-6)


def test_bad_arguments(tmp_path, rng):
    anim = chain_animation(rng)
    with pytest.raises(DataError, match="units"):
        write_fbx(anim, tmp_path / "a.fbx", units="ft")
    with pytest.raises(DataError, match="mesh option"):
        write_fbx(anim, tmp_path / "a.fbx", mesh="sphere")
