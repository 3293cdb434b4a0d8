"""Read a skinned FBX with ufbx in a child process: ``python -m tests.export.ufbx_skin FILE TIME OUT.npz``.

Writes the mesh counts and the skinned vertex positions at ``TIME`` seconds (file units), evaluated from ufbx's
own scene: every skin cluster's bone transform at that time times its geometry-to-bone matrix, blended by the
cluster weights. The tests run it in a child process because ufbx (a C reader) crashed the whole test process twice
in CI while loading the same file that loads fine alone, and a reader's crash must not take the suite with it.
"""

from __future__ import annotations

import sys

import numpy as np


def _mat(m) -> np.ndarray:
    out = np.eye(4)
    for c, col in enumerate((m.c0, m.c1, m.c2, m.c3)):
        out[:3, c] = (col.x, col.y, col.z)
    return out


def skinned_vertices(path: str, t: float) -> dict[str, np.ndarray]:
    """``counts`` (meshes, skin deformers, poses, vertices, triangles), ``vertices (V, 3)`` skinned at ``t`` and
    ``weight_sums (V,)``."""
    import ufbx

    with ufbx.load_file(path) as scene:
        mesh = scene.meshes[0]
        counts = np.array([len(scene.meshes), len(scene.skin_deformers), len(scene.poses), mesh.num_vertices,
                           mesh.num_triangles])
        v = np.array([(a.x, a.y, a.z) for a in mesh.vertices])
        out, wsum = np.zeros_like(v), np.zeros(len(v))
        with scene.evaluate(scene.anim, t) as es:
            for cl in scene.skin_clusters:
                M = _mat(es.find_node(cl.bone_node.name).node_to_world) @ _mat(cl.geometry_to_bone)
                idx = np.array(list(cl.vertices), int)
                w = np.array(list(cl.weights), float)
                out[idx] += w[:, None] * (v[idx] @ M[:3, :3].T + M[:3, 3])
                wsum[idx] += w
    return {"counts": counts, "vertices": out, "weight_sums": wsum}


if __name__ == "__main__":
    np.savez(sys.argv[3], **skinned_vertices(sys.argv[1], float(sys.argv[2])))
