"""3D keypoints -> an animated standard skeleton, by bone-direction fitting (no body model needed).

The standard skeleton is the first 22 joints of SMPL-X (``pelvis`` ... ``right_wrist``, same names and parents), so
the naming profiles of :mod:`mocap.export.profiles` apply to it. Its rest pose is a T-pose in our Z-up world facing
-Y (the character's left is +X), with bone lengths and torso offsets measured from the data (medians over frames,
left/right symmetric).

Per frame:

- joints with several children (pelvis, spine3) get the rotation that best aligns their rest child offsets with
  the observed child vectors (Kabsch/SVD);
- joints with one child get the smallest rotation ("swing") taking the rest bone direction, as carried by the
  parent, to the observed direction; hips, shoulders and knees then turn about their bone ("twist") so that the
  next bone bends in the plane the rest pose says (knees bend forward, elbows backward, feet point forward),
  faded out as that bone straightens (where the plane is undefined the twist stays minimal);
- leaves keep the identity.

Targets come from any registered joint set through :func:`mocap.skeletons.mapping.map_keypoints` to ``halpe26``
(spine joints are placed along the pelvis->neck line, collars between the neck and the shoulders). Frames where a
rotation cannot be determined (its keypoints missing) are interpolated and flagged ``valid = False``.
"""

from __future__ import annotations

import numpy as np

from mocap.errors import KeypointsError
from mocap.export.animation import Animation, fill_missing
from mocap.geometry.rotations import matrix_to_quat_xyzw

#: Standard skeleton: SMPL-X body joints 0..21 (names, parents).
STANDARD_JOINTS = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
STANDARD_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)

# Rest directions of limb bones (child joint -> unit direction from its parent), T-pose, facing -Y, left +X.
_LIMB_DIRS = {
    "left_knee": (0, 0, -1), "right_knee": (0, 0, -1), "left_ankle": (0, 0, -1), "right_ankle": (0, 0, -1),
    "left_foot": (0, -1, 0), "right_foot": (0, -1, 0), "head": (0, 0, 1),
    "left_elbow": (1, 0, 0), "right_elbow": (-1, 0, 0), "left_wrist": (1, 0, 0), "right_wrist": (-1, 0, 0),
}
# Twist hints: joint -> direction (rest frame) toward which its grandchild bends from the child.
_BEND = {
    "left_hip": (0, 1, 0), "right_hip": (0, 1, 0),  # shin swings back when the knee bends
    "left_knee": (0, -1, 0), "right_knee": (0, -1, 0),  # the foot points forward
    "left_shoulder": (0, -1, 0), "right_shoulder": (0, -1, 0),  # forearm swings forward
}


def _idx(name: str) -> int:
    return STANDARD_JOINTS.index(name)


