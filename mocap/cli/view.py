"""`mocap view FILE`: summarise a calibration or a keypoints file, and optionally save a picture of it.

- Calibration (any format :func:`mocap.cameras.formats.read_calibration` detects): cameras, image sizes, focal
  lengths, principal points, camera centres and pairwise distances; ``--plot`` draws the rig from above.
- Keypoints (``.npz``, ``.csv``, ``.trc`` or a folder of OpenPose JSON folders): shape, joint set, cameras, fps and
  the percentage of missing points per joint; ``--plot`` draws one frame's skeleton (3D, or per camera in 2D)
  and the per-joint trajectories.
- A finished session (the ``--out`` folder of ``mocap run`` / ``mocap demo``): calibration, 2D keypoints, 3D
  keypoints and the fitted body in the Rerun viewer (bound to 127.0.0.1), or saved with ``--rrd OUT.rrd``
  (needs the optional ``rerun-sdk``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mocap.errors import DataError, MocapError


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, parents: list) -> None:
    """Register `mocap view`."""
    p = sub.add_parser(name, help=help, description=__doc__.split("\n\n", 1)[0].strip(), parents=parents,
                       epilog="Keypoint files: .npz, .csv, .trc, or a folder of OpenPose JSON folders. "
                              "Anything else is read as a calibration.")
    p.add_argument("file", metavar="FILE", help="calibration file, keypoints file or OpenPose JSON folder")
    p.add_argument("--plot", metavar="OUT.png", type=Path, help="save a picture (rig from above, or skeleton and "
                   "trajectories) to this file")
    p.add_argument("--frame", type=int, default=None,
                   help="frame index (0-based) to draw; default the frame with the most joints present")
    p.add_argument("--person", type=int, default=None, help="3D: person id to draw (default all)")
    p.add_argument("--joint-set", default="body25",
                   help="joint set of OpenPose JSON folders (default body25; 'auto' infers the joint count)")
    p.add_argument("--fps", type=float, default=None, help="frame rate of OpenPose JSON folders (default 30)")
    p.add_argument("--y-up", action="store_true", help="TRC: the file is Y-up (OpenSim); rotate back to Z-up")
    p.add_argument("--format", dest="fmt", default=None, help="calibration format (default: detected)")
    p.add_argument("--rrd", metavar="OUT.rrd", type=Path, default=None,
                   help="session folder: save a Rerun recording instead of opening the viewer")
    p.add_argument("--calib", type=Path, default=None,
                   help="session folder: calibration file (default: a calib* file in the folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the summary (and save the picture)."""
    from mocap.keypoints.files import is_keypoints_path
    from mocap.keypoints.npz_io import is_keypoints_npz

    path = Path(args.file)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir() and (path / "keypoints3d.npz").exists():
        return _view_session(path, args)
    is_kp = is_keypoints_path(path) and not (path.suffix.lower() == ".npz" and not is_keypoints_npz(path))
    if is_kp and args.fmt is None:
        _view_keypoints(path, args)
    else:
        _view_calibration(path, args)
    return 0


# ------------------------------------------------------------------------------------------ sessions
def _view_session(path: Path, args: argparse.Namespace) -> int:
    """Open (or save, ``--rrd``) a session folder in Rerun."""
    from mocap.apps.viewer import RerunViewer, log_session

    viewer = RerunViewer(save=args.rrd, live=args.rrd is None)
    try:
        counts = log_session(path, viewer, calib=args.calib)
    finally:
        viewer.close()
    print(f"{path}: {counts['frames']} frames, {counts['people']} people, {counts['cameras']} cameras, "
          f"{counts['body_frames']} body frames -> {args.rrd or 'the Rerun viewer (127.0.0.1)'}")
    return 0


# ------------------------------------------------------------------------------------------ keypoints
def _view_keypoints(path: Path, args: argparse.Namespace) -> None:
    from mocap.keypoints.files import load_keypoints
    from mocap.keypoints.summary import describe_keypoints

    kwargs: dict = {}
    if path.is_dir():
        kwargs["joint_set"] = None if args.joint_set in (None, "auto") else args.joint_set
        if args.fps:
            kwargs["fps"] = args.fps
    elif path.suffix.lower() == ".trc":
        kwargs["y_up"] = args.y_up
    kp = load_keypoints(path, **kwargs)
    print(describe_keypoints(kp, source=str(path)))
    if args.plot:
        out = plot_keypoints(kp, args.plot, frame=args.frame, person=args.person)
        print(f"saved {out}")


