"""What a finished session folder (``mocap run`` / ``mocap demo`` output) offers a live replay: its 2D keypoints,
calibration, camera time offsets and source videos, so ``ros2 launch mocap multiview.launch.py session:=out/demo``
(or ``mocap live``) needs no other argument.

Layout read (the pipeline's): ``<session>/2d/keypoints2d.npz`` (2D keypoints; its meta names the source videos),
``<session>/keypoints3d.npz`` (meta ``sync_offsets_frames``: the per-camera delays the offline path applied). The
calibration is the first readable ``calibration.*`` / ``calib*`` file in the session folder, else in the
``calibration/`` folder next to the videos' folder (the Pose2Sim layout the demo uses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mocap.errors import MocapError

_CALIB_SUFFIXES = (".toml", ".txt", ".yaml", ".yml", ".json", ".xml")


@dataclass
class SessionInfo:
    """Inputs of a live replay found in a session folder.

    Attributes:
        folder: the session folder.
        keypoints_file: its 2D keypoints ``.npz``.
        cameras: camera names, in the keypoints' order.
        calibration: a calibration file with those cameras (``""`` when none was found).
        videos: camera name -> source video (those that exist).
        time_offsets_s: camera -> delay in seconds (its frame at ``t`` shows the moment ``t - delay``), from the
            offline sync stage; empty when it applied none.
        fps: frame rate of the keypoints.
        joint_set: joint set of the keypoints.
    """

    folder: Path
    keypoints_file: Path
    cameras: list[str]
    calibration: str = ""
    videos: dict[str, str] = field(default_factory=dict)
    time_offsets_s: dict[str, float] = field(default_factory=dict)
    fps: float = 0.0
    joint_set: str = ""

    def time_offset_entries(self) -> list[str]:
        """``["cam03:0.056782", ...]``: the fusion node's ``time_offsets`` parameter (non-zero ones)."""
        return [f"{c}:{o:.6f}" for c, o in self.time_offsets_s.items() if o]


def _find_calibration(folders: list[Path], cameras: list[str]) -> str:
    from mocap.cameras.formats import read_calibration

    for d in folders:
        if not d.is_dir():
            continue
        for f in sorted(d.iterdir()):
            if not f.is_file() or f.suffix.lower() not in _CALIB_SUFFIXES or not f.name.lower().startswith("calib"):
                continue
            try:
                rig = read_calibration(f)
            except Exception:  # noqa: BLE001 - not a calibration file: try the next one
                continue
            if all(c in rig.names for c in cameras):
                return str(f)
    return ""


def resolve_session(folder: str | Path) -> SessionInfo:
    """Read what a session folder offers (see the module docstring).

    Raises:
        MocapError: the folder or its ``2d/keypoints2d.npz`` is missing.
    """
    from mocap.keypoints import load_npz

    d = Path(folder).expanduser()
    kp_file = d / "2d" / "keypoints2d.npz"
    if not d.is_dir():
        raise MocapError(f"session folder {d} does not exist", hint="run `mocap demo` (writes out/demo) or "
                         "`mocap run ... --out DIR` first, or pass keypoints_file:= and calibration:=")
    if not kp_file.is_file():
        raise MocapError(f"session folder {d} has no 2d/keypoints2d.npz",
                         hint="pass the output folder of `mocap run` / `mocap demo`")
    kp2d = load_npz(kp_file)
    cams = list(kp2d.camera_names)
    videos = {Path(v).stem: str(v) for v in kp2d.meta.get("videos", []) if Path(v).is_file()}
    offsets: dict[str, float] = {}
    kp3d_file = d / "keypoints3d.npz"
    if kp3d_file.is_file():
        meta = load_npz(kp3d_file).meta
        frames = meta.get("sync_offsets_frames")
        names = list(meta.get("camera_names", cams))
        if frames is not None and len(frames) == len(names) and kp2d.fps:
            offsets = {n: float(f) / float(kp2d.fps) for n, f in zip(names, frames, strict=True) if n in cams}
    folders = [d] + sorted({Path(v).parent.parent / "calibration" for v in videos.values()})
    return SessionInfo(d, kp_file, cams, _find_calibration(folders, cams), videos, offsets, float(kp2d.fps),
                       kp2d.joint_set)


__all__ = ["SessionInfo", "resolve_session"]
