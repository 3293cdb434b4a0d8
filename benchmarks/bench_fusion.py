"""Depth and IMU fusion on synthetic captures built from CMU motion (exact ground truth).

(a) Depth: one RGB-D camera (capsule body rendered to a noisy uint16 depth image with holes) on the person's left
    and one RGB camera on the right that loses the left arm (behind the body) for the middle half of the clip.
    Compared: the RGB-D camera alone (with and without the surface-to-centre offset), 2-camera triangulation
    (which has the left arm only where both cameras see it), and triangulation fused with depth.
(b) IMU: the left wrist is hidden from all 4 cameras for ``occlusion_s`` seconds; an IMU on the left forearm
    (unknown mounting, unknown heading, gyro bias, orientation drift) gives the forearm's orientation. Compared:
    the wrist error during the occlusion with gap interpolation (no IMU) and with the IMU fusion.

Usage::

    .venv/bin/python benchmarks/bench_fusion.py [--data ../shared/data] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from mocap.cameras import Camera, CameraRig
from mocap.reconstruct.depth_fusion import (
    COCO17_SURFACE_OFFSET_M,
    DepthNoiseModel,
    fuse_depth_keypoints,
    render_capsule_depth,
)
from mocap.reconstruct.triangulation import triangulate

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"

# COCO-17 capsules: (joint a, joint b, radius m); a == b is a sphere.
COCO17_CAPSULES = [
    (5, 7, 0.05), (7, 9, 0.04), (6, 8, 0.05), (8, 10, 0.04),  # arms
    (11, 13, 0.08), (13, 15, 0.05), (12, 14, 0.08), (14, 16, 0.05),  # legs
    (5, 6, 0.06), (11, 12, 0.08),  # shoulder and hip lines
]
LEFT_ARM = [7, 9]  # left elbow, left wrist


def look_at(name: str, centre: np.ndarray, target: np.ndarray, size=(640, 480), f: float = 480.0) -> Camera:
    """A pinhole camera at ``centre`` looking at ``target`` (world Z up, image y down)."""
    z = np.asarray(target, float) - centre
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])
    K = np.array([[f, 0, size[0] / 2], [0, f, size[1] / 2], [0, 0, 1.0]])
    return Camera.from_center(name, size, K, R, centre)


def capsules(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Capsule end points ``(B, 3)`` and radii of a COCO-17 body ``(17, 3)``: limbs, torso and a head sphere."""
    a = [xyz[i] for i, _, _ in COCO17_CAPSULES]
    b = [xyz[j] for _, j, _ in COCO17_CAPSULES]
    r = [rr for _, _, rr in COCO17_CAPSULES]
    sh, hip = 0.5 * (xyz[5] + xyz[6]), 0.5 * (xyz[11] + xyz[12])
    a.append(hip + 0.25 * (sh - hip))
    b.append(sh - 0.15 * (sh - hip))
    r.append(0.12)
    head = 0.5 * (xyz[3] + xyz[4])
    a.append(head)
    b.append(head)
    r.append(0.09)
    return np.array(a), np.array(b), np.array(r)


def _mpjpe(X: np.ndarray, gt: np.ndarray, joints: list[int] | None = None) -> float:
    sel = slice(None) if joints is None else joints
    e = np.linalg.norm(X[..., sel, :] - gt[..., sel, :], axis=-1)
    return float(np.nanmean(e)) if np.isfinite(e).any() else float("nan")


def _completeness(X: np.ndarray, joints: list[int] | None = None) -> float:
    sel = slice(None) if joints is None else joints
    return float(np.isfinite(X[..., sel, :]).all(-1).mean())


