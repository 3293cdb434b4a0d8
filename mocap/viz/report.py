"""A reconstruction report: 3D skeleton snapshots, reprojection error per camera, bone-length stability,
one row per tracked person (its colour and id, completeness, bone-length stability, the cameras that saw it), a
line per camera that saw nobody or people no other camera confirmed, and an overlay image per camera (every 2D
detection and every person's reprojected 3D skeleton in the person's colour, labelled with its id).

Everything is drawn with matplotlib (Agg) and OpenCV so it runs headless.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
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
        reconstructed_fraction: fraction of (frame, person, joint) entries with a finite 3D point.
        bone_length_cv: bone name -> coefficient of variation of its length over frames (first person).
        people: one :class:`PersonStats` per tracked person.
        max_people: camera name -> most 2D people detected in one frame.
        camera_notes: camera name -> a sentence for a camera that saw nobody, or saw people no other camera
            confirmed (see :func:`camera_notes`).
    """

    reproj_error_px: dict[str, float] = field(default_factory=dict)
    reproj_error_all_px: dict[str, float] = field(default_factory=dict)
    views_rejected: dict[str, float] = field(default_factory=dict)
    detected_fraction: dict[str, float] = field(default_factory=dict)
    reconstructed_fraction: float = 0.0
    bone_length_cv: dict[str, float] = field(default_factory=dict)
    people: list[PersonStats] = field(default_factory=list)
    max_people: dict[str, int] = field(default_factory=dict)
    camera_notes: dict[str, str] = field(default_factory=dict)


#: The 12 limb joints of the completeness figure and the 8 limb bones of the bone-length figure.
LIMB_JOINTS = tuple(f"{s}_{j}" for s in ("left", "right") for j in ("shoulder", "elbow", "wrist", "hip", "knee",
                                                                     "ankle"))
