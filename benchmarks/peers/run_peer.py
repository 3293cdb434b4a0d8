"""Run one triangulation method on an .npz of 2D detections in its own process, with the same timers for every method.

Usage: PYTHON benchmarks/peers/run_peer.py METHOD IN.npz OUT.npz
  peers (run with .venv-peers/bin/python, never mixed with mocap's venv):
    pose2sim            Pose2Sim 0.10.49 frame by frame: ``triangulation_from_best_cameras`` per point (online)
    pose2sim_offline    the same, then Pose2Sim's own post-processing with its Config.toml defaults: gaps < 20
                        frames interpolated linearly, larger ones filled with the last value, Hampel outlier
                        rejection (window 7), 4th-order 6 Hz Butterworth (offline)
    aniposelib_dlt      aniposelib 0.8.0 ``CameraGroup.triangulate`` (plain DLT over all views, per point)
    aniposelib_ransac   ``CameraGroup.triangulate_ransac`` (per point)
    aniposelib_optim    ``CameraGroup.triangulate_optim(init_ransac=True)`` with the rigid bones as length
                        constraints: anipose's spatio-temporal optimisation over the whole clip (offline)
  mocap (run with .venv/bin/python; its public API, default settings):
    mocap_online        ``OnlineTriangulator`` stepped frame by frame (causal: the ROS node / ``mocap live`` path)
    mocap_single_frame  ``triangulate(..., refine=True)``: every point on its own, no prior, no temporal or bone pass
    mocap_offline       ``triangulate_keypoints`` over the whole clip (temporal and bone passes): ``mocap triangulate``
    mocap_run_offline   the same + the zero-phase 6 Hz Butterworth that ``mocap run`` applies by default

IN.npz: uv (C, N, 2) raw pixels (NaN = missing), conf (C, N), K (C, 3, 3), dist (C, 5), rvec (C, 3), tvec (C, 3),
size (C, 2); N = T * J points, frame-major; T, J, fps, joint_set, bones (B, 2) (rigid bones, for constraints);
optional reproj_threshold_px (15), likelihood_threshold (0.1), frames (run on the first ``frames`` frames only).

OUT.npz: X (N', 3) metres (NaN = dropped; N' = frames x J), call_wall_s / call_cpu_s (the method's call alone:
after the imports and the input are loaded, undistortion included), for methods that report them kept (C, N')
(views used per point), and for mocap_online step_wall_ms / step_cpu_ms (per frame). OUT.json (beside OUT.npz,
written after it): written_at (epoch seconds, the moment the result was on disk) and process_cpu_s (CPU time of
this whole process up to then, imports included). The caller records when it started the process: "process start
to result written" = written_at - start.

This file calls the methods' public functions; it reimplements none of the peers' math.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

PEER_METHODS = ("pose2sim", "pose2sim_offline", "aniposelib_dlt", "aniposelib_ransac", "aniposelib_optim")
MOCAP_METHODS = ("mocap_online", "mocap_single_frame", "mocap_offline", "mocap_run_offline")
#: ``mocap run``'s default Butterworth cut-off (``mocap.pipeline.run_pipeline(cutoff_hz=6.0)``), Hz
MOCAP_RUN_CUTOFF_HZ = 6.0
METHODS = PEER_METHODS + MOCAP_METHODS


def prepare(method: str) -> None:
    """Import everything the method needs (before its timer starts)."""
    if method.startswith("pose2sim"):
        import cv2  # noqa: F401
        from Pose2Sim.triangulation import triangulation_from_best_cameras  # noqa: F401
    if method == "pose2sim_offline":
        import pandas  # noqa: F401
        from Pose2Sim.common import interpolate_zeros_nans  # noqa: F401
        from Pose2Sim.filtering import butterworth_filter_1d, hampel_filter  # noqa: F401
    if method.startswith("aniposelib"):
        from aniposelib.cameras import CameraGroup  # noqa: F401
    if method.startswith("mocap"):
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        import scipy.signal  # noqa: F401  (mocap.reconstruct.filters imports it on first use: not in the call)

        import mocap.reconstruct.filters  # noqa: F401
        import mocap.reconstruct.online  # noqa: F401
        import mocap.reconstruct.sequence  # noqa: F401
        from mocap.cameras import Camera, CameraRig  # noqa: F401
        from mocap.keypoints import Keypoints2D  # noqa: F401


# --------------------------------------------------------------------------- peers
def run_aniposelib(d: dict, mode: str) -> np.ndarray:
    from aniposelib.cameras import Camera, CameraGroup

    cams = [Camera(name=f"cam{i}", size=tuple(int(v) for v in d["size"][i]), matrix=d["K"][i], dist=d["dist"][i],
                   rvec=d["rvec"][i], tvec=d["tvec"][i]) for i in range(len(d["K"]))]
    group = CameraGroup(cams)
    uv = d["uv"].astype(float).copy()
    uv[~(d["conf"] >= float(d.get("likelihood_threshold", 0.0)))] = np.nan
    if mode == "ransac":
        return group.triangulate_ransac(uv, undistort=True, min_cams=2, progress=False)[0]
    if mode == "optim":
        C, T, J = uv.shape[0], int(d["T"]), int(d["J"])
        X = group.triangulate_optim(uv.reshape(C, T, J, 2), init_ransac=True, init_progress=False,
                                    constraints=np.asarray(d["bones"]).tolist())
        return np.asarray(X, float).reshape(T * J, 3)
    return group.triangulate(uv, undistort=True, progress=False)


def run_pose2sim(d: dict) -> tuple[np.ndarray, np.ndarray]:
    """Pose2Sim's per-point triangulation; returns ``X (N, 3)`` and the views it kept ``(C, N)``."""
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
    return out, kept


