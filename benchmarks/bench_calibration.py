"""Calibration timings: the real 4-camera charuco set (if present) and bundle adjustment on 4 cameras x 200
synthetic board views. Run: .venv/bin/python benchmarks/bench_calibration.py"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mocap.calibration.boards import load_board
from mocap.calibration.bundle import bundle_adjust
from mocap.calibration.detection import BoardDetection
from mocap.calibration.synthetic import arc_rig, random_board_poses


def bench_bundle(n_views: int = 200) -> float:
    rng = np.random.default_rng(0)
    board = load_board("charuco_a3")
    rig = arc_rig(4, radius=1.5, size=(640, 480), f=560)
    poses = random_board_poses(board, n_views, seed=1, spread=0.25)
    obj = board.object_points()
    obs = []
    for f, T in enumerate(poses):
        X = obj @ T[:3, :3].T + T[:3, 3]
        for ci, c in enumerate(rig):
            uv = c.project(X) + rng.normal(0, 0.2, (len(obj), 2))
            ok = np.isfinite(uv).all(1)
            if ok.sum() >= 6:
                obs.append((ci, f, BoardDetection(f, np.flatnonzero(ok), uv[ok], obj[ok], c.size)))
    init = rig.copy()
    for c in init.cameras[1:]:
        c.t = c.t + rng.normal(0, 0.02, 3)
    noisy = [T.copy() for T in poses]
    for T in noisy:
        T[:3, 3] += rng.normal(0, 0.01, 3)
    t = time.perf_counter()
    res = bundle_adjust(init, noisy, obs)
    dt = time.perf_counter() - t
    print(f"bundle adjustment 4 cameras x {n_views} views ({len(obs)} observations): {dt:.2f} s, "
          f"RMS {res.initial_rms:.2f} -> {res.final_rms:.3f} px")
    return dt


def bench_real() -> None:
    d = Path(__file__).resolve().parents[2] / "shared/data/charuco_4cam/calibration/extrinsic"
    if not d.is_dir():
        print("charuco_4cam not present: skipped")
        return
    from mocap.calibration.pipeline import calibrate_rig, resolve_sources

    t = time.perf_counter()
    cal = calibrate_rig(resolve_sources([d]), "charuco_4x5_dict4x4_1000_inverted")
    print(f"charuco_4cam: 4 cameras calibrated in {time.perf_counter() - t:.1f} s, RMS {cal.rms:.3f} px")
    t = time.perf_counter()
    cal = calibrate_rig(resolve_sources([d]), "charuco_4x5_dict4x4_1000_inverted",
                        intrinsics=d.parents[1] / "config.toml")
    print(f"charuco_4cam, caliscope intrinsics fixed: extrinsics in {time.perf_counter() - t:.1f} s, "
          f"RMS {cal.rms:.3f} px")


if __name__ == "__main__":
    bench_bundle()
    bench_real()