def depth_case(data: Path = DEFAULT_DATA, n_frames: int = 40, noise_px: float = 2.0, depth_k: float = 0.002,
               hole_rate: float = 0.03, seed: int = 0,
               depth_size: tuple[int, int] = (320, 240)) -> dict:
    """Scenario (a); returns the metrics (metres, fractions) and timings."""
    from mocap.keypoints import Keypoints2D
    from mocap.synthetic import bvh_markers

    rng = np.random.default_rng(seed)
    gt, fps = bvh_markers(data / "bvh" / "131_01.bvh", frame_step=4, max_frames=n_frames)  # (T, 17, 3)
    centre = 0.5 * (gt.reshape(-1, 3).min(0) + gt.reshape(-1, 3).max(0))
    centre[2] = 1.0
    # walk along +x; the person's left faces +y: the RGB-D camera sits there, an RGB camera on the right
    rgbd = look_at("rgbd", centre + np.array([0.4, 3.0, 0.3]), centre)
    rgb = look_at("rgb", centre + np.array([1.5, -3.2, 0.6]), centre)
    rig = CameraRig([rgbd, rgb])
    T, J = gt.shape[:2]
    uv = np.moveaxis(rig.project(gt), 0, 1) + rng.normal(0.0, noise_px, (T, 2, J, 2))  # (T, C, J, 2)
    conf = np.where(np.isfinite(uv).all(-1), 0.9, np.nan)
    hidden = np.zeros(T, dtype=bool)
    hidden[T // 4: 3 * T // 4] = True  # left arm behind the body from the right-hand camera, middle half
    uv[hidden, 1, LEFT_ARM[0]:LEFT_ARM[-1] + 1] = np.nan
    conf[hidden, 1, LEFT_ARM[0]:LEFT_ARM[-1] + 1] = np.nan
    kp2d = Keypoints2D(np.concatenate([uv, conf[..., None]], -1)[:, :, None], "coco17", rig.names, fps=fps)
    t0 = time.perf_counter()
    depth = np.stack([render_capsule_depth(rgbd, *capsules(gt[t]), noise_k=depth_k, noise_0=0.002,
                                           hole_rate=hole_rate, rng=rng, size=depth_size) for t in range(T)])
    t_render = (time.perf_counter() - t0) / T
    noise = DepthNoiseModel(k=depth_k, sigma_0=0.005, sigma_px=noise_px)
    out: dict = {"frames": T, "fps": fps, "depth_k": depth_k, "noise_px": noise_px,
                 "left_arm_hidden_fraction": float(hidden.mean()), "render_ms_per_frame": 1000 * t_render}

    mono_rig = rig.subset(["rgbd"])
    kp_mono = kp2d.select_cameras(["rgbd"])
    for key, offset in (("rgbd_only_no_offset", 0.0), ("rgbd_only", COCO17_SURFACE_OFFSET_M)):
        t0 = time.perf_counter()
        k3 = fuse_depth_keypoints(mono_rig, kp_mono, {"rgbd": depth}, 0.001, noise=noise, surface_offset_m=offset)
        dt = (time.perf_counter() - t0) / T
        X = k3.xyz[:, 0]
        out[f"{key}_mpjpe_m"] = _mpjpe(X, gt)
        out[f"{key}_median_m"] = float(np.nanmedian(np.linalg.norm(X - gt, axis=-1)))
        out[f"{key}_left_arm_mpjpe_m"] = _mpjpe(X, gt, LEFT_ARM)
        out[f"{key}_completeness"] = _completeness(X)
        out[f"{key}_ms_per_frame"] = 1000 * dt

    res = triangulate(rig, np.moveaxis(uv, 1, 0), np.moveaxis(conf, 1, 0))
    Xt = res.X
    visible = [j for j in range(J) if j not in LEFT_ARM]
    out["tri2_completeness"] = _completeness(Xt)
    out["tri2_left_arm_completeness"] = _completeness(Xt, LEFT_ARM)
    out["tri2_visible_mpjpe_m"] = _mpjpe(Xt, gt, visible)
    out["tri2_left_arm_seen_mpjpe_m"] = _mpjpe(Xt[~hidden], gt[~hidden], LEFT_ARM)

    t0 = time.perf_counter()
    k3 = fuse_depth_keypoints(rig, kp2d, {"rgbd": depth}, 0.001, noise=noise, surface_offset_m=COCO17_SURFACE_OFFSET_M)
    out["fused_ms_per_frame"] = 1000 * (time.perf_counter() - t0) / T
    Xf = k3.xyz[:, 0]
    out["fused_completeness"] = _completeness(Xf)
    out["fused_visible_mpjpe_m"] = _mpjpe(Xf, gt, visible)  # own points: includes what triangulation dropped
    both = np.isfinite(Xt).all(-1, keepdims=True)
    out["fused_visible_common_mpjpe_m"] = _mpjpe(np.where(both, Xf, np.nan), gt, visible)  # points both have
    out["fused_left_arm_mpjpe_m"] = _mpjpe(Xf, gt, LEFT_ARM)
    out["fused_left_arm_hidden_mpjpe_m"] = _mpjpe(Xf[hidden], gt[hidden], LEFT_ARM)
    out["fused_left_arm_seen_mpjpe_m"] = _mpjpe(Xf[~hidden], gt[~hidden], LEFT_ARM)
    out["fused_left_arm_hidden_from_depth"] = float(k3.quality["from_depth"][hidden, 0][:, LEFT_ARM].mean())
    out["fused_mpjpe_m"] = _mpjpe(Xf, gt)
    return out


def imu_case(data: Path = DEFAULT_DATA, occlusion_s: float = 1.5, occlusion_start_s: float = 4.0,
             n_cameras: int = 4, seed: int = 0, yaw_drift_rad_s: float = 0.01, gyro_bias: float = 0.02,
             hide_elbow: bool = False) -> dict:
    """Scenario (b); returns wrist errors (metres) during the occlusion with and without the forearm IMU.

    With ``hide_elbow`` the whole arm below the shoulder is hidden and a second IMU sits on the upper arm.
    """
    from mocap.reconstruct.filters import fill_gaps
    from mocap.reconstruct.imu_fusion import ImuSegment, ImuStream, fuse_imu_keypoints, simulate_imu
    from mocap.reconstruct.sequence import triangulate_keypoints
    from mocap.synthetic import make_capture, read_bvh
    from mocap.synthetic.bvh import YUP_TO_ZUP

    bvh = data / "bvh" / "131_01.bvh"
    step = 4
    rig, kp2d, gt = make_capture(bvh, n_cameras=n_cameras, noise_px=2.0, outlier_rate=0.02, dropout_rate=0.02,
                                 seed=seed, frame_step=step)
    gt = gt[:, 0]
    T = gt.shape[0]
    fps = kp2d.fps
    mot = read_bvh(bvh)
    _, rot = mot.forward_kinematics()
    R_seg = YUP_TO_ZUP @ rot[::step][:T, mot.joints.index("LeftElbow")]  # forearm segment -> world
    R_ua = YUP_TO_ZUP @ rot[::step][:T, mot.joints.index("LeftShoulder")]  # upper arm segment -> world
    a = int(round(occlusion_start_s * fps))
    b = min(a + int(round(occlusion_s * fps)), T - 1)
    wrist, elbow, shoulder = 9, 7, 5
    kp2d.data[a:b, :, :, wrist] = np.nan  # the left wrist is hidden from every camera
    if hide_elbow:
        kp2d.data[a:b, :, :, elbow] = np.nan
    kp3d = triangulate_keypoints(rig, kp2d)
    rng = np.random.default_rng(seed + 1)
    R_align = rotvec_to_matrix_safe(rng.normal(0.0, 0.6, 3))
    quat, gyro = simulate_imu(R_seg, kp3d.timestamps, R_align=R_align, heading_rad=0.9,
                              orientation_noise_rad=0.01, yaw_drift_rad_s=yaw_drift_rad_s, gyro_noise=0.02,
                              gyro_bias=gyro_bias, rng=rng)
    segments = [ImuSegment("l_forearm", elbow, wrist, "left_forearm")]
    imu = ImuStream(kp3d.timestamps, quat[:, None], gyro[:, None], ["l_forearm"])
    if hide_elbow:
        q2, g2 = simulate_imu(R_ua, kp3d.timestamps, R_align=rotvec_to_matrix_safe(rng.normal(0.0, 0.6, 3)),
                              heading_rad=0.9, orientation_noise_rad=0.01, yaw_drift_rad_s=yaw_drift_rad_s,
                              gyro_noise=0.02, gyro_bias=gyro_bias, rng=rng)
        imu = ImuStream(kp3d.timestamps, np.stack([quat, q2], 1), np.stack([gyro, g2], 1), ["l_forearm", "l_upper"])
        segments.append(ImuSegment("l_upper", shoulder, elbow, "left_upper_arm"))
    occl = slice(a, b)
    X0 = kp3d.xyz[:, 0]
    out: dict = {"frames": T, "fps": fps, "occluded_frames": b - a, "occlusion_s": (b - a) / fps,
                 "vision_wrist_completeness_in_gap": _completeness(X0[occl], [wrist]),
                 "vision_mpjpe_outside_gap_m": _mpjpe(np.delete(X0, np.arange(a, b), 0),
                                                      np.delete(gt, np.arange(a, b), 0))}
    lin = fill_gaps(X0, max_gap=T, method="linear")
    cub = fill_gaps(X0, max_gap=T, method="cubic")
    out["interp_linear_wrist_err_m"] = _mpjpe(lin[occl], gt[occl], [wrist])
    out["interp_cubic_wrist_err_m"] = _mpjpe(cub[occl], gt[occl], [wrist])
    t0 = time.perf_counter()
    fused, rep = fuse_imu_keypoints(kp3d, imu, segments)
    out["imu_ms_per_frame"] = 1000 * (time.perf_counter() - t0) / T
    Xf = fused.xyz[:, 0]
    out["imu_wrist_completeness_in_gap"] = _completeness(Xf[occl], [wrist])
    out["imu_wrist_err_m"] = _mpjpe(Xf[occl], gt[occl], [wrist])
    if hide_elbow:
        out["interp_linear_elbow_err_m"] = _mpjpe(lin[occl], gt[occl], [elbow])
        out["imu_elbow_err_m"] = _mpjpe(Xf[occl], gt[occl], [elbow])
    e = np.linalg.norm(Xf[occl, wrist] - gt[occl, wrist], axis=-1)
    out["imu_wrist_err_max_m"] = float(np.nanmax(e))
    al = rep["alignments"]["left_forearm"]
    out["alignment_residual_deg"] = float(np.rad2deg(al.residual_rad))
    out["alignment_heading_err_deg"] = float(np.rad2deg(abs(np.arctan2(al.R_heading[1, 0], al.R_heading[0, 0])
                                                            - 0.9)))
    # forearm direction error during the gap: fused orientation vs truth
    Rf = quat_to_matrix_safe(rep["segment_quat_xyzw"][occl, 0])
    d_true = gt[occl, wrist] - gt[occl, elbow]
    d_true /= np.linalg.norm(d_true, axis=1, keepdims=True)
    d_est = Rf @ al.axis
    out["imu_forearm_dir_err_deg"] = float(np.rad2deg(np.nanmean(np.arccos(np.clip((d_est * d_true).sum(1), -1,
                                                                                    1)))))
    return out


def rotvec_to_matrix_safe(rv: np.ndarray) -> np.ndarray:
    from mocap.geometry.rotations import rotvec_to_matrix

    return rotvec_to_matrix(np.asarray(rv, float))


def quat_to_matrix_safe(q: np.ndarray) -> np.ndarray:
    from mocap.geometry.rotations import quat_xyzw_to_matrix

    return quat_xyzw_to_matrix(np.asarray(q, float))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder with bvh/131_01.bvh")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    if not (args.data / "bvh" / "131_01.bvh").is_file():
        print(f"no {args.data / 'bvh' / '131_01.bvh'}; pass --data", file=sys.stderr)
        return 2
    results = {"depth": depth_case(args.data)}
    for occ in (1.0, 1.5, 2.0):
        results[f"imu_wrist_hidden_{occ:g}s"] = imu_case(args.data, occlusion_s=occ)
    results["imu_elbow_and_wrist_hidden_1.5s"] = imu_case(args.data, occlusion_s=1.5, hide_elbow=True)
    for name, res in results.items():
        print(f"[{name}]")
        for k, v in res.items():
            print(f"  {k:40s} {v:.4f}" if isinstance(v, float) else f"  {k:40s} {v}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