def standard_targets(xyz: np.ndarray, joint_set: str) -> np.ndarray:
    """Target positions of the standard skeleton from keypoints of any joint set.

    Args:
        xyz: ``(T, J_src, 3)`` keypoints, metres, NaN where missing.
        joint_set: their joint-set name.

    Returns:
        ``(T, 22, 3)`` targets (NaN where they cannot be derived).
    """
    from mocap.skeletons.mapping import map_keypoints

    if joint_set == "smplx55" or joint_set.startswith("smplx"):
        return np.asarray(xyz, float)[:, :22].copy()
    h = map_keypoints(np.asarray(xyz, float), joint_set, "halpe26")
    names = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
             "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
             "right_knee", "left_ankle", "right_ankle", "head_top", "neck", "mid_hip", "left_big_toe",
             "right_big_toe", "left_small_toe", "right_small_toe", "left_heel", "right_heel")
    k = {n: h[:, i] for i, n in enumerate(names)}
    T = h.shape[0]
    out = np.full((T, 22, 3), np.nan)
    pelvis = 0.5 * (k["left_hip"] + k["right_hip"])
    pelvis = np.where(np.isfinite(pelvis), pelvis, k["mid_hip"])
    neck = 0.5 * (k["left_shoulder"] + k["right_shoulder"])
    neck = np.where(np.isfinite(neck), neck, k["neck"])
    ears = 0.5 * (k["left_ear"] + k["right_ear"])
    head = np.where(np.isfinite(ears), ears, k["nose"])
    head = np.where(np.isfinite(head), head, k["head_top"])
    out[:, _idx("pelvis")] = pelvis
    for side in ("left", "right"):
        for j in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
            out[:, _idx(f"{side}_{j}")] = k[f"{side}_{j}"]
        toe = k[f"{side}_big_toe"]
        small = k[f"{side}_small_toe"]
        toe = np.where(np.isfinite(small), 0.5 * (toe + small), toe) if np.isfinite(toe).any() else small
        out[:, _idx(f"{side}_foot")] = toe
        out[:, _idx(f"{side}_collar")] = neck + 0.35 * (k[f"{side}_shoulder"] - neck)
    for i, f in ((1, 0.25), (2, 0.5), (3, 0.75)):
        out[:, _idx(f"spine{i}")] = pelvis + f * (neck - pelvis)
    out[:, _idx("neck")] = neck
    out[:, _idx("head")] = head
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 1e-12, n, np.nan)


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotations ``(N, 3, 3)`` taking unit vectors ``a`` to ``b`` ``(N, 3)`` (NaN rows stay NaN)."""
    c = np.cross(a, b)
    d = np.sum(a * b, axis=-1)
    # anti-parallel: rotate pi about any axis orthogonal to a
    ortho = np.cross(a, np.array([1.0, 0, 0]))
    ortho = np.where(np.linalg.norm(ortho, axis=-1, keepdims=True) < 1e-6, np.cross(a, np.array([0, 1.0, 0])), ortho)
    anti = d < -1 + 1e-9
    q = np.concatenate([c, (1 + d)[:, None]], axis=-1)
    q[anti] = np.concatenate([_unit(ortho[anti]), np.zeros((anti.sum(), 1))], axis=-1)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return _quat_to_matrix_nan(q)


def _quat_to_matrix_nan(q: np.ndarray) -> np.ndarray:
    x, y, z, w = np.moveaxis(q, -1, 0)
    return np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                     2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                     2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1).reshape(q.shape[:-1]
                                                                                                  + (3, 3))


def _axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    half = 0.5 * angle[:, None]
    return _quat_to_matrix_nan(np.concatenate([axis * np.sin(half), np.cos(half)], axis=-1))


def _kabsch(rest: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Rotations ``(T, 3, 3)`` minimising ``sum_k |R rest_k - obs_k|^2``; rest ``(K, 3)``, obs ``(T, K, 3)`` with NaN.

    Frames with fewer than two usable vectors give NaN.
    """
    w = np.isfinite(obs).all(-1)
    o = np.where(w[..., None], obs, 0.0)
    H = np.einsum("tki,kj->tij", o, rest)
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.broadcast_to(np.eye(3), H.shape).copy()
    D[:, 2, 2] = d
    R = U @ D @ Vt
    R[w.sum(1) < 2] = np.nan
    return R


