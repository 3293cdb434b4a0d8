"""The Shelf multi-person benchmark (subset shipped with 4D Association): loader, OpenPose assembly, metrics.

Folder layout (see ``shared/README.md``):

- ``calibration.json``: cameras ``"0".."4"`` with ``K`` (3x3), ``RT`` (3x4 world-to-camera, metres), ``imgSize``;
- ``detection/<cam>.txt``: OpenPose BODY_25 candidates per joint and part-affinity matrices per limb per frame,
  coordinates normalised to 0..1 (scaled here by ``size - 1`` as the original evaluation does);
- ``gt.txt``: 3D ground truth, 15 joints (Shelf-14 order + pelvis), up to 4 people, metres, world Z up.

Shelf-15 joint order (index: joint): 0 right ankle, 1 right knee, 2 right hip, 3 left hip, 4 left knee,
5 left ankle, 6 right wrist, 7 right elbow, 8 right shoulder, 9 left shoulder, 10 left elbow, 11 left wrist,
12 bottom of head (neck), 13 top of head, 14 pelvis (mid-hip).

PCP follows the usual protocol (mvpose / VoxelPose / 4D Association): a limb is correct when the mean of its two
end-point errors is at most ``alpha = 0.5`` times the ground-truth limb length; 10 limbs (upper and lower arms,
upper and lower legs, head, torso = pelvis to neck); actors 1-3 (ids 0, 1, 2) over the frames where they are
annotated. Each annotated person is matched to at most one prediction (Hungarian on mean joint distance); an
annotated person with no prediction scores zero on every limb (stricter than counting matched frames only).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from mocap.cameras.camera import Camera
from mocap.cameras.rig import CameraRig
from mocap.errors import DataError

# OpenPose BODY_25 limbs in the order of its part-affinity fields (POSE_BODY_25_PAIRS_NETWORK):
# the n-th PAF matrix of a frame scores candidates of joint a (rows) against joint b (columns).
BODY25_PAF_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 8), (9, 10), (10, 11), (8, 9), (8, 12), (12, 13), (13, 14), (1, 2), (2, 3), (3, 4), (2, 17), (1, 5),
    (5, 6), (6, 7), (5, 18), (1, 0), (0, 15), (0, 16), (15, 17), (16, 18), (14, 19), (19, 20), (14, 21),
    (11, 22), (22, 23), (11, 24),
)
BODY25_N_JOINTS = 25
# BODY_25 left/right pairs (left, right): shoulders, elbows, wrists, hips, knees, ankles, eyes, ears, feet.
BODY25_LR_PAIRS: tuple[tuple[int, int], ...] = (
    (5, 2), (6, 3), (7, 4), (12, 9), (13, 10), (14, 11), (16, 15), (18, 17), (19, 22), (20, 23), (21, 24),
)

SHELF15_JOINTS: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist", "right_elbow",
    "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "head_bottom", "head_top", "pelvis",
)
# Shelf-15 joints 0..11 and 14 taken directly from BODY_25 (12, 13 are interpolated, see body25_to_shelf15).
_BODY25_FOR_SHELF = np.array([11, 10, 9, 12, 13, 14, 4, 3, 2, 5, 6, 7, 1, 0, 8])
# The same from 4D Association's SKEL19 (its evaluate_shelf's mapping).
_SKEL19_FOR_SHELF = np.array([13, 7, 2, 3, 8, 14, 15, 11, 5, 6, 12, 16, 1, 4, 0])

# The 10 evaluated limbs as Shelf-15 index pairs, in the order reported.
SHELF_PCP_LIMBS: tuple[tuple[str, int, int], ...] = (
    ("left_upper_arm", 9, 10), ("right_upper_arm", 8, 7), ("left_lower_arm", 10, 11), ("right_lower_arm", 7, 6),
    ("left_upper_leg", 3, 4), ("right_upper_leg", 2, 1), ("left_lower_leg", 4, 5), ("right_lower_leg", 1, 0),
    ("head", 12, 13), ("torso", 14, 12),
)


@dataclass
class FrameCandidates:
    """OpenPose output of one camera at one frame.

    Attributes:
        joints: 25 arrays ``(n_j, 3)`` of candidates ``(u, v, score)`` in raw pixels.
        pafs: 26 arrays ``(n_a, n_b)`` of part-affinity scores for :data:`BODY25_PAF_PAIRS`.
    """

    joints: list[np.ndarray]
    pafs: list[np.ndarray]


@dataclass
class ShelfData:
    """The loaded benchmark.

    Attributes:
        rig: 5 cameras named ``"0".."4"``.
        candidates: ``candidates[c][t]`` is the :class:`FrameCandidates` of camera ``c`` at frame ``t``.
        gt: ``(T, 4, 15, 3)`` ground-truth joints, metres; NaN where a person is not annotated.
        fps: nominal frame rate of the sequence.
    """

    rig: CameraRig
    candidates: list[list[FrameCandidates]]
    gt: np.ndarray
    fps: float = 25.0
    meta: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return self.gt.shape[0]


# ----------------------------------------------------------------------------------------------- loading
def _orthonormalise(R: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(R)
    out = u @ vt
    if np.linalg.det(out) < 0:
        out = u @ np.diag([1, 1, -1]) @ vt
    return out


def read_shelf_calibration(path: str | Path) -> CameraRig:
    """Read Shelf's ``calibration.json`` (cameras ``"0".."N"`` with K, 3x4 RT, imgSize) into a rig, metres."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read the Shelf calibration ({e})") from None
    cams = []
    for name in sorted(raw, key=lambda s: int(s) if s.isdigit() else s):
        c = raw[name]
        try:
            K = np.array(c["K"], float).reshape(3, 3)
            RT = np.array(c["RT"], float).reshape(3, 4)
            size = tuple(int(v) for v in c["imgSize"])
        except (KeyError, ValueError) as e:
            raise DataError(f"{path}: camera '{name}' field {e} is missing or malformed",
                            hint="expected K (9 numbers), RT (12 numbers) and imgSize (w, h)") from None
        cams.append(Camera(name, size, K, np.zeros(5), _orthonormalise(RT[:, :3]), RT[:, 3]))
    rig = CameraRig(cams)
    rig.validate(str(path))
    return rig


