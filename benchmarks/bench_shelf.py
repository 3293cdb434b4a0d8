"""Shelf benchmark: PCP per actor (1-3), average PCP, MPJPE and time per frame of the multi-person pipeline.

Pipeline per frame: OpenPose BODY_25 candidates + PAFs -> 2D people per view (greedy PAF matching) ->
cross-view association (ray distances, cycle-consistent greedy clustering) -> optional left/right swap correction
-> robust triangulation; then tracking over the sequence (optional short-gap filling). BODY_25 is mapped to
Shelf-15 for scoring (see mocap.datasets.shelf for the protocol).

Usage::

    .venv/bin/python benchmarks/bench_shelf.py [--data ../shared/data/shelf] [--swaps] [--max-gap 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from mocap.datasets.shelf import (
    BODY25_LR_PAIRS,
    SHELF_PCP_LIMBS,
    body25_to_shelf15,
    evaluate_shelf,
    load_shelf,
    shelf_people2d,
)
from mocap.reconstruct.association import reconstruct_frame
from mocap.reconstruct.tracking import track_sequence

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "shelf"
SHELF_FPS = 25.0


def run_shelf(data_dir: str | Path = DEFAULT_DATA, *, swaps: bool = False, track: bool = True, max_gap: int = 5,
              frames: slice | None = None, **recon_opts) -> dict:
    """Run the pipeline on Shelf and score it.

    Args:
        data_dir: the Shelf folder.
        swaps: per-view left/right swap correction before triangulation.
        track: link people over time (:func:`track_sequence`) and fill joint gaps of up to ``max_gap`` frames.
        frames: evaluate only these frames (default all 301).
        **recon_opts: options of :func:`mocap.reconstruct.association.reconstruct_frame`.

    Returns:
        The :func:`mocap.datasets.shelf.evaluate_shelf` dict plus ``ms_per_frame`` (2D assembly + association +
        triangulation (+ tracking), excluding file loading) and ``n_frames``.
    """
    data = load_shelf(data_dir)
    idx = range(data.n_frames)[frames or slice(None)]
    t0 = time.perf_counter()
    people = []
    for f in idx:
        rec = reconstruct_frame(data.rig, shelf_people2d(data, f), lr_pairs=BODY25_LR_PAIRS if swaps else None,
                                **recon_opts)
        people.append(rec.people)
    if track:
        stacked, _ = track_sequence(people, fps=SHELF_FPS, max_gap=max_gap)
        people = [p[np.isfinite(p[..., 0]).any(-1)] for p in stacked]
    elapsed = time.perf_counter() - t0
    preds = [body25_to_shelf15(p) for p in people]
    res = evaluate_shelf(preds, data.gt[list(idx)])
    res["ms_per_frame"] = 1000.0 * elapsed / max(len(idx), 1)
    res["n_frames"] = len(idx)
    res["options"] = {"swaps": swaps, "track": track, "max_gap": max_gap, **recon_opts}
    return res


def format_report(res: dict) -> str:
    """A small text table of PCP per limb and actor, averages, MPJPE and speed."""
    actors = list(res["pcp"])
    lines = ["limb".ljust(18) + "".join(f"actor{a + 1:>3}".rjust(10) for a in actors)]
    for name, _, _ in SHELF_PCP_LIMBS:
        lines.append(name.ljust(18) + "".join(f"{100 * res['pcp_limbs'][a][name]:10.1f}" for a in actors))
    lines.append("PCP".ljust(18) + "".join(f"{100 * res['pcp'][a]:10.1f}" for a in actors))
    lines.append("MPJPE (mm)".ljust(18) + "".join(f"{res['mpjpe_mm'][a]:10.1f}" for a in actors))
    lines.append("frames (missed)".ljust(18) + "".join(f"{res['frames'][a]:>6} ({res['missed'][a]})" for a in actors))
    lines.append(f"average PCP: {100 * res['pcp_avg']:.2f}%   time: {res['ms_per_frame']:.1f} ms/frame "
                 f"({res['n_frames']} frames, 5 views)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="Shelf folder (calibration.json, detection/, gt.txt)")
    ap.add_argument("--swaps", action="store_true", help="per-view left/right swap correction")
    ap.add_argument("--no-track", action="store_true", help="score per-frame reconstructions without tracking")
    ap.add_argument("--max-gap", type=int, default=5, help="fill joint gaps of up to N frames in tracks")
    ap.add_argument("--reproj-threshold-px", type=float, default=15.0)
    ap.add_argument("--json", help="also write the results to this JSON file")
    a = ap.parse_args(argv)
    res = run_shelf(a.data, swaps=a.swaps, track=not a.no_track, max_gap=a.max_gap,
                    reproj_threshold_px=a.reproj_threshold_px)
    print(format_report(res))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
