"""FBX (binary 7.4) export of a skeleton animation, with an optional skinned mesh and bind pose.

The scene: a Null model (the armature, named ``armature_name``) at the scene root holding a LimbNode model per
joint (rest ``Lcl Translation`` = the bone offset, rest rotation identity) with a Skeleton NodeAttribute; one
AnimationStack/AnimationLayer with a translation curve node on the root and a rotation curve node on every
animated joint; Euler angles in degrees in FBX's default ``XYZ`` order (``R = Rz @ Ry @ Rx``), unwrapped over time;
key times in FBX ticks (46186158000 per second), frame ``i`` at ``i / fps`` seconds. The frame rate is stored as a
custom ``TimeMode``.

Optional mesh (:class:`~mocap.export.gltf.SkinnedMesh` or ``"bones"``): a Mesh model with a Skin deformer, one
Cluster per influencing joint (``Transform`` / ``TransformLink`` matrices of the rest pose) and a BindPose.

Axes and units: Y up (``(x, y, z) -> (x, z, -y)``, GlobalSettings UpAxis +Y, FrontAxis +Z, CoordAxis +X), in
``units`` (``"cm"`` is FBX's native unit, ``UnitScaleFactor`` 1; ``"m"`` writes 100). Filled frames (from missing
data) are keyed like the others; BVH/FBX cannot flag them, the glTF writer lists them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from mocap.errors import DataError
from mocap.export.animation import UNIT_SCALE, ZUP_TO_YUP, Animation, change_basis
from mocap.export.fbx_binary import Int64, Node, Raw, write_fbx_nodes
from mocap.geometry.rotations import matrix_to_euler, quat_xyzw_to_matrix

#: FBX time ticks per second.
KTIME = 46186158000


def _p(name: str, type_: str, label: str, flags: str, *values) -> Node:
    return Node("P", name, type_, label, flags, *values)


def _props70(*ps: Node) -> Node:
    return Node("Properties70", children=list(ps))


def _name(name: str, cls: str) -> bytes:
    return name.encode("utf-8") + b"\x00\x01" + cls.encode("ascii")


class _Ids:
    def __init__(self) -> None:
        self.n = 1_000_000

    def __call__(self) -> Int64:
        self.n += 1
        return Int64(self.n)


def _curve(uid: int, times: np.ndarray, values: np.ndarray) -> Node:
    n = int(times.size)
    return Node("AnimationCurve", uid, _name("", "AnimCurve"), "", children=[
        Node("Default", float(values[0]) if n else 0.0),
        Node("KeyVer", 4008),
        Node("KeyTime", times.astype("<i8")),
        Node("KeyValueFloat", values.astype("<f4")),
        Node("KeyAttrFlags", np.array([4], "<i4")),  # linear interpolation
        Node("KeyAttrDataFloat", np.zeros(4, "<f4")),
        Node("KeyAttrRefCount", np.array([n], "<i4")),
    ])


def _model(uid: int, name: str, kind: str, translation: np.ndarray) -> Node:
    t = [float(v) for v in translation]
    return Node("Model", uid, _name(name, "Model"), kind, children=[
        Node("Version", 232),
        _props70(
            _p("RotationActive", "bool", "", "", 1),
            _p("InheritType", "enum", "", "", 1),
            _p("DefaultAttributeIndex", "int", "Integer", "", 0),
            _p("Lcl Translation", "Lcl Translation", "", "A", *t),
            _p("Lcl Rotation", "Lcl Rotation", "", "A", 0.0, 0.0, 0.0),
            _p("Lcl Scaling", "Lcl Scaling", "", "A", 1.0, 1.0, 1.0),
        ),
        Node("Shading", True),
        Node("Culling", "CullingOff"),
    ])


def _matrix(m: np.ndarray) -> np.ndarray:
    """A 4x4 row-major transform as FBX's 16 doubles (column-major: translation at 12..14)."""
    return np.ascontiguousarray(np.asarray(m, float).T).reshape(16)