def read_shelf_candidates(path: str | Path, size: tuple[int, int]) -> list[FrameCandidates]:
    """Read one ``detection/<cam>.txt`` file (BODY_25 candidates + PAF matrices per frame).

    Args:
        path: the file.
        size: ``(width, height)`` of the camera, to turn 0..1 coordinates into pixels (times ``size - 1``).

    Returns:
        One :class:`FrameCandidates` per frame.
    """
    path = Path(path)
    try:
        tok = np.array(path.read_text().split(), dtype=float)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read OpenPose candidates ({e})") from None
    if tok.size < 2 or int(tok[0]) != 4:
        raise DataError(f"{path}: skeleton type {tok[0] if tok.size else '?'} is not 4 (BODY_25)")
    n_frames = int(tok[1])
    i = 2
    sx, sy = size[0] - 1, size[1] - 1
    frames: list[FrameCandidates] = []
    try:
        for _ in range(n_frames):
            joints = []
            for _ in range(BODY25_N_JOINTS):
                n = int(tok[i])
                a = tok[i + 1:i + 1 + 3 * n].reshape(3, n).T.copy()
                i += 1 + 3 * n
                a[:, 0] *= sx
                a[:, 1] *= sy
                joints.append(a)
            pafs = []
            for ja, jb in BODY25_PAF_PAIRS:
                na, nb = len(joints[ja]), len(joints[jb])
                pafs.append(tok[i:i + na * nb].reshape(na, nb).copy())
                i += na * nb
            frames.append(FrameCandidates(joints, pafs))
    except ValueError:
        raise DataError(f"{path}: truncated at frame {len(frames)} of {n_frames}") from None
    if i != tok.size:
        raise DataError(f"{path}: {tok.size - i} numbers left after {n_frames} frames; the file is malformed")
    return frames


