"""Triangulation benchmark: mocap's online and offline modes against the matching peers on the same synthetic captures.

Inputs: both CMU clips in ``shared/data/bvh`` (131_01 walk, 01_01 jumps) at 30 Hz, COCO-17 markers, 4 and 8
distorted cameras, 2 px noise, 10 % outliers (random or another joint's position, same confidence as inliers),
5 % dropouts (:func:`mocap.synthetic.make_capture`). Every method gets the same raw-pixel detections and
confidences (likelihood threshold 0.1, reprojection threshold 15 px for all) and runs in its own process through
``benchmarks/peers/run_peer.py`` (peers in their own venv: ``bash benchmarks/peers/setup_peers.sh``).

Two modes, each against the matching peers:

* online (causal: frame by frame, never a future frame): ``mocap online`` = ``OnlineTriangulator`` with its
  defaults (the ROS node / ``mocap live`` path), ``mocap single-frame`` = ``triangulate(refine=True)`` on every
  point alone; peers Pose2Sim's ``triangulation_from_best_cameras`` and aniposelib's DLT (all views) and RANSAC
  (first frames only: a Python loop over all view subsets);
* offline (whole clip): ``mocap offline`` = ``triangulate_keypoints`` with its defaults (temporal and bone passes);
  peers Pose2Sim + its own post-processing (interpolation, Hampel, 6 Hz Butterworth; Config.toml defaults) and
  aniposelib's ``triangulate_optim`` (RANSAC, then spatio-temporal optimisation with bone-length constraints;
  first 60 frames, 4 cameras only unless ``--optim-8``). mocap's offline path is shown as ``mocap run`` runs it
  (+ zero-phase 6 Hz Butterworth, its default) and as ``mocap triangulate`` runs it (triangulation only).

Accuracy (millimetres) per method: MPJPE on the COMMON points (reconstructed by every full-clip method of the
case), MPJPE on its OWN points with its coverage beside it, and MPJPE with every dropped point counted at the error
of plain DLT over all its views (the simplest fallback). Ratios use common points. Methods run on the first frames
only are compared with mocap on those frames (common points of the two).

Timers, the same boundaries for every method: ``call`` = the triangulation call alone (imports and input loading
excluded for everybody), ``process`` = from starting the process to the result written to disk (interpreter,
imports, loading, call, writing); wall clock and CPU time for both. Then the throughput of mocap's default paths
(wall clock and CPU; 4 cameras, COCO-17, the 120 Hz clip) and the online step latency (p50/p95, wall and CPU).

Usage: .venv/bin/python benchmarks/bench_triangulation.py [--cameras 4 8] [--json out.json]
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

from mocap.reconstruct.bones import rigid_bones  # noqa: E402
from mocap.synthetic import make_capture  # noqa: E402

ONLINE = {"mocap online": "mocap_online", "mocap single-frame": "mocap_single_frame",
          "Pose2Sim (frame by frame)": "pose2sim", "aniposelib DLT": "aniposelib_dlt"}
OFFLINE = {"mocap offline (mocap run: + 6 Hz Butterworth)": "mocap_run_offline",
           "mocap offline, triangulation only": "mocap_offline", "Pose2Sim + its filters": "pose2sim_offline"}
OURS_OFFLINE = "mocap offline (mocap run: + 6 Hz Butterworth)"
SUBSET = {"aniposelib RANSAC": ("aniposelib_ransac", "online"),
          "aniposelib optim (RANSAC + bones + smoothing)": ("aniposelib_optim", "offline")}
PEERS = {m for m in list(ONLINE.values()) + list(OFFLINE.values()) + [v[0] for v in SUBSET.values()]
         if not m.startswith("mocap")}


# --------------------------------------------------------------------------- running a method
def write_input(path: Path, rig, kp, **extra) -> None:
    """The run_peer.py input file of a one-person :class:`~mocap.keypoints.Keypoints2D` capture."""
    uv = np.moveaxis(kp.data[:, :, 0, :, :2], 1, 0)  # (C, T, J, 2)
    conf = np.moveaxis(kp.data[:, :, 0, :, 2], 1, 0)
    C = uv.shape[0]
    np.savez(path, uv=uv.reshape(C, -1, 2), conf=conf.reshape(C, -1), K=np.stack([c.K for c in rig]),
             dist=np.stack([c.dist[:5] for c in rig]), rvec=np.stack([c.rvec for c in rig]),
             tvec=np.stack([c.t for c in rig]), size=np.array([c.size for c in rig]), T=kp.n_frames, J=kp.n_joints,
             fps=kp.fps, joint_set=kp.joint_set, bones=np.array(rigid_bones(kp.joint_set)).reshape(-1, 2),
             reproj_threshold_px=15.0, likelihood_threshold=0.1, **extra)


def run_method(python: Path, method: str, inp: Path, timeout: float, frames: int | None = None) -> dict:
    """Run ``method`` in a fresh process (``python benchmarks/peers/run_peer.py``); returns its outputs and timers
    (``call_wall_s``, ``call_cpu_s``, ``process_wall_s`` = start to result written, ``process_cpu_s``) or
    ``{"error": ...}``."""
    with tempfile.TemporaryDirectory() as tmp:
        if frames is not None:
            d = dict(np.load(inp))
            inp = Path(tmp) / "in.npz"
            np.savez(inp, **d, frames=frames)
        outp = Path(tmp) / "out.npz"
        t_start = time.time()
        try:
            r = subprocess.run([str(python), str(REPO / "benchmarks" / "peers" / "run_peer.py"), method, str(inp),
                                str(outp)], capture_output=True, text=True, timeout=timeout,
                               env={**os.environ, "MPLBACKEND": "Agg"})
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if r.returncode != 0 or not outp.exists():
            tail = r.stderr.strip().splitlines()
            return {"error": tail[-1] if tail else f"exit {r.returncode}"}
        info = json.loads(outp.with_suffix(".json").read_text())
        with np.load(outp) as z:
            out = {k: z[k] for k in z.files}
    for k in ("call_wall_s", "call_cpu_s"):
        out[k] = float(out[k])
    out["process_wall_s"] = info["written_at"] - t_start
    out["process_cpu_s"] = float(info["process_cpu_s"])
    return out


# --------------------------------------------------------------------------- scoring
def plain_dlt(rig, kp, min_conf: float = 0.1) -> np.ndarray:
    """Plain confidence-weighted DLT over every detected view (no outlier rejection): ``(T, J, 3)``; the fallback
    whose error a dropped point is charged with."""
    from mocap.geometry.projection import undistort_to_normalized
    from mocap.reconstruct.triangulation import triangulate_weighted_dlt

    uv = np.moveaxis(kp.data[:, :, 0, :, :2], 1, 0)
    cf = np.moveaxis(kp.data[:, :, 0, :, 2], 1, 0)
    C, T, J = cf.shape
    xy = np.stack([undistort_to_normalized(uv[c].reshape(-1, 2), cam.K, cam.dist, cam.model)
                   for c, cam in enumerate(rig.cameras)])
    w = np.where(cf >= min_conf, cf, 0.0).reshape(C, -1)
    return triangulate_weighted_dlt(rig.extrinsics, xy, w).reshape(T, J, 3)


def score(X: np.ndarray, gt: np.ndarray, common: np.ndarray, fallback_err: np.ndarray) -> dict:
    """MPJPE (mm) of ``X`` ``(T, J, 3)``: on the ``common`` points, on its own points (+ coverage), and with dropped
    points charged the ``fallback_err`` (points where neither exists are left out)."""
    e = np.linalg.norm(X - gt, axis=-1)
    own = np.isfinite(e)
    charged = np.where(own, e, fallback_err)
    return {"common_mm": float(e[common].mean() * 1000) if common.any() else float("nan"),
            "own_mm": float(e[own].mean() * 1000) if own.any() else float("nan"),
            "coverage": float(own.mean()),
            "fallback_mm": float(np.nanmean(charged) * 1000)}


def _row(res: dict, X: np.ndarray, gt: np.ndarray, common: np.ndarray, fallback_err: np.ndarray, T: int) -> dict:
    row = score(X, gt, common, fallback_err)
    for k in ("call_wall_s", "call_cpu_s", "process_wall_s", "process_cpu_s"):
        row[k] = res.get(k, float("nan"))
    row["frames"] = T
    if "step_wall_ms" in res:
        row["step_wall_ms"] = {"p50": float(np.percentile(res["step_wall_ms"][5:], 50)),
                               "p95": float(np.percentile(res["step_wall_ms"][5:], 95))}
        row["step_cpu_ms"] = {"p50": float(np.percentile(res["step_cpu_ms"][5:], 50)),
                              "p95": float(np.percentile(res["step_cpu_ms"][5:], 95))}
    return row


def bench_case(bvh: Path, n_cams: int, args, pythons: dict[str, Path | None], workdir: Path) -> dict:
    rig, kp, gt = make_capture(bvh, n_cams, noise_px=2.0, outlier_rate=0.1, dropout_rate=0.05, seed=args.seed,
                               frame_step=args.frame_step, max_frames=args.max_frames)
    T, J = kp.n_frames, kp.n_joints
    g = gt[:, 0]
    inp = workdir / f"{bvh.stem}_{n_cams}.npz"
    write_input(inp, rig, kp)
    fallback_err = np.linalg.norm(plain_dlt(rig, kp) - g, axis=-1)
    raw: dict[str, dict] = {}
    mode: dict[str, str] = {}
    for table, m_mode in ((ONLINE, "online"), (OFFLINE, "offline")):
        for name, method in table.items():
            py = pythons["mocap"] if method.startswith("mocap") else pythons["peers"]
            if py is None:
                continue
            raw[name] = run_method(py, method, inp, args.peer_timeout)
            mode[name] = m_mode
    Xs = {n: r["X"].reshape(T, J, 3) for n, r in raw.items() if "X" in r}
    full = [n for n in Xs]
    common = np.logical_and.reduce([np.isfinite(Xs[n]).all(-1) for n in full])
    rows = {}
    for n in raw:
        rows[n] = ({"error": raw[n]["error"], "mode": mode[n]} if "error" in raw[n] else
                   {**_row(raw[n], Xs[n], g, common, fallback_err, T), "mode": mode[n]})
    # slow peers: first frames only, compared with mocap on the same frames
    if pythons["peers"] is not None:
        for name, (method, m_mode) in SUBSET.items():
            # RANSAC tries every view subset per point: 2^C, so a few frames only with 8 cameras
            nf = min(T, args.subset_frames if n_cams <= 4 else max(2, args.subset_frames // 8))
            if method == "aniposelib_optim" and n_cams > 4 and not args.optim_8:
                continue
            res = run_method(pythons["peers"], method, inp, args.peer_timeout, frames=nf)
            if "error" in res:
                rows[name] = {"error": res["error"], "mode": m_mode}
                continue
            Xp = res["X"].reshape(nf, J, 3)
            ours = "mocap online" if m_mode == "online" else OURS_OFFLINE
            c2 = np.isfinite(Xp).all(-1) & common[:nf]
            row = {**_row(res, Xp, g[:nf], c2, fallback_err[:nf], nf), "mode": m_mode, "subset_frames": nf}
            if ours in Xs:
                row["mocap_same_points_mm"] = score(Xs[ours][:nf], g[:nf], c2, fallback_err[:nf])["common_mm"]
                row["vs"] = ours
            rows[name] = row
    return {"clip": bvh.stem, "cameras": n_cams, "frames": T, "joints": J, "fps": kp.fps,
            "common_fraction": float(common.mean()), "common_of": full, "rows": rows}


def ratios(case: dict) -> dict:
    """Common-point MPJPE ratios (mocap / peer) and speed ratios (peer time / mocap time) of a case."""
    r = case["rows"]
    ok = {n: v for n, v in r.items() if "common_mm" in v}
    out: dict[str, float] = {}
    p2s = ok.get("Pose2Sim (frame by frame)")
    if p2s and "mocap online" in ok:
        out["online_vs_pose2sim"] = ok["mocap online"]["common_mm"] / p2s["common_mm"]
        out["single_frame_vs_pose2sim"] = ok["mocap single-frame"]["common_mm"] / p2s["common_mm"]
        for k in ("call_wall_s", "call_cpu_s", "process_wall_s", "process_cpu_s"):
            out[f"pose2sim_over_online_{k}"] = p2s[k] / ok["mocap online"][k]
    offl = {n: v for n, v in ok.items() if v.get("mode") == "offline" and not n.startswith("mocap")}
    if OURS_OFFLINE in ok and offl:
        for n, v in offl.items():
            ours = v["mocap_same_points_mm"] if "subset_frames" in v else ok[OURS_OFFLINE]["common_mm"]
            out[f"offline_vs_{n}"] = ours / v["common_mm"]
    return out


def print_case(case: dict) -> None:
    print(f"\n== {case['clip']}  {case['cameras']} cameras  {case['frames']} frames x {case['joints']} joints "
          f"@ {case['fps']:.0f} Hz (2 px noise, 10% outliers, 5% dropouts); common points: "
          f"{100 * case['common_fraction']:.1f}% (reconstructed by every full-clip method)")
    head = (f"  {'mode':8s}{'method':48s}{'common':>8s}{'own':>8s}{'cover':>8s}{'w/ DLT':>8s}   "
            f"{'call wall/cpu s':>17s}  {'process wall/cpu s':>19s}")
    print(head + "\n  " + "-" * (len(head) - 2))
    for m_mode in ("online", "offline"):
        for n, v in case["rows"].items():
            if v.get("mode", m_mode) != m_mode:
                continue
            if "error" in v:
                print(f"  {m_mode:8s}{n:48s}  failed: {v['error']}")
                continue
            t = (f"{v['call_wall_s']:8.3f}/{v['call_cpu_s']:<8.3f} "
                 f"{v['process_wall_s']:9.3f}/{v['process_cpu_s']:<9.3f}")
            print(f"  {m_mode:8s}{n:48s}{v['common_mm']:8.2f}{v['own_mm']:8.2f}{100 * v['coverage']:7.2f}%"
                  f"{v['fallback_mm']:8.2f}   {t}")
            if "subset_frames" in v:
                print(f"  {'':8s}  (first {v['subset_frames']} frames only; {v.get('vs', 'mocap')} on the same points:"
                      f" {v.get('mocap_same_points_mm', float('nan')):.2f} mm; times for those frames)")
            if "step_wall_ms" in v:
                s, c = v["step_wall_ms"], v["step_cpu_ms"]
                print(f"  {'':8s}  per step: wall p50 {s['p50']:.2f} ms p95 {s['p95']:.2f} ms; "
                      f"cpu p50 {c['p50']:.2f} ms p95 {c['p95']:.2f} ms")
    r = case.get("ratios", {})
    if "online_vs_pose2sim" in r:
        print(f"  online MPJPE ratio, common points: mocap online / Pose2Sim {r['online_vs_pose2sim']:.3f} "
              f"(target <= 0.8 with 4 cameras); mocap single-frame / Pose2Sim {r['single_frame_vs_pose2sim']:.3f}")
        print("  Pose2Sim time / mocap online time: call wall {:.1f}x, call cpu {:.1f}x, process wall {:.1f}x, "
              "process cpu {:.1f}x".format(*(r[f"pose2sim_over_online_{k}"] for k in
                                              ("call_wall_s", "call_cpu_s", "process_wall_s", "process_cpu_s"))))
    offl = {k: v for k, v in r.items() if k.startswith("offline_vs_")}
    if offl:
        print("  offline MPJPE ratio, common points, mocap run's default offline path / " + ", ".join(
            f"{k.removeprefix('offline_vs_')} {v:.3f}" for k, v in offl.items()))


# --------------------------------------------------------------------------- throughput of the default paths
def bench_speed(bvh: Path, args) -> dict:
    """Default paths, in this process (imports excluded), 4 cameras, COCO-17 at the clip's 120 Hz."""
    from mocap.reconstruct.online import OnlineTriangulator
    from mocap.reconstruct.sequence import triangulate_keypoints
    from mocap.reconstruct.triangulation import triangulate

    rig, kp, _ = make_capture(bvh, 4, noise_px=2.0, outlier_rate=0.1, dropout_rate=0.05, seed=args.seed,
                              frame_step=1, max_frames=args.speed_frames)
    T = kp.n_frames
    uv = np.moveaxis(kp.data[:, :, 0, :, :2], 1, 0)
    cf = np.moveaxis(kp.data[:, :, 0, :, 2], 1, 0)
    out = {"frames": T, "joints": kp.n_joints, "fps": kp.fps, "cores": os.cpu_count(),
           "load_average": os.getloadavg()[0]}

    def best(fn, repeat=3):
        wall, cpu = np.inf, np.inf
        for _ in range(repeat):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
        return {"frames_per_s_wall": T / wall, "frames_per_s_cpu": T / cpu}

    out["offline (triangulate_keypoints defaults)"] = best(lambda: triangulate_keypoints(rig, kp))
    out["single-frame (triangulate, refine=True)"] = best(lambda: triangulate(rig, uv, cf, refine=True))
    tri = OnlineTriangulator(rig, kp.joint_set)
    wall, cpu = np.zeros(T), np.zeros(T)
    for i in range(T):
        w0, c0 = time.perf_counter(), time.process_time()
        tri.step(uv[:, i], cf[:, i], i / kp.fps)
        wall[i], cpu[i] = time.perf_counter() - w0, time.process_time() - c0
    w, c = wall[20:] * 1000, cpu[20:] * 1000
    out["online (OnlineTriangulator defaults)"] = {"frames_per_s_wall": len(w) / (w.sum() / 1000),
                                                   "frames_per_s_cpu": len(c) / (c.sum() / 1000)}
    out["online_step_ms"] = {"wall_p50": float(np.percentile(w, 50)), "wall_p95": float(np.percentile(w, 95)),
                             "cpu_p50": float(np.percentile(c, 50)), "cpu_p95": float(np.percentile(c, 95))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bvh-dir", type=Path, default=REPO.parent / "shared" / "data" / "bvh")
    ap.add_argument("--clips", nargs="+", default=["131_01", "01_01"])
    ap.add_argument("--frame-step", type=int, default=4, help="subsample the 120 Hz clips (default 4 -> 30 Hz)")
    ap.add_argument("--max-frames", type=int, default=None)
    ap.add_argument("--cameras", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--peers-venv", type=Path, default=REPO / ".venv-peers")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--subset-frames", type=int, default=60,
                    help="frames given to aniposelib's RANSAC and optim with 4 cameras (an eighth with 8)")
    ap.add_argument("--optim-8", action="store_true", help="also run aniposelib's optim with 8 cameras (slow)")
    ap.add_argument("--peer-timeout", type=float, default=900.0)
    ap.add_argument("--speed-frames", type=int, default=2000)
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    args = ap.parse_args(argv)

    peers = None if args.no_peers else args.peers_venv / "bin" / "python"
    if peers is not None and not peers.exists():
        print(f"peers venv {args.peers_venv} missing: run `bash benchmarks/peers/setup_peers.sh` (peers skipped)")
        peers = None
    pythons = {"mocap": Path(sys.executable), "peers": peers}
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores "
          "(shared machine: compare ratios measured in the same run)")
    results = {"cases": [], "speed": None, "load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        for clip in args.clips:
            for nc in args.cameras:
                case = bench_case(args.bvh_dir / f"{clip}.bvh", nc, args, pythons, Path(tmp))
                case["ratios"] = ratios(case)
                results["cases"].append(case)
                print_case(case)
    print("\ncommon = MPJPE (mm) on the points every full-clip method reconstructed; own = on the method's own "
          "points, cover = their share; w/ DLT = dropped points charged the error of plain DLT over all views. "
          "call = the triangulation call alone (imports excluded for everybody); process = from starting the "
          "process to the result written (interpreter, imports, input, call, output).")
    if not args.no_speed:
        s = results["speed"] = bench_speed(args.bvh_dir / "01_01.bvh", args)
        print(f"\n== throughput of the default paths: 1 person, 4 cameras, {s['joints']} joints, {s['frames']} frames "
              f"@ {s['fps']:.0f} Hz, 10% outliers; one process, {s['cores']} cores, load {s['load_average']:.1f}")
        for k, v in s.items():
            if isinstance(v, dict) and "frames_per_s_wall" in v:
                print(f"  {k:44s} {v['frames_per_s_wall']:9,.0f} frames/s wall  {v['frames_per_s_cpu']:9,.0f} "
                      "frames/s cpu")
        st = s["online_step_ms"]
        print(f"  online step: wall p50 {st['wall_p50']:.2f} ms, p95 {st['wall_p95']:.2f} ms; cpu p50 "
              f"{st['cpu_p50']:.2f} ms, p95 {st['cpu_p95']:.2f} ms")
    if args.json:
        def clean(o):
            if isinstance(o, dict):
                return {k: clean(v) for k, v in o.items() if k != "X"}
            if isinstance(o, list | tuple):
                return [clean(v) for v in o]
            if isinstance(o, float | np.floating):
                return float(o)
            return o
        args.json.write_text(json.dumps(clean(results), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
