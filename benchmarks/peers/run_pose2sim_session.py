"""Run Pose2Sim's own session pipeline (person association, then triangulation) on a project folder, in the peers'
venv (not mocap's), and save what it produced.

Usage: .venv-peers/bin/python benchmarks/peers/run_pose2sim_session.py PROJECT OUT.npz [PARAMS.json]

PROJECT holds what a Pose2Sim user prepares: ``calibration/<name>.toml`` (Pose2Sim's calibration format) and
``pose/<camera>_json/`` OpenPose JSON folders (every detected person). A ``Config.toml`` is written there: the
peer's own ``Demo_SinglePerson/Config.toml`` with the overrides of PARAMS.json (a nested dict, e.g.
``{"pose": {"pose_model": "BODY_25B"}, "triangulation": {"interpolation": "none"}}``); Pose2Sim merges them as in
``Pose2Sim.triangulation(config_dict)``. Then ``Pose2Sim.personAssociation`` and ``Pose2Sim.triangulation`` run.

OUT.npz: ``X`` (T, M, 3) metres in the calibration's world frame (Z up: Pose2Sim's Y-up TRC rotated back),
``markers`` (M,) names, ``frames`` (T,) frame numbers, ``assoc`` (T, C, J, 3) the 2D person Pose2Sim kept per
camera and frame (NaN where none), ``seconds`` (wall time of the two calls), ``excluded_note`` (its log tail).

This file only calls the peer's public entry points; it reimplements none of its math.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from pathlib import Path

import numpy as np


def _merge(base: dict, new: dict) -> dict:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v
    return base


def _read_trc(path: Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    lines = path.read_text().splitlines()
    markers = [m for m in lines[3].split("\t")[2:] if m]
    rows = [ln.split("\t") for ln in lines[5:] if ln.strip()]
    frames = np.array([int(float(r[0])) for r in rows])
    vals = np.array([[float(v) if v.strip() not in ("", "nan") else np.nan for v in r[2:2 + 3 * len(markers)]]
                     for r in rows])
    yup = vals.reshape(len(rows), len(markers), 3)
    # Pose2Sim's zup2yup writes (Y, Z, X) of the Z-up world as (X, Y, Z)
    return np.stack([yup[..., 2], yup[..., 0], yup[..., 1]], axis=-1), markers, frames


def _read_assoc(project: Path, n_frames: int, n_joints: int) -> np.ndarray:
    cams = sorted((d for d in (project / "pose-associated").iterdir() if d.is_dir()),
                  key=lambda d: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", d.name)])
    out = np.full((n_frames, len(cams), n_joints, 3), np.nan)
    for c, d in enumerate(cams):
        for f in d.glob("*.json"):
            t = int(re.findall(r"\d+", f.stem)[-1])
            people = json.loads(f.read_text()).get("people", [])
            kept = [p for p in people if any(p.get("pose_keypoints_2d", [])[2::3])]
            if t < n_frames and kept:
                a = np.asarray(kept[0]["pose_keypoints_2d"], float).reshape(-1, 3)[:n_joints]
                a[a[:, 2] <= 0] = np.nan
                out[t, c, :len(a)] = a
    return out


def main() -> int:
    import rtoml
    from Pose2Sim import Pose2Sim

    project, outp = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    params = json.loads(Path(sys.argv[3]).read_text()) if len(sys.argv) > 3 else {}
    default = Path(Pose2Sim.__file__).resolve().parent / "Demo_SinglePerson" / "Config.toml"
    cfg = _merge(rtoml.load(default), params)
    cfg.setdefault("project", {})["project_dir"] = str(project)
    (project / "Config.toml").write_text(rtoml.dumps(cfg))
    logging.disable(logging.WARNING)
    t0 = time.perf_counter()
    Pose2Sim.personAssociation(cfg)
    Pose2Sim.triangulation(cfg)
    seconds = time.perf_counter() - t0
    trcs = sorted((project / "pose-3d").glob("*.trc"))
    if not trcs:
        print(f"Pose2Sim wrote no TRC in {project / 'pose-3d'}", file=sys.stderr)
        return 2
    X, markers, frames = _read_trc(trcs[-1])
    n_joints = max(len(json.loads(f.read_text())["people"][0]["pose_keypoints_2d"]) // 3
                   for f in list((project / "pose").glob("*/*.json"))[:50]
                   if json.loads(f.read_text()).get("people"))
    assoc = _read_assoc(project, int(frames.max()) + 1, n_joints)
    np.savez(outp, X=X, markers=np.array(markers), frames=frames, assoc=assoc, seconds=seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