def read_shelf_gt(path: str | Path, max_people: int = 4) -> np.ndarray:
    """Read ``gt.txt`` -> ``(T, max_people, J, 3)`` metres, NaN where a person is not annotated."""
    path = Path(path)
    try:
        tok = path.read_text().split()
        J, T = int(tok[0]), int(tok[1])
        out = np.full((T, max_people, J, 3), np.nan)
        i = 2
        for t in range(T):
            n = int(tok[i])
            i += 1
            for _ in range(n):
                pid = int(tok[i])
                m = np.array(tok[i + 1:i + 1 + 4 * J], float).reshape(4, J)
                i += 1 + 4 * J
                if 0 <= pid < max_people:
                    out[t, pid] = m[:3].T
    except (OSError, ValueError, IndexError) as e:
        raise DataError(f"{path}: cannot read the Shelf ground truth ({e})") from None
    return out


def load_shelf(root: str | Path) -> ShelfData:
    """Load the Shelf folder (``calibration.json``, ``detection/``, ``gt.txt``).

    Returns:
        :class:`ShelfData` with the rig, per-camera per-frame OpenPose candidates (pixels) and the ground truth.
    """
    root = Path(root)
    if not (root / "calibration.json").is_file():
        raise DataError(f"{root}: no calibration.json; is this the Shelf folder?",
                        hint="pass the folder holding calibration.json, detection/ and gt.txt")
    rig = read_shelf_calibration(root / "calibration.json")
    cands = []
    for cam in rig:
        f = root / "detection" / f"{cam.name}.txt"
        if not f.is_file():
            raise DataError(f"{f}: missing detections for camera '{cam.name}'")
        cands.append(read_shelf_candidates(f, cam.size))
    gt = read_shelf_gt(root / "gt.txt")
    lens = {len(c) for c in cands} | {gt.shape[0]}
    if len(lens) != 1:
        raise DataError(f"{root}: frame counts differ between detections and gt.txt ({sorted(lens)})")
    return ShelfData(rig, cands, gt, meta={"root": str(root)})


# ----------------------------------------------------------------------------------------------- joints
def _head_4da(nose, ears, sh_l, sh_r, neck, pelvis):
    """4D Association's head joints: bottom half-way from the shoulder centre to the ear centre, top 0.125 m
    forward and 0.145 m up from it (``MappingToShelf`` in its ``evaluate_shelf``)."""
    sh_c = 0.5 * (sh_l + sh_r)
    head_c = np.where(np.isfinite(ears), ears, nose)
    bottom = sh_c + 0.5 * (head_c - sh_c)
    face = np.cross(neck - pelvis, sh_r - sh_l)
    with np.errstate(invalid="ignore", divide="ignore"):
        face /= np.linalg.norm(face, axis=-1, keepdims=True)
    return bottom, bottom + 0.125 * face + np.array([0.0, 0.0, 0.145])


def _head_voxelpose(nose, ears, sh_l, sh_r):
    """mvpose's / VoxelPose's head joints from nose, ears and shoulders (their ``coco2shelf3D``; world Z up)."""
    ears = np.where(np.isfinite(ears), ears, nose)
    mid_sho = 0.5 * (sh_l + sh_r)
    head_bottom = 0.5 * (mid_sho + ears)
    head_top = head_bottom + 2.0 * (ears - head_bottom)
    top = mid_sho + (nose - mid_sho) * np.array([0.75, 0.75, 1.5])
    bottom = mid_sho + 0.5 * (nose - mid_sho)
    return 0.75 * bottom + 0.25 * head_bottom, 0.75 * top + 0.25 * head_top


