"""Synthetic multi-person captures: CMU clips -> several people crossing paths -> cameras -> detector-like 2D.

What a real multi-person 2D detector gives, with exact 3D ground truth:

- **people crossing paths**: every person plays a CMU clip (time-shifted, turned to its own heading, placed so
  that all paths run through the middle of the scene, at different times, never closer than ``min_gap_m``);
- **mutual occlusion**: a joint is hidden in a camera when the line of sight to it passes through another
  person's body (capsules around limbs, torso and head); a person mostly hidden is not detected at all;
- **shuffled person order** independently per camera and per frame (``people[]`` as detectors return it);
- **false positives**: people seen by one camera only (a random pose at a random place, lasting a few frames);
- **outliers** (a joint at a random place or at another joint's position), **dropouts**, optional left/right
  **swaps** per view, and Gaussian **pixel noise**; confidences do not tell outliers apart.

:func:`make_multiperson_scene` builds a scene; :func:`score_people` scores a reconstruction of it per person
(MPJPE, frames detected, joints, PCP, identity switches, false positives).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from mocap.cameras import CameraRig
from mocap.errors import DataError
from mocap.keypoints import Keypoints2D
from mocap.synthetic.capture import COCO17, bvh_markers, corrupt_2d, ring_rig

_J = {n: i for i, n in enumerate(COCO17)}
#: Body capsules ``(joint a, joint b, radius m)`` in COCO-17 (a == b: a sphere) that hide other people's joints.
BODY_CAPSULES: tuple[tuple[int, int, float], ...] = (
    (_J["left_shoulder"], _J["left_elbow"], 0.05), (_J["left_elbow"], _J["left_wrist"], 0.045),
    (_J["right_shoulder"], _J["right_elbow"], 0.05), (_J["right_elbow"], _J["right_wrist"], 0.045),
    (_J["left_hip"], _J["left_knee"], 0.075), (_J["left_knee"], _J["left_ankle"], 0.055),
    (_J["right_hip"], _J["right_knee"], 0.075), (_J["right_knee"], _J["right_ankle"], 0.055),
    (_J["left_shoulder"], _J["left_hip"], 0.09), (_J["right_shoulder"], _J["right_hip"], 0.09),
    (_J["left_shoulder"], _J["right_shoulder"], 0.06), (_J["left_hip"], _J["right_hip"], 0.08),
    (_J["nose"], _J["nose"], 0.1),
)
#: The 10 PCP limbs of COCO-17 ``(name, a, b)``; ``-1`` = shoulder centre, ``-2`` = hip centre.
COCO17_PCP_LIMBS: tuple[tuple[str, int, int], ...] = (
    ("left_upper_arm", 5, 7), ("right_upper_arm", 6, 8), ("left_lower_arm", 7, 9), ("right_lower_arm", 8, 10),
    ("left_upper_leg", 11, 13), ("right_upper_leg", 12, 14), ("left_lower_leg", 13, 15),
    ("right_lower_leg", 14, 16), ("head", -1, 0), ("torso", -2, -1),
)


#: Angle covered by the cameras of the ``"arc"`` layout, degrees.
ARC_SPAN_DEG = 150.0


@dataclass
class MultiPersonScene:
    """A synthetic multi-person capture.

    Attributes:
        rig: the cameras.
        kp2d: :class:`~mocap.keypoints.Keypoints2D` ``(T, C, S, 17, 3)`` (``"coco17"``), person slots shuffled
            per camera and frame, false positives included, NaN where missing.
        gt: ``(T, N, 17, 3)`` ground-truth world joints of the ``N`` people, metres, Z up.
        slot_person: ``(T, C, S)`` which true person each slot holds (``-1``: a false positive or empty).
        occluded: ``(T, C, N, 17)`` joints hidden by another person's body.
        meta: generation parameters and counts.
    """

    rig: CameraRig
    kp2d: Keypoints2D
    gt: np.ndarray
    slot_person: np.ndarray
    occluded: np.ndarray
    meta: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- motion
def _clip(path: Path, fps: float) -> np.ndarray:
    step = max(1, int(round(120.0 / fps)))  # CMU clips are 120 Hz
    X, _ = bvh_markers(path, frame_step=step)
    return X


def _segment(clip: np.ndarray, start: int, T: int) -> np.ndarray:
    """``T`` frames from ``start`` of the clip played forwards and backwards (ping-pong) as long as needed."""
    n = len(clip)
    if n < 2:
        raise DataError("a motion clip needs at least 2 frames")
    period = 2 * (n - 1)
    k = (start + np.arange(T)) % period
    return clip[np.where(k < n, k, period - k)]


def _yaw(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _place(X: np.ndarray, heading: float, through: np.ndarray, at_frame: int) -> np.ndarray:
    """Turn a motion so that it travels along ``heading`` and its hip centre passes ``through`` (xy) at
    ``at_frame``."""
    hip = X[:, [_J["left_hip"], _J["right_hip"]]].mean(1)
    d = hip[-1, :2] - hip[0, :2]
    if np.linalg.norm(d) < 0.3:  # (nearly) in place: face along the shoulders' normal instead
        sh = X[0, _J["left_shoulder"], :2] - X[0, _J["right_shoulder"], :2]
        d = np.array([-sh[1], sh[0]])
    R = _yaw(heading - np.arctan2(d[1], d[0]))
    Y = X @ R.T
    hipY = hip @ R.T
    Y[..., :2] += through - hipY[at_frame, :2]
    return Y


def crossing_people(clips: Sequence[np.ndarray], n_people: int, T: int, rng: np.random.Generator,
                    min_gap_m: float = 0.4, tries: int = 200) -> np.ndarray:
    """``(T, N, 17, 3)`` people whose paths cross in the middle of the scene, at different times.

    Person ``i`` plays clip ``i % len(clips)`` from a random start, heading ``i * 180 / N`` degrees (plus
    jitter), and passes near the origin at a random frame of the middle half. Placements where two hip centres
    come closer than ``min_gap_m`` are drawn again.
    """
    base = rng.uniform(0, 2 * np.pi)
    best, best_gap = None, -np.inf
    for _ in range(tries):
        people = []
        for i in range(n_people):
            clip = clips[i % len(clips)]
            start = int(rng.integers(0, max(1, 2 * (len(clip) - 1))))
            X = _segment(clip, start, T)
            heading = base + np.pi * i / n_people + rng.uniform(-0.25, 0.25)
            through = rng.uniform(-0.3, 0.3, 2)
            at = int(rng.integers(T // 4, max(T // 4 + 1, 3 * T // 4)))
            people.append(_place(X, heading, through, at))
        P = np.stack(people, 1)
        hips = P[:, :, [_J["left_hip"], _J["right_hip"]], :2].mean(2)  # (T, N, 2)
        d = np.linalg.norm(hips[:, :, None] - hips[:, None], axis=-1)
        d[:, np.arange(n_people), np.arange(n_people)] = np.inf
        gap = float(d.min()) if n_people > 1 else np.inf
        if gap >= min_gap_m:
            return P
        if gap > best_gap:
            best, best_gap = P, gap
    return best


# ----------------------------------------------------------------------------------------------- occlusion
def _segment_distance(p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest distance between segments ``p0-p1`` and ``q0-q1`` (broadcast ``(..., 3)``) and the parameter
    ``s`` in [0, 1] of the closest point on the first."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a = np.sum(d1 * d1, -1)
    e = np.sum(d2 * d2, -1)
    f = np.sum(d2 * r, -1)
    c = np.sum(d1 * r, -1)
    b = np.sum(d1 * d2, -1)
    denom = a * e - b * b
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(denom > 1e-12, np.clip((b * f - c * e) / denom, 0.0, 1.0), 0.0)
        t = np.where(e > 1e-12, (b * s + f) / e, 0.0)
        t_c = np.clip(t, 0.0, 1.0)
        s = np.where(t != t_c, np.clip(np.where(a > 1e-12, (b * t_c - c) / a, 0.0), 0.0, 1.0), s)
    cp = p0 + s[..., None] * d1
    cq = q0 + t_c[..., None] * d2
    return np.linalg.norm(cp - cq, axis=-1), s


def occlusion_mask(rig: CameraRig, people: np.ndarray, margin_m: float = 0.05) -> np.ndarray:
    """``(T, C, N, J)`` True where another person's body (:data:`BODY_CAPSULES`) hides a joint from a camera.

    Args:
        rig: the cameras.
        people: ``(T, N, J, 3)`` COCO-17 world joints, metres.
        margin_m: the blocking body part must be at least this much nearer to the camera than the joint.
    """
    T, N, J, _ = people.shape
    cap = np.array(BODY_CAPSULES)
    a, b, rad = cap[:, 0].astype(int), cap[:, 1].astype(int), cap[:, 2]
    out = np.zeros((T, len(rig), N, J), dtype=bool)
    for c, O in enumerate(rig.centers):
        ray_len = np.linalg.norm(people - O, axis=-1)  # (T, N, J)
        for q in range(N):
            A, B = people[:, q, a], people[:, q, b]  # (T, K, 3)
            dist, s = _segment_distance(O, people[:, :, :, None], A[:, None, None], B[:, None, None])  # (T,N,J,K)
            hit = (dist < rad) & (s * ray_len[..., None] < ray_len[..., None] - margin_m)
            blocked = hit.any(-1)
            blocked[:, q] = False  # no self-occlusion
            out[:, c] |= blocked
    return out


# ----------------------------------------------------------------------------------------------- scene
def _ghosts(rig: CameraRig, poses: np.ndarray, T: int, rate: float, max_len: int, bounds: tuple,
            rng: np.random.Generator) -> list[list[list[np.ndarray]]]:
    """Per frame and camera a list of false-positive people ``(J, 2)`` raw pixels (one camera each)."""
    C = len(rig)
    out: list[list[list[np.ndarray]]] = [[[] for _ in range(C)] for _ in range(T)]
    lo, hi = bounds
    if rate <= 0:
        return out
    for c, cam in enumerate(rig):
        t = 0
        while t < T:
            t += int(np.ceil(rng.exponential(1.0 / rate)))
            if t >= T:
                break
            pose = poses[rng.integers(len(poses))]
            pose = (pose - pose.mean(0) * [1, 1, 0]) @ _yaw(rng.uniform(0, 2 * np.pi)).T
            pose[:, :2] += rng.uniform(lo, hi)
            uv = cam.project(pose)
            inside = np.isfinite(uv).all(-1) & (uv >= 0).all(-1) & (uv < cam.size).all(-1)
            if inside.sum() >= 8:
                for k in range(t, min(T, t + int(rng.integers(1, max_len + 1)))):
                    out[k][c].append(np.where(inside[:, None], uv, np.nan))
    return out


def make_multiperson_scene(bvh_paths: Sequence[str | Path], n_people: int = 3, n_cameras: int = 5,
                           n_frames: int = 240, fps: float = 30.0, seed: int = 0, *, layout: str = "ring",
                           noise_px: float = 2.0, outlier_rate: float = 0.06, dropout_rate: float = 0.02,
                           swap_rate: float = 0.0, false_positive_rate: float = 0.1, false_positive_frames: int = 8,
                           occlusion: bool = True, hide_person_fraction: float = 0.6,
                           size: tuple[int, int] = (1280, 720), distortion: bool = True,
                           min_gap_m: float = 0.4) -> MultiPersonScene:
    """A synthetic capture of several people crossing paths in front of several cameras.

    Args:
        bvh_paths: CMU BVH clips (31-joint skeleton, 120 Hz); person ``i`` plays clip ``i % len(bvh_paths)``.
        n_people: people in the scene.
        n_cameras: cameras.
        n_frames: frames.
        fps: frame rate (the 120 Hz clips are subsampled).
        seed: random seed (motion placement, cameras, every corruption).
        layout: ``"ring"`` (cameras all around) or ``"arc"`` (on a 150 degree arc on one side).
        noise_px: Gaussian pixel noise (sigma per coordinate).
        outlier_rate: fraction of visible joints moved to a random place or to another joint's position.
        dropout_rate: fraction of visible joints removed at random.
        swap_rate: fraction of (person, camera, frame) detections with left and right exchanged.
        false_positive_rate: false-positive people per camera per frame (each starting one).
        false_positive_frames: a false positive lasts 1..this many frames (same place, one camera).
        occlusion: hide joints behind other people's bodies (:func:`occlusion_mask`).
        hide_person_fraction: a person with more than this fraction of its joints hidden in a camera is not
            detected there at all.
        size: image size ``(width, height)``.
        distortion: distorted cameras.
        min_gap_m: people's hip centres never come closer than this (metres).

    Returns:
        :class:`MultiPersonScene`.
    """
    if n_people < 1 or n_cameras < 2 or n_frames < 2:
        raise DataError(f"a scene needs people >= 1, cameras >= 2, frames >= 2 (got {n_people}, {n_cameras}, "
                        f"{n_frames})")
    if layout not in ("ring", "arc"):
        raise DataError(f"unknown camera layout {layout!r}; choose 'ring' or 'arc'")
    paths = [Path(p) for p in bvh_paths]
    if not paths:
        raise DataError("make_multiperson_scene needs at least one BVH clip")
    rng = np.random.default_rng(seed)
    clips = [_clip(p, fps) for p in paths]
    gt = crossing_people(clips, n_people, n_frames, rng, min_gap_m=min_gap_m)  # (T, N, J, 3)
    T, N, J, _ = gt.shape
    rig = ring_rig(gt, n_cameras, size=size, seed=seed, distortion=distortion,
                   span_deg=360.0 if layout == "ring" else ARC_SPAN_DEG)
    C = len(rig)
    exact = np.moveaxis(rig.project(gt), 0, 1)  # (T, C, N, J, 2)
    occ = occlusion_mask(rig, gt) if occlusion else np.zeros((T, C, N, J), dtype=bool)
    # detector errors per person (corrupt_2d works on (T, C, J, 2))
    uv = np.full_like(exact, np.nan)
    conf = np.full(exact.shape[:-1], np.nan)
    for p in range(N):
        u, cf = corrupt_2d(np.where(occ[:, :, p, :, None], np.nan, exact[:, :, p]), size, noise_px, outlier_rate,
                           dropout_rate, rng)
        uv[:, :, p], conf[:, :, p] = u, cf
    hidden = occ.mean(-1) > hide_person_fraction  # (T, C, N): missed by the detector in that view
    uv[hidden] = np.nan
    conf[hidden] = np.nan
    if swap_rate > 0:
        from mocap.skeletons import get_joint_set

        perm = np.asarray(get_joint_set("coco17").flip_permutation)
        sw = rng.random((T, C, N)) < swap_rate
        uv[sw] = uv[sw][:, perm]
        conf[sw] = conf[sw][:, perm]
    lo = gt[..., :2].reshape(-1, 2).min(0) - 1.0
    hi = gt[..., :2].reshape(-1, 2).max(0) + 1.0
    ghosts = _ghosts(rig, gt[::5].reshape(-1, J, 3), T, false_positive_rate, false_positive_frames, (lo, hi), rng)
    n_fp = max((len(g) for row in ghosts for g in row), default=0)
    S = N + n_fp
    data = np.full((T, C, S, J, 3), np.nan)
    slot_person = np.full((T, C, S), -1, dtype=int)
    for t in range(T):
        for c in range(C):
            rows = [np.concatenate([uv[t, c, p], conf[t, c, p, :, None]], -1) for p in range(N)]
            who = list(range(N))
            for g in ghosts[t][c]:
                g = g + rng.normal(0.0, noise_px, g.shape)
                rows.append(np.concatenate([g, np.where(np.isfinite(g[:, :1]), rng.uniform(0.3, 0.9, (J, 1)),
                                                        np.nan)], -1))
                who.append(-1)
            order = rng.permutation(len(rows))
            for s, k in enumerate(order):
                data[t, c, s] = rows[k]
                slot_person[t, c, s] = who[k] if np.isfinite(rows[k][:, 0]).any() else -1
    kp2d = Keypoints2D(data, "coco17", rig.names, fps=fps,
                       meta={"source": "synthetic multi-person scene from " + ", ".join(p.name for p in paths),
                             "seed": seed})
    meta = {"n_people": N, "n_cameras": C, "fps": fps, "seed": seed, "layout": layout, "noise_px": noise_px,
            "outlier_rate": outlier_rate, "dropout_rate": dropout_rate, "swap_rate": swap_rate,
            "false_positives": int(sum(len(g) for row in ghosts for g in row)),
            "occluded_fraction": float(occ.mean()), "person_views_hidden": int(hidden.sum()),
            "clips": [p.name for p in paths]}
    return MultiPersonScene(rig, kp2d, gt, slot_person, occ, meta)


# ----------------------------------------------------------------------------------------------- scoring
def _limb_ends(X: np.ndarray, k: int) -> np.ndarray:
    if k == -1:
        return 0.5 * (X[..., 5, :] + X[..., 6, :])
    if k == -2:
        return 0.5 * (X[..., 11, :] + X[..., 12, :])
    return X[..., k, :]


def score_people(xyz: np.ndarray, ids: np.ndarray, gt: np.ndarray, *, gate_m: float = 0.5,
                 alpha: float = 0.5) -> dict:
    """Score a multi-person reconstruction against the ground truth, per true person.

    Every frame, predictions are matched one-to-one to the true people (Hungarian on the mean distance over the
    joints a prediction has); a pair farther apart than ``gate_m`` is not a match.

    Args:
        xyz: ``(T, P, 17, 3)`` reconstructed COCO-17 joints, metres (NaN where missing; an all-NaN person is
            absent).
        ids: ``(P,)`` the person id of each column (a stable id over time).
        gt: ``(T, N, 17, 3)`` ground truth.
        gate_m: largest mean joint distance of a match.
        alpha: PCP threshold (mean end-point error at most ``alpha`` times the limb length;
            :data:`COCO17_PCP_LIMBS`).

    Returns:
        ``{"people": [per true person {"mpjpe_mm", "frames_pct", "joints_pct", "pcp_pct", "id_switches",
        "ids"}], "false_positives": predicted people matched to nobody (summed over frames),
        "frames": T}``. MPJPE is over the joints reconstructed in matched frames; ``joints_pct`` counts every
        frame's joints (a missed frame counts as all missed); ``pcp_pct`` counts a missed frame as all wrong.
    """
    T, N, J, _ = gt.shape
    xyz = np.asarray(xyz, dtype=float)
    if xyz.ndim != 4 or xyz.shape[0] != T or xyz.shape[2] != J:
        raise DataError(f"reconstruction has shape {xyz.shape}; expected ({T}, P, {J}, 3)")
    ids = np.asarray(ids)
    err_sum = np.zeros(N)
    err_n = np.zeros(N)
    frames = np.zeros(N)
    joints = np.zeros(N)
    pcp = np.zeros(N)
    seq: list[list[int]] = [[] for _ in range(N)]
    fp = 0
    for t in range(T):
        live = np.flatnonzero(np.isfinite(xyz[t]).all(-1).any(-1))
        P = xyz[t, live]
        match: dict[int, int] = {}
        if len(live):
            d = np.linalg.norm(P[:, None] - gt[t][None], axis=-1)  # (P, N, J)
            with np.errstate(invalid="ignore"):
                cost = np.nanmean(d, axis=-1)
            cost = np.where(np.isfinite(cost), cost, 1e6)
            r, c = linear_sum_assignment(cost)
            match = {int(g): int(p) for p, g in zip(r, c, strict=True) if cost[p, g] <= gate_m}
        fp += len(live) - len(match)
        for g in range(N):
            if g not in match:
                continue
            X = P[match[g]]
            e = np.linalg.norm(X - gt[t, g], axis=-1)
            ok = np.isfinite(e)
            frames[g] += 1
            joints[g] += ok.sum()
            err_sum[g] += e[ok].sum()
            err_n[g] += ok.sum()
            seq[g].append(int(ids[live[match[g]]]))
            for _, a, b in COCO17_PCP_LIMBS:
                length = np.linalg.norm(_limb_ends(gt[t, g], a) - _limb_ends(gt[t, g], b))
                m = 0.5 * (np.linalg.norm(_limb_ends(X, a) - _limb_ends(gt[t, g], a))
                           + np.linalg.norm(_limb_ends(X, b) - _limb_ends(gt[t, g], b)))
                pcp[g] += bool(np.isfinite(m) and m <= alpha * length)
    people = []
    for g in range(N):
        s = np.asarray(seq[g])
        people.append({
            "mpjpe_mm": 1000.0 * err_sum[g] / err_n[g] if err_n[g] else float("nan"),
            "frames_pct": 100.0 * frames[g] / T, "joints_pct": 100.0 * joints[g] / (T * J),
            "pcp_pct": 100.0 * pcp[g] / (T * len(COCO17_PCP_LIMBS)),
            "id_switches": int((s[1:] != s[:-1]).sum()) if s.size > 1 else 0,
            "ids": sorted(set(s.tolist())),
        })
    return {"people": people, "false_positives": int(fp), "frames": T}


__all__ = ["MultiPersonScene", "make_multiperson_scene", "crossing_people", "occlusion_mask",
           "score_people", "BODY_CAPSULES", "COCO17_PCP_LIMBS"]
