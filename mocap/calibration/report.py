"""Calibration report: one PNG (errors, coverage maps, rig from above and the side, reprojection overlays) and
an HTML page with the numbers and the advice."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from mocap.calibration.detection import iter_frames
from mocap.calibration.intrinsics import coverage_image
from mocap.calibration.pipeline import RigCalibration


def _frame(source: str, index: int) -> np.ndarray | None:
    for i, img in iter_frames(source):
        if i == index:
            return img
    return None


def write_report(cal: RigCalibration, out_dir: str | Path) -> Path:
    """Write ``report.png`` and ``report.html`` into ``out_dir``; returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import cv2
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(cal.intrinsics)
    C = len(names)
    fig = plt.figure(figsize=(4 * max(C, 3), 11))
    gs = fig.add_gridspec(3, max(C, 3))
    # row 1: coverage maps
    for i, n in enumerate(names):
        ax = fig.add_subplot(gs[0, i])
        views = cal.detections[n]
        bg = _frame(cal.sources[n], views[len(views) // 2].frame) if views else None
        img = coverage_image(views, cal.image_sizes[n], 0.4, bg)
        ax.imshow(img[..., ::-1])
        it = cal.intrinsics[n]
        ax.set_title(f"{n}: coverage, {len(views)} views\nintrinsic RMS {it.rms:.2f} px, f={it.K[0, 0]:.0f}",
                     fontsize=9)
        ax.axis("off")
    # row 2: reprojection overlays (bundle-adjusted rig, one frame per camera)
    ext = cal.extrinsics
    for i, n in enumerate(names):
        ax = fig.add_subplot(gs[1, i])
        views = cal.detections[n]
        if not views:
            continue
        d = max(views, key=lambda v: v.n)
        img = _frame(cal.sources[n], d.frame)
        if img is None:
            continue
        ax.imshow(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        ax.plot(d.image_points[:, 0], d.image_points[:, 1], "o", mfc="none", mec="lime", ms=6, label="detected")
        if ext is not None and d.frame in ext.board_poses:
            T = ext.board_poses[d.frame]
            X = d.object_points @ T[:3, :3].T + T[:3, 3]
            uv = ext.rig[n].project(X)
            err = np.sqrt(np.mean(np.sum((uv - d.image_points) ** 2, axis=1)))
            ax.plot(uv[:, 0], uv[:, 1], "+", color="red", ms=7, label="reprojected")
            ax.set_title(f"{n} frame {d.frame}: reprojection {err:.2f} px", fontsize=9)
        x0, y0 = d.image_points.min(0) - 60
        x1, y1 = d.image_points.max(0) + 60
        ax.set_xlim(x0, x1)
        ax.set_ylim(y1, y0)
        ax.legend(fontsize=7, loc="lower right")
        ax.axis("off")
    # row 3: errors, rig from above and from the side
    ax = fig.add_subplot(gs[2, 0])
    intr_rms = [cal.intrinsics[n].rms for n in names]
    x = np.arange(C)
    ax.bar(x - 0.2, intr_rms, 0.4, label="intrinsics")
    if ext is not None and ext.bundle is not None:
        ax.bar(x + 0.2, [ext.bundle.camera_rms[n] for n in names], 0.4, label="bundle adjustment")
    ax.set_xticks(x, names)
    ax.set_ylabel("RMS reprojection error (px)")
    ax.legend(fontsize=8)
    ax.set_title("per-camera error", fontsize=9)
    rig = cal.rig
    boards = np.array([T[:3, 3] for T in ext.board_poses.values()]) if ext is not None else np.zeros((0, 3))
    for k, (a, b, title) in enumerate([(0, 1, "rig from above (x, y)"), (0, 2, "rig from the side (x, z)")]):
        ax = fig.add_subplot(gs[2, 1 + k])
        for c in rig:
            p = c.center
            d = c.R[2] * 0.3
            ax.plot(p[a], p[b], "o")
            ax.annotate("", (p[a] + d[a], p[b] + d[b]), (p[a], p[b]), arrowprops={"arrowstyle": "->"})
            ax.text(p[a], p[b], f" {c.name}", fontsize=8)
        if len(boards):
            ax.plot(boards[:, a], boards[:, b], ".", color="gray", ms=3, label="board positions")
            ax.legend(fontsize=7)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("xyz"[a] + " (m)")
        ax.set_ylabel("xyz"[b] + " (m)")
        ax.set_title(f"{title}; world: {rig.meta.get('world', '?')}", fontsize=8)
    fig.suptitle(f"mocap calibration: {cal.board.describe()} - final RMS {cal.rms:.3f} px", fontsize=11)
    fig.tight_layout()
    png = out / "report.png"
    fig.savefig(png, dpi=80)
    plt.close(fig)
    rows = []
    for n in names:
        it = cal.intrinsics[n]
        ba = ext.bundle.camera_rms[n] if ext is not None and ext.bundle is not None else float("nan")
        c = rig[n].center
        u = cal.uncertainty.get(n)
        sd = (f"<td>{100 * u.focal_rel:.2f} %</td><td>{u.cx:.1f}, {u.cy:.1f}</td><td>{u.distortion_px:.2f}</td>"
              f"<td>{', '.join(f'{100 * v:.2f}' for v in u.center_m)}</td><td>{u.rotation_deg:.3f}</td>"
              if u is not None else "<td></td>" * 5)
        rows.append(f"<tr><td>{html.escape(n)}</td><td>{len(cal.detections[n])}</td><td>{len(it.views)}</td>"
                    f"<td>{it.rms:.3f}</td><td>{ba:.3f}</td><td>{rig[n].K[0, 0]:.1f}</td><td>{rig[n].K[1, 1]:.1f}</td>"
                    f"<td>{c[0]:.3f}, {c[1]:.3f}, {c[2]:.3f}</td><td>{len(it.rejected)}</td>"
                    f"<td>{html.escape(it.dist_reason or it.dist_model)}</td>{sd}</tr>")
    notes = [*cal.uncertainty_warnings, *(w for it in cal.intrinsics.values() for w in it.warnings),
             *(ext.warnings if ext else []), *cal.advice]
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>mocap calibration report</title>
<style>body{{font-family:sans-serif}} td,th{{padding:2px 8px;border-bottom:1px solid #ccc}}</style></head><body>
<h1>Calibration report</h1><p>Board: {html.escape(cal.board.describe())}. Final RMS reprojection error:
<b>{cal.rms:.3f} px</b>. Time: {cal.seconds:.1f} s. World: {html.escape(str(rig.meta.get('world', '')))}</p>
<table><tr><th>camera</th><th>views detected</th><th>views used (intrinsics)</th><th>intrinsic RMS px</th>
<th>bundle RMS px</th><th>fx</th><th>fy</th><th>centre (m)</th><th>rejected views</th><th>model</th>
<th>&sigma; focal</th><th>&sigma; principal point px</th><th>&sigma; distortion at the corner px</th>
<th>&sigma; position cm</th><th>&sigma; rotation deg</th></tr>{''.join(rows)}</table>
<p>{html.escape(str(rig.meta.get('uncertainty', '')))}</p>
<h2>Notes and advice</h2><ul>{''.join(f'<li>{html.escape(n)}</li>' for n in notes) or '<li>none</li>'}</ul>
<img src="report.png" style="max-width:100%"></body></html>"""
    (out / "report.html").write_text(page)
    return png