LIMB_BONES = tuple((f"{s}_{a}", f"{s}_{b}") for s in ("left", "right")
                   for a, b in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle")))


@dataclass
class PersonStats:
    """Numbers of one tracked person.

    Attributes:
        person_id: stable track id (``kp3d.person_ids``).
        present_fraction: fraction of frames with at least one 3D joint.
        limb_complete_fraction: fraction of ALL frames with at least ``min_limb_joints`` of the 12 limb joints
            (shoulders, elbows, wrists, hips, knees, ankles) reconstructed (NaN when the joint set lacks them).
        joint_fraction: fraction of (frame, joint) entries reconstructed, over the frames the person is present.
        limb_bone_cv: limb bone name -> coefficient of variation of its length (upper arms, forearms, thighs,
            shanks); ``limb_cv_max`` the largest.
        reproj_error_px: mean reprojection error over the views used, pixels.
        cameras: camera name -> fraction of the person's frames where that camera's view was used.
    """

    person_id: int
    present_fraction: float = 0.0
    limb_complete_fraction: float = float("nan")
    joint_fraction: float = 0.0
    limb_bone_cv: dict[str, float] = field(default_factory=dict)
    limb_cv_max: float = float("nan")
    reproj_error_px: float = float("nan")
    cameras: dict[str, float] = field(default_factory=dict)


def _rgb(p: int) -> tuple[float, float, float]:
    """The colour of person index ``p`` (matplotlib's tab10), RGB in [0, 1]."""
    import matplotlib

    return tuple(float(c) for c in matplotlib.colormaps["tab10"](p % 10)[:3])


def person_color_bgr(p: int) -> tuple[int, int, int]:
    """The colour of person index ``p`` for OpenCV drawing (BGR, 0-255); the same as in the 3D plots."""
    r, g, b = _rgb(p)
    return int(b * 255), int(g * 255), int(r * 255)


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


def _limb_indices(joint_set: str, n: int) -> tuple[list[int], list[tuple[int, int, str]]]:
    names = _joint_names(joint_set, n)
    idx = {j: i for i, j in enumerate(names)}
    joints = [idx[j] for j in LIMB_JOINTS if j in idx]
    bones = [(idx[a], idx[b], f"{a}-{b}") for a, b in LIMB_BONES if a in idx and b in idx]
    return joints, bones


def person_stats(kp3d: Keypoints3D, p: int, camera_names: list[str], used: np.ndarray | None = None,
                 view_error: np.ndarray | None = None, min_limb_joints: int = 10) -> PersonStats:
    """:class:`PersonStats` of person index ``p`` of ``kp3d`` (``used``/``view_error`` ``(C, T, P, J)``)."""
    X = kp3d.xyz[:, p]  # (T, J, 3)
    ok = np.isfinite(X[..., 0])
    present = ok.any(-1)
    st = PersonStats(int(kp3d.person_ids[p]), float(present.mean()) if present.size else 0.0)
    st.joint_fraction = float(ok[present].mean()) if present.any() else 0.0
    joints, bones = _limb_indices(kp3d.joint_set, kp3d.n_joints)
    if len(joints) == len(LIMB_JOINTS):
        st.limb_complete_fraction = float((ok[:, joints].sum(-1) >= min_limb_joints).mean())
    for a, b, name in bones:
        length = np.linalg.norm(X[:, a] - X[:, b], axis=-1)
        length = length[np.isfinite(length)]
        if length.size > 2 and np.mean(length) > 0:
            st.limb_bone_cv[name] = float(np.std(length) / np.mean(length))
    if st.limb_bone_cv:
        st.limb_cv_max = max(st.limb_bone_cv.values())
    if view_error is not None and used is not None:
        u = np.asarray(used, bool)[:, :, p]
        e = np.asarray(view_error)[:, :, p]
        st.reproj_error_px = _nanmean(np.where(u, e, np.nan))
        n_present = max(int(present.sum()), 1)
        for c, name in enumerate(camera_names):
            st.cameras[name] = float(u[c].any(-1).sum() / n_present)
    return st


def camera_notes(kp2d: Keypoints2D, kp3d: Keypoints3D, view_error: np.ndarray | None = None,
                 association: dict | None = None) -> dict[str, str]:
    """A sentence per camera that saw nobody, or saw 2D people that no reconstructed person uses.

    Args:
        kp2d: the 2D detections ``(T, C, P, J, 3)``; kp3d: the 3D people ``(T, P3, J, 4)``.
        view_error: ``(C, T, P3, J)`` reprojection error of every detected view of the 3D people (finite where the
            camera's detection belongs to that person), as :func:`~mocap.reconstruct.sequence.triangulate_keypoints`
            returns it; without it only cameras that saw nobody are noted.
        association: multi-person counts (``reconstruct_multiperson``'s ``meta["association"]``).

    Returns:
        camera name -> note (cameras without anything to say are left out).
    """
    present2d = np.isfinite(kp2d.data[..., :2]).all(-1).any(-1)  # (T, C, P)
    n2d = present2d.sum(-1)  # (T, C)
    notes: dict[str, str] = {}
    T = kp2d.n_frames
    for c, name in enumerate(kp2d.camera_names):
        seen = n2d[:, c] > 0
        if not seen.any():
            notes[name] = "nobody detected in any frame: this camera adds nothing to the 3D result"
            continue
        parts = []
        if seen.mean() < 0.5:
            parts.append(f"people detected in only {int(seen.sum())} of {T} frames")
        if view_error is not None and kp3d.n_people and view_error.shape[2] == kp3d.n_people:
            observed = np.isfinite(view_error[c]).any(-1).sum(-1)  # (T,) 3D people this camera's 2D contributed to
            extra = np.clip(n2d[:, c] - observed, 0, None)
            if extra.sum():
                parts.append(f"{int(extra.sum())} 2D detection(s) in {int((extra > 0).sum())} frame(s) match no "
                             "reconstructed person (seen by this camera only, or too few joints): not triangulated")
        elif kp3d.n_people == 0 and association is not None:
            parts.append(f"people detected in {int(seen.sum())} frame(s), but no other camera confirmed them")
        if parts:
            notes[name] = "; ".join(parts)
    return notes


def compute_stats(rig: CameraRig, kp2d: Keypoints2D, kp3d: Keypoints3D, used: np.ndarray | None = None,
                  view_error: np.ndarray | None = None, association: dict | None = None) -> ReconstructionStats:
    """Summary statistics of a reconstruction (see :class:`ReconstructionStats`).

    Args:
        used: optional ``(C, T, P, J)`` mask of views kept by the triangulation (``kp3d.meta["used"]``).
        view_error: optional ``(C, T, P, J)`` reprojection error of every detected view of each 3D person
            (``kp3d.meta["view_error_px"]``). Needed for multi-person results, whose person axis is not the 2D
            detections' (without it, person ``p`` of ``kp3d`` is compared with slot ``p`` of ``kp2d``).
        association: multi-person counts, for :func:`camera_notes`.
    """
    if view_error is not None:
        err_all = np.asarray(view_error, float)
        err = np.where(np.asarray(used, bool), err_all, np.nan) if used is not None else err_all
    else:
        err_all = reprojection_errors(rig, kp2d, kp3d)
        err = reprojection_errors(rig, kp2d, kp3d, used=used) if used is not None else err_all
    stats = ReconstructionStats()
    for c, name in enumerate(kp2d.camera_names):
        stats.reproj_error_px[name] = _nanmean(err[c])
        stats.reproj_error_all_px[name] = _nanmean(err_all[c])
        n_all = np.isfinite(err_all[c]).sum()
        stats.views_rejected[name] = float(1 - np.isfinite(err[c]).sum() / n_all) if n_all else 0.0
        present = np.isfinite(kp2d.data[:, c, :, :, 0]).any(axis=-1)  # (T, P)
        det = present.any(axis=-1)
        stats.detected_fraction[name] = float(det.mean()) if det.size else 0.0
        stats.max_people[name] = int(present.sum(-1).max(initial=0))
    stats.reconstructed_fraction = float(np.isfinite(kp3d.xyz[..., 0]).mean()) if kp3d.data.size else 0.0
    names = _joint_names(kp3d.joint_set, kp3d.n_joints)
    if kp3d.n_people:
        for a, b in _bones(kp3d.joint_set):
            length = np.linalg.norm(kp3d.xyz[:, 0, a] - kp3d.xyz[:, 0, b], axis=-1)
            length = length[np.isfinite(length)]
            if length.size > 2 and np.mean(length) > 0:
                stats.bone_length_cv[f"{names[a]}-{names[b]}"] = float(np.std(length) / np.mean(length))
    ve = view_error if view_error is not None else (err_all if err_all.shape[2] == kp3d.n_people else None)
    u = used if used is not None else (np.isfinite(ve) if ve is not None else None)
    stats.people = [person_stats(kp3d, p, list(kp2d.camera_names), u, ve) for p in range(kp3d.n_people)]
    stats.camera_notes = camera_notes(kp2d, kp3d, view_error, association)
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
    valid = np.flatnonzero(np.isfinite(kp3d.xyz[..., 0]).any(axis=(1, 2))) if kp3d.n_people else np.zeros(0, int)
    frames = valid[np.linspace(0, len(valid) - 1, min(n, len(valid))).astype(int)] if len(valid) else []
    fig = plt.figure(figsize=(4 * max(len(frames), 1), 4.4))
    for k, t in enumerate(frames):
        ax = fig.add_subplot(1, len(frames), k + 1, projection="3d")
        pts_all = [kp3d.xyz[t].reshape(-1, 3)]
        for p in range(kp3d.n_people):
            X = kp3d.xyz[t, p]
            if not np.isfinite(X).any():
                continue
            col = _rgb(p)
            ax.scatter(X[:, 0], X[:, 1], X[:, 2], s=6, color=col, label=f"id {int(kp3d.person_ids[p])}")
            for a, b in bones:
                if np.isfinite(X[[a, b]]).all():
                    ax.plot(*X[[a, b]].T, color=col, lw=1.5)
            top = X[np.nanargmax(np.where(np.isfinite(X[:, 2]), X[:, 2], -np.inf))]
            ax.text(top[0], top[1], top[2] + 0.1, str(int(kp3d.person_ids[p])), color=col, fontsize=8)
        if kp3d.n_people > 1:
            ax.legend(fontsize=6, loc="upper left")
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
                 label: str = "", person_ids: Sequence[int] | None = None) -> np.ndarray:
    """Draw every 2D detection (thin, light green) and every person's reprojected 3D skeleton (thick, in the
    person's colour, labelled with its id) on a BGR image.

    Args:
        image: ``(H, W, 3)`` BGR uint8.
        det: ``(P2, J, 3)`` detections ``(u, v, conf)``; proj: ``(P3, J, 2)`` reprojected 3D points, pixels.
        bones: ``(parent, child)`` index pairs.
        label: text drawn in the corner.
        person_ids: ids of the ``P3`` reprojected people (default ``0..P3-1``).
    """
    img = image.copy()
    scale = max(1, int(round(max(img.shape[:2]) / 800)))
    ids = list(range(len(proj))) if person_ids is None else [int(i) for i in person_ids]
    font = img.shape[1] / 1400.0  # text fits the image width

    def pt(p):
        return int(round(p[0])), int(round(p[1]))

    def text(s: str, org: tuple[int, int], color: tuple[int, int, int], size: float) -> None:
        cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), max(1, int(5 * size)), cv2.LINE_AA)
        cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, size, color, max(1, int(2 * size)), cv2.LINE_AA)

    green = (120, 230, 120)
    for X in det[..., :2]:
        for a, b in bones:
            if np.isfinite(X[[a, b]]).all():
                cv2.line(img, pt(X[a]), pt(X[b]), green, scale, cv2.LINE_AA)
        for p in X:
            if np.isfinite(p).all():
                cv2.circle(img, pt(p), 2 * scale, green, -1, cv2.LINE_AA)
    h, w = img.shape[:2]
    for k, X in enumerate(proj):
        color = person_color_bgr(k)
        inside = np.isfinite(X).all(-1) & (X[:, 0] > -w) & (X[:, 0] < 2 * w) & (X[:, 1] > -h) & (X[:, 1] < 2 * h)
        for a, b in bones:
            if inside[a] and inside[b]:
                cv2.line(img, pt(X[a]), pt(X[b]), color, 3 * scale, cv2.LINE_AA)
        for p in X[inside]:
            cv2.circle(img, pt(p), 4 * scale, color, -1, cv2.LINE_AA)
        if inside.any():
            top = X[inside][np.argmin(X[inside][:, 1])]
            text(f"id {ids[k]}", (int(top[0]) - int(30 * font), max(int(top[1]) - int(25 * font), 20)), color,
                 1.2 * font)
    if label:
        for k, s in enumerate((label, "thin green: 2D detections   thick, coloured: each person's 3D reprojected")):
            text(s, (10, int((40 + 45 * k) * font)), (255, 255, 255), font)
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


