"""A stand-in SMPL-X model file with the real structure, for TESTS ONLY.

The real SMPL-X files are licence-restricted (registration at https://smpl-x.is.tue.mpg.de). This generator writes
an ``.npz`` with exactly the arrays and shapes a real ``SMPLX_NEUTRAL.npz`` has for the ``smplx`` package
(``v_template (10475, 3)``, ``f (20908, 3)``, ``shapedirs (10475, 3, 20)``, ``posedirs (10475, 3, 486)``,
``J_regressor (55, 10475)``, ``kintree_table (2, 55)``, ``weights (10475, 55)``, hand PCA and face landmark arrays),
describing a crude capsule humanoid in the SMPL-X T-pose frame (metres, y up, +x = body's left, +z = forward).
The vertex ids that ``smplx`` hard-codes (nose, eyes, ears, toes, heels, fingertips) sit at those landmarks.

It is NOT a body model anyone should animate: use it to exercise code paths and fitting accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

N_VERTS = 10475
N_FACES = 20908
N_JOINTS = 55

# SMPL-X joint names (the first 55 of smplx.joint_names.JOINT_NAMES) and parents
SMPLX_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "jaw", "left_eye_smplhf",
    "right_eye_smplhf",
    "left_index1", "left_index2", "left_index3", "left_middle1", "left_middle2", "left_middle3",
    "left_pinky1", "left_pinky2", "left_pinky3", "left_ring1", "left_ring2", "left_ring3",
    "left_thumb1", "left_thumb2", "left_thumb3",
    "right_index1", "right_index2", "right_index3", "right_middle1", "right_middle2", "right_middle3",
    "right_pinky1", "right_pinky2", "right_pinky3", "right_ring1", "right_ring2", "right_ring3",
    "right_thumb1", "right_thumb2", "right_thumb3",
)
SMPLX_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)

# left-side and centre joint positions of the T-pose (mirrored for the right side)
_LEFT = {
    "pelvis": (0.0, 0.0, 0.0), "left_hip": (0.09, -0.08, 0.0), "spine1": (0.0, 0.11, -0.01),
    "left_knee": (0.10, -0.47, 0.01), "spine2": (0.0, 0.24, 0.0), "left_ankle": (0.10, -0.87, -0.03),
    "spine3": (0.0, 0.30, 0.01), "left_foot": (0.11, -0.93, 0.10), "neck": (0.0, 0.52, -0.02),
    "left_collar": (0.07, 0.44, -0.01), "head": (0.0, 0.60, 0.02), "left_shoulder": (0.17, 0.46, -0.02),
    "left_elbow": (0.43, 0.46, -0.03), "left_wrist": (0.68, 0.46, -0.02), "jaw": (0.0, 0.62, 0.04),
    "left_eye_smplhf": (0.03, 0.67, 0.09),
    "left_index1": (0.77, 0.46, 0.02), "left_index2": (0.81, 0.46, 0.02), "left_index3": (0.835, 0.46, 0.02),
    "left_middle1": (0.775, 0.46, 0.0), "left_middle2": (0.82, 0.46, 0.0), "left_middle3": (0.85, 0.46, 0.0),
    "left_pinky1": (0.76, 0.46, -0.04), "left_pinky2": (0.79, 0.46, -0.04), "left_pinky3": (0.81, 0.46, -0.04),
    "left_ring1": (0.77, 0.46, -0.02), "left_ring2": (0.81, 0.46, -0.02), "left_ring3": (0.835, 0.46, -0.02),
    "left_thumb1": (0.70, 0.45, 0.03), "left_thumb2": (0.73, 0.45, 0.05), "left_thumb3": (0.76, 0.45, 0.06),
}

# smplx.vertex_ids.vertex_ids["smplx"]: id -> (position (left side / centre), joint it follows)
_LANDMARKS = {
    "nose": (9120, (0.0, 0.63, 0.11), "head"), "leye": (9448, (0.03, 0.67, 0.09), "head"),
    "reye": (9929, (-0.03, 0.67, 0.09), "head"), "lear": (6, (0.075, 0.64, 0.0), "head"),
    "rear": (616, (-0.075, 0.64, 0.0), "head"),
    "LBigToe": (5770, (0.11, -0.95, 0.17), "left_foot"), "LSmallToe": (5780, (0.16, -0.95, 0.13), "left_foot"),
    "LHeel": (8846, (0.10, -0.95, -0.07), "left_ankle"),
    "RBigToe": (8463, (-0.11, -0.95, 0.17), "right_foot"), "RSmallToe": (8474, (-0.16, -0.95, 0.13), "right_foot"),
    "RHeel": (8635, (-0.10, -0.95, -0.07), "right_ankle"),
    "lthumb": (5361, (0.785, 0.45, 0.07), "left_thumb3"), "lindex": (4933, (0.86, 0.46, 0.02), "left_index3"),
    "lmiddle": (5058, (0.875, 0.46, 0.0), "left_middle3"), "lring": (5169, (0.86, 0.46, -0.02), "left_ring3"),
    "lpinky": (5286, (0.83, 0.46, -0.04), "left_pinky3"),
    "rthumb": (8079, (-0.785, 0.45, 0.07), "right_thumb3"), "rindex": (7669, (-0.86, 0.46, 0.02), "right_index3"),
    "rmiddle": (7794, (-0.875, 0.46, 0.0), "right_middle3"), "rring": (7905, (-0.86, 0.46, -0.02), "right_ring3"),
    "rpinky": (8022, (-0.83, 0.46, -0.04), "right_pinky3"),
}


def standin_joints() -> np.ndarray:
    """``(55, 3)`` T-pose joint positions of the stand-in, metres (y up, +x = left, +z = forward)."""
    out = np.zeros((N_JOINTS, 3))
    for i, name in enumerate(SMPLX_JOINT_NAMES):
        if name in _LEFT:
            out[i] = _LEFT[name]
        else:
            mirror = name.replace("right_", "left_")
            x, y, z = _LEFT[mirror]
            out[i] = (-x, y, z)
    return out


def _radius(child: str) -> float:
    if any(k in child for k in ("index", "middle", "ring", "pinky", "thumb")):
        return 0.009
    if "spine" in child or child == "neck":
        return 0.12 if child != "neck" else 0.05
    if "knee" in child:
        return 0.075
    if "ankle" in child:
        return 0.05
    if "foot" in child:
        return 0.04
    if "elbow" in child or "shoulder" in child:
        return 0.045
    if "wrist" in child:
        return 0.035
    if "hip" in child or "collar" in child:
        return 0.06
    return 0.04


def _cylinder(a: np.ndarray, b: np.ndarray, r: float, n_seg: int, n_ring: int) -> tuple[np.ndarray, np.ndarray,
                                                                                      list[tuple[int, int, int]]]:
    """Vertices ``(n_ring*n_seg, 3)``, their fraction along the bone, and faces of a capped-less tube."""
    d = b - a
    length = np.linalg.norm(d)
    u = d / max(length, 1e-9)
    ref = np.array([0.0, 1.0, 0.0]) if abs(u[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(u, ref)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(u, e1)
    s = np.linspace(0.0, 1.0, n_ring)
    ang = 2 * np.pi * np.arange(n_seg) / n_seg
    verts = (a[None, None] + s[:, None, None] * d[None, None]
             + r * (np.cos(ang)[None, :, None] * e1 + np.sin(ang)[None, :, None] * e2))
    faces = []
    for i in range(n_ring - 1):
        for k in range(n_seg):
            a0, a1 = i * n_seg + k, i * n_seg + (k + 1) % n_seg
            b0, b1 = a0 + n_seg, a1 + n_seg
            faces += [(a0, a1, b1), (a0, b1, b0)]
    return verts.reshape(-1, 3), np.repeat(s, n_seg), faces


def _sphere(c: np.ndarray, r: float, n_lat: int, n_lon: int) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    lat = np.linspace(0.15, np.pi - 0.15, n_lat)
    lon = 2 * np.pi * np.arange(n_lon) / n_lon
    v = np.stack([np.sin(lat)[:, None] * np.cos(lon)[None], np.cos(lat)[:, None] * np.ones_like(lon)[None],
                  np.sin(lat)[:, None] * np.sin(lon)[None]], -1).reshape(-1, 3)
    faces = []
    for i in range(n_lat - 1):
        for k in range(n_lon):
            a0, a1 = i * n_lon + k, i * n_lon + (k + 1) % n_lon
            faces += [(a0, a1 + n_lon, a1), (a0, a0 + n_lon, a1 + n_lon)]
    return c[None] + r * v, faces


def make_standin_smplx(path: str | Path | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Build the stand-in SMPL-X arrays (and save them as ``.npz`` when ``path`` is given).

    Args:
        path: output file (e.g. ``tmp/SMPLX_NEUTRAL.npz``), or None to only return the arrays.
        seed: seed of the small random shape / pose-corrective components.

    Returns:
        the arrays by name, as a real SMPL-X ``.npz`` holds them.
    """
    rng = np.random.default_rng(seed)
    J = standin_joints()
    idx = {n: i for i, n in enumerate(SMPLX_JOINT_NAMES)}
    parents = np.array(SMPLX_PARENTS)
    special = {vid for vid, _, _ in _LANDMARKS.values()}
    free_ids = [i for i in range(N_VERTS) if i not in special]
    pos, wts, faces = [], [], []  # mesh vertices in allocation order
    n_used = 0

    def add(verts: np.ndarray, weights: np.ndarray, fcs: list[tuple[int, int, int]]) -> None:
        nonlocal n_used
        base = n_used
        pos.append(verts)
        wts.append(weights)
        faces.extend([(base + a, base + b, base + c) for a, b, c in fcs])
        n_used += len(verts)

    for c in range(1, N_JOINTS):
        name = SMPLX_JOINT_NAMES[c]
        if name in ("jaw", "left_eye_smplhf", "right_eye_smplhf"):
            continue
        p = parents[c]
        n_seg, n_ring = (6, 3) if _radius(name) < 0.01 else (14, 7)
        v, s, f = _cylinder(J[p], J[c], _radius(name), n_seg, n_ring)
        w = np.zeros((len(v), N_JOINTS))
        gp = parents[p]
        w_end = 0.5 * np.clip((s - 0.7) / 0.3, 0, 1)
        w_start = 0.5 * np.clip((0.3 - s) / 0.3, 0, 1) if gp >= 0 else 0 * s
        w[:, p] = 1 - w_end - w_start
        w[:, c] += w_end
        if gp >= 0:
            w[:, gp] += w_start
        add(v, w, f)
    # head sphere, feet and fingertip tubes
    v, f = _sphere(J[idx["head"]] + [0, 0.05, 0.02], 0.1, 12, 20)
    w = np.zeros((len(v), N_JOINTS))
    w[:, idx["head"]] = 1
    add(v, w, f)
    for key, (_, tip, joint) in _LANDMARKS.items():
        if key in ("nose", "leye", "reye", "lear", "rear") or "Heel" in key:
            continue
        r = 0.008 if joint.endswith("3") else 0.03
        v, _, f = _cylinder(J[idx[joint]], np.asarray(tip), r, 6, 3)
        w = np.zeros((len(v), N_JOINTS))
        w[:, idx[joint]] = 1
        add(v, w, f)
    mesh_v = np.concatenate(pos)
    mesh_w = np.concatenate(wts)
    # joint-regressor vertices: 4 per joint, a tetrahedron around it, rigid with the joint
    tet = 0.01 * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)
    jr_v = (J[:, None] + tet[None]).reshape(-1, 3)
    jr_w = np.repeat(np.eye(N_JOINTS), 4, axis=0)
    n_pad = len(free_ids) - len(mesh_v) - len(jr_v)
    if n_pad < 0:
        raise RuntimeError(f"stand-in mesh too large: {len(mesh_v)} + {len(jr_v)} > {len(free_ids)}")
    pad_v = np.repeat(J[:1], n_pad, axis=0)
    pad_w = np.zeros((n_pad, N_JOINTS))
    pad_w[:, 0] = 1
    all_v = np.concatenate([mesh_v, jr_v, pad_v])
    all_w = np.concatenate([mesh_w, jr_w, pad_w])
    ids = np.asarray(free_ids)
    v_template = np.zeros((N_VERTS, 3))
    weights = np.zeros((N_VERTS, N_JOINTS))
    v_template[ids] = all_v
    weights[ids] = all_w
    for _, (vid, p, joint) in _LANDMARKS.items():
        v_template[vid] = p
        weights[vid, idx[joint]] = 1
    faces_arr = ids[np.asarray(faces)]
    if len(faces_arr) > N_FACES:
        raise RuntimeError(f"stand-in mesh has {len(faces_arr)} faces > {N_FACES}")
    pad_vertex = ids[len(mesh_v) + len(jr_v)] if n_pad else ids[0]
    faces_arr = np.concatenate([faces_arr, np.full((N_FACES - len(faces_arr), 3), pad_vertex)])
    jr_rows = ids[len(mesh_v): len(mesh_v) + len(jr_v)].reshape(N_JOINTS, 4)
    J_regressor = np.zeros((N_JOINTS, N_VERTS))
    for j in range(N_JOINTS):
        J_regressor[j, jr_rows[j]] = 0.25
    shapedirs = _shape_dirs(v_template, rng)
    posedirs = rng.normal(0.0, 2e-4, size=(N_VERTS, 3, 486))
    head_faces = np.flatnonzero((weights[faces_arr[:, 0], idx["head"]] > 0.99)
                                & (faces_arr[:, 0] != faces_arr[:, 1]))
    arrays = {
        "v_template": v_template,
        "f": faces_arr.astype(np.int32),
        "shapedirs": shapedirs.astype(np.float32),
        "posedirs": posedirs.astype(np.float32),
        "J_regressor": J_regressor,
        "kintree_table": np.stack([np.where(parents < 0, 4294967295, parents), np.arange(N_JOINTS)]).astype(np.int64),
        "weights": weights,
        "hands_componentsl": np.eye(45),
        "hands_componentsr": np.eye(45),
        "hands_meanl": np.zeros(45),
        "hands_meanr": np.zeros(45),
        "lmk_faces_idx": head_faces[:51].astype(np.int64),
        "lmk_bary_coords": np.full((51, 3), 1.0 / 3.0),
    }
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **arrays)
    return arrays


def _shape_dirs(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(V, 3, 20)``: 10 body-shape directions (scale, legs, arms, width, torso, 5 smooth random) + 10 face."""
    x, y, z = v.T
    d = np.zeros((len(v), 3, 20))
    d[:, :, 0] = 0.05 * v  # overall size
    d[:, 1, 1] = 0.04 * np.clip(y + 0.08, None, 0) / 0.87  # leg length
    d[:, 0, 2] = 0.04 * np.sign(x) * np.clip(np.abs(x) - 0.17, 0, None) / 0.5 * (y > 0.3)  # arm length
    d[:, 0, 3] = 0.15 * np.clip(x, -0.2, 0.2)  # width
    d[:, 1, 4] = 0.04 * np.clip(y - 0.1, 0, None) / 0.5  # torso length
    for k in range(5, 10):
        f = rng.normal(size=(3, 3))
        ph = rng.uniform(0, 2 * np.pi, size=3)
        d[:, :, k] = 0.01 * np.sin(v @ f + ph)
    head = (y > 0.55).astype(float)
    for k in range(10, 20):
        d[:, :, k] = 0.003 * head[:, None] * rng.normal(size=(1, 3))
    return d
