"""Run a peer's triangulation on an .npz of 2D detections, in the peers' own venv (not mocap's).

Usage: .venv-peers/bin/python benchmarks/peers/run_peer.py METHOD IN.npz OUT.npz
METHOD: aniposelib_dlt | aniposelib_ransac | pose2sim

IN.npz: uv (C, N, 2) raw pixels (NaN = missing), conf (C, N), K (C, 3, 3), dist (C, 5), rvec (C, 3), tvec (C, 3),
size (C, 2), [reproj_threshold_px, likelihood_threshold].
OUT.npz: X (N, 3) metres (NaN = dropped), seconds (wall time of the triangulation call(s), undistortion included),
and for pose2sim kept (C, N): the views it kept for each point.

This file only calls the peers' public functions; it reimplements none of their math.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def run_aniposelib(d: dict, ransac: bool) -> np.ndarray:
    from aniposelib.cameras import Camera, CameraGroup

    cams = [Camera(name=f"cam{i}", size=tuple(int(v) for v in d["size"][i]), matrix=d["K"][i], dist=d["dist"][i],
                   rvec=d["rvec"][i], tvec=d["tvec"][i]) for i in range(len(d["K"]))]
    group = CameraGroup(cams)
    uv = d["uv"].astype(float).copy()
    uv[~(d["conf"] >= float(d.get("likelihood_threshold", 0.0)))] = np.nan
    if ransac:
        return group.triangulate_ransac(uv, undistort=True, min_cams=2, progress=False)[0]
    return group.triangulate(uv, undistort=True, progress=False)


def run_pose2sim(d: dict) -> np.ndarray:
    import cv2
    from Pose2Sim.triangulation import triangulation_from_best_cameras

    K, dist = d["K"], d["dist"]
    C, N = d["uv"].shape[:2]
    P = [K[i] @ np.hstack([cv2.Rodrigues(d["rvec"][i])[0], d["tvec"][i].reshape(3, 1)]) for i in range(C)]
    thr = float(d.get("reproj_threshold_px", 15.0))
    lik_thr = float(d.get("likelihood_threshold", 0.3))
    config = {"triangulation": {"reproj_error_threshold_triangulation": thr, "min_cameras_for_triangulation": 2,
                                "handle_LR_swap": False, "undistort_points": False,
                                "likelihood_threshold_triangulation": lik_thr}}
    # Pose2Sim's own pipeline (triangulate_all with undistort_points=True) undistorts with cv2.undistortPoints
    # to the camera matrix, then thresholds likelihoods; we do the same here and time it.
    x = np.full((C, N), np.nan)
    y = np.full((C, N), np.nan)
    for i in range(C):
        ok = np.isfinite(d["uv"][i]).all(-1)
        if ok.any():
            u = cv2.undistortPoints(d["uv"][i][ok].reshape(-1, 1, 2).astype("float64"), K[i], dist[i], None, K[i])
            x[i, ok], y[i, ok] = u[:, 0, 0], u[:, 0, 1]
    lik = d["conf"].astype(float).copy()
    low = ~(lik >= lik_thr)
    x[low], y[low], lik[low] = np.nan, np.nan, np.nan
    out = np.full((N, 3), np.nan)
    kept = np.zeros((C, N), bool)
    for n in range(N):
        kpt = np.array((x[:, n], y[:, n], lik[:, n]))
        Q, _err, _nexcl, ids = triangulation_from_best_cameras(config, kpt, kpt, P, None)
        out[n] = Q
        if np.isfinite(Q).all():
            kept[:, n] = np.isfinite(x[:, n])
            kept[list(np.ravel(ids)), n] = False
    run_pose2sim.kept = kept  # views Pose2Sim kept per point (reported beside X)
    return out


def main() -> int:
    method, inp, outp = sys.argv[1:4]
    d = dict(np.load(inp))
    t0 = time.perf_counter()
    if method == "aniposelib_dlt":
        X = run_aniposelib(d, ransac=False)
    elif method == "aniposelib_ransac":
        X = run_aniposelib(d, ransac=True)
    elif method == "pose2sim":
        X = run_pose2sim(d)
    else:
        print(f"unknown method {method}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - t0
    extra = {"kept": run_pose2sim.kept} if method == "pose2sim" else {}
    np.savez(outp, X=np.asarray(X, float), seconds=seconds, **extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