def body25_to_shelf15(X: np.ndarray, head: str = "4da") -> np.ndarray:
    """Map BODY_25 3D joints to Shelf-15, interpolating the head joints Shelf annotates but OpenPose lacks.

    ``head="4da"`` (4D Association's evaluation): ``head_bottom`` half-way between the shoulder centre and the
    ear centre (nose when ears are missing), ``head_top`` 0.125 m along the facing direction and 0.145 m up from
    it. ``head="voxelpose"`` (mvpose / VoxelPose): blends of nose, ear centre and shoulder centre (their
    ``coco2shelf3D``). The pelvis is BODY_25's mid-hip.

    Args:
        X: ``(..., 25, D)`` with ``D >= 3`` (x, y, z[, conf]), metres, world Z up.
        head: ``"4da"`` or ``"voxelpose"``.

    Returns:
        ``(..., 15, D)``; NaN where a source joint is missing.
    """
    if head not in ("4da", "voxelpose"):
        raise DataError(f"unknown head convention {head!r}; choose '4da' or 'voxelpose'")
    X = np.asarray(X, float)
    out = X[..., _BODY25_FOR_SHELF, :].copy()
    xyz = X[..., :3]
    ears = 0.5 * (xyz[..., 17, :] + xyz[..., 18, :])
    if head == "4da":
        bottom, top = _head_4da(xyz[..., 0, :], ears, xyz[..., 5, :], xyz[..., 2, :], xyz[..., 1, :],
                                xyz[..., 8, :])
    else:
        bottom, top = _head_voxelpose(xyz[..., 0, :], ears, xyz[..., 5, :], xyz[..., 2, :])
    out[..., 12, :3] = bottom
    out[..., 13, :3] = top
    return out


def skel19_to_shelf15(X: np.ndarray) -> np.ndarray:
    """Map 4D Association's SKEL19 3D joints (its ``skel.txt`` results) to Shelf-15 as its evaluation does.

    Args:
        X: ``(..., 19, D)`` with ``D >= 3``, metres, world Z up.

    Returns:
        ``(..., 15, D)``.
    """
    X = np.asarray(X, float)
    out = X[..., _SKEL19_FOR_SHELF, :].copy()
    xyz = X[..., :3]
    ears = 0.5 * (xyz[..., 9, :] + xyz[..., 10, :])
    bottom, top = _head_4da(xyz[..., 4, :], ears, xyz[..., 6, :], xyz[..., 5, :], xyz[..., 1, :], xyz[..., 0, :])
    out[..., 12, :3] = bottom
    out[..., 13, :3] = top
    return out


def read_shelf_skels(path: str | Path) -> list[np.ndarray]:
    """Read a skeleton file in 4D Association's format (``gt.txt``, ``skel.txt``): per frame ``(P_t, J, 4)``.

    Format: joint count, frame count; per frame the person count, then per person its id and a ``4 x J``
    matrix (x, y, z rows, then a confidence/visibility row).
    """
    path = Path(path)
    try:
        tok = path.read_text().split()
        J, T = int(tok[0]), int(tok[1])
        i = 2
        frames = []
        for _ in range(T):
            n = int(tok[i])
            i += 1
            people = []
            for _ in range(n):
                people.append(np.array(tok[i + 1:i + 1 + 4 * J], float).reshape(4, J).T)
                i += 1 + 4 * J
            frames.append(np.stack(people) if people else np.zeros((0, J, 4)))
    except (OSError, ValueError, IndexError) as e:
        raise DataError(f"{path}: cannot read the skeleton file ({e})") from None
    return frames


# ----------------------------------------------------------------------------------------------- metrics
#: PCP protocols of :func:`evaluate_shelf`.
PROTOCOLS = ("strict", "4da", "voxelpose")


