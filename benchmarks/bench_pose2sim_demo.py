"""Reprojection error per camera on the Pose2Sim demo (real videos, no 3D ground truth): mocap's online and offline
triangulation vs Pose2Sim's and aniposelib's, on the SAME 2D inputs.

Inputs: the Pose2Sim Demo_SinglePerson videos (fetched from PyPI), 2D keypoints from our MediaPipe detector
(cached in out/bench_pose2sim_demo/2d), the Qualisys calibration converted by mocap, and the per-camera time
offsets our calibrated sync estimates (applied to the 2D before every method, so all get the same input). Every
method runs in its own process through ``benchmarks/peers/run_peer.py`` with the same thresholds (likelihood 0.3,
Pose2Sim's default; reprojection 15 px).

Per method and camera, over the confident detections (conf >= 0.3) whose 3D point the method produced:

* ``all``: mean and median reprojection error over EVERY such view, the rejected ones included;
* ``kept``: mean over the views the method kept for each point (what Pose2Sim reports; a method that rejects
  more views scores better here, and mocap's Gauss-Newton refinement minimises exactly this error);
* ``views``: share of those confident views the method kept; ``points``: share of (frame, joint) points
  reconstructed. Ratios ours / Pose2Sim are printed for ``all`` (median) and ``kept`` (mean).

The filtered outputs (mocap run's Butterworth, Pose2Sim's filters) are not scored here: smoothing trades
reprojection error for accuracy, which the synthetic benchmark (bench_triangulation) measures with ground truth.
Peers run in their own venv (bash benchmarks/peers/setup_peers.sh); without it only mocap is measured.

Usage: python benchmarks/bench_pose2sim_demo.py [--no-sync] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_triangulation import run_method, write_input  # noqa: E402

METHODS = {"mocap online": ("mocap_online", "online"), "mocap single-frame": ("mocap_single_frame", "online"),
           "Pose2Sim (frame by frame)": ("pose2sim", "online"), "aniposelib DLT": ("aniposelib_dlt", "online"),
           "mocap offline": ("mocap_offline", "offline")}
MIN_CONF = 0.3


def per_camera_errors(rig, kp2d, X: np.ndarray, kept: np.ndarray | None, min_conf: float = MIN_CONF) -> dict:
    """Reprojection errors per camera of 3D points ``X`` ``(T, J, 3)`` against the detections.

    ``kept`` ``(C, T, J)``: views the method kept per point (None: every view with a detection).
    Returns per camera: ``kept_mean_px``, ``all_mean_px``, ``all_median_px``, ``kept_fraction`` (of the confident
    views whose point exists), ``views`` (how many confident views have a point).
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
        nan = float("nan")
        out[name] = {"kept_mean_px": float(e_kept.mean()) if e_kept.size else nan,
                     "all_mean_px": float(e_all.mean()) if e_all.size else nan,
                     "all_median_px": float(np.median(e_all)) if e_all.size else nan,
                     "kept_fraction": float(e_kept.size / e_all.size) if e_all.size else 0.0,
                     "views": int(e_all.size)}
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
    rig = rig.subset(kp2d.camera_names)
    T, J, C = kp2d.n_frames, kp2d.n_joints, kp2d.n_cameras
    peers = args.peers_python if args.peers_python.exists() else None
    if peers is None:
        print(f"peers venv not found at {args.peers_python}: run bash benchmarks/peers/setup_peers.sh")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "in.npz"
        write_input(inp, rig, kp2d)
        d = dict(np.load(inp))
        d["likelihood_threshold"] = MIN_CONF
        np.savez(inp, **d)
        for name, (method, mode) in METHODS.items():
            py = Path(sys.executable) if method.startswith("mocap") else peers
            if py is None:
                continue
            r = run_method(py, method, inp, timeout=900)
            if "error" in r:
                results[name] = {"mode": mode, "error": r["error"]}
                continue
            Xp = r["X"].reshape(T, J, 3)
            kept = r["kept"].reshape(C, T, J) if "kept" in r else None
            results[name] = {"mode": mode, "X": Xp, "call_wall_s": r["call_wall_s"],
                             "reconstructed": float(np.isfinite(Xp[..., 0]).mean()),
                             "cameras": per_camera_errors(rig, kp2d, Xp, kept)}
    ok = {n: r for n, r in results.items() if "X" in r}
    common = np.logical_and.reduce([np.isfinite(r["X"]).all(-1) for r in ok.values()]) if ok else None
    for r in ok.values():
        Xc = np.where(common[..., None], r["X"], np.nan)
        r["common_cameras"] = per_camera_errors(rig, kp2d, Xc, None)

    print(f"\nPose2Sim Demo_SinglePerson, {T} frames x {J} joints ({kp2d.joint_set}), same 2D for every method; "
          f"confident views: conf >= {MIN_CONF}; common points (reconstructed by every method): "
          f"{100 * common.mean():.1f}%" if common is not None else "")
    print(f"{'mode':8s}{'method':28s}{'points':>7s}{'call s':>8s}  per camera: all-views mean / median px "
          "| kept-views mean px (share of views kept) | all views on common points, mean px")
    for mode in ("online", "offline"):
        for name, r in results.items():
            if r["mode"] != mode:
                continue
            if "error" in r:
                print(f"{mode:8s}{name:28s} error: {r['error']}")
                continue
            print(f"{mode:8s}{name:28s}{100 * r['reconstructed']:6.1f}%{r['call_wall_s']:8.3f}")
            for cam in kp2d.camera_names:
                v, vc = r["cameras"][cam], r["common_cameras"][cam]
                print(f"{'':44s}{cam:8s} all {v['all_mean_px']:6.2f} / {v['all_median_px']:5.2f} | kept "
                      f"{v['kept_mean_px']:6.2f} ({100 * v['kept_fraction']:5.1f}%) | common {vc['all_mean_px']:6.2f}")
    p2s = ok.get("Pose2Sim (frame by frame)")
    if p2s is not None:
        for ours in ("mocap online", "mocap offline"):
            if ours not in ok:
                continue
            for key, src, label in (("all_mean_px", "common_cameras", "mean over all views, common points"),
                                    ("all_median_px", "cameras", "median over all views, own points"),
                                    ("kept_mean_px", "cameras", "mean over kept views, own points")):
                rr = [ok[ours][src][n][key] / p2s[src][n][key] for n in kp2d.camera_names]
                print(f"ratio {ours} / Pose2Sim, {label}, per camera: " + ", ".join(f"{x:.2f}" for x in rr))
    if args.json:
        args.json.write_text(json.dumps({n: {k: v for k, v in r.items() if k != "X"} for n, r in results.items()},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