def _best_frame(valid: np.ndarray) -> int:
    """Index of the frame with the most valid points; ``valid`` is ``(T, ...)`` booleans."""
    counts = valid.reshape(valid.shape[0], -1).sum(axis=1)
    return int(np.argmax(counts)) if counts.size else 0


def _bones(kp) -> list[tuple[int, int]]:
    from mocap.keypoints._common import lookup_joint_set

    js = lookup_joint_set(kp.joint_set)
    return list(js.bones) if js is not None and len(js.joints) == kp.n_joints else []


def plot_keypoints(kp, out: Path, frame: int | None = None, person: int | None = None) -> Path:
    """Save a PNG of keypoints: 3D skeleton of one frame plus per-joint height over time (3D), or one frame
    per camera in pixel coordinates plus per-joint ``u`` over time (2D).

    Args:
        kp: :class:`Keypoints2D` or :class:`Keypoints3D`.
        out: output image path.
        frame: frame index to draw (default: the frame with the most joints present).
        person: 3D: person id to draw (default all).

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mocap.keypoints.containers import Keypoints2D

    if kp.n_frames == 0:
        raise MocapError("the keypoints have no frames to plot")
    if frame is not None and not 0 <= frame < kp.n_frames:
        raise MocapError(f"--frame {frame} is out of range; the keypoints have {kp.n_frames} frames (0-based)")
    bones = _bones(kp)
    if isinstance(kp, Keypoints2D):
        valid = np.isfinite(kp.data[..., :2]).all(-1)  # (T, C, P, J)
        f = _best_frame(valid) if frame is None else frame
        C = max(kp.n_cameras, 1)
        fig, axes = plt.subplots(1, C + 1, figsize=(4 * (C + 1), 4.5), squeeze=False)
        for c in range(kp.n_cameras):
            ax = axes[0, c]
            for p in range(kp.n_people):
                uv = kp.data[f, c, p, :, :2]
                for a, b in bones:
                    ax.plot(uv[[a, b], 0], uv[[a, b], 1], "-", lw=1.5, color=f"C{p % 10}")
                ax.plot(uv[:, 0], uv[:, 1], ".", color=f"C{p % 10}")
            ax.set_title(f"{kp.camera_names[c]}, frame {f}")
            ax.invert_yaxis()
            ax.set_aspect("equal", adjustable="datalim")
            ax.set_xlabel("u (px)")
            ax.set_ylabel("v (px)")
        ax = axes[0, -1]
        for j in range(kp.n_joints):
            ax.plot(kp.timestamps, kp.data[:, 0, 0, j, 0] if kp.n_people else np.full(kp.n_frames, np.nan), lw=0.8)
        ax.set_title(f"u of every joint, {kp.camera_names[0] if kp.n_cameras else ''} person 0")
        ax.set_xlabel("time (s)")
    else:
        slots = list(range(kp.n_people)) if person is None else [int(np.flatnonzero(kp.person_ids == person)[0])
                                                                 if (kp.person_ids == person).any() else -1]
        if slots and slots[0] < 0:
            raise MocapError(f"--person {person}: no such person id (ids: {kp.person_ids.tolist()})")
        valid = np.isfinite(kp.data[:, slots, :, :3]).all(-1)
        f = _best_frame(valid) if frame is None else frame
        fig = plt.figure(figsize=(11, 5))
        ax = fig.add_subplot(1, 2, 1, projection="3d")
        for p in slots:
            X = kp.data[f, p, :, :3]
            col = f"C{p % 10}"
            for a, b in bones:
                ax.plot(X[[a, b], 0], X[[a, b], 1], X[[a, b], 2], "-", color=col, lw=2)
            ax.scatter(X[:, 0], X[:, 1], X[:, 2], color=col, s=8, label=f"person {kp.person_ids[p]}")
        pts = kp.data[f, slots, :, :3].reshape(-1, 3)
        pts = pts[np.isfinite(pts).all(-1)]
        if len(pts):
            c0, r = pts.mean(0), max(float(np.ptp(pts, axis=0).max()) / 2, 0.1)
            ax.set_xlim(c0[0] - r, c0[0] + r)
            ax.set_ylim(c0[1] - r, c0[1] + r)
            ax.set_zlim(c0[2] - r, c0[2] + r)
        ax.set_box_aspect((1, 1, 1))
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
        ax.set_zlabel("z (m)")
        ax.set_title(f"frame {f} (t = {kp.timestamps[f]:.3f} s)")
        if slots:
            ax.legend(loc="upper left", fontsize=7)
        ax2 = fig.add_subplot(1, 2, 2)
        p0 = slots[0] if slots else None
        for j in range(kp.n_joints):
            ax2.plot(kp.timestamps, kp.data[:, p0, j, 2] if p0 is not None else np.full(kp.n_frames, np.nan), lw=0.8)
        ax2.axvline(kp.timestamps[f], color="k", ls=":", lw=0.8)
        ax2.set_xlabel("time (s)")
        ax2.set_ylabel("z (m)")
        ax2.set_title(f"height of every joint, person {kp.person_ids[p0] if p0 is not None else '-'}")
    return _save_figure(fig, out)


def _save_figure(fig, out: str | Path) -> Path:  # noqa: ANN001
    """Save a matplotlib figure as ``out`` (folders created) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


