"""Benchmark: completeness and accuracy on real OpenPose 2D with a bystander, mocap vs Pose2Sim's own pipeline.

Input: ``pose2sim==0.4.15``'s Demo (fetched from PyPI into the cache by :mod:`mocap.data.pose2sim_demo`): the raw
OpenPose BODY_25B 2D of every person OpenPose detected in 4 portrait cameras (100 frames, 60 fps; a bystander in
cam1 and cam2) and their Qualisys calibration, converted once by mocap and given to both methods.

* mocap: what ``mocap triangulate --calib Calib.qca.txt --keypoints pose/ --out X.trc --sync none`` does (joint set
  from the data, people associated across views and tracked, robust triangulation with its defaults; no filter, no
  gap filling). The person compared is the track the 2D of the main person feeds (the longest track).
* Pose2Sim 0.10.49 (its own venv: ``bash benchmarks/peers/setup_peers.sh``): ``Pose2Sim.personAssociation`` then
  ``Pose2Sim.triangulation`` on a project folder holding the same JSON and the same calibration (Pose2Sim format),
  with the Demo's Config.toml and ``pose_model = "BODY_25B"``, ``frame_range = "all"``, ``interpolation = "none"``
  and ``fill_large_gaps_with = "nan"`` (so coverage counts triangulated points, not interpolated ones); Pose2Sim's
  default ``undistort_points = false`` (its ``true`` path crashes in personAssociation with fewer than 4 cameras in
  a combination; the lens distortion here moves points by about 1 px). Run through
  ``benchmarks/peers/run_pose2sim_session.py``.

Both are scored the same way on the 21 joints Pose2Sim's BODY_25B skeleton triangulates:

* coverage: share of (frame, joint) entries with a 3D point;
* mean reprojection error over ALL cameras: every detection of the person (confidence >= 0.3, the likelihood
  threshold of both) against the projection of the method's 3D point through mocap's camera models, rejected views
  included (so rejecting views does not lower it); also the same over the views each method kept is not used;
* limb bone-length CV: std / mean of the length over frames of the 8 limb bones (upper arms, forearms, thighs,
  shanks), mean over the bones (and the largest);
* per camera: share of that camera's detections the 3D point explains within 15 px.

The 2D "detection of the person" is the detection each method associated with it (mocap: its track's; Pose2Sim:
its personAssociation output); the share of (camera, frame) where both picked the same detection is printed.

Usage: python benchmarks/bench_pose2sim_body25b.py [--json OUT.json] [--peers-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: Pose2Sim BODY_25B marker -> mocap body25b joint
P2S_NAMES = {"RHip": "right_hip", "RKnee": "right_knee", "RAnkle": "right_ankle", "RBigToe": "right_big_toe",
             "RSmallToe": "right_small_toe", "RHeel": "right_heel", "LHip": "left_hip", "LKnee": "left_knee",
             "LAnkle": "left_ankle", "LBigToe": "left_big_toe", "LSmallToe": "left_small_toe", "LHeel": "left_heel",
             "Neck": "upper_neck", "Head": "head_top", "Nose": "nose", "RShoulder": "right_shoulder",
             "RElbow": "right_elbow", "RWrist": "right_wrist", "LShoulder": "left_shoulder", "LElbow": "left_elbow",
             "LWrist": "left_wrist"}
LIMB_BONES = [(f"{s}_{a}", f"{s}_{b}") for s in ("left", "right")
              for a, b in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle"))]
MIN_CONF = 0.3


def associated_2d(kp2d, X: np.ndarray, view_error: np.ndarray) -> np.ndarray:
    """The detection (T, C, J, 3) behind each camera's view of a 3D person ``X (T, J, 3)``: the 2D slot whose
    reprojection errors equal the triangulation's ``view_error (C, T, J)`` (NaN where the camera had none)."""
    from mocap.cameras import CameraRig  # noqa: F401  (type only)

    T, C, P, J, _ = kp2d.data.shape
    out = np.full((T, C, J, 3), np.nan)
    proj = associated_2d.rig.project(X)  # (C, T, J, 2)
    for c in range(C):
        for t in range(T):
            ve = view_error[c, t]
            if not np.isfinite(ve).any():
                continue
            best, gap = None, np.inf
            for q in range(P):
                e = np.linalg.norm(proj[c, t] - kp2d.data[t, c, q, :, :2], axis=-1)
                m = np.isfinite(ve) & np.isfinite(e)
                if m.any():
                    d = float(np.max(np.abs(e[m] - ve[m])))
                    if d < gap:
                        best, gap = q, d
            if best is not None and gap < 1e-3:
                out[t, c] = kp2d.data[t, c, best]
    return out


