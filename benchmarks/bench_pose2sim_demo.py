"""Benchmark (c): reprojection error per camera on the Pose2Sim demo, ours vs Pose2Sim's and aniposelib's
triangulation, on the SAME 2D inputs.

Inputs: the Pose2Sim Demo_SinglePerson videos (fetched from PyPI), 2D keypoints from our MediaPipe detector
(cached in out/bench_pose2sim_demo/2d), the Qualisys calibration converted by mocap, and the per-camera time
offsets our calibrated sync estimates (applied to the 2D before every method, so all get the same input).

For each method we report, per camera: the mean reprojection error over the views the method KEPT for each
point (the number Pose2Sim itself reports), the median over every confident detection (conf >= 0.3) whose 3D
point the method produced (rejected views included), the fraction of confident views kept, and the fraction of
(frame, joint) points reconstructed.
Peers run in their own venv (bash benchmarks/peers/setup_peers.sh); without it only ours is measured.

Usage: python benchmarks/bench_pose2sim_demo.py [--no-sync] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_triangulation import _run_peer  # noqa: E402


def per_camera_errors(rig, kp2d, X: np.ndarray, kept: np.ndarray | None, min_conf: float = 0.3) -> dict:
    """Reprojection errors per camera of 3D points ``X`` (T, J, 3) against the detections.

    ``kept`` (C, T, J): views the method kept per point (None: every view with a detection).
    """
    uv = np.moveaxis(kp2d.data[:, :, 0], 1, 0)  # (C, T, J, 3)
    proj = rig.project(X)  # (C, T, J, 2)
    err = np.linalg.norm(proj - uv[..., :2], axis=-1)
    err[~(uv[..., 2] >= min_conf)] = np.nan
    kept = np.isfinite(err) if kept is None else (np.asarray(kept, bool) & np.isfinite(err))
    out = {}
    for c, name in enumerate(kp2d.camera_names):
        e_all = err[c][np.isfinite(err[c])]
        e_kept = err[c][kept[c]]
        out[name] = {"kept_mean_px": float(e_kept.mean()) if e_kept.size else float("nan"),
                     "all_median_px": float(np.median(e_all)) if e_all.size else float("nan"),
                     "kept_fraction": float(e_kept.size / e_all.size) if e_all.size else 0.0}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-sync", action="store_true", help="do not apply the estimated camera offsets")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "bench_pose2sim_demo")
    ap.add_argument("--peers-python", type=Path, default=REPO / ".venv-peers" / "bin" / "python")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from mocap.cameras.formats import read_calibration
    from mocap.data.pose2sim_demo import pose2sim_demo
    from mocap.keypoints2d import detect_videos
    from mocap.reconstruct import triangulate_keypoints
    from mocap.sources.offset import apply_offsets, estimate_offsets_calibrated

    warnings.simplefilter("ignore")
    demo = pose2sim_demo("single", quiet=True)
    videos = sorted((demo / "videos").glob("*.mp4"))
    rig = read_calibration(demo / "calibration" / "Calib.qca.txt").subset([v.stem for v in videos])
    kp2d, _ = detect_videos(videos, args.out / "2d", show_progress=False)
    if not args.no_sync:
        est = estimate_offsets_calibrated(rig, kp2d, max_offset_frames=30)
        offs = [e.offset_frames if e.confidence >= 0.5 and abs(e.offset_frames) >= 0.5 else 0.0 for e in est]
        print("sync offsets [frames]: " + ", ".join(f"{n} {o:+.2f}" for n, o in zip(kp2d.camera_names, offs)))
        kp2d = apply_offsets(kp2d, offs)
    T, J = kp2d.n_frames, kp2d.n_joints
    results: dict[str, dict] = {}

    t0 = time.perf_counter()
    kp3d = triangulate_keypoints(rig, kp2d)
    sec = time.perf_counter() - t0
    X = kp3d.xyz[:, 0]
    used = kp3d.meta["used"][:, :, 0]  # (C, T, J)
    results["mocap"] = {"seconds": sec, "reconstructed": float(np.isfinite(X[..., 0]).mean()),
                        "cameras": per_camera_errors(rig, kp2d, X, used)}

    if args.peers_python.exists():
        uv = np.moveaxis(kp2d.data[:, :, 0, :, :2], 1, 0).reshape(len(rig), -1, 2)
        conf = np.moveaxis(kp2d.data[:, :, 0, :, 2], 1, 0).reshape(len(rig), -1)
        for method in ("pose2sim", "aniposelib_dlt"):
            r = _run_peer(args.peers_python, method, rig, uv, conf, timeout=600)
            if "error" in r:
                results[method] = {"error": r["error"]}
                continue
            Xp = r["X"].reshape(T, J, 3)
            kept = r["kept"].reshape(len(rig), T, J) if "kept" in r else None
            results[method] = {"seconds": r["seconds"], "reconstructed": float(np.isfinite(Xp[..., 0]).mean()),
                               "cameras": per_camera_errors(rig, kp2d, Xp, kept)}
    else:
        print(f"peers venv not found at {args.peers_python}: run bash benchmarks/peers/setup_peers.sh")

    print(f"\nPose2Sim Demo_SinglePerson, {T} frames x {J} joints (mediapipe33), same 2D input for every method")
    head = f"{'method':16s} {'points':>7s} {'time':>8s} " + " ".join(f"{n + ' kept-mean/all-med px (kept)':>34s}"
                                                                   for n in kp2d.camera_names)
    print(head)
    for m, r in results.items():
        if "error" in r:
            print(f"{m:16s} error: {r['error']}")
            continue
        cells = " ".join(f"{r['cameras'][n]['kept_mean_px']:>14.2f} / {r['cameras'][n]['all_median_px']:<6.2f}"
                         f" ({r['cameras'][n]['kept_fraction'] * 100:4.0f}%)" for n in kp2d.camera_names)
        print(f"{m:16s} {r['reconstructed'] * 100:6.1f}% {r['seconds']:7.3f}s {cells}")
    if "pose2sim" in results and "cameras" in results["pose2sim"]:
        for key, label in (("kept_mean_px", "mean over kept views"), ("all_median_px", "median over all views")):
            ratios = [results["mocap"]["cameras"][n][key] / results["pose2sim"]["cameras"][n][key]
                      for n in kp2d.camera_names]
            print(f"ratio ours / Pose2Sim, {label}, per camera: " + ", ".join(f"{x:.2f}" for x in ratios)
                  + "   (target: every ratio <= 1)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