def _overlay_frame(kp3d: Keypoints3D) -> int:
    """The frame with the most people reconstructed (ties: the one nearest the middle of the clip)."""
    if not kp3d.n_people:
        return 0
    n = np.isfinite(kp3d.xyz[..., 0]).sum(-1)  # (T, P)
    count = (n >= max(3, kp3d.n_joints // 3)).sum(-1)
    if not count.any():
        count = (n > 0).sum(-1)
    best = np.flatnonzero(count == count.max())
    return int(best[np.argmin(np.abs(best - kp3d.n_frames // 2))])


def _people_table(stats: ReconstructionStats, camera_names: list[str]) -> str:
    if not stats.people:
        return ""
    rows = []
    for k, st in enumerate(stats.people):
        r, g, b = (int(255 * v) for v in _rgb(k))
        cams = ", ".join(f"{n} {100 * f:.0f}%" for n, f in st.cameras.items()) or "-"
        lcf = "-" if not np.isfinite(st.limb_complete_fraction) else f"{100 * st.limb_complete_fraction:.1f}%"
        cv = "-" if not np.isfinite(st.limb_cv_max) else (
            f"{100 * np.mean(list(st.limb_bone_cv.values())):.1f}% (max {100 * st.limb_cv_max:.1f}%)")
        err = "-" if not np.isfinite(st.reproj_error_px) else f"{st.reproj_error_px:.2f}"
        rows.append(f'<tr><td><span style="background:rgb({r},{g},{b});padding:0 10px">&nbsp;</span> '
                    f"{st.person_id}</td><td>{100 * st.present_fraction:.1f}%</td>"
                    f"<td>{100 * st.joint_fraction:.1f}%</td><td>{lcf}</td><td>{cv}</td><td>{err}</td>"
                    f"<td>{html.escape(cams)}</td></tr>")
    return ("<h2>People</h2><table><tr><th>id</th><th>frames present</th><th>joints reconstructed (frames "
            "present)</th><th>frames with >= 10 of 12 limb joints</th><th>limb bone-length variation (mean, max)"
            "</th><th>reprojection error, kept views [px]</th><th>views used per camera</th></tr>"
            + "".join(rows) + "</table>")


def write_report(out_dir: Path, rig: CameraRig, kp2d: Keypoints2D, kp3d: Keypoints3D,
                 videos: dict[str, Path] | None = None, title: str = "mocap reconstruction report",
                 used: np.ndarray | None = None, sync: dict | None = None,
                 extra_images: list[Path] | None = None, view_error: np.ndarray | None = None,
                 association: dict | None = None) -> Path:
    """Write ``report.html`` with its PNG figures and one overlay image per camera into ``out_dir``.

    Args:
        out_dir: output folder (created).
        rig: calibration; kp2d: the 2D detections; kp3d: the 3D result (any number of people, even none).
        videos: camera name -> video file, for the overlay images (overlays are skipped without it).
        title: page title.
        used: optional ``(C, T, P, J)`` mask of views kept by the triangulation.
        sync: optional camera -> ``(estimated offset, confidence, applied offset[, note])`` in frames
            (:class:`~mocap.sources.offset.SyncDecision`).
        extra_images: further PNGs in ``out_dir`` to show (e.g. the body-fit check images).
        view_error: optional ``(C, T, P, J)`` reprojection error of every detected view of the 3D people (needed
            for multi-person results, see :func:`compute_stats`).
        association: multi-person counts (``reconstruct_multiperson``'s ``meta["association"]``).

    Returns:
        Path of ``report.html``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rig = rig.subset(kp2d.camera_names)
    stats = compute_stats(rig, kp2d, kp3d, used, view_error, association)
    if view_error is not None:
        err = np.where(np.asarray(used, bool), view_error, np.nan) if used is not None else np.asarray(view_error)
    else:
        err = reprojection_errors(rig, kp2d, kp3d, used=used)
    figs = [plot_skeleton_snapshots(kp3d, out_dir / "skeleton_snapshots.png", rig),
            plot_errors_and_bones(stats, err, kp2d.camera_names, out_dir / "errors_and_bones.png")]
    overlays = []
    if videos:
        bones = _bones(kp2d.joint_set)
        t = _overlay_frame(kp3d)
        proj = rig.project(kp3d.xyz[t]) if kp3d.n_people else np.zeros((len(rig), 0, kp2d.n_joints, 2))
        for c, name in enumerate(kp2d.camera_names):
            if name not in videos:
                continue
            # a camera found late by d frames shows the moment of reference frame t in its own frame t + d
            shift = int(round(float((sync or {}).get(name, (0.0, 0.0, 0.0))[2])))
            frame = read_video_frame(Path(videos[name]), t + shift)
            if frame is None:
                log.warning("could not read frame %d of %s for the overlay", t + shift, videos[name])
                continue
            n2d = int(np.isfinite(kp2d.data[t, c, :, :, 0]).any(-1).sum())
            img = draw_overlay(frame, kp2d.data[t, c], proj[c], bones,
                               f"{name} frame {t + shift}: {n2d} detected, {kp3d.n_people} tracked; mean reproj. error "
                               f"{stats.reproj_error_px[name]:.1f} px", kp3d.person_ids)
            p = out_dir / f"overlay_{name}.png"
            cv2.imwrite(str(p), img)
            overlays.append(p)
    sync = sync or {}

    def sync_cell(n: str) -> str:
        if n not in sync:
            return "<td>-</td>"
        s = sync[n]
        note = s[3] if len(s) > 3 else ""
        what = " applied" if s[2] else (f" not applied: {html.escape(note)}" if note else "")
        found = "no estimate" if not np.isfinite(s[0]) else f"{s[0]:+.2f} ({s[1]:.2f})"
        return f"<td>{found}{what}</td>"

    rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{stats.detected_fraction[n] * 100:.1f}%</td>"
        f"<td>{stats.max_people[n]}</td>"
        f"<td>{stats.reproj_error_px[n]:.2f}</td><td>{stats.reproj_error_all_px[n]:.2f}</td>"
        f"<td>{stats.views_rejected[n] * 100:.1f}%</td>" + sync_cell(n) + "</tr>" for n in kp2d.camera_names
    )
    notes = "".join(f"<li><b>{html.escape(n)}</b>: {html.escape(t)}</li>" for n, t in stats.camera_notes.items())
    notes = f"<h2>Cameras to check</h2><ul>{notes}</ul>" if notes else ""
    ids = ", ".join(str(int(i)) for i in kp3d.person_ids)
    who = (f"{kp3d.n_people} person(s) tracked (ids {ids})" if kp3d.n_people else
           "<b>nobody was reconstructed</b> (no person was seen by two cameras that agree; see the cameras below)")
    imgs = "".join(f'<p><img src="{p.name}" style="max-width:100%"></p>' for p in [*figs, *(extra_images or [])])
    ov = "".join(f'<img src="{p.name}" style="height:420px;margin:4px">' for p in overlays)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:4px 12px;text-align:right}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{kp3d.n_frames} frames at {kp3d.fps:g} fps, {who}, {kp3d.n_joints} joints
({html.escape(kp3d.joint_set)}); {stats.reconstructed_fraction * 100:.1f}% of joint positions reconstructed.
Units: metres, world Z up.</p>
<table><tr><th>camera</th><th>someone detected</th><th>most people in a frame</th>
<th>reprojection error, kept views [px]</th><th>reprojection error, all detections [px]</th><th>views rejected</th>
<th>sync offset [frames] (confidence)</th></tr>{rows}</table>
{notes}{_people_table(stats, list(kp2d.camera_names))}
{imgs}<h2>Overlays</h2><div>{ov or "(no videos given)"}</div></body></html>"""
    path = out_dir / "report.html"
    path.write_text(page)
    return path
