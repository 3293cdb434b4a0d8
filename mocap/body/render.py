"""A check image: the fitted mesh over the 3D keypoints, from the front and the side (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def render_check(path: str | Path, vertices: np.ndarray, faces: np.ndarray, keypoints: np.ndarray,
                 title: str = "") -> Path:
    """Save a PNG with two views of ``vertices (V, 3)`` / ``faces (F, 3)`` and ``keypoints (K, 3)`` (world, Z up)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    f = np.asarray(faces)
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2])]
    if len(f) > 6000:
        f = f[:: len(f) // 6000 + 1]
    kp = np.asarray(keypoints, float)
    kp = kp[np.isfinite(kp).all(-1)]
    fig = plt.figure(figsize=(10, 6))
    centre = vertices.mean(0)
    r = 0.6 * float(np.ptp(vertices, axis=0).max())
    for i, azim in enumerate((-90, 0)):
        ax = fig.add_subplot(1, 2, i + 1, projection="3d")
        ax.plot_trisurf(vertices[:, 0], vertices[:, 1], vertices[:, 2], triangles=f, color="lightsteelblue",
                        alpha=0.35, linewidth=0)
        if len(kp):
            ax.scatter(kp[:, 0], kp[:, 1], kp[:, 2], c="red", s=12, depthshade=False)
        ax.view_init(elev=10, azim=azim)
        for setl, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre):
            setl(c - r, c + r)
        ax.set_title(("front" if i == 0 else "side") + (f" - {title}" if title else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