def score(rig, X: np.ndarray, det: np.ndarray, joints: list[int], names: list[str]) -> dict:
    """Coverage, reprojection error over all cameras, limb bone CV of ``X (T, J, 3)`` against ``det (T, C, J, 3)``."""
    Xs = X[:, joints]
    proj = rig.project(Xs)  # (C, T, J', 2)
    d = np.moveaxis(det[:, :, joints], 1, 0)  # (C, T, J', 3)
    e = np.linalg.norm(proj - d[..., :2], axis=-1)
    e[~(np.nan_to_num(d[..., 2], nan=0.0) >= MIN_CONF)] = np.nan
    idx = {n: i for i, n in enumerate(names)}
    cvs = {}
    for a, b in LIMB_BONES:
        length = np.linalg.norm(X[:, idx[a]] - X[:, idx[b]], axis=-1)
        length = length[np.isfinite(length)]
        if length.size > 2:
            cvs[f"{a}-{b}"] = float(np.std(length) / np.mean(length))
    cams = {}
    for c, cam in enumerate(rig.names):
        has = np.isfinite(e[c])
        cams[cam] = {"error_px": float(np.nanmean(e[c])) if has.any() else float("nan"),
                     "within_15px": float((e[c][has] <= 15.0).mean()) if has.any() else float("nan")}
    never = [names[joints[j]] for j in range(len(joints)) if not np.isfinite(Xs[:, j, 0]).any()]
    return {"coverage": float(np.isfinite(Xs[..., 0]).mean()), "reproj_all_px": float(np.nanmean(e)),
            "reproj_all_median_px": float(np.nanmedian(e)), "n_views": int(np.isfinite(e).sum()),
            "limb_cv_mean": float(np.mean(list(cvs.values()))), "limb_cv_max": float(max(cvs.values())),
            "limb_cv": cvs, "cameras": cams, "never_reconstructed": never}


def run_mocap(rig, kp2d, sync: bool) -> tuple[np.ndarray, np.ndarray, float, dict]:
    """Ours, as ``mocap triangulate`` runs it: (X of the main track (T, J, 3), its view errors (C, T, J), seconds,
    extra info)."""
    from mocap.reconstruct.multiperson import needs_association, reconstruct_multiperson
    from mocap.reconstruct.sequence import triangulate_keypoints

    info: dict = {}
    t0 = time.perf_counter()
    if sync:
        from mocap.sources.offset import synchronise

        kp2d, dec = synchronise(rig, kp2d)
        info["sync_applied"] = {n: d.applied for n, d in dec.items()}
    if needs_association(kp2d):
        kp3d = reconstruct_multiperson(rig, kp2d, fill_gaps_frames=0)
    else:
        kp3d = triangulate_keypoints(rig, kp2d)
    sec = time.perf_counter() - t0
    present = np.isfinite(kp3d.xyz[..., 0]).sum(axis=(0, 2))
    p = int(np.argmax(present))
    info["tracks"] = int(kp3d.n_people)
    info["kp2d"] = kp2d
    return kp3d.xyz[:, p], kp3d.meta["view_error_px"][:, :, p], sec, info


