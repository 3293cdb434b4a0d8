"""Extrinsic calibration of N cameras from synchronised board views.

1. per (camera, frame) board pose by planar PnP (IPPE + refinement);
2. pairwise relative poses from shared frames, robustly averaged (rotation: inlier mean projected to SO(3)
   around the medoid; translation: median);
3. a view graph: maximum spanning tree on the number of shared frames, rooted at the reference camera;
4. an initial rig and board poses, then bundle adjustment (:mod:`mocap.calibration.bundle`);
5. the world frame: the reference camera, or the board in a chosen frame (origin at the board's first
   corner, Z up out of the printed side).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import cv2
import numpy as np

from mocap.calibration.bundle import BundleResult, bundle_adjust
from mocap.calibration.detection import BoardDetection
from mocap.calibration.intrinsics import IntrinsicsResult
from mocap.cameras.camera import Camera
from mocap.cameras.rig import CameraRig
from mocap.errors import CalibrationError, MocapWarning

log = logging.getLogger(__name__)

#: a camera pair needs this many shared board frames for a trustworthy relative pose.
MIN_SHARED_VIEWS = 3


def _T(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, np.ravel(t)
    return T


def _inv(T: np.ndarray) -> np.ndarray:
    R, t = T[:3, :3], T[:3, 3]
    return _T(R.T, -R.T @ t)


def board_pose(det: BoardDetection, intr: IntrinsicsResult) -> np.ndarray | None:
    """4x4 board-to-camera transform of one view by planar PnP, or ``None`` when it fails."""
    if det.collinear:
        return None
    obj = det.object_points.astype(np.float64)
    if intr.model == "fisheye":
        xy = cv2.fisheye.undistortPoints(det.image_points.reshape(-1, 1, 2), intr.K, intr.dist).reshape(-1, 2)
        K, d = np.eye(3), np.zeros(5)
        img = xy
    else:
        K, d, img = intr.K, intr.dist, det.image_points
    ok, rv, tv = cv2.solvePnP(obj, img.astype(np.float64), K, d, flags=cv2.SOLVEPNP_IPPE)
    if not ok:
        return None
    rv, tv = cv2.solvePnPRefineLM(obj, img.astype(np.float64), K, d, rv, tv)
    if tv[2, 0] <= 0:
        return None
    return _T(cv2.Rodrigues(rv)[0], tv)


def average_rotations(Rs: np.ndarray, inlier_deg: float = 5.0) -> np.ndarray:
    """Robust mean of rotations ``(N, 3, 3)``: the medoid's inliers (within ``inlier_deg``) averaged on SO(3)."""
    Rs = np.asarray(Rs)
    if len(Rs) == 1:
        return Rs[0]
    cosang = (np.einsum("aij,bij->ab", Rs, Rs) - 1) / 2
    ang = np.arccos(np.clip(cosang, -1, 1))
    med = int(np.argmin(np.median(ang, axis=1)))
    inl = ang[med] < np.radians(inlier_deg)
    M = Rs[inl].mean(0)
    U, _, Vt = np.linalg.svd(M)
    return U @ np.diag([1, 1, np.sign(np.linalg.det(U @ Vt))]) @ Vt


@dataclass
class ExtrinsicsResult:
    """The calibrated rig and the diagnostics of how it was found.

    Attributes:
        rig: cameras with intrinsics and world-to-camera poses (metres).
        board_poses: frame -> 4x4 board-to-world transform.
        bundle: the bundle-adjustment result (costs, per-camera RMS).
        shared_views: ``(C, C)`` number of frames where both cameras saw the board.
        tree: edges ``(parent, child)`` of the view graph used for the initial rig.
        warnings: diagnostics.
    """

    rig: CameraRig
    board_poses: dict[int, np.ndarray]
    bundle: BundleResult | None
    shared_views: np.ndarray
    tree: list[tuple[str, str]]
    initial_rig: CameraRig | None = None
    warnings: list[str] = field(default_factory=list)


def shared_view_counts(detections: dict[str, list[BoardDetection]]) -> np.ndarray:
    """``(C, C)`` count of frames in which both cameras detected the board (diagonal: views per camera)."""
    names = list(detections)
    frames = [{d.frame for d in detections[n]} for n in names]
    return np.array([[len(a & b) for b in frames] for a in frames])


