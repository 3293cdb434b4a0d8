"""A reconstruction report: 3D skeleton snapshots, reprojection error per camera, bone-length stability,
and an overlay image per camera (2D detections vs the reprojected 3D result).

Everything is drawn with matplotlib (Agg) and OpenCV so it runs headless.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mocap.cameras import CameraRig
from mocap.keypoints import Keypoints2D, Keypoints3D

log = logging.getLogger(__name__)


@dataclass
class ReconstructionStats:
    """Summary numbers of a reconstruction.

    Attributes:
        reproj_error_px: camera name -> mean reprojection error (pixels) of the 3D points in that camera, over
            the views the triangulation kept (all confident detections when that is unknown).
        reproj_error_all_px: camera name -> the same over every confident detection, rejected views included.
        views_rejected: camera name -> fraction of confident detections the triangulation rejected.
        detected_fraction: camera name -> fraction of frames where the person was detected.
        reconstructed_fraction: fraction of (frame, joint) entries with a finite 3D point.
        bone_length_cv: bone name -> coefficient of variation of its length over frames.
    """

    reproj_error_px: dict[str, float] = field(default_factory=dict)
    reproj_error_all_px: dict[str, float] = field(default_factory=dict)
    views_rejected: dict[str, float] = field(default_factory=dict)
    detected_fraction: dict[str, float] = field(default_factory=dict)
    reconstructed_fraction: float = 0.0
    bone_length_cv: dict[str, float] = field(default_factory=dict)


def _bones(joint_set: str) -> list[tuple[int, int]]:
    try:
        from mocap.skeletons import get_joint_set

        return get_joint_set(joint_set).bones
    except Exception:  # an unknown set still gets a report, just without bones
        return []


def _joint_names(joint_set: str, n: int) -> list[str]:
    try:
        from mocap.skeletons import get_joint_set

        return list(get_joint_set(joint_set).joints)
    except Exception:
        return [f"j{i}" for i in range(n)]


def reprojection_errors(rig: CameraRig, kp2d: Keypoints2D, kp3d: Keypoints3D, min_conf: float = 0.3,
                        used: np.ndarray | None = None) -> np.ndarray:
    """Per-observation reprojection errors.

    Args:
        rig: the cameras, in ``kp2d.camera_names`` order.
        kp2d: ``(T, C, P, J, 3)`` detections; kp3d: ``(T, P, J, 4)`` reconstruction (same P order).
        min_conf: observations below this confidence are ignored (NaN).
        used: optional ``(C, T, P, J)`` mask of the views the triangulation kept; others are NaN.

    Returns:
        ``(C, T, P, J)`` pixel distances between each detection and the projection of its 3D point; NaN where
        either is missing.
    """
    rig = rig.subset(kp2d.camera_names)
    P = min(kp2d.n_people, kp3d.n_people)
    uv_proj = rig.project(kp3d.xyz[:, :P])  # (C, T, P, J, 2)
    det = np.moveaxis(kp2d.data[:, :, :P], 1, 0)  # (C, T, P, J, 3)
    err = np.linalg.norm(uv_proj - det[..., :2], axis=-1)
    err[~(det[..., 2] >= min_conf)] = np.nan
    if used is not None:
        err[~np.asarray(used, bool)[:, :, :P]] = np.nan
    return err


def _nanmean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def compute_stats(rig: CameraRig, kp2d: Keypoints2D, kp3d: Keypoints3D,
                  used: np.ndarray | None = None) -> ReconstructionStats:
    """Summary statistics of a reconstruction (see :class:`ReconstructionStats`).

    Args:
        used: optional ``(C, T, P, J)`` mask of views kept by the triangulation (``kp3d.meta["used"]``).
    """
    err_all = reprojection_errors(rig, kp2d, kp3d)
    err = reprojection_errors(rig, kp2d, kp3d, used=used) if used is not None else err_all
    stats = ReconstructionStats()
    for c, name in enumerate(kp2d.camera_names):
        stats.reproj_error_px[name] = _nanmean(err[c])
        stats.reproj_error_all_px[name] = _nanmean(err_all[c])
        n_all = np.isfinite(err_all[c]).sum()
        stats.views_rejected[name] = float(1 - np.isfinite(err[c]).sum() / n_all) if n_all else 0.0
        det = np.isfinite(kp2d.data[:, c, :, :, 0]).any(axis=(1, 2))
        stats.detected_fraction[name] = float(det.mean()) if det.size else 0.0
    stats.reconstructed_fraction = float(np.isfinite(kp3d.xyz[..., 0]).mean()) if kp3d.data.size else 0.0
    names = _joint_names(kp3d.joint_set, kp3d.n_joints)
    for a, b in _bones(kp3d.joint_set):
        length = np.linalg.norm(kp3d.xyz[:, 0, a] - kp3d.xyz[:, 0, b], axis=-1)
        length = length[np.isfinite(length)]
        if length.size > 2 and np.mean(length) > 0:
            stats.bone_length_cv[f"{names[a]}-{names[b]}"] = float(np.std(length) / np.mean(length))
    return stats


def _axes_equal(ax, pts: np.ndarray) -> None:
    pts = pts[np.isfinite(pts).all(axis=-1)]
    if not len(pts):
        return
    c = (pts.max(0) + pts.min(0)) / 2
    r = max(float((pts.max(0) - pts.min(0)).max()) / 2, 0.5)
    ax.set_xlim(c[0] - r, c[0] + r)
    ax.set_ylim(c[1] - r, c[1] + r)
    ax.set_zlim(max(c[2] - r, min(0.0, c[2] - r)), c[2] + r)


def plot_skeleton_snapshots(kp3d: Keypoints3D, path: Path, rig: CameraRig | None = None, n: int = 4) -> Path:
    """Save ``n`` 3D skeleton snapshots spread over the sequence (and the cameras, if given) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bones = _bones(kp3d.joint_set)
    valid = np.flatnonzero(np.isfinite(kp3d.xyz[..., 0]).any(axis=(1, 2)))
    frames = valid[np.linspace(0, len(valid) - 1, min(n, len(valid))).astype(int)] if len(valid) else []
    fig = plt.figure(figsize=(4 * max(len(frames), 1), 4.4))
    for k, t in enumerate(frames):
        ax = fig.add_subplot(1, len(frames), k + 1, projection="3d")
        pts_all = [kp3d.xyz[t].reshape(-1, 3)]
        for p in range(kp3d.n_people):
            X = kp3d.xyz[t, p]
            col = plt.cm.tab10(p % 10)
            ax.scatter(X[:, 0], X[:, 1], X[:, 2], s=6, color=col)
            for a, b in bones:
                if np.isfinite(X[[a, b]]).all():
                    ax.plot(*X[[a, b]].T, color=col, lw=1.5)
        if rig is not None:
            C = rig.centers
            ax.scatter(C[:, 0], C[:, 1], C[:, 2], marker="^", color="k", s=20)
            for name, c in zip(rig.names, C):
                ax.text(c[0], c[1], c[2], name, fontsize=6)
            pts_all.append(C)
        _axes_equal(ax, np.concatenate(pts_all))
        ax.set_title(f"frame {t} (t = {kp3d.timestamps[t]:.2f} s)", fontsize=9)
        ax.set_xlabel("x [m]", fontsize=7)
        ax.set_ylabel("y [m]", fontsize=7)
        ax.set_zlabel("z [m]", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_errors_and_bones(stats: ReconstructionStats, err: np.ndarray, camera_names: list[str], path: Path) -> Path:
    """Save a figure with the reprojection error per camera (box plot) and the bone-length variation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    data = [e[np.isfinite(e)] for e in err.reshape(len(camera_names), -1)]
    axes[0].boxplot([d if d.size else [np.nan] for d in data], showfliers=False)
    axes[0].set_xticks(range(1, len(camera_names) + 1), camera_names)
    for i, name in enumerate(camera_names):
        axes[0].text(i + 1, 0, f"mean {stats.reproj_error_px[name]:.2f}", ha="center", va="bottom", fontsize=8)
    axes[0].set_ylabel("reprojection error [px]")
    axes[0].set_title("Reprojection error per camera")
    if stats.bone_length_cv:
        names = list(stats.bone_length_cv)
        axes[1].barh(range(len(names)), [100 * stats.bone_length_cv[n] for n in names])
        axes[1].set_yticks(range(len(names)), names, fontsize=6)
        axes[1].set_xlabel("bone length variation over frames (std / mean) [%]")
    axes[1].set_title("Bone-length stability (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def draw_overlay(image: np.ndarray, det: np.ndarray, proj: np.ndarray, bones: list[tuple[int, int]],
                 label: str = "") -> np.ndarray:
    """Draw detections (green) and reprojected 3D joints (magenta) on a BGR image.

    Args:
        image: ``(H, W, 3)`` BGR uint8.
        det: ``(P, J, 3)`` detections ``(u, v, conf)``; proj: ``(P, J, 2)`` reprojected 3D points, pixels.
        bones: ``(parent, child)`` index pairs.
        label: text drawn in the corner.
    """
    img = image.copy()
    scale = max(1, int(round(max(img.shape[:2]) / 800)))

    def pt(p):
        return int(round(p[0])), int(round(p[1]))

    for people, color in ((det[..., :2], (60, 220, 60)), (proj, (220, 60, 220))):
        for X in people:
            for a, b in bones:
                if np.isfinite(X[[a, b]]).all():
                    cv2.line(img, pt(X[a]), pt(X[b]), color, 2 * scale, cv2.LINE_AA)
            for p in X:
                if np.isfinite(p).all():
                    cv2.circle(img, pt(p), 3 * scale, color, -1, cv2.LINE_AA)
    if label:
        font = img.shape[1] / 1400.0  # text fits the image width
        for k, text in enumerate((label, "green: 2D detection   magenta: reprojected 3D")):
            org = (10, int((40 + 45 * k) * font))
            cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), max(1, int(5 * font)), cv2.LINE_AA)
            cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, font, (255, 255, 255), max(1, int(2 * font)),
                        cv2.LINE_AA)
    return img


def read_video_frame(path: Path, index: int) -> np.ndarray | None:
    """Read frame ``index`` (BGR) of a video, or None if it cannot be read."""
    cap = cv2.VideoCapture(str(path))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        return frame if ok else None
    finally:
        cap.release()


def write_report(out_dir: Path, rig: CameraRig, kp2d: Keypoints2D, kp3d: Keypoints3D,
                 videos: dict[str, Path] | None = None, title: str = "mocap reconstruction report",
                 used: np.ndarray | None = None, sync: dict | None = None,
                 extra_images: list[Path] | None = None) -> Path:
    """Write ``report.html`` with its PNG figures and one overlay image per camera into ``out_dir``.

    Args:
        out_dir: output folder (created).
        rig: calibration; kp2d: the 2D detections; kp3d: the 3D result.
        videos: camera name -> video file, for the overlay images (overlays are skipped without it).
        title: page title.
        used: optional ``(C, T, P, J)`` mask of views kept by the triangulation.
        sync: optional camera -> (estimated offset, confidence, applied offset) in frames.
        extra_images: further PNGs in ``out_dir`` to show (e.g. the body-fit check image).

    Returns:
        Path of ``report.html``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rig = rig.subset(kp2d.camera_names)
    stats = compute_stats(rig, kp2d, kp3d, used)
    err = reprojection_errors(rig, kp2d, kp3d, used=used)
    figs = [plot_skeleton_snapshots(kp3d, out_dir / "skeleton_snapshots.png", rig),
            plot_errors_and_bones(stats, err, kp2d.camera_names, out_dir / "errors_and_bones.png")]
    overlays = []
    if videos:
        bones = _bones(kp2d.joint_set)
        valid = np.flatnonzero(np.isfinite(kp3d.xyz[..., 0]).any(axis=(1, 2)))
        t = int(valid[len(valid) // 2]) if len(valid) else 0
        proj = rig.project(kp3d.xyz[t])  # (C, P, J, 2)
        for c, name in enumerate(kp2d.camera_names):
            if name not in videos:
                continue
            frame = read_video_frame(Path(videos[name]), t)
            if frame is None:
                log.warning("could not read frame %d of %s for the overlay", t, videos[name])
                continue
            img = draw_overlay(frame, kp2d.data[t, c], proj[c], bones,
                               f"{name} frame {t}: mean reproj. error {stats.reproj_error_px[name]:.1f} px")
            p = out_dir / f"overlay_{name}.png"
            cv2.imwrite(str(p), img)
            overlays.append(p)
    sync = sync or {}
    rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{stats.detected_fraction[n] * 100:.1f}%</td>"
        f"<td>{stats.reproj_error_px[n]:.2f}</td><td>{stats.reproj_error_all_px[n]:.2f}</td>"
        f"<td>{stats.views_rejected[n] * 100:.1f}%</td>"
        + (f"<td>{sync[n][0]:+.2f} ({sync[n][1]:.2f}){' applied' if sync[n][2] else ''}</td>" if n in sync else
           "<td>-</td>")
        + "</tr>" for n in kp2d.camera_names
    )
    imgs = "".join(f'<p><img src="{p.name}" style="max-width:100%"></p>' for p in [*figs, *(extra_images or [])])
    ov = "".join(f'<img src="{p.name}" style="height:420px;margin:4px">' for p in overlays)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:4px 12px;text-align:right}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{kp3d.n_frames} frames at {kp3d.fps:g} fps, {kp3d.n_people} person(s), {kp3d.n_joints} joints
({html.escape(kp3d.joint_set)}); {stats.reconstructed_fraction * 100:.1f}% of joint positions reconstructed.
Units: metres, world Z up.</p>
<table><tr><th>camera</th><th>person detected</th><th>reprojection error, kept views [px]</th>
<th>reprojection error, all detections [px]</th><th>views rejected</th>
<th>sync offset [frames] (confidence)</th></tr>{rows}</table>
{imgs}<h2>Overlays</h2><div>{ov or "(no videos given)"}</div></body></html>"""
    path = out_dir / "report.html"
    path.write_text(page)
    return path