def _rest_offsets(targets: np.ndarray) -> np.ndarray:
    """``(22, 3)`` rest offsets from the data: torso offsets in the pelvis frame, limb lengths along T-pose axes."""
    J = len(STANDARD_JOINTS)
    par = STANDARD_PARENTS
    off = np.zeros((J, 3))
    lengths = np.linalg.norm(targets[:, 1:] - targets[:, list(par[1:])], axis=-1)
    med_len = np.full(J, np.nan)
    med_len[1:] = [np.nanmedian(c) if np.isfinite(c).any() else np.nan for c in lengths.T]
    # pelvis frame per frame: x = left (right_hip -> left_hip), z = up (pelvis -> neck)
    lh, rh, pel, nk = (targets[:, _idx(n)] for n in ("left_hip", "right_hip", "pelvis", "neck"))
    x = _unit(lh - rh)
    up = _unit(nk - pel)
    z = _unit(up - np.sum(up * x, -1, keepdims=True) * x)
    y = np.cross(z, x)
    frame = np.stack([x, y, z], axis=-1)  # columns
    for j, name in enumerate(STANDARD_JOINTS):
        if j == 0:
            continue
        if name in _LIMB_DIRS:
            length = med_len[j] if np.isfinite(med_len[j]) else _default_length(name)
            off[j] = np.array(_LIMB_DIRS[name], float) * length
            continue
        v = np.einsum("tji,tj->ti", frame, targets[:, j] - targets[:, par[j]])
        if not np.isfinite(v).all(-1).any():
            off[j] = _default_offset(name)
            continue
        off[j] = np.nanmedian(v, axis=0)
    for name in STANDARD_JOINTS:  # left/right symmetry
        if name.startswith("left_") and name not in _LIMB_DIRS:
            li, ri = _idx(name), _idx("right_" + name[5:])
            m = 0.5 * (off[li] + off[ri] * np.array([-1, 1, 1]))
            off[li], off[ri] = m, m * np.array([-1, 1, 1])
    return off


_DEFAULTS = {"left_hip": (0.09, 0, -0.08), "spine1": (0, 0, 0.12), "spine2": (0, 0, 0.12), "spine3": (0, 0, 0.12),
             "neck": (0, 0, 0.12), "left_collar": (0.06, 0, 0.0), "left_shoulder": (0.1, 0, 0.0)}


def _default_offset(name: str) -> np.ndarray:
    key = name.replace("right_", "left_")
    v = np.array(_DEFAULTS.get(key, (0, 0, 0.1)), float)
    return v * np.array([-1, 1, 1]) if name.startswith("right_") else v


def _default_length(name: str) -> float:
    table = {"knee": 0.42, "ankle": 0.4, "foot": 0.14, "head": 0.2, "elbow": 0.28, "wrist": 0.25}
    return table[name.split("_")[-1]]