def _euler_xyz_deg(L: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` -> ``(T, 3)`` FBX XYZ Euler angles (x, y, z) in degrees, unwrapped over time."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scipy's gimbal-lock note: the rotation stays exact
        zyx = matrix_to_euler(L, "ZYX")
    xyz = np.rad2deg(zyx[:, ::-1])
    return np.rad2deg(np.unwrap(np.deg2rad(xyz), axis=0))


def write_fbx(anim: Animation, path: str | Path, units: str = "cm", fps: float | None = None,
              mesh=None, armature_name: str = "Armature") -> Path:  # noqa: ANN001
    """Write an animation as binary FBX 7.4.

    Args:
        anim: the animation (metres, Z-up world); frames with NaN are filled first.
        path: output ``.fbx``.
        units: ``"cm"`` (FBX default), ``"m"`` or ``"mm"``.
        fps: resample to this frame rate first (default: keep).
        mesh: ``None``, ``"bones"`` (a simple bone mesh) or a :class:`~mocap.export.gltf.SkinnedMesh` in the rest
            pose (same frame as the skeleton's rest positions).
        armature_name: name of the Null that holds the skeleton.

    Returns:
        the path written.
    """
    from mocap.export.gltf import prepare_animation

    if units not in UNIT_SCALE:
        raise DataError(f"unknown units {units!r}; use one of {list(UNIT_SCALE)}")
    filled, mesh = prepare_animation(anim, fps, mesh)
    scale = UNIT_SCALE[units]
    a = change_basis(filled, ZUP_TO_YUP, scale)
    T, J = a.n_frames, a.n_joints
    ids = _Ids()
    objects: list[Node] = []
    conns: list[Node] = []

    def oo(child: int, parent: int) -> None:
        conns.append(Node("C", "OO", Int64(child), Int64(parent)))

    def op(child: int, parent: int, prop: str) -> None:
        conns.append(Node("C", "OP", Int64(child), Int64(parent), prop))

    arm = ids()
    objects.append(Node("NodeAttribute", (arm_attr := ids()), _name(armature_name, "NodeAttribute"), "Null",
                        children=[Node("TypeFlags", "Null")]))
    objects.append(_model(arm, armature_name, "Null", np.zeros(3)))
    oo(arm, 0)
    oo(arm_attr, arm)
    joint_ids = []
    rest_local = a.offsets.copy()
    for j in range(J):
        uid = ids()
        joint_ids.append(uid)
        objects.append(_model(uid, a.joint_names[j], "LimbNode", rest_local[j]))
        attr = ids()
        size = float(np.linalg.norm(a.offsets[j])) if j > 0 else 10.0 * scale / 100.0
        objects.append(Node("NodeAttribute", attr, _name(a.joint_names[j], "NodeAttribute"), "LimbNode",
                            children=[_props70(_p("Size", "double", "Number", "", max(size, 1e-3))),
                                      Node("TypeFlags", "Skeleton")]))
        oo(attr, uid)
        oo(uid, arm if j == 0 else joint_ids[a.parents[j]])

    n_models = J + 1
    n_geom = n_deformers = n_poses = 0
    if mesh is not None:
        n_models += 1
        n_geom, n_poses, n_deformers = 1, 1, 1
        n_deformers += _write_mesh(a, mesh, scale, ids, objects, oo, joint_ids)[0]

    # animation
    times = (np.arange(T, dtype=np.float64) * KTIME / a.fps).round().astype(np.int64)
    stack, layer = ids(), ids()
    stop = Int64(int(times[-1]))
    objects.append(Node("AnimationStack", stack, _name("mocap", "AnimStack"), "", children=[_props70(
        _p("LocalStart", "KTime", "Time", "", Int64(0)), _p("LocalStop", "KTime", "Time", "", stop),
        _p("ReferenceStart", "KTime", "Time", "", Int64(0)), _p("ReferenceStop", "KTime", "Time", "", stop))]))
    objects.append(Node("AnimationLayer", layer, _name("BaseLayer", "AnimLayer"), ""))
    oo(layer, stack)
    n_nodes = n_curves = 0

    def curve_node(model_uid: int, kind: str, values: np.ndarray) -> None:
        nonlocal n_nodes, n_curves
        cn = ids()
        prop = {"T": "Lcl Translation", "R": "Lcl Rotation"}[kind]
        objects.append(Node("AnimationCurveNode", cn, _name(kind, "AnimCurveNode"), "", children=[_props70(
            *[_p(f"d|{ax}", "Number", "", "A", float(values[0, k])) for k, ax in enumerate("XYZ")])]))
        oo(cn, layer)
        op(cn, model_uid, prop)
        n_nodes += 1
        for k, ax in enumerate("XYZ"):
            cu = ids()
            objects.append(_curve(cu, times, values[:, k]))
            op(cu, cn, f"d|{ax}")
            n_curves += 1

    curve_node(joint_ids[0], "T", a.root_translation)
    L = quat_xyzw_to_matrix(a.local_rotations)
    end = set(a.end_sites)
    for j in range(J):
        if a.joint_names[j] in end and not a.children(j):
            continue
        curve_node(joint_ids[j], "R", _euler_xyz_deg(L[:, j]))

    counts = {"GlobalSettings": 1, "Model": n_models, "NodeAttribute": J + 1, "Geometry": n_geom,
              "Deformer": n_deformers, "Pose": n_poses, "AnimationStack": 1, "AnimationLayer": 1,
              "AnimationCurveNode": n_nodes, "AnimationCurve": n_curves}
    counts = {k: v for k, v in counts.items() if v}
    definitions = Node("Definitions", children=[Node("Version", 100), Node("Count", sum(counts.values()))]
                       + [Node("ObjectType", k, children=[Node("Count", v)]) for k, v in counts.items()])
    top = [
        _header(),
        Node("FileId", Raw(bytes.fromhex("28b32aebb624ccc2bfc8b02aa92bfcf1"))),
        Node("CreationTime", "1970-01-01 10:00:00:000"),
        Node("Creator", "mocap.export.fbx"),
        _global_settings(a.fps, stop, {"cm": 1.0, "m": 100.0, "mm": 0.1}[units]),
        Node("Documents", children=[Node("Count", 1), Node("Document", ids(), "Scene", "Scene", children=[
            _props70(_p("ActiveAnimStackName", "KString", "", "", "mocap")), Node("RootNode", Int64(0))])]),
        Node("References"),
        definitions,
        Node("Objects", children=objects),
        Node("Connections", children=conns),
        Node("Takes", children=[Node("Current", "mocap"), Node("Take", "mocap", children=[
            Node("FileName", "mocap.tak"), Node("LocalTime", Int64(0), stop),
            Node("ReferenceTime", Int64(0), stop)])]),
    ]
    return write_fbx_nodes(top, path)


def _header() -> Node:
    return Node("FBXHeaderExtension", children=[
        Node("FBXHeaderVersion", 1003), Node("FBXVersion", 7400), Node("EncryptionType", 0),
        Node("CreationTimeStamp", children=[Node("Version", 1000), Node("Year", 1970), Node("Month", 1),
                                            Node("Day", 1), Node("Hour", 10), Node("Minute", 0), Node("Second", 0),
                                            Node("Millisecond", 0)]),
        Node("Creator", "mocap.export.fbx"),
    ])


def _global_settings(fps: float, stop: int, unit_factor: float) -> Node:
    return Node("GlobalSettings", children=[Node("Version", 1000), _props70(
        _p("UpAxis", "int", "Integer", "", 1), _p("UpAxisSign", "int", "Integer", "", 1),
        _p("FrontAxis", "int", "Integer", "", 2), _p("FrontAxisSign", "int", "Integer", "", 1),
        _p("CoordAxis", "int", "Integer", "", 0), _p("CoordAxisSign", "int", "Integer", "", 1),
        _p("OriginalUpAxis", "int", "Integer", "", 1), _p("OriginalUpAxisSign", "int", "Integer", "", 1),
        _p("UnitScaleFactor", "double", "Number", "", float(unit_factor)),
        _p("OriginalUnitScaleFactor", "double", "Number", "", float(unit_factor)),
        _p("TimeMode", "enum", "", "", 14), _p("TimeProtocol", "enum", "", "", 2),
        _p("SnapOnFrameMode", "enum", "", "", 0),
        _p("TimeSpanStart", "KTime", "Time", "", Int64(0)), _p("TimeSpanStop", "KTime", "Time", "", Int64(stop)),
        _p("CustomFrameRate", "double", "Number", "", float(fps)),
        _p("CurrentTimeMarker", "int", "Integer", "", -1),
    )])


def _write_mesh(a: Animation, mesh, scale: float, ids: _Ids, objects: list[Node], oo, joint_ids: list[int]):  # noqa: ANN001
    """Mesh model + geometry + skin + clusters + bind pose. Returns (number of clusters,)."""
    J = a.n_joints
    v = np.asarray(mesh.vertices, float) @ ZUP_TO_YUP.T * scale
    f = np.asarray(mesh.faces, np.int64)
    w = np.asarray(mesh.weights, float)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3 or w.shape != (v.shape[0], J):
        raise DataError(f"mesh arrays have shapes vertices {v.shape}, faces {f.shape}, weights {w.shape}; "
                        f"expected (V, 3), (F, 3), (V, {J})")
    if f.size and (f.min() < 0 or f.max() >= v.shape[0]):
        raise DataError(f"mesh faces index vertices outside 0..{v.shape[0] - 1}")
    w = np.clip(w, 0, None)
    w = w / np.maximum(w.sum(1, keepdims=True), 1e-12)
    poly = f.copy()
    poly[:, 2] = -poly[:, 2] - 1  # the last index of each polygon is stored as -(i + 1)
    geom, model, skin, pose = ids(), ids(), ids(), ids()
    objects.append(Node("Geometry", geom, _name("body", "Geometry"), "Mesh", children=[
        _props70(), Node("GeometryVersion", 124),
        Node("Vertices", v.astype("<f8").reshape(-1)),
        Node("PolygonVertexIndex", poly.astype("<i4").reshape(-1)),
    ]))
    objects.append(_model(model, "body", "Mesh", np.zeros(3)))
    oo(geom, model)
    oo(model, 0)
    objects.append(Node("Deformer", skin, _name("body", "Deformer"), "Skin", children=[
        Node("Version", 101), Node("Link_DeformAcuracy", 50.0)]))
    oo(skin, geom)
    rest = a.rest_positions()
    pose_nodes = [Node("PoseNode", children=[Node("Node", model), Node("Matrix", _matrix(np.eye(4)))])]
    n_clusters = 0
    for j in range(J):
        link = np.eye(4)
        link[:3, 3] = rest[j]
        pose_nodes.append(Node("PoseNode", children=[Node("Node", joint_ids[j]), Node("Matrix", _matrix(link))]))
        idx = np.flatnonzero(w[:, j] > 0)
        if idx.size == 0:
            continue
        cl = ids()
        objects.append(Node("Deformer", cl, _name(a.joint_names[j], "SubDeformer"), "Cluster", children=[
            Node("Version", 100), Node("UserData", "", ""),
            Node("Indexes", idx.astype("<i4")), Node("Weights", w[idx, j].astype("<f8")),
            Node("Transform", _matrix(np.linalg.inv(link))), Node("TransformLink", _matrix(link)),
        ]))
        oo(cl, skin)
        oo(joint_ids[j], cl)
        n_clusters += 1
    objects.append(Node("Pose", pose, _name("BindPose", "Pose"), "BindPose", children=[
        Node("Type", "BindPose"), Node("Version", 100), Node("NbPoseNodes", len(pose_nodes)), *pose_nodes]))
    return (n_clusters,)
