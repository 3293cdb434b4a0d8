"""`mocap fit`: fit a body model (Anny by default, or SMPL-X) to 3D keypoints."""

from __future__ import annotations

import argparse
from pathlib import Path

from mocap.errors import DataError


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, parents: list) -> None:
    """Register `mocap fit`."""
    p = sub.add_parser(name, help=help, description=help, parents=parents)
    p.add_argument("keypoints", type=Path, help="3D keypoints (.npz from `mocap triangulate`, or .trc)")
    p.add_argument("--model", choices=("anny", "smplx"), default="anny", help="body model (default: anny)")
    p.add_argument("--model-path", type=Path, default=None, help="SMPL-X file or folder (default: models/smplx)")
    p.add_argument("--gender", default="neutral", help="SMPL-X gender: neutral, male, female")
    p.add_argument("--allow-pickle", action="store_true", help="allow a .pkl SMPL-X file (pickle runs code)")
    p.add_argument("--out", type=Path, required=True, help="output body motion .npz")
    p.add_argument("--person", type=int, default=0, help="person index in the keypoints (default 0)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply positions by this (0.001 for millimetres)")
    p.add_argument("--iters", type=int, default=None, help="Levenberg-Marquardt iterations (default 12)")
    p.add_argument("--smooth", type=float, default=None, help="temporal smoothness weight (default 5; 0 = off)")
    p.add_argument("--no-shape", action="store_true", help="keep the mean shape (no shape estimation)")
    p.add_argument("--mesh", type=Path, default=None, help="folder for one mesh per frame (.ply)")
    p.add_argument("--render", type=Path, default=None,
                   help="check image (.png): mesh over the keypoints, front and side, of a typical frame")
    p.add_argument("--render-frame", type=int, default=None,
                   help="frame to render (default: the one with the median residual)")
    p.set_defaults(func=run)


def _load(path: Path):
    if not path.is_file():
        raise DataError(f"keypoints file {path} does not exist")
    if path.suffix.lower() == ".trc":
        from mocap.keypoints.trc import read_trc

        return read_trc(path)
    from mocap.keypoints.containers import Keypoints3D
    from mocap.keypoints.npz_io import load_npz

    kp = load_npz(path)
    if not isinstance(kp, Keypoints3D):
        raise DataError(f"{path} holds 2D keypoints; run `mocap triangulate` first")
    return kp


def run(args: argparse.Namespace) -> int:
    """Fit, save the motion, and optionally meshes and a check image."""
    import numpy as np

    from mocap.body import load_model
    from mocap.body.fit import FitConfig, fit_sequence, motion_vertices
    from mocap.body.mesh_io import write_mesh

    kp = _load(args.keypoints)
    if args.scale != 1.0:
        kp.data[..., :3] *= args.scale
    if args.model == "smplx":
        model = load_model("smplx", path=args.model_path, gender=args.gender, allow_pickle=args.allow_pickle)
    else:
        model = load_model("anny")
    cfg = FitConfig()
    if args.iters:
        cfg.iters = args.iters
    if args.smooth is not None:
        cfg.w_smooth, cfg.w_smooth_pos = args.smooth, args.smooth / 10
    if args.no_shape:
        cfg.estimate_shape = False
    motion = fit_sequence(kp, model, person=args.person, config=cfg, progress=True)
    out = motion.save(args.out)
    res = motion.quality["residual_m"]
    print(f"fitted {motion.n_frames} frames with {model.name}: keypoint residual mean {1000 * np.nanmean(res):.1f} mm, "
          f"median {1000 * np.nanmedian(res):.1f} mm; largest joint-limit excess "
          f"{motion.quality['limit_excess_deg'].max():.2f} deg -> {out}")
    if args.mesh:
        for t0 in range(0, motion.n_frames, 32):
            frames = np.arange(t0, min(t0 + 32, motion.n_frames))
            for t, v in zip(frames, motion_vertices(model, motion, frames)):
                write_mesh(args.mesh / f"frame_{t:05d}.ply", v, model.faces)
        print(f"{motion.n_frames} meshes -> {args.mesh}")
    if args.render:
        from mocap.body.render import render_fit_check

        t = render_fit_check(args.render, model, motion, kp, args.person, args.render_frame)
        print(f"check image (frame {t}) -> {args.render}")
    return 0