def run_pose2sim(python: Path, demo: Path, rig, timeout: float = 900) -> dict:
    """Pose2Sim's personAssociation + triangulation on a project folder with the demo's JSON and our calibration."""
    from mocap.cameras.formats import write_calibration

    with tempfile.TemporaryDirectory() as tmp:
        proj = Path(tmp) / "project"
        (proj / "calibration").mkdir(parents=True)
        shutil.copytree(demo / "pose", proj / "pose")
        write_calibration(rig, proj / "calibration" / "Calib.toml", fmt="pose2sim")
        params = {"project": {"multi_person": False, "frame_range": "all", "frame_rate": 60},
                  "pose": {"pose_model": "BODY_25B"},
                  "triangulation": {"interpolation": "none", "fill_large_gaps_with": "nan", "make_c3d": False,
                                    "sections_to_keep": "all"}}
        (Path(tmp) / "params.json").write_text(json.dumps(params))
        outp = Path(tmp) / "out.npz"
        t0 = time.perf_counter()
        try:
            r = subprocess.run([str(python), str(REPO / "benchmarks" / "peers" / "run_pose2sim_session.py"),
                                str(proj), str(outp), str(Path(tmp) / "params.json")], capture_output=True,
                               text=True, timeout=timeout, env={**os.environ, "MPLBACKEND": "Agg"})
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
        with np.load(outp) as z:
            return {"X": z["X"], "markers": [str(m) for m in z["markers"]], "frames": z["frames"],
                    "assoc": z["assoc"], "seconds": float(z["seconds"]), "process_seconds": wall}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peers-python", type=Path, default=REPO / ".venv-peers" / "bin" / "python")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from mocap.cameras.formats import read_calibration
    from mocap.data.pose2sim_demo import pose2sim_demo
    from mocap.keypoints2d.importers import load_keypoints2d
    from mocap.pipeline import match_rig
    from mocap.skeletons import get_joint_set

    warnings.simplefilter("ignore")
    demo = pose2sim_demo("openpose", quiet=True)
    kp2d = load_keypoints2d(demo / "pose", fps=60.0)
    print(f"2D: {kp2d.meta.get('joint_set_reason')}")
    rig = match_rig(read_calibration(demo / "calibration" / "Calib.qca.txt"), kp2d.camera_names,
                    demo / "calibration" / "Calib.qca.txt")
    names = list(get_joint_set(kp2d.joint_set).joints)
    joints = [names.index(n) for n in P2S_NAMES.values()]
    T = kp2d.n_frames
    results: dict[str, dict] = {}
    associated_2d.rig = rig
    dets: dict[str, np.ndarray] = {}
    for label, sync in (("mocap", False), ("mocap --sync auto", True)):
        X, ve, sec, info = run_mocap(rig, kp2d, sync)
        det = associated_2d(info.pop("kp2d"), X, ve)
        dets[label] = det
        results[label] = {"seconds": sec, **info, **score(rig, X, det, joints, names),
                          "coverage_all_25": float(np.isfinite(X[..., 0]).mean())}
    if args.peers_python.exists():
        r = run_pose2sim(args.peers_python, demo, rig)
        if "error" in r:
            results["Pose2Sim 0.10.49"] = {"error": r["error"]}
        else:
            Xp = np.full((T, len(names), 3), np.nan)
            for m, marker in enumerate(r["markers"]):
                Xp[r["frames"], names.index(P2S_NAMES[marker])] = r["X"][:, m]
            det = np.full((T, kp2d.n_cameras, len(names), 3), np.nan)
            det[: r["assoc"].shape[0]] = r["assoc"][:T]
            dets["pose2sim"] = det
            results["Pose2Sim 0.10.49"] = {"seconds": r["seconds"], "process_seconds": r["process_seconds"],
                                           **score(rig, Xp, det, joints, names)}
            a, b = dets["mocap"], det
            ha, hb = np.isfinite(a[..., 0]).any(-1), np.isfinite(b[..., 0]).any(-1)
            same = ha & hb & np.all(np.isclose(np.nan_to_num(a[..., :2], nan=-1), np.nan_to_num(b[..., :2], nan=-1),
                                               atol=1e-3), axis=(-1, -2))
            results["association_agreement"] = float(same.sum() / max((ha | hb).sum(), 1))
    else:
        print(f"peers venv not found at {args.peers_python}: run bash benchmarks/peers/setup_peers.sh")

    print(f"\npose2sim 0.4.15 Demo: {T} frames, {kp2d.n_cameras} cameras, OpenPose BODY_25B of every person; "
          f"scored on Pose2Sim's {len(joints)} BODY_25B joints")
    cams = rig.names
    head = (f"{'method':20s} {'coverage':>9s} {'reproj all':>11s} {'median':>7s} {'limb CV':>8s} {'max':>6s} "
            f"{'time':>7s}  " + " ".join(f"{c + ' err/<=15px':>20s}" for c in cams))
    print(head)
    for m, r in results.items():
        if not isinstance(r, dict):
            continue
        if "error" in r:
            print(f"{m:20s} error: {r['error']}")
            continue
        cells = " ".join(f"{r['cameras'][c]['error_px']:>10.2f} / {100 * r['cameras'][c]['within_15px']:4.0f}%"
                         for c in cams)
        print(f"{m:20s} {100 * r['coverage']:8.2f}% {r['reproj_all_px']:9.2f}px {r['reproj_all_median_px']:6.2f} "
              f"{100 * r['limb_cv_mean']:7.2f}% {100 * r['limb_cv_max']:5.1f}% {r['seconds']:6.2f}s  {cells}")
        if r.get("never_reconstructed"):
            print(f"{'':20s} never reconstructed: {', '.join(r['never_reconstructed'])}")
    if "association_agreement" in results:
        print(f"same 2D detection picked for the person by both methods: "
              f"{100 * results['association_agreement']:.1f}% of (camera, frame)")
    p2s = results.get("Pose2Sim 0.10.49", {})
    if "coverage" in p2s:
        o = results["mocap"]
        print("acceptance (mocap vs Pose2Sim, same 2D, no sync): "
              f"coverage {100 * o['coverage']:.2f}% vs {100 * p2s['coverage']:.2f}% "
              f"[{'ok' if o['coverage'] >= p2s['coverage'] else 'FAIL'}]; "
              f"reprojection over all cameras {o['reproj_all_px']:.2f} vs {p2s['reproj_all_px']:.2f} px "
              f"[{'ok' if o['reproj_all_px'] <= p2s['reproj_all_px'] else 'FAIL'}]; "
              f"limb CV {100 * o['limb_cv_mean']:.2f}% vs {100 * p2s['limb_cv_mean']:.2f}% "
              f"[{'ok' if o['limb_cv_mean'] <= p2s['limb_cv_mean'] else 'FAIL'}]")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
