"""Export benchmark: time to write 10,000 frames x 55 joints (the SMPL-X skeleton) in every format.

Usage::

    .venv/bin/python benchmarks/bench_export.py [--frames 10000] [--joints 55] [--repeat 3] [--json out.json]

Reports the best-of-``repeat`` wall time and file size per format (BVH, FBX with a bone mesh, GLB with a bone
mesh, C3D, TRC), plus the keypoints -> skeleton IK step for the same number of frames.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mocap.export.animation import Animation
from mocap.export.bvh import write_bvh
from mocap.export.c3d import write_c3d, write_trc
from mocap.export.fbx import write_fbx
from mocap.export.gltf import write_gltf
from mocap.export.ik import keypoints_to_animation
from mocap.geometry.rotations import rotvec_to_quat_xyzw
from mocap.keypoints import Keypoints3D


def synthetic_animation(frames: int, joints: int, fps: float = 120.0, seed: int = 0) -> Animation:
    """A smooth random motion of the SMPL-X tree (first ``joints`` joints of smplx55)."""
    from mocap.skeletons import get_joint_set

    js = get_joint_set("smplx55")
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    freq = rng.uniform(0.2, 1.5, size=(1, joints, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(1, joints, 3))
    rv = 0.4 * np.sin(2 * np.pi * freq * t[:, None, None] + phase)
    off = rng.normal(scale=0.1, size=(joints, 3))
    off[0] = [0, 0, 1.0]
    tr = np.stack([0.5 * np.sin(t), 0.3 * t / t[-1], 1.0 + 0.02 * np.sin(3 * t)], axis=1)
    return Animation(list(js.joints[:joints]), np.array(js.parents[:joints]), off, tr, rotvec_to_quat_xyzw(rv), fps)


def _time(fn, repeat: int) -> float:  # noqa: ANN001
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(frames: int = 10_000, joints: int = 55, repeat: int = 3) -> dict:
    """Time every writer; returns ``{format: {"seconds": s, "bytes": n}}``."""
    anim = synthetic_animation(frames, joints)
    kp = Keypoints3D(anim.world_positions()[:, None], "smplx55" if joints == 55 else "custom", fps=anim.fps,
                     meta={"joint_names": anim.joint_names})
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        jobs = {
            "bvh": (lambda: write_bvh(anim, d / "a.bvh"), d / "a.bvh"),
            "fbx": (lambda: write_fbx(anim, d / "a.fbx", mesh="bones"), d / "a.fbx"),
            "glb": (lambda: write_gltf(anim, d / "a.glb", mesh="bones"), d / "a.glb"),
            "c3d": (lambda: write_c3d(kp, d / "a.c3d"), d / "a.c3d"),
            "trc": (lambda: write_trc(kp, d / "a.trc"), d / "a.trc"),
        }
        for name, (fn, path) in jobs.items():
            s = _time(fn, repeat)
            out[name] = {"seconds": round(s, 4), "bytes": path.stat().st_size}
        if joints == 55:
            out["ik_keypoints_to_skeleton"] = {"seconds": round(_time(lambda: keypoints_to_animation(kp), repeat), 4)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--joints", type=int, default=55)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    res = run(args.frames, args.joints, args.repeat)
    print(f"export of {args.frames} frames x {args.joints} joints (best of {args.repeat}):")
    for k, v in res.items():
        size = f"{v['bytes'] / 1e6:8.2f} MB" if "bytes" in v else ""
        print(f"  {k:26s} {v['seconds']:8.3f} s  {size}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