def _match_hungarian(pred: np.ndarray, gt: np.ndarray, missing_m: float | None) -> dict[int, int]:
    """Annotated person -> prediction, one-to-one (Hungarian) on joint distances.

    ``missing_m``: distance a missing predicted joint counts as (None: the mean over the joints present).
    """
    if len(pred) == 0 or len(gt) == 0:
        return {}
    d = np.linalg.norm(pred[:, None] - gt[None], axis=-1)  # (P, G, J)
    n = np.isfinite(d).sum(-1)
    filled = np.where(np.isfinite(d), d, missing_m if missing_m is not None else np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cost = np.where(n > 0, np.nanmean(filled, -1), 1e3)
    r, c = linear_sum_assignment(cost)
    return {int(g): int(p) for p, g in zip(r.tolist(), c.tolist(), strict=True) if cost[p, g] < 1e3}


def _match_nearest(pred: np.ndarray, gt: np.ndarray) -> dict[int, int]:
    """Annotated person -> the prediction with the smallest mean error over the 14 Shelf joints it has (several
    annotated people may take the same one; predictions without any of those joints are never taken)."""
    if len(pred) == 0 or len(gt) == 0:
        return {}
    d = np.linalg.norm(pred[:, None, :14] - gt[None, :, :14], axis=-1)  # (P, G, 14)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        d = np.nanmean(d, axis=-1)
    d = np.where(np.isfinite(d), d, np.inf)
    return {g: int(np.argmin(d[:, g])) for g in range(len(gt)) if np.isfinite(d[:, g]).any()}


def evaluate_shelf(pred: list[np.ndarray], gt: np.ndarray, actors: tuple[int, ...] = (0, 1, 2),
                   alpha: float = 0.5, protocol: str = "strict") -> dict:
    """PCP per actor and limb, MPJPE and coverage of Shelf-15 predictions against the ground truth.

    A limb is correct when the mean distance of its two predicted end points to the annotated ones is at most
    ``alpha`` times its annotated length (``(d_a + d_b) / 2 <= alpha * l``); a missing (NaN) end point makes it
    wrong. The 10 limbs are :data:`SHELF_PCP_LIMBS`; the torso runs from the hip centre (Shelf-15 joint 14;
    ``voxelpose``: the mean of the two hips, as that code computes it) to the neck. Protocols differ only in how
    predictions are matched to annotated people:

    - ``"strict"`` (ours): one-to-one Hungarian matching on the mean joint distance (a missing predicted joint
      counts as 1 m); an annotated person left without a prediction scores zero on every limb.
    - ``"4da"``: as 4D Association's ``evaluate_shelf`` (zhangyux15/4d_association): one-to-one Hungarian
      matching on the summed joint distance; annotated frames left unmatched are not counted.
    - ``"voxelpose"``: as mvpose's and VoxelPose's Shelf evaluation: every annotated person takes the
      prediction with the smallest mean error over the 14 Shelf joints (several may take the same one; their
      predictions are always complete, ours may miss joints: the mean is over the joints present); a frame
      without predictions scores zero.

    Args:
        pred: per frame an array ``(P_t, 15, >=3)`` of predicted people (Shelf-15, metres).
        gt: ``(T, G, 15, 3)`` ground truth (NaN where a person is not annotated).
        actors: ground-truth person ids to evaluate.
        alpha: PCP threshold as a fraction of the limb length.
        protocol: one of :data:`PROTOCOLS`.

    Returns:
        dict with ``pcp`` {actor: fraction}, ``pcp_limbs`` {actor: {limb: fraction}}, ``pcp_avg`` (mean over
        actors), ``mpjpe_mm`` {actor: mean over matched frames of the mean error of the predicted joints, mm},
        ``coverage`` {actor: fraction of annotated joints (all frames) with a matched, finite prediction},
        ``frames`` {actor: annotated frames}, ``scored`` {actor: frames in the PCP denominator}, ``missed``
        {actor: annotated frames with no matched prediction}, ``protocol``.
    """
    if protocol not in PROTOCOLS:
        raise DataError(f"unknown Shelf protocol {protocol!r}; choose one of {PROTOCOLS}")
    T = gt.shape[0]
    if len(pred) != T:
        raise DataError(f"predictions cover {len(pred)} frames but the ground truth has {T}")
    n_limbs = len(SHELF_PCP_LIMBS)
    correct = {a: np.zeros(n_limbs) for a in actors}
    frames = dict.fromkeys(actors, 0)
    scored = dict.fromkeys(actors, 0)
    missed = dict.fromkeys(actors, 0)
    seen_joints = dict.fromkeys(actors, 0)
    errs: dict[int, list[float]] = {a: [] for a in actors}
    J = gt.shape[2]
    for t in range(T):
        present = [g for g in range(gt.shape[1]) if np.isfinite(gt[t, g]).all()]
        p = np.asarray(pred[t], float)[..., :3].reshape(-1, 15, 3)
        G = gt[t, present]
        if protocol == "voxelpose":
            pairs = _match_nearest(p, G)
        else:
            pairs = _match_hungarian(p, G, 1.0 if protocol == "strict" else None)
        for gi, g in enumerate(present):
            if g not in correct:
                continue
            frames[g] += 1
            if gi not in pairs:
                missed[g] += 1
                if protocol != "4da":
                    scored[g] += 1
                continue
            scored[g] += 1
            P, Q = p[pairs[gi]].copy(), gt[t, g]
            if protocol == "voxelpose":
                P[14] = 0.5 * (P[2] + P[3])
            err = np.linalg.norm(P - Q, axis=-1)
            seen_joints[g] += int(np.isfinite(err).sum())
            errs[g].append(float(np.nanmean(err)) if np.isfinite(err).any() else np.nan)
            for k, (_, a, b) in enumerate(SHELF_PCP_LIMBS):
                length = np.linalg.norm(Q[a] - Q[b])
                e = 0.5 * (err[a] + err[b])
                if np.isfinite(e) and e <= alpha * length:
                    correct[g][k] += 1
    pcp = {a: float(correct[a].mean() / scored[a]) if scored[a] else float("nan") for a in actors}
    limbs = {a: {name: float(correct[a][k] / scored[a]) if scored[a] else float("nan")
                 for k, (name, _, _) in enumerate(SHELF_PCP_LIMBS)} for a in actors}
    mpjpe = {a: 1000.0 * float(np.nanmean(errs[a])) if errs[a] else float("nan") for a in actors}
    coverage = {a: seen_joints[a] / (J * frames[a]) if frames[a] else float("nan") for a in actors}
    return {"pcp": pcp, "pcp_limbs": limbs, "pcp_avg": float(np.nanmean(list(pcp.values()))),
            "mpjpe_mm": mpjpe, "coverage": coverage, "frames": frames, "scored": scored, "missed": missed,
            "protocol": protocol}


# ----------------------------------------------------------------------------------------------- 2D assembly
def assemble_people_paf(joints: list[np.ndarray], pafs: list[np.ndarray],
                        pairs: tuple[tuple[int, int], ...] = BODY25_PAF_PAIRS, n_joints: int = BODY25_N_JOINTS,
                        min_paf: float = 0.05, min_joints: int = 4, min_mean_score: float = 0.25) -> np.ndarray:
    """Group joint candidates of one image into people with part-affinity scores, as OpenPose does.

    Limbs are processed in ``pairs`` order; within a limb, candidate pairs are taken greedily by decreasing
    affinity (each candidate used once per limb: a bipartite matching), then attached to the person already
    holding one end, merged when both ends belong to disjoint people, or start a new person.

    Args:
        joints: per joint an array ``(n_j, 3)`` of candidates ``(u, v, score)``, pixels.
        pafs: per limb an array ``(n_a, n_b)`` of affinities between the candidates of its two joints.
        pairs: ``(joint_a, joint_b)`` per limb, same order as ``pafs``.
        n_joints: joints per person.
        min_paf: affinities at or below this are not connections.
        min_joints: people with fewer joints are dropped.
        min_mean_score: people whose mean candidate score is lower are dropped.

    Returns:
        ``(P, n_joints, 3)`` people ``(u, v, score)``, NaN where a joint is missing, sorted by joint count.
    """
    if len(joints) != n_joints or len(pafs) != len(pairs):
        raise DataError(f"got {len(joints)} joint lists and {len(pafs)} PAF matrices; expected {n_joints} and "
                        f"{len(pairs)}")
    people: list[np.ndarray] = []  # candidate index per joint, -1 where missing
    owner: dict[tuple[int, int], int] = {}
    alive: list[bool] = []
    for (ja, jb), M in zip(pairs, pafs, strict=True):
        if M.size == 0:
            continue
        ia, ib = np.nonzero(M > min_paf)
        order = np.argsort(-M[ia, ib], kind="stable")
        used_a: set[int] = set()
        used_b: set[int] = set()
        for a, b in zip(ia[order].tolist(), ib[order].tolist(), strict=True):
            if a in used_a or b in used_b:
                continue
            used_a.add(a)
            used_b.add(b)
            pa, pb = owner.get((ja, a)), owner.get((jb, b))
            if pa is not None and pb is not None:
                if pa == pb:
                    continue
                A, B = people[pa], people[pb]
                if np.any((A >= 0) & (B >= 0)):
                    continue  # overlapping people: keep them apart
                A[B >= 0] = B[B >= 0]
                for j in np.flatnonzero(B >= 0):
                    owner[(int(j), int(B[j]))] = pa
                alive[pb] = False
            elif pa is not None:
                if people[pa][jb] < 0:
                    people[pa][jb] = b
                    owner[(jb, b)] = pa
            elif pb is not None:
                if people[pb][ja] < 0:
                    people[pb][ja] = a
                    owner[(ja, a)] = pb
            else:
                p = np.full(n_joints, -1, dtype=int)
                p[ja], p[jb] = a, b
                owner[(ja, a)] = owner[(jb, b)] = len(people)
                people.append(p)
                alive.append(True)
    out = []
    for p, ok in zip(people, alive, strict=True):
        if not ok or np.count_nonzero(p >= 0) < min_joints:
            continue
        arr = np.full((n_joints, 3), np.nan)
        for j in np.flatnonzero(p >= 0):
            arr[j] = joints[j][p[j]]
        if np.nanmean(arr[:, 2]) < min_mean_score:
            continue
        out.append(arr)
    out.sort(key=lambda a: -np.count_nonzero(np.isfinite(a[:, 0])))
    return np.stack(out) if out else np.zeros((0, n_joints, 3))


def shelf_people2d(data: ShelfData, frame: int, **kwargs) -> list[np.ndarray]:
    """Per camera the assembled BODY_25 people ``(P_c, 25, 3)`` (pixels) of one frame (see assemble_people_paf)."""
    return [assemble_people_paf(c[frame].joints, c[frame].pafs, **kwargs) for c in data.candidates]


def shelf_keypoints2d(data: ShelfData, frames: range | None = None, **kwargs):
    """The PAF-assembled people of every camera as :class:`~mocap.keypoints.Keypoints2D` ``(T, 5, P, 25, 3)``
    (``"body25"``, person slots in assembly order, NaN padded; timestamps at the sequence's 25 Hz)."""
    from mocap.keypoints import Keypoints2D

    frames = range(data.n_frames) if frames is None else frames
    per = [shelf_people2d(data, f, **kwargs) for f in frames]
    P = max((len(p) for fr in per for p in fr), default=0)
    arr = np.full((len(per), len(data.rig), P, BODY25_N_JOINTS, 3), np.nan)
    for t, fr in enumerate(per):
        for c, p in enumerate(fr):
            arr[t, c, :len(p)] = p
    ts = np.asarray(list(frames), dtype=float) / data.fps
    return Keypoints2D(arr, "body25", data.rig.names, ts, data.fps, {"source": f"Shelf {data.meta.get('root', '')}"})
