"""glTF 2.0 / GLB export of a skeleton animation (pygltflib), with an optional skinned mesh.

What is written:

- one node per joint (children as in the skeleton; ``translation`` = rest offset, rest rotation identity);
- with a mesh, a skin over those nodes with inverse bind matrices (inverse rest world transforms);
- a skinned mesh: the body model's mesh when given (:class:`SkinnedMesh`), else a simple bone mesh (an octahedron
  per bone, rigidly bound to the parent joint) unless ``mesh="none"``;
- one animation: the root's translation and every animated joint's rotation, LINEAR, times in seconds from 0.
  Frames filled in from missing data are listed in the animation's ``extras.filled_frames``.

Axes: glTF is Y up; our Z-up world is converted with :data:`~mocap.export.animation.ZUP_TO_YUP`
(``(x, y, z) -> (x, z, -y)``), so a character facing -Y in our world faces +Z (glTF's front). Units metres.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mocap.errors import DataError
from mocap.export.animation import ZUP_TO_YUP, Animation, change_basis, fill_missing, resample


@dataclass
class SkinnedMesh:
    """A mesh bound to an animation's skeleton.

    Attributes:
        vertices: ``(V, 3)`` rest-pose positions, metres, in the same frame as the skeleton's rest pose
            (:meth:`Animation.rest_positions`).
        faces: ``(F, 3)`` vertex indices of triangles.
        weights: ``(V, J)`` skinning weights per joint (rows are normalised; the 4 largest are kept).
    """

    vertices: np.ndarray
    faces: np.ndarray
    weights: np.ndarray


def bone_mesh(anim: Animation, radius: float = 0.15) -> SkinnedMesh:
    """A simple skinned mesh: one octahedron per bone (parent -> child), rigidly bound to the parent.

    Args:
        anim: the skeleton.
        radius: octahedron width as a fraction of the bone length.
    """
    rest = anim.rest_positions()
    verts, faces, w = [], [], []
    for j in range(1, anim.n_joints):
        p = int(anim.parents[j])
        a, b = rest[p], rest[j]
        d = b - a
        length = float(np.linalg.norm(d))
        if length < 1e-6:
            continue
        u = d / length
        t = np.cross(u, [0.0, 0.0, 1.0]) if abs(u[2]) < 0.9 else np.cross(u, [1.0, 0.0, 0.0])
        t /= np.linalg.norm(t)
        s = np.cross(u, t)
        mid = a + 0.2 * d
        r = radius * length
        ring = [mid + r * t, mid + r * s, mid - r * t, mid - r * s]
        base = len(verts)
        verts += [a, *ring, b]
        for k in range(4):
            k2 = (k + 1) % 4
            faces.append((base, base + 1 + k2, base + 1 + k))
            faces.append((base + 5, base + 1 + k, base + 1 + k2))
        row = np.zeros(anim.n_joints)
        row[p] = 1.0
        w += [row] * 6
    if not verts:
        raise DataError("cannot build a bone mesh: the skeleton has no bone of non-zero length")
    return SkinnedMesh(np.array(verts), np.array(faces, dtype=np.int64), np.array(w))


def _top_influences(weights: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` (a multiple of 4) largest weights per vertex, renormalised: joint indices ``(V, n)`` uint16 and
    weights ``(V, n)`` float32 whose rows sum to 1 in float32 (unused slots: joint 0, weight 0)."""
    idx = np.argsort(-weights, axis=1, kind="stable")[:, :n]
    w = np.take_along_axis(weights, idx, axis=1)
    w = np.clip(w, 0.0, None)
    s = w.sum(1, keepdims=True)
    if np.any(s <= 0):
        raise DataError(f"{int((s <= 0).sum())} mesh vertices have no positive skinning weight")
    w = (w / s).astype(np.float32)
    # exact float32 normalisation: push the rounding residue into the largest weight
    w[:, 0] += np.float32(1.0) - w.sum(1, dtype=np.float32)
    idx = np.where(w > 0, idx, 0)
    if idx.shape[1] < n:  # fewer joints than slots
        pad = n - idx.shape[1]
        idx = np.pad(idx, ((0, 0), (0, pad)))
        w = np.pad(w, ((0, 0), (0, pad)))
    return idx.astype(np.uint16), w


