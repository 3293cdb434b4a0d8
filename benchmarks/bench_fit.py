"""Fitting speed: sequence frames/s and online per-frame p95 latency, on the stand-in SMPL-X or Anny.

Run: .venv/bin/python benchmarks/bench_fit.py [--model smplx|anny] [--frames 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mocap.body.fit import FitConfig, OnlineFitter, fit_arrays
from mocap.body.priors import joint_limits


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smplx", choices=("smplx", "anny"))
    ap.add_argument("--frames", type=int, default=30)
    a = ap.parse_args()
    if a.model == "smplx":
        from mocap.body.smplx_model import SmplxModel
        from mocap.body.standin import make_standin_smplx

        d = Path(tempfile.mkdtemp())
        make_standin_smplx(d / "SMPLX_NEUTRAL.npz")
        model = SmplxModel(d)
        names = list(model.joint_names[:22])
        ids = None
    else:
        from mocap.body.anny_model import AnnyModel

        model = AnnyModel()
        names, ids, _ = model.coco_regressor()
    rng = np.random.default_rng(0)
    lim = joint_limits(model)
    T = a.frames
    pose = torch.zeros(T, model.n_joints, 3)
    pose[:, torch.as_tensor(lim.joints)] = lim.sample(1, rng, 0.4).expand(T, -1, -1)
    root = torch.tensor([[0.0, 0.0, 1.0]]).repeat(T, 1)
    with torch.no_grad():
        if a.model == "smplx":
            pose[:, 0] = torch.tensor([np.pi / 2, 0, 0])
            pts = model.forward(model.default_shape()[None], pose, root, vertex_ids=None).joints[:, :22]
        else:
            from mocap.body.correspondence import build_correspondence

            c = build_correspondence(model, names)
            o = model.forward(model.default_shape()[None], pose, root, vertex_ids=c.vertex_ids)
            pts = c.predict(o.joints, o.vertices)
    pts = pts.numpy().astype(float) + rng.normal(scale=0.01, size=pts.shape)
    data = np.concatenate([pts, np.ones(pts.shape[:2] + (1,))], -1)
    t0 = time.perf_counter()
    mot = fit_arrays(data, names, model, config=FitConfig())
    dt = time.perf_counter() - t0
    print(f"model={model.name} frames={T} torch_threads={torch.get_num_threads()} sequence: {T / dt:.2f} frames/s "
          f"residual {1000 * np.nanmean(mot.quality['residual_m']):.1f} mm")
    fitter = OnlineFitter(model, names)
    lat = []
    for t in range(T):
        s = time.perf_counter()
        fitter.step(data[t])
        lat.append(time.perf_counter() - s)
    lat = np.array(lat[1:]) * 1000
    print(f"model={model.name} frames={T} torch_threads={torch.get_num_threads()} online: p50 "
          f"{np.percentile(lat, 50):.1f} ms p95 {np.percentile(lat, 95):.1f} ms")


if __name__ == "__main__":
    main()