# ------------------------------------------------------------------------------------------ calibration
def describe_rig(rig, source: str = "") -> str:
    """A multi-line summary of a :class:`~mocap.cameras.rig.CameraRig`: one row per camera (size, model,
    focal lengths and principal point in pixels, distortion count, centre in metres) and the pairwise
    distances between camera centres in metres."""
    lines = []
    fmt = rig.meta.get("source_format")
    lines.append(f"{source + ': ' if source else ''}calibration with {len(rig)} cameras"
                 + (f" ({fmt} format)" if fmt else ""))
    names = rig.names
    w = max([len(n) for n in names] + [6])
    lines.append(f"  {'camera':<{w}}  {'size':>10}  {'model':<7}  {'fx':>8}  {'fy':>8}  {'cx':>7}  {'cy':>7}  "
                 f"{'dist':>4}  centre x, y, z (m)")
    for c in rig:
        ctr = c.center
        lines.append(f"  {c.name:<{w}}  {f'{c.size[0]}x{c.size[1]}':>10}  {c.model:<7}  {c.K[0, 0]:8.1f}  "
                     f"{c.K[1, 1]:8.1f}  {c.K[0, 2]:7.1f}  {c.K[1, 2]:7.1f}  {c.dist.size:>4}  "
                     f"{ctr[0]:7.3f}, {ctr[1]:7.3f}, {ctr[2]:7.3f}")
    if len(rig) > 1:
        C = rig.centers
        D = np.linalg.norm(C[:, None] - C[None], axis=-1)
        lines.append("pairwise distances between camera centres (m):")
        lines.append("  " + " " * w + "".join(f"  {n:>{max(len(n), 7)}}" for n in names))
        for i, n in enumerate(names):
            lines.append(f"  {n:<{w}}" + "".join(f"  {D[i, k]:>{max(len(names[k]), 7)}.3f}"
                                                 for k in range(len(names))))
        iu = np.triu_indices(len(names), 1)
        lines.append(f"  min {D[iu].min():.3f} m, max {D[iu].max():.3f} m")
    return "\n".join(lines)


def plot_rig(rig, out: Path) -> Path:
    """Save a PNG of the rig seen from above (world X/Y): camera centres, names and viewing directions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    C = rig.centers
    span = float(np.ptp(C[:, :2], axis=0).max()) if len(C) > 1 else 1.0
    arrow = max(span * 0.15, 0.2)
    fig, ax = plt.subplots(figsize=(6, 6))
    for i, cam in enumerate(rig):
        d = cam.R[2]  # optical axis in world coordinates
        ax.plot(*C[i, :2], "o", color=f"C{i % 10}")
        dxy = d[:2] / max(np.linalg.norm(d[:2]), 1e-9) * arrow
        ax.annotate("", xy=C[i, :2] + dxy, xytext=C[i, :2], arrowprops={"arrowstyle": "->", "color": f"C{i % 10}"})
        ax.text(C[i, 0], C[i, 1], f"  {cam.name}\n  z={C[i, 2]:.2f} m", fontsize=8, va="top")
    ax.plot(0, 0, "k+", ms=12)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(f"camera rig from above ({len(rig)} cameras, + = world origin)")
    ax.grid(alpha=0.3)
    return _save_figure(fig, out)


def _view_calibration(path: Path, args: argparse.Namespace) -> None:
    try:
        from mocap.cameras.formats import read_calibration
    except ImportError as e:
        raise MocapError(f"{path}: not a keypoints file, and calibration formats are unavailable ({e})") from None
    rig = read_calibration(path, fmt=args.fmt)
    print(describe_rig(rig, source=str(path)))
    if args.plot:
        print(f"saved {plot_rig(rig, args.plot)}")