def _vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``(V, 3)`` float32 unit area-weighted vertex normals (+Y for vertices in no triangle)."""
    v = np.asarray(v, float)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    n = np.where(length > 1e-20, n / np.where(length > 1e-20, length, 1.0), [0.0, 1.0, 0.0])
    return n.astype(np.float32)


class _Blob:
    """Accumulates buffer views and accessors in one binary buffer."""

    def __init__(self) -> None:
        import pygltflib as g

        self.g = g
        self.data = bytearray()
        self.views: list = []
        self.accessors: list = []

    def add(self, arr: np.ndarray, gl_type: str, component: int, target: int | None = None,
            minmax: bool = False, normalized: bool = False) -> int:
        g = self.g
        raw = np.ascontiguousarray(arr).tobytes()
        while len(self.data) % 4:
            self.data.append(0)
        self.views.append(g.BufferView(buffer=0, byteOffset=len(self.data), byteLength=len(raw), target=target))
        self.data += raw
        count = arr.shape[0]
        acc = g.Accessor(bufferView=len(self.views) - 1, byteOffset=0, componentType=component, count=count,
                         type=gl_type, normalized=normalized or None)
        if minmax:
            flat = arr.reshape(count, -1)
            acc.min = [float(v) for v in flat.min(0)]
            acc.max = [float(v) for v in flat.max(0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1


def write_gltf(anim: Animation, path: str | Path, mesh: SkinnedMesh | str | None = "bones", up: str = "y",
               fps: float | None = None, max_influences: int = 4) -> Path:
    """Write an animation as glTF 2.0 (``.gltf`` with an embedded buffer, or binary ``.glb``).

    Args:
        anim: the animation (metres, Z-up world). Frames with NaN are filled first and listed in extras.
        path: output file; ``.glb`` for binary, ``.gltf`` for JSON with an embedded base64 buffer.
        mesh: a :class:`SkinnedMesh` (in the skeleton's rest pose), ``"bones"`` (a simple bone mesh) or
            ``"none"``/``None`` (skeleton only). For a body model's mesh use
            :func:`mocap.export.body_mesh.body_skinned_animation` (or :func:`mocap.export.export_motion`).
        up: ``"y"`` (glTF's convention) or ``"z"`` (no axis change; not standard).
        fps: resample to this frame rate first (default: keep).
        max_influences: skinning weights kept per vertex, renormalised: 4 (``JOINTS_0``/``WEIGHTS_0``, what every
            viewer reads) or 8 (adds ``JOINTS_1``/``WEIGHTS_1``: exact for Anny's up to 9 influences, but some
            engines read only the first set).

    Returns:
        the path written.
    """
    import pygltflib as g

    path = Path(path)
    if path.suffix.lower() not in (".glb", ".gltf"):
        raise DataError(f"glTF output {path} must end in .glb or .gltf")
    if up not in ("y", "z"):
        raise DataError(f"up must be 'y' or 'z', got {up!r}")
    if max_influences not in (4, 8):
        raise DataError(f"max_influences must be 4 or 8, got {max_influences!r}")
    filled, mesh = prepare_animation(anim, fps, mesh)
    m = ZUP_TO_YUP if up == "y" else np.eye(3)
    a = change_basis(filled, m)
    T, J = a.n_frames, a.n_joints
    blob = _Blob()
    nodes = []
    for j in range(J):
        node = g.Node(name=a.joint_names[j], children=a.children(j) or None)
        t = a.offsets[j] if j > 0 else a.root_translation[0]
        node.translation = [float(v) for v in t]
        node.rotation = [float(v) for v in a.local_rotations[0, j]]
        nodes.append(node)
    skins = []
    if mesh is not None:
        rest = a.rest_positions()
        ibm = np.tile(np.eye(4, dtype=np.float32), (J, 1, 1))
        ibm[:, :3, 3] = -rest
        # glTF matrices are column-major: write the transpose of each row-major matrix
        skin_acc = blob.add(np.transpose(ibm, (0, 2, 1)).reshape(J, 16).astype(np.float32), "MAT4", g.FLOAT)
        skins.append(g.Skin(name="skeleton", joints=list(range(J)), skeleton=0, inverseBindMatrices=skin_acc))
    meshes = []
    scene_nodes = [0]
    if mesh is not None:
        v = np.asarray(mesh.vertices, float)
        f = np.asarray(mesh.faces)
        wts = np.asarray(mesh.weights, float)
        if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3 or wts.shape != (v.shape[0], J):
            raise DataError(f"mesh arrays have shapes vertices {v.shape}, faces {f.shape}, weights {wts.shape}; "
                            f"expected (V, 3), (F, 3), (V, {J})")
        if f.size and (f.min() < 0 or f.max() >= v.shape[0]):
            raise DataError(f"mesh faces index vertices outside 0..{v.shape[0] - 1}")
        vy = (v @ m.T).astype(np.float32)
        ji, jw = _top_influences(wts, max_influences)
        pos = blob.add(vy, "VEC3", g.FLOAT, target=g.ARRAY_BUFFER, minmax=True)
        nrm = blob.add(_vertex_normals(vy, f), "VEC3", g.FLOAT, target=g.ARRAY_BUFFER)
        attrs = g.Attributes(POSITION=pos, NORMAL=nrm)
        for k in range(max_influences // 4):
            setattr(attrs, f"JOINTS_{k}", blob.add(np.ascontiguousarray(ji[:, 4 * k:4 * k + 4]), "VEC4",
                                                   g.UNSIGNED_SHORT, target=g.ARRAY_BUFFER))
            setattr(attrs, f"WEIGHTS_{k}", blob.add(np.ascontiguousarray(jw[:, 4 * k:4 * k + 4]), "VEC4", g.FLOAT,
                                                    target=g.ARRAY_BUFFER))
        idx_type = g.UNSIGNED_INT if v.shape[0] > 65535 else g.UNSIGNED_SHORT
        ind = f.astype(np.uint32 if idx_type == g.UNSIGNED_INT else np.uint16).reshape(-1)
        ind_acc = blob.add(ind, "SCALAR", idx_type, target=g.ELEMENT_ARRAY_BUFFER)
        prim = g.Primitive(attributes=attrs, indices=ind_acc, mode=g.TRIANGLES)
        meshes.append(g.Mesh(name="body", primitives=[prim]))
        nodes.append(g.Node(name="body", mesh=0, skin=0))
        scene_nodes.append(len(nodes) - 1)
    times = (np.arange(T) / a.fps).astype(np.float32)
    t_acc = blob.add(times, "SCALAR", g.FLOAT, minmax=True)
    samplers, channels = [], []
    tr_acc = blob.add(a.root_translation.astype(np.float32), "VEC3", g.FLOAT)
    samplers.append(g.AnimationSampler(input=t_acc, output=tr_acc, interpolation="LINEAR"))
    channels.append(g.AnimationChannel(sampler=0, target=g.AnimationChannelTarget(node=0, path="translation")))
    q = a.local_rotations.astype(np.float32)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    end = set(a.end_sites)
    for j in range(J):
        if a.joint_names[j] in end and not a.children(j):
            continue
        acc = blob.add(np.ascontiguousarray(q[:, j]), "VEC4", g.FLOAT)
        samplers.append(g.AnimationSampler(input=t_acc, output=acc, interpolation="LINEAR"))
        channels.append(g.AnimationChannel(sampler=len(samplers) - 1,
                                           target=g.AnimationChannelTarget(node=j, path="rotation")))
    extras = {"fps": a.fps, "up": up}
    if not a.valid.all():
        extras["filled_frames"] = [int(i) for i in np.flatnonzero(~a.valid)]
    animations = [g.Animation(name=str(a.meta.get("name", "motion")), samplers=samplers, channels=channels,
                              extras=extras)]
    while len(blob.data) % 4:
        blob.data.append(0)
    gltf = g.GLTF2(asset=g.Asset(version="2.0", generator="mocap.export.gltf"), scene=0,
                   scenes=[g.Scene(nodes=scene_nodes)], nodes=nodes, meshes=meshes, skins=skins,
                   animations=animations, accessors=blob.accessors, bufferViews=blob.views,
                   buffers=[g.Buffer(byteLength=len(blob.data))])
    gltf.set_binary_blob(bytes(blob.data))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".glb":
        gltf.save_binary(str(path))
    else:
        gltf.convert_buffers(g.BufferFormat.DATAURI)
        gltf.save_json(str(path))
    return path


def prepare_animation(anim: Animation, fps: float | None, mesh: SkinnedMesh | str | None
                      ) -> tuple[Animation, SkinnedMesh | None]:
    """Shared first step of the rigged writers (glTF, FBX): fill missing frames, resample, resolve ``mesh``.

    Args:
        anim: the animation; fps: resample to this rate (None: keep).
        mesh: a :class:`SkinnedMesh`, ``"bones"`` (a generated bone mesh), ``"none"`` or None.

    Returns:
        The filled (and resampled) animation and the mesh to write (or None).
    """
    filled = fill_missing(anim)
    if fps is not None:
        filled = resample(filled, fps)
    if isinstance(mesh, str):
        if mesh == "bones":
            mesh = bone_mesh(filled)
        elif mesh == "none":
            mesh = None
        else:
            raise DataError(f"unknown mesh option {mesh!r}; use 'bones', 'none' or a SkinnedMesh")
    if mesh is not None and not isinstance(mesh, SkinnedMesh):
        raise DataError("mesh must be a SkinnedMesh, 'bones' or None")
    return filled, mesh
