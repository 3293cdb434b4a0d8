"""A check image: the fitted mesh over the 3D keypoints, from the front and the side (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _facing_azimuth(vertices: np.ndarray, lateral: np.ndarray | None) -> float:
    """Azimuth (degrees, matplotlib convention) of a camera in front of the body."""
    if lateral is None or not np.isfinite(lateral).all() or np.linalg.norm(lateral[:2]) < 1e-6:
        xy = vertices[:, :2] - vertices[:, :2].mean(0)
        _, _, vt = np.linalg.svd(xy, full_matrices=False)
        lateral = np.r_[vt[0], 0.0]  # widest horizontal direction ~ shoulder line
    # camera looks along -forward; forward is perpendicular to the lateral axis in the ground plane
    fwd = np.array([-lateral[1], lateral[0]])
    return float(np.degrees(np.arctan2(fwd[1], fwd[0])))


def render_check(path: str | Path, vertices: np.ndarray, faces: np.ndarray, keypoints: np.ndarray,
                 title: str = "", lateral: np.ndarray | None = None, predicted: np.ndarray | None = None) -> Path:
    """Save a PNG with two views (front, side) of the mesh and the keypoints (world metres, Z up).

    Args:
        path: output ``.png``.
        vertices: ``(V, 3)`` mesh vertices; faces ``(F, 3)``.
        keypoints: ``(K, 3)`` observed keypoints (NaN rows skipped), drawn red.
        title: text added to each view's title.
        lateral: ``(3,)`` the body's left-right axis (e.g. right hip -> left hip) to place the front camera;
            default: the mesh's widest horizontal direction.
        predicted: ``(K', 3)`` the model's keypoints, drawn blue (optional).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    f = np.asarray(faces)
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
    if len(f) > 8000:
        f = f[:: len(f) // 8000 + 1]
    kp = np.asarray(keypoints, float)
    kp = kp[np.isfinite(kp).all(-1)]
    az = _facing_azimuth(vertices, lateral)
    fig = plt.figure(figsize=(11, 7))
    centre = (vertices.max(0) + vertices.min(0)) / 2
    r = 0.55 * float(np.ptp(vertices, axis=0).max())
    for i, (name, azim) in enumerate((("front", az), ("side", az + 90))):
        ax = fig.add_subplot(1, 2, i + 1, projection="3d")
        ax.plot_trisurf(vertices[:, 0], vertices[:, 1], vertices[:, 2], triangles=f, color="lightsteelblue",
                        alpha=0.45, linewidth=0, shade=True)
        if len(kp):
            ax.scatter(kp[:, 0], kp[:, 1], kp[:, 2], c="red", s=18, depthshade=False, label="keypoints")
        if predicted is not None:
            pr = np.asarray(predicted, float)
            pr = pr[np.isfinite(pr).all(-1)]
            ax.scatter(pr[:, 0], pr[:, 1], pr[:, 2], c="blue", s=10, depthshade=False, label="model")
        ax.view_init(elev=8, azim=azim)
        for setl, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre):
            setl(c - r, c + r)
        ax.set_box_aspect((1, 1, 1))
        ax.set_title(name + (f" - {title}" if title else ""))
        if i == 0:
            ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def render_fit_check(path: str | Path, model, motion, kp3d, person: int = 0, frame: int | None = None) -> int:  # noqa: ANN001
    """Render the check image of a fit: the mesh of one frame over that frame's 3D keypoints.

    Args:
        path: output ``.png``.
        model: the fitted :class:`~mocap.body.model.BodyModel`; motion: its :class:`~mocap.body.motion.BodyMotion`.
        kp3d: the :class:`~mocap.keypoints.Keypoints3D` that was fitted.
        person: person index in ``kp3d``.
        frame: frame to draw (default: the frame with the median keypoint residual, a typical one).

    Returns:
        The frame drawn.
    """
    from mocap.body.fit import motion_vertices
    from mocap.errors import DataError
    from mocap.keypoints._common import joint_names

    res = motion.quality["residual_m"]
    per_frame = np.nanmean(np.where(np.isfinite(res), res, np.nan), axis=1)
    if frame is not None:
        if not 0 <= frame < motion.n_frames:
            raise DataError(f"frame {frame} is outside 0..{motion.n_frames - 1}")
        t = int(frame)
    else:
        ok = np.flatnonzero(np.isfinite(per_frame))
        t = int(ok[np.argsort(per_frame[ok])[len(ok) // 2]]) if len(ok) else motion.n_frames // 2
    pts = kp3d.data[t, person, :, :3]
    names = joint_names(kp3d.joint_set, kp3d.data.shape[2], getattr(kp3d, "meta", None))
    lateral = None
    if "left_hip" in names and "right_hip" in names:
        lateral = pts[names.index("left_hip")] - pts[names.index("right_hip")]
    verts = motion_vertices(model, motion, np.array([t]))[0]
    used = len(motion.meta.get("keypoint_names", []))
    render_check(path, verts, model.faces, pts, lateral=lateral,
                 title=f"{model.name} frame {t} ({1000 * per_frame[t]:.0f} mm, {used} keypoints)")
    return t