def _spanning_tree(counts: np.ndarray, root: int) -> list[tuple[int, int]]:
    C = len(counts)
    inside, edges = {root}, []
    while len(inside) < C:
        best = None
        for i in inside:
            for j in range(C):
                if j not in inside and (best is None or counts[i, j] > counts[best[0], best[1]]):
                    best = (i, j)
        if best is None or counts[best] == 0:
            break
        edges.append(best)
        inside.add(best[1])
    return edges


def calibrate_extrinsics(detections: dict[str, list[BoardDetection]], intrinsics: dict[str, IntrinsicsResult],
                         reference: str | None = None, world: str = "camera", world_frame: int | None = None,
                         refine_intrinsics: bool | dict[str, bool] = False, loss: str = "trim",
                         min_shared: int = MIN_SHARED_VIEWS, select_models: bool = True) -> ExtrinsicsResult:
    """Calibrate the poses of N cameras that saw the same board at the same frame indices.

    Args:
        detections: camera name -> detections (``frame`` indices must be synchronised across cameras).
        intrinsics: camera name -> intrinsics (see :func:`calibrate_intrinsics`).
        reference: the camera defining the world during the solve (default: the first).
        world: ``"camera"`` (world = reference camera frame) or ``"board"`` (world = the board in
            ``world_frame``: origin at its first corner, x along its columns, Z up out of the printed side).
        world_frame: frame for ``world="board"`` (default: the frame seen by most cameras).
        refine_intrinsics: also refine focal lengths, principal points and distortion in bundle adjustment (for
            every camera, or per camera name: ``{name: bool}``, e.g. False for supplied intrinsics).
        loss: bundle-adjustment loss (``"trim"``: least squares with outlier corners dropped; or a scipy loss).
        min_shared: minimum shared frames for a camera pair to be used.
        select_models: for cameras whose (pinhole, 5-coefficient) intrinsics are refined, choose the principal
            point, aspect ratio and distortion terms by their uncertainty in the joint bundle adjustment
            (:mod:`mocap.calibration.selection`) instead of keeping each camera's own choice.

    Raises:
        CalibrationError: a camera cannot be connected to the others (names the pair and counts).
    """
    names = list(detections)
    if len(names) < 2:
        raise CalibrationError("extrinsic calibration needs at least 2 cameras")
    ref = reference or names[0]
    if ref not in names:
        raise CalibrationError(f"reference camera '{ref}' is not among {names}")
    ri = names.index(ref)
    # 1. board poses per camera
    poses: list[dict[int, np.ndarray]] = []
    for n in names:
        P = {}
        for d in detections[n]:
            T = board_pose(d, intrinsics[n])
            if T is not None:
                P[d.frame] = T
        poses.append(P)
    C = len(names)
    counts = np.array([[len(set(poses[i]) & set(poses[j])) for j in range(C)] for i in range(C)])
    counts_ok = np.where(counts >= min_shared, counts, 0)
    np.fill_diagonal(counts_ok, 0)
    edges = _spanning_tree(counts_ok, ri)
    connected = {ri} | {j for _, j in edges}
    if len(connected) < C:
        missing = [names[j] for j in range(C) if j not in connected]
        lines = [f"'{names[i]}'-'{names[j]}': {counts[i, j]}" for i in range(C) for j in range(i + 1, C)
                 if names[i] in missing or names[j] in missing]
        raise CalibrationError(
            f"camera(s) {missing} share too few board frames with the rest (need >= {min_shared}); shared frames "
            f"per pair: {', '.join(lines)}",
            hint="record the board where these cameras and a neighbour both see it at the same time")
    # 2-3. relative poses along the tree: T_ref_cam for every camera
    T_ref = {ri: np.eye(4)}
    for i, j in edges:
        shared = sorted(set(poses[i]) & set(poses[j]))
        T_ij = [poses[i][f] @ _inv(poses[j][f]) for f in shared]  # cam j -> cam i
        R = average_rotations(np.stack([T[:3, :3] for T in T_ij]))
        t = np.median(np.stack([T[:3, 3] for T in T_ij]), axis=0)
        T_ref[j] = T_ref[i] @ _T(R, t)
    # initial board poses in the reference frame: the view with the most corners
    board0: dict[int, np.ndarray] = {}
    best_n: dict[int, int] = {}
    for ci, n in enumerate(names):
        for d in detections[n]:
            if d.frame in poses[ci] and d.n > best_n.get(d.frame, -1):
                best_n[d.frame] = d.n
                board0[d.frame] = T_ref[ci] @ poses[ci][d.frame]
    cams0 = []
    for ci, n in enumerate(names):
        Tcw = _inv(T_ref[ci])  # ref -> cam
        it = intrinsics[n]
        cams0.append(Camera(n, it.image_size, it.K.copy(), it.dist.copy(), Tcw[:3, :3], Tcw[:3, 3], it.model))
    initial = CameraRig(cams0)
    frames = sorted(board0)
    obs = []
    for ci, n in enumerate(names):
        for d in detections[n]:
            if d.frame in board0:
                obs.append((ci, frames.index(d.frame), d))
    refine = [bool(refine_intrinsics.get(n, False)) for n in names] if isinstance(refine_intrinsics, dict) \
        else [bool(refine_intrinsics)] * C
    chosen = [refine[c] and select_models and intrinsics[n].model == "pinhole" and intrinsics[n].given == ""
              and len(intrinsics[n].dist) == 5 for c, n in enumerate(names)]
    if any(chosen):
        from mocap.calibration.selection import select_models as _select

        ba, choice = _select(initial, [board0[f] for f in frames], obs, ri, refine,
                             start=dict.fromkeys((c for c in range(C) if chosen[c]), "k1"), loss=loss)
        for c, ch in choice.items():
            it = intrinsics[names[c]]
            it.dist_model, it.center_fixed, it.aspect_fixed = ch.dist_model, not ch.center_free, ch.aspect_fixed
            it.dist_reason = f"model chosen by its uncertainty in the joint bundle adjustment: {ch.label}"
            it.model_reasons = list(ch.reasons)
    else:
        ba = bundle_adjust(initial, [board0[f] for f in frames], obs, fixed_camera=ri,
                           refine_intrinsics=refine, loss=loss,
                           dist_free=[intrinsics[n].dist_free for n in names],
                           center_free=[not intrinsics[n].center_fixed for n in names])
    rig = ba.rig
    board_poses = dict(zip(frames, ba.board_poses))
    warn: list[str] = list(ba.warnings)
    if world == "board":
        if world_frame is None:
            seen = {f: sum(f in p for p in poses) for f in frames}
            world_frame = max(frames, key=lambda f: (seen[f], best_n.get(f, 0)))
        if world_frame not in board_poses:
            raise CalibrationError(f"world frame {world_frame} has no board pose; choose one of {frames[:20]}...")
        Tb = board_poses[world_frame] @ _T(np.diag([1.0, -1.0, -1.0]), np.zeros(3))  # Z out of the printed side
        Tw_ref = _inv(Tb)  # ref -> world
        rig = rig.transformed(Tw_ref[:3, :3], Tw_ref[:3, 3])
        board_poses = {f: Tw_ref @ T for f, T in board_poses.items()}
        from mocap.calibration.uncertainty import transform_center_cov

        for u in ba.uncertainty.values():
            transform_center_cov(u, Tw_ref[:3, :3])
        rig.meta["world"] = f"board in frame {world_frame}: origin at its first corner, Z out of the printed side"
    else:
        rig.meta["world"] = f"camera '{ref}'"
    warn += scale_warnings(rig, detections)
    for w in warn:
        warnings.warn(w, MocapWarning, stacklevel=2)
    tree = [(names[i], names[j]) for i, j in edges]
    return ExtrinsicsResult(rig, board_poses, ba, counts, tree, initial, warn)


def scale_warnings(rig: CameraRig, detections: dict[str, list[BoardDetection]] | None = None) -> list[str]:
    """Warn when camera distances suggest the board's square size was given in the wrong unit."""
    C = rig.centers
    if len(C) < 2:
        return []
    d = np.linalg.norm(C[:, None] - C[None], axis=-1)
    dmax = float(d.max())
    if dmax > 50.0:
        return [f"cameras are up to {dmax:.0f} m apart: the board's square_length looks like millimetres typed as "
                f"metres (e.g. 54 instead of 0.054); fix the board file and calibrate again"]
    if dmax < 0.02:
        return [f"cameras are at most {dmax * 1000:.1f} mm apart: the board's square_length looks like metres "
                f"typed as millimetres or the wrong unit; check the board file"]
    return []