def fit_standard_skeleton(targets: np.ndarray, fps: float, offsets: np.ndarray | None = None) -> Animation:
    """Fit the standard skeleton to target joint positions.

    Args:
        targets: ``(T, 22, 3)`` world positions of :data:`STANDARD_JOINTS`, metres, NaN where missing.
        fps: frame rate.
        offsets: ``(22, 3)`` rest offsets (default: measured from ``targets``).

    Returns:
        the animation; ``valid`` is False on frames whose pelvis orientation could not be determined (filled).
    """
    targets = np.asarray(targets, float)
    T, J = targets.shape[:2]
    if targets.shape[1:] != (22, 3):
        raise KeypointsError(f"targets have shape {targets.shape}; expected (T, 22, 3)")
    off = _rest_offsets(targets) if offsets is None else np.asarray(offsets, float)
    par = STANDARD_PARENTS
    kids = [[c for c in range(J) if par[c] == j] for j in range(J)]
    G = np.full((T, J, 3, 3), np.nan)
    for j in range(J):
        ch = kids[j]
        parent_G = np.broadcast_to(np.eye(3), (T, 3, 3)) if par[j] < 0 else G[:, par[j]]
        if not ch:
            G[:, j] = parent_G
        elif len(ch) > 1:
            obs = targets[:, ch] - targets[:, j : j + 1]
            G[:, j] = _kabsch(off[ch], obs)
        else:
            c = ch[0]
            rest_dir = _unit(np.einsum("tij,j->ti", parent_G, off[c]))
            obs_dir = _unit(targets[:, c] - targets[:, j])
            Gj = _rotation_between(rest_dir, obs_dir) @ parent_G
            name = STANDARD_JOINTS[j]
            if name in _BEND and kids[c]:
                g = kids[c][0]
                e = targets[:, g] - targets[:, c]
                e_perp = e - np.sum(e * obs_dir, -1, keepdims=True) * obs_dir
                bend = np.einsum("tij,j->ti", Gj, np.array(_BEND[name], float))
                ang = np.arctan2(np.sum(np.cross(bend, e_perp) * obs_dir, -1), np.sum(bend * e_perp, -1))
                frac = np.linalg.norm(e_perp, axis=-1) / np.maximum(np.linalg.norm(e, axis=-1), 1e-9)
                weight = np.clip((frac - np.sin(np.deg2rad(5))) / (np.sin(np.deg2rad(20)) - np.sin(np.deg2rad(5))),
                                 0, 1)
                ang = np.where(np.isfinite(ang), ang * weight, 0.0)
                twisted = _axis_angle(obs_dir, ang) @ Gj
                Gj = np.where(np.isfinite(twisted), twisted, Gj)
            # a missing child direction: keep the parent's orientation (identity local rotation)
            G[:, j] = np.where(np.isfinite(Gj), Gj, parent_G)
    L = np.empty_like(G)
    L[:, 0] = G[:, 0]
    for j in range(1, J):
        L[:, j] = np.swapaxes(G[:, par[j]], -1, -2) @ G[:, j]
    q = matrix_to_quat_xyzw(np.where(np.isfinite(L), L, 0.0))
    q[~_rotation_known(L, targets, kids, par)] = np.nan
    root_ok = np.isfinite(G[:, 0]).all(axis=(1, 2)) & np.isfinite(targets[:, 0]).all(-1)
    if not root_ok.any():
        raise KeypointsError("no frame has the hips and neck needed to orient the pelvis",
                             hint="check that the keypoints contain hips and shoulders")
    q[~root_ok] = np.nan
    root_t = targets[:, 0].copy()
    root_t[~root_ok] = np.nan
    off = off.copy()
    off[0] = root_t[root_ok][0]
    anim = Animation(list(STANDARD_JOINTS), np.array(par), off, root_t, q, fps,
                     meta={"source": "ik", "skeleton": "smplx22"})
    return fill_missing(anim)


def _rotation_known(L: np.ndarray, targets: np.ndarray, kids: list[list[int]], par: tuple[int, ...]) -> np.ndarray:
    """``(T, J)`` True where joint j's local rotation is known: its child directions were observed (for joints
    whose children are observed on some frame), or it is a leaf / never observable (identity by design), and the
    same holds for all its ancestors (a child's local rotation is relative to them)."""
    T, J = L.shape[:2]
    ok = np.isfinite(L).all(axis=(2, 3))
    for j in range(J):
        if not kids[j]:
            continue
        seen = np.isfinite(targets[:, kids[j]]).all(-1) & np.isfinite(targets[:, j : j + 1]).all(-1)
        if len(kids[j]) > 1:
            det = seen.sum(1) >= 2
        else:
            det = seen[:, 0]
        if det.any():
            ok[:, j] &= det
    for j in range(1, J):
        ok[:, j] &= ok[:, par[j]]
    return ok


def keypoints_to_animation(kp3d, person: int | None = None, fps: float | None = None) -> Animation:  # noqa: ANN001
    """Animate the standard skeleton from :class:`mocap.keypoints.Keypoints3D` (one person).

    Args:
        kp3d: 3D keypoints ``(T, P, J, 4)`` of any registered joint set.
        person: stable person id (default: the first person).
        fps: frame rate (default: the keypoints').

    Returns:
        an :class:`Animation` of :data:`STANDARD_JOINTS` (metres, Z up).
    """
    pid = int(kp3d.person_ids[0]) if person is None else int(person)
    data = kp3d.person(pid)
    xyz = np.where((data[..., 3:4] > 0) | np.isnan(data[..., 3:4]), data[..., :3], np.nan)
    targets = standard_targets(xyz, kp3d.joint_set)
    anim = fit_standard_skeleton(targets, fps if fps is not None else kp3d.fps)
    anim.meta.update(joint_set=kp3d.joint_set, person_id=pid)
    return anim