def pose2sim_postprocess(X: np.ndarray, T: int, J: int, fps: float) -> np.ndarray:
    """Pose2Sim's steps after triangulation with its Config.toml defaults, through its own functions:
    ``interpolate_zeros_nans`` (gaps < 20 frames, linear), gaps filled with the last value, ``hampel_filter``
    (reject_outliers = true), ``butterworth_filter_1d`` (order 4, 6 Hz)."""
    import pandas as pd
    from Pose2Sim.common import interpolate_zeros_nans
    from Pose2Sim.filtering import butterworth_filter_1d, hampel_filter

    Q = pd.DataFrame(X.reshape(T, J * 3))
    Q = Q.apply(interpolate_zeros_nans, axis=0, args=[20, "linear"])
    Q = Q.ffill(axis=0).bfill(axis=0)
    Q = Q.apply(hampel_filter, axis=0)
    config = {"filtering": {"butterworth": {"order": 4, "cut_off_frequency": 6}}}
    Q = Q.apply(lambda col: butterworth_filter_1d(config, fps, col), axis=0)
    return Q.to_numpy().reshape(T * J, 3)


# --------------------------------------------------------------------------- mocap
def _mocap_inputs(d: dict):
    from mocap.cameras import Camera, CameraRig
    from mocap.keypoints import Keypoints2D

    C = len(d["K"])
    names = [f"cam{i + 1:02d}" for i in range(C)]
    rig = CameraRig([Camera.from_rvec(names[i], tuple(int(v) for v in d["size"][i]), d["K"][i], d["dist"][i],
                                      d["rvec"][i], d["tvec"][i]) for i in range(C)])
    T, J = int(d["T"]), int(d["J"])
    uv = d["uv"].reshape(C, T, J, 2)
    cf = d["conf"].reshape(C, T, J)
    kp = Keypoints2D(np.concatenate([uv, cf[..., None]], -1).transpose(1, 0, 2, 3)[:, :, None].copy(),
                     str(d["joint_set"]), names, fps=float(d["fps"]))
    return rig, uv, cf, kp


def run_mocap(method: str, d: dict, inputs) -> dict:
    rig, uv, cf, kp = inputs
    C, T, J = uv.shape[:3]
    opts = {"reproj_threshold_px": float(d.get("reproj_threshold_px", 15.0)),
            "min_conf": float(d.get("likelihood_threshold", 0.1))}
    if method in ("mocap_offline", "mocap_run_offline"):
        from mocap.reconstruct.filters import butterworth_filter
        from mocap.reconstruct.sequence import triangulate_keypoints

        k3 = triangulate_keypoints(rig, kp, **opts)
        X = k3.xyz[:, 0]
        if method == "mocap_run_offline":
            X = butterworth_filter(X, kp.fps, cutoff_hz=MOCAP_RUN_CUTOFF_HZ)
        return {"X": X.reshape(T * J, 3), "kept": k3.meta["used"][:, :, 0].reshape(C, T * J)}
    if method == "mocap_single_frame":
        from mocap.reconstruct.triangulation import triangulate

        res = triangulate(rig, uv, cf, refine=True, **opts)
        return {"X": res.X.reshape(T * J, 3), "kept": res.used.reshape(C, T * J)}
    from mocap.reconstruct.online import OnlineTriangulator

    tri = OnlineTriangulator(rig, str(d["joint_set"]), **opts)
    X = np.full((T, J, 3), np.nan)
    kept = np.zeros((C, T, J), bool)
    wall, cpu = np.zeros(T), np.zeros(T)
    for t in range(T):
        w0, c0 = time.perf_counter(), time.process_time()
        X[t] = tri.step(uv[:, t], cf[:, t], t / float(d["fps"]))[:, :3]
        wall[t], cpu[t] = time.perf_counter() - w0, time.process_time() - c0
        kept[:, t] = tri.last_result.used & tri.measured[None]
    return {"X": X.reshape(T * J, 3), "kept": kept.reshape(C, T * J), "step_wall_ms": wall * 1000,
            "step_cpu_ms": cpu * 1000}


def _first_frames(d: dict, frames: int) -> dict:
    """The input restricted to its first ``frames`` frames."""
    J = int(d["J"])
    n = frames * J
    return {**d, "uv": d["uv"][:, :n], "conf": d["conf"][:, :n], "T": np.array(frames)}


def run(method: str, d: dict) -> dict:
    """Run ``method`` on the input ``d``; returns the output arrays (timers included)."""
    if method not in METHODS:
        raise SystemExit(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    prepare(method)
    if "frames" in d and int(d["frames"]) < int(d["T"]):
        d = _first_frames(d, int(d["frames"]))
    inputs = _mocap_inputs(d) if method.startswith("mocap") else None
    w0, c0 = time.perf_counter(), time.process_time()
    if method.startswith("mocap"):
        out = run_mocap(method, d, inputs)
    elif method == "pose2sim":
        X, kept = run_pose2sim(d)
        out = {"X": X, "kept": kept}
    elif method == "pose2sim_offline":
        X, _ = run_pose2sim(d)
        out = {"X": pose2sim_postprocess(X, int(d["T"]), int(d["J"]), float(d["fps"]))}
    else:
        out = {"X": run_aniposelib(d, method.split("_", 1)[1])}
    out["call_wall_s"] = time.perf_counter() - w0
    out["call_cpu_s"] = time.process_time() - c0
    out["X"] = np.asarray(out["X"], float)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    method, inp, outp = argv
    d = dict(np.load(inp))
    out = run(method, d)
    np.savez(outp, **out)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    info = {"written_at": time.time(), "process_cpu_s": ru.ru_utime + ru.ru_stime, "method": method}
    Path(outp).with_suffix(".json").write_text(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
