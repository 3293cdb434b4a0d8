"""Body fitting: accuracy on synthetic poses, sequence frames/s and online per-frame p95 latency.

Synthetic data: random poses uniformly inside the central ``--fraction`` of every joint-limit box, a random shape,
keypoints from the model itself (SMPL-X stand-in: 22 body joints + smplx's 21 vertex landmarks; Anny: its COCO(+feet)
regressor on the full LBS mesh, 23 points), plus Gaussian noise (``--noise`` metres per axis).

Real data: ``--keypoints PATH`` fits one person of a Keypoints3D file (e.g. the ``keypoints3d.npz`` written by
``mocap demo``) and prints frames/s (best and median of ``--repeat`` runs, shape estimation included) with the
model, frame count, threads and machine load, plus the keypoint residuals and the largest joint-limit excess
(checked on every limited joint of the model, fingers included).

Run: .venv/bin/python benchmarks/bench_fit.py --model smplx|anny [--frames 100] [--threads 1]
     .venv/bin/python benchmarks/bench_fit.py --model anny --keypoints /tmp/demo/keypoints3d.npz [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mocap.body.fit import FitConfig, OnlineFitter, fit_arrays
from mocap.body.synthetic import synthetic_keypoints as synthetic
from mocap.geometry.rotations import rotvec_to_matrix


def load(name: str):
    if name == "smplx":
        from mocap.body.smplx_model import SmplxModel
        from mocap.body.standin import make_standin_smplx

        d = Path(tempfile.mkdtemp())
        make_standin_smplx(d / "SMPLX_NEUTRAL.npz")
        return SmplxModel(d)
    from mocap.body.anny_model import AnnyModel

    return AnnyModel()


def bench_keypoints(path: str, model, threads: int, repeat: int, person: int = 0) -> None:
    """Fit a real Keypoints3D file ``repeat`` times; print speed, residuals and limit excess."""
    from mocap.body.fit import fit_sequence
    from mocap.body.priors import joint_limits
    from mocap.keypoints.files import load_keypoints

    kp = load_keypoints(path)
    T = kp.data.shape[0]
    cfg = FitConfig(threads=threads)
    times = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        mot = fit_sequence(kp, model, person=person, config=cfg)
        times.append(time.perf_counter() - t0)
    res = mot.quality["residual_m"] * 1000
    used = int(np.isfinite(res).any(0).sum())
    lim = joint_limits(model, hands=True)
    rv = torch.as_tensor(mot.params["pose_rotvec"][:, lim.joints], dtype=lim.frames.dtype)
    excess = float(lim.violation_deg(rv).max()) if len(lim.joints) else 0.0
    best, med = min(times), float(np.median(times))
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    head = (f"model={model.name} frames={T} torch_threads={threads} joint_set={kp.joint_set} keypoints_used={used} "
            f"cpus={os.cpu_count()} load={load}")
    print(f"{head} real sequence: {T / best:.1f} frames/s best, {T / med:.1f} frames/s median of {len(times)} runs "
          f"({best:.2f} / {med:.2f} s incl. shape estimation)")
    print(f"{head} residual mean {np.nanmean(res):.2f} mm, median {np.nanmedian(res):.2f} mm, p95 "
          f"{np.nanpercentile(res, 95):.1f} mm; valid frames {int(mot.quality['valid'].sum())}/{T}; max limit "
          f"excess before the final clamp {mot.quality['limit_excess_unclamped_deg'].max():.2f} deg (fitted joints), "
          f"after it {excess:.3f} deg (all limited joints incl. fingers)")


def _online(fitter, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Step the online fitter through ``frames (T, K, 4)``: wall and CPU (this thread) ms per frame after the first
    (the cold start), and every frame's mean keypoint residual (metres)."""
    lat, cpu, res = [], [], []
    for f in range(len(frames)):
        w0, c0 = time.perf_counter(), time.thread_time()
        m = fitter.step(frames[f])
        lat.append(time.perf_counter() - w0)
        cpu.append(time.thread_time() - c0)
        res.append(np.nanmean(m.quality["residual_m"]))
    return np.array(lat[1:]) * 1000, np.array(cpu[1:]) * 1000, res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smplx", choices=("smplx", "anny"))
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--fraction", type=float, default=0.6, help="central fraction of each joint-limit range")
    ap.add_argument("--noise", type=float, default=0.01, help="keypoint noise, metres per axis")
    ap.add_argument("--threads", type=int, default=1, help="torch threads while fitting")
    ap.add_argument("--w-smooth", type=float, default=0.0,
                    help="temporal smoothness for the independent-poses sequence (default 0: the poses are unrelated)")
    ap.add_argument("--keypoints", help="fit this Keypoints3D file (npz/trc/csv) instead of synthetic data")
    ap.add_argument("--person", type=int, default=0, help="with --keypoints: person index")
    ap.add_argument("--repeat", type=int, default=3, help="with --keypoints: timed runs")
    a = ap.parse_args()
    # once, for the whole process: the online fitter never changes torch's (process-wide) thread count
    torch.set_num_threads(a.threads)
    model = load(a.model)
    if a.keypoints:
        bench_keypoints(a.keypoints, model, a.threads, a.repeat, a.person)
        return
    rng = np.random.default_rng(0)
    T = a.frames
    data, names, true_joints, true_pose, true_shape, lj = synthetic(model, T, rng, a.fraction, a.noise)
    cfg = FitConfig(threads=a.threads, w_smooth=a.w_smooth, w_smooth_pos=a.w_smooth / 10)
    head = f"model={model.name} frames={T} torch_threads={a.threads} keypoints={len(names)}"
    t0 = time.perf_counter()
    mot = fit_arrays(data, names, model, config=cfg)
    dt = time.perf_counter() - t0
    t = dict(dtype=model.dtype)
    with torch.no_grad():
        out = model.forward(torch.as_tensor(mot.shape, **t)[None], torch.as_tensor(mot.params["pose_rotvec"], **t),
                            torch.as_tensor(mot.root_translation, **t), vertex_ids=None)
    jerr = np.linalg.norm(out.joints.numpy() - true_joints, axis=-1)
    body = [i for i in range(model.n_joints) if i in model.canonical_names and i in set(lj) | {0}]
    Rt = rotvec_to_matrix(true_pose[:, lj])
    Rf = rotvec_to_matrix(mot.params["pose_rotvec"][:, lj])
    ang = np.degrees(np.arccos(np.clip((np.einsum("tjab,tjab->tj", Rt, Rf) - 1) / 2, -1, 1)))
    print(f"{head} sequence: {T / dt:.1f} frames/s ({dt:.2f} s incl. shape estimation)")
    print(f"{head} accuracy: keypoint residual mean {1000 * np.nanmean(mot.quality['residual_m']):.1f} mm; "
          f"joint error (limited joints + root) mean {1000 * jerr[:, body].mean():.1f} mm, p95 "
          f"{1000 * np.percentile(jerr[:, body], 95):.1f} mm; local rotation error mean {ang.mean():.1f} deg, "
          f"median {np.median(ang):.1f} deg; max limit excess before the final clamp "
          f"{mot.quality['limit_excess_unclamped_deg'].max():.2f} deg, after it "
          f"{mot.quality['limit_excess_deg'].max():.2g} deg")
    n_obs = 5 if model.name == "smplx" else model.n_shape
    print(f"{head} shape: true {np.round(true_shape, 2)} fit {np.round(mot.shape, 2)}; mean abs error of the first "
          f"{n_obs}: {np.abs(mot.shape - true_shape)[:n_obs].mean():.3f} "
          f"(|true| {np.abs(true_shape[:n_obs]).mean():.2f})")
    fitter = OnlineFitter(model, names, shape=mot.shape, config=cfg)
    lat, cpu, res = _online(fitter, data)
    print(f"{head} online (independent random poses, warm start from the previous frame): wall p50 "
          f"{np.percentile(lat, 50):.1f} ms p95 {np.percentile(lat, 95):.1f} ms, CPU p50 "
          f"{np.percentile(cpu, 50):.1f} ms p95 {np.percentile(cpu, 95):.1f} ms; residual mean "
          f"{1000 * np.mean(res):.1f} mm")
    # a smooth sequence (the realistic online case): interpolate between two poses
    seq, _, tj2, _, ts2, _ = synthetic(model, T, np.random.default_rng(1), a.fraction, a.noise, smooth=True)
    cfg2 = FitConfig(threads=a.threads)  # defaults: temporal smoothness on
    t0 = time.perf_counter()
    mot2 = fit_arrays(seq, names, model, config=cfg2)
    dt = time.perf_counter() - t0
    with torch.no_grad():
        out2 = model.forward(torch.as_tensor(mot2.shape, **t)[None],
                             torch.as_tensor(mot2.params["pose_rotvec"], **t),
                             torch.as_tensor(mot2.root_translation, **t), vertex_ids=None)
    jerr2 = np.linalg.norm(out2.joints.numpy() - tj2, axis=-1)[:, body]
    print(f"{head} smooth motion, default config (smoothness on): sequence {T / dt:.1f} frames/s; residual mean "
          f"{1000 * np.nanmean(mot2.quality['residual_m']):.1f} mm; joint error mean {1000 * jerr2.mean():.1f} mm; "
          f"shape error {np.abs(mot2.shape - ts2)[:n_obs].mean():.3f}")
    fitter = OnlineFitter(model, names, shape=mot2.shape, config=cfg2)
    lat, cpu, res = _online(fitter, seq)
    print(f"{head} online (smooth motion): wall p50 {np.percentile(lat, 50):.1f} ms p95 {np.percentile(lat, 95):.1f} "
          f"ms, CPU p50 {np.percentile(cpu, 50):.1f} ms p95 {np.percentile(cpu, 95):.1f} ms; residual mean "
          f"{1000 * np.mean(res):.1f} mm; load {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
