"""Triangulation benchmark: mocap vs aniposelib and Pose2Sim on the same synthetic multi-view captures.

Inputs: both CMU clips in ``shared/data/bvh`` (131_01 walk, 01_01 jumps), COCO-17 markers, 4 and 8 distorted
cameras, 2 px noise, 10 % outliers (random or another joint's position, same confidence as inliers), 5 % dropouts
(:func:`mocap.synthetic.make_capture`). Every method gets the same raw-pixel detections and confidences; the
peers run in their own venv (``bash benchmarks/peers/setup_peers.sh``) through ``benchmarks/peers/run_peer.py``.

Prints per case: MPJPE (mm, over the points a method returned), the share of points dropped, wall time, and the
ratios (ours / best peer MPJPE; Pose2Sim time / ours). "mocap" is ``triangulate_keypoints`` with its
defaults (robust view selection, Gauss-Newton refinement, temporal re-check, bone-length check);
"single-frame" turns the temporal re-check off; the filter and bone rows post-process the "mocap" result
(offline only) and are not part of the ratio. Then batch throughput (1 person, 4 cameras, 33 joints) and
online latency (p50/p95 of ``OnlineTriangulator.step``).

Usage: .venv/bin/python benchmarks/bench_triangulation.py [--frame-step 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mocap.reconstruct.bones import constrain_bone_lengths, estimate_bone_lengths, rigid_bones  # noqa: E402
from mocap.reconstruct.filters import butterworth_filter  # noqa: E402
from mocap.reconstruct.online import OnlineTriangulator  # noqa: E402
from mocap.reconstruct.sequence import triangulate_keypoints  # noqa: E402
from mocap.reconstruct.triangulation import triangulate  # noqa: E402
from mocap.synthetic import make_capture  # noqa: E402

PEERS = ("aniposelib_dlt", "aniposelib_ransac", "pose2sim")


def _mpjpe(X: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    e = np.linalg.norm(X - gt, axis=-1)
    return float(np.nanmean(e) * 1000), float(np.mean(~np.isfinite(e)))


def _run_peer(python: Path, method: str, rig, uv: np.ndarray, conf: np.ndarray, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(inp, uv=uv, conf=conf, K=np.stack([c.K for c in rig]), dist=np.stack([c.dist for c in rig]),
                 rvec=np.stack([c.rvec for c in rig]), tvec=np.stack([c.t for c in rig]),
                 size=np.array([c.size for c in rig]), reproj_threshold_px=15.0, likelihood_threshold=0.1)
        try:
            r = subprocess.run([str(python), str(REPO / "benchmarks" / "peers" / "run_peer.py"), method, str(inp),
                                str(outp)], capture_output=True, text=True, timeout=timeout,
                               env={**os.environ, "MPLBACKEND": "Agg"})
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if r.returncode != 0:
            return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
        with np.load(outp) as z:
            return {"X": z["X"], "seconds": float(z["seconds"]), **({"kept": z["kept"]} if "kept" in z else {})}


def _flat(kp) -> tuple[np.ndarray, np.ndarray]:
    uv = np.moveaxis(kp.data[:, :, 0, :, :2], 1, 0)  # (C, T, J, 2)
    conf = np.moveaxis(kp.data[:, :, 0, :, 2], 1, 0)
    C = uv.shape[0]
    return uv.reshape(C, -1, 2), conf.reshape(C, -1)


def bench_case(bvh: Path, n_cams: int, args, peers_python: Path | None) -> dict:
    rig, kp, gt = make_capture(bvh, n_cams, noise_px=2.0, outlier_rate=0.1, dropout_rate=0.05, seed=args.seed,
                               frame_step=args.frame_step, max_frames=args.max_frames)
    T, J = kp.n_frames, kp.n_joints
    g = gt[:, 0].reshape(-1, 3)
    uv, conf = _flat(kp)
    rows: dict[str, dict] = {}
    t0 = time.perf_counter()
    k3 = triangulate_keypoints(rig, kp)
    dt = time.perf_counter() - t0
    rows["mocap"] = dict(zip(("mpjpe_mm", "dropped"), _mpjpe(k3.xyz[:, 0].reshape(-1, 3), g)), seconds=dt)
    t0 = time.perf_counter()
    k3s = triangulate_keypoints(rig, kp, temporal_check=False)
    rows["mocap (single-frame)"] = dict(zip(("mpjpe_mm", "dropped"), _mpjpe(k3s.xyz[:, 0].reshape(-1, 3), g)),
                                        seconds=time.perf_counter() - t0)
    t0 = time.perf_counter()
    k3r = triangulate_keypoints(rig, kp, refine=False)
    rows["mocap (refine=False)"] = dict(zip(("mpjpe_mm", "dropped"), _mpjpe(k3r.xyz[:, 0].reshape(-1, 3), g)),
                                        seconds=time.perf_counter() - t0)
    filt = butterworth_filter(k3.xyz, kp.fps, min(6.0, 0.4 * kp.fps))
    rows["mocap + butterworth 6 Hz"] = dict(zip(("mpjpe_mm", "dropped"), _mpjpe(filt[:, 0].reshape(-1, 3), g)),
                                            seconds=float("nan"))
    rb = rigid_bones(kp.joint_set)
    lengths = estimate_bone_lengths(k3.xyz, rb, k3.confidence)
    for name, xyz in (("mocap + rigid bones", k3.xyz), ("mocap + butterworth + bones", filt)):
        fixed = constrain_bone_lengths(xyz, lengths, rb, k3.confidence)
        rows[name] = dict(zip(("mpjpe_mm", "dropped"), _mpjpe(fixed[:, 0].reshape(-1, 3), g)), seconds=float("nan"))
    if peers_python is not None:
        for m in PEERS:
            if m == "aniposelib_ransac":
                # per-point Python loop over all 2^C view subsets: run on the first frames only
                nf = min(T, args.ransac_frames if n_cams <= 4 else max(1, args.ransac_frames // 8))
                res = _run_peer(peers_python, m, rig, uv[:, :nf * J], conf[:, :nf * J], args.peer_timeout)
                if "X" in res:
                    ours_sub = _mpjpe(k3.xyz[:nf, 0].reshape(-1, 3), g[:nf * J])
                    rows[m] = dict(zip(("mpjpe_mm", "dropped"), _mpjpe(res["X"], g[:nf * J])),
                                   seconds=res["seconds"] * T / nf, frames=nf, mocap_same_frames_mm=ours_sub[0])
                else:
                    rows[m] = res
                continue
            res = _run_peer(peers_python, m, rig, uv, conf, args.peer_timeout)
            rows[m] = (dict(zip(("mpjpe_mm", "dropped"), _mpjpe(res["X"], g)), seconds=res["seconds"])
                       if "X" in res else res)
    return {"clip": bvh.stem, "cameras": n_cams, "frames": T, "joints": J, "fps": kp.fps, "rows": rows}


def _points33(kp, gt):
    """33 'joints' per frame: the 17 COCO points and the 16 bone midpoints (projected with the same rig)."""
    from mocap.skeletons import get_joint_set

    bones = get_joint_set("coco17").bones
    mids = np.stack([0.5 * (gt[:, 0, a] + gt[:, 0, b]) for a, b in bones], 1)
    return np.concatenate([gt[:, 0], mids], 1)  # (T, 33, 3)


def bench_speed(bvh: Path, args) -> dict:
    rig, kp, gt = make_capture(bvh, 4, seed=args.seed, frame_step=1)
    X33 = _points33(kp, gt)[: args.speed_frames]
    T = X33.shape[0]
    rng = np.random.default_rng(args.seed)
    uv_clean = rig.project(X33) + rng.normal(0, 2.0, (4, T, 33, 2))
    uv_out = uv_clean.copy()
    bad = rng.random((4, T, 33)) < 0.1
    uv_out[bad] = rng.uniform([0, 0], [1280, 720], (int(bad.sum()), 2))
    out = {"cores": os.cpu_count(), "frames": T, "load_average": os.getloadavg()[0]}
    for name, uv in (("noise only", uv_clean), ("noise + 10% outliers", uv_out)):
        wall, cpu = np.inf, np.inf
        for _ in range(5):
            t0, c0 = time.perf_counter(), time.process_time()
            triangulate(rig, uv)
            wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
        out[f"frames_per_s ({name})"] = {"wall": T / wall, "cpu": T / cpu}
    tri = OnlineTriangulator(rig, "mediapipe33", filter="one_euro")
    n = min(T, 2000)
    cpu_ms = []
    for i in range(n):
        c0 = time.process_time()
        tri.step(uv_out[:, i], None, i / kp.fps)
        cpu_ms.append((time.process_time() - c0) * 1000)
    tri.latencies_s = tri.latencies_s[20:]  # warm-up
    out["online_latency_ms"] = tri.latency_ms()
    out["online_latency_cpu_ms"] = {"p50": float(np.percentile(cpu_ms[20:], 50)),
                                    "p95": float(np.percentile(cpu_ms[20:], 95))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bvh-dir", type=Path, default=REPO.parent / "shared" / "data" / "bvh")
    ap.add_argument("--frame-step", type=int, default=4, help="subsample the 120 Hz clips (default 4 -> 30 Hz)")
    ap.add_argument("--max-frames", type=int, default=None)
    ap.add_argument("--cameras", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--peers-venv", type=Path, default=REPO / ".venv-peers")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--ransac-frames", type=int, default=40,
                    help="frames given to aniposelib's triangulate_ransac with 4 cameras (1/8 with 8 cameras)")
    ap.add_argument("--peer-timeout", type=float, default=900.0)
    ap.add_argument("--speed-frames", type=int, default=2000)
    ap.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    args = ap.parse_args(argv)

    peers_python = None if args.no_peers else args.peers_venv / "bin" / "python"
    if peers_python is not None and not peers_python.exists():
        print(f"peers venv {args.peers_venv} missing: run `bash benchmarks/peers/setup_peers.sh` (peers skipped)")
        peers_python = None
    results = {"cases": [], "speed": None}
    for clip in ("131_01", "01_01"):
        bvh = args.bvh_dir / f"{clip}.bvh"
        for nc in args.cameras:
            case = bench_case(bvh, nc, args, peers_python)
            results["cases"].append(case)
            print(f"\n== {clip}  {nc} cameras  {case['frames']} frames x {case['joints']} joints "
                  f"@ {case['fps']:.0f} Hz (2 px noise, 10% outliers, 5% dropouts)")
            print(f"  {'method':<28}{'MPJPE mm':>10}{'dropped':>9}{'time s':>10}")
            for name, r in case["rows"].items():
                if "error" in r:
                    print(f"  {name:<28}  failed: {r['error']}")
                    continue
                extra = ""
                if "frames" in r:
                    extra = (f"   (on the first {r['frames']} frames; mocap there: {r['mocap_same_frames_mm']:.2f} mm;"
                             " time extrapolated)")
                print(f"  {name:<28}{r['mpjpe_mm']:>10.2f}{100 * r['dropped']:>8.2f}%{r['seconds']:>10.3f}{extra}")
            peers = {k: v for k, v in case["rows"].items() if k in PEERS and "mpjpe_mm" in v}
            ours = case["rows"]["mocap"]
            if peers:
                # compare on the same frames where a peer ran on a subset
                ratios = {k: v.get("mocap_same_frames_mm", ours["mpjpe_mm"]) / v["mpjpe_mm"]
                          for k, v in peers.items()}
                best = min(peers, key=lambda k: peers[k]["mpjpe_mm"] if "frames" not in peers[k] else np.inf)
                case["ratio_mpjpe_vs_best_peer"] = ours["mpjpe_mm"] / peers[best]["mpjpe_mm"]
                print(f"  MPJPE ratio mocap / best full-clip peer ({best}): {case['ratio_mpjpe_vs_best_peer']:.2f} "
                      "(target <= 0.8)")
                print("  MPJPE ratio mocap / each peer: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
                if "pose2sim" in peers:
                    case["speedup_vs_pose2sim"] = peers["pose2sim"]["seconds"] / ours["seconds"]
                    print(f"  speed-up vs Pose2Sim: {case['speedup_vs_pose2sim']:.0f}x (target >= 10x)")
    speed = bench_speed(args.bvh_dir / "131_01.bvh", args)
    results["speed"] = speed
    print(f"\n== batch throughput, 1 person, 4 cameras, 33 joints, {speed['frames']} frames; one process, "
          f"{speed['cores']} CPU cores visible (load average {speed['load_average']:.1f}: shared machine). "
          "'cpu' = frames per CPU-second of this process (insensitive to other processes).")
    for k, v in speed.items():
        if k.startswith("frames_per_s"):
            print(f"  {k}: {v['wall']:,.0f} frames/s wall, {v['cpu']:,.0f} frames/s cpu (target >= 20,000)")
    lat, cpu = speed["online_latency_ms"], speed["online_latency_cpu_ms"]
    print(f"  online OnlineTriangulator.step (one-euro, 10% outliers): wall p50 {lat['p50']:.2f} ms, "
          f"p95 {lat['p95']:.2f} ms; cpu p50 {cpu['p50']:.2f} ms, p95 {cpu['p95']:.2f} ms (target p95 <= 2 ms)")
    if args.json:
        def clean(o):
            if isinstance(o, dict):
                return {k: clean(v) for k, v in o.items() if k != "X"}
            if isinstance(o, float | np.floating):
                return float(o)
            return o
        args.json.write_text(json.dumps(clean(results), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
