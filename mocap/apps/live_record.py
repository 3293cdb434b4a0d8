"""Crash-safe recording of a live session: 2D keypoints, 3D skeletons and the fitted body, frame by frame.

Everything is appended to JSON-lines files and handed to the kernel after every frame (``flush``), so a process
killed at any moment (``kill -9``) leaves a recording that reads back up to its last complete line (a torn last
line is ignored). On a clean close the same data is also written in the session layout of ``mocap run``
(``2d/keypoints2d.npz``, ``keypoints3d.npz``, ``motion.npz``), so ``mocap view FOLDER`` and the other commands read it.

Files: ``calibration.toml`` (the rig), ``session.json`` (cameras, joint set, fps), ``frames2d.jsonl`` (one line per
synchronised frame: index, stamp, per camera ``(P, J, 3)`` or null), ``frames3d.jsonl`` (index, stamp, joint set,
per person: id, state, positions ``(J, 3)``, confidence ``(J,)``, local rotations ``(J, 4)`` and root translation when
fitted; ``describe`` lines carry the skeleton descriptions), ``keypoints3d.jsonl`` (with a body fit: the triangulated
keypoints of each frame, same layout). A clean close also writes ``motion.npz`` (the fitted
body of the first person, :class:`~mocap.body.motion.BodyMotion`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mocap.errors import DataError
from mocap.live.stream import SkeletonDescription, SkeletonFrame


def _arr(a: np.ndarray | None, nd: int = 4) -> list | None:
    if a is None:
        return None
    a = np.round(np.asarray(a, float), nd)
    return np.where(np.isfinite(a), a, None).tolist()


class LiveRecorder:
    """Append-only recorder of a live session (see the module notes). Also a skeleton sink (``describe``/``send``).

    Args:
        folder: output folder (created).
        rig: the :class:`~mocap.cameras.CameraRig` (written once as ``calibration.toml``).
        joint_set: 2D joint-set name; fps: nominal frame rate.
    """

    def __init__(self, folder: str | Path, rig, joint_set: str, fps: float) -> None:  # noqa: ANN001
        from mocap.cameras.formats import write_calibration

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        write_calibration(rig, self.folder / "calibration.toml")
        self.cameras = list(rig.names)
        (self.folder / "session.json").write_text(json.dumps(
            {"cameras": self.cameras, "joint_set": joint_set, "fps": float(fps)}, indent=1))
        self._f2 = open(self.folder / "frames2d.jsonl", "a", buffering=1)
        self._f3 = open(self.folder / "frames3d.jsonl", "a", buffering=1)
        self._fk = open(self.folder / "keypoints3d.jsonl", "a", buffering=1)
        self.descriptions: list[SkeletonDescription] = []
        self.frames = 0

    def add_2d(self, index: int, stamp: float, frames: dict[str, np.ndarray | None]) -> None:
        """One synchronised frame's per-camera ``(P, J, 3)`` 2D keypoints (None = camera missing)."""
        rec = {"i": int(index), "t": float(stamp), "cams": {c: _arr(frames.get(c), 4) for c in self.cameras}}
        self._f2.write(json.dumps(rec) + "\n")
        self._f2.flush()

    def add_keypoints3d(self, index: int, stamp: float, joint_set: str, people: dict[int, np.ndarray]) -> None:
        """The triangulated keypoints ``person id -> (J, 4)`` of a frame whose stream carries a fitted body (without
        a fit the stream's own skeletons are the keypoints)."""
        rows = [{"id": int(k), "state": "tracked", "X": _arr(v[:, :3]), "c": _arr(v[:, 3], 3)}
                for k, v in people.items()]
        self._fk.write(json.dumps({"i": int(index), "t": float(stamp), "js": joint_set, "people": rows}) + "\n")
        self._fk.flush()

    def describe(self, description: SkeletonDescription) -> None:
        self.descriptions.append(description)
        d = {"describe": {"joint_set": description.joint_set, "joint_names": description.joint_names,
                          "parents": description.parents.tolist(), "rest_offsets": _arr(description.rest_offsets, 6),
                          "body_model": description.body_model, "person_id": description.person_id}}
        self._f3.write(json.dumps(d) + "\n")
        self._f3.flush()

    def send(self, frame: SkeletonFrame) -> None:
        people = [{"id": p.person_id, "state": p.state.value, "X": _arr(p.positions), "c": _arr(p.joint_confidence, 3),
                   "q": _arr(p.local_quat_xyzw, 6) if p.root_translation is not None else None,
                   "r": _arr(p.root_translation, 6) if p.root_translation is not None else None}
                  for p in frame.people]
        self._f3.write(json.dumps({"i": frame.frame_index, "t": frame.stamp, "js": frame.joint_set,
                                   "people": people}) + "\n")
        self._f3.flush()
        self.frames += 1

    def close(self) -> None:
        """Close the files and write the session layout (``2d/keypoints2d.npz``, ``keypoints3d.npz``)."""
        for f in (self._f2, self._f3, self._fk):
            if not f.closed:
                f.close()
        rec = read_live_recording(self.folder)
        from mocap.keypoints import save_npz

        if rec["keypoints2d"] is not None:
            (self.folder / "2d").mkdir(exist_ok=True)
            save_npz(rec["keypoints2d"], self.folder / "2d" / "keypoints2d.npz")
        if rec["keypoints3d"] is not None:
            save_npz(rec["keypoints3d"], self.folder / "keypoints3d.npz")
        if rec["motion"] is not None:
            rec["motion"].save(self.folder / "motion.npz")


def _lines(path: Path) -> list[dict]:
    out = []
    if not path.exists():
        return out
    with open(path) as fh:
        for line in fh:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a torn last line (killed while writing)
                break
    return out


def _nan(a) -> np.ndarray:  # noqa: ANN001
    return np.array(a, dtype=float) if a is not None else np.array(np.nan)


def read_live_recording(folder: str | Path) -> dict:
    """Read a (possibly killed) live recording.

    Returns:
        ``{"keypoints2d": Keypoints2D (T, C, P, J, 3) or None, "keypoints3d": Keypoints3D (T3, P, J, 4) or None
        (keypoint skeletons; the joint set of the first frames), "frames2d": [index...], "frames3d": [index...],
        "session": dict}``; the 2D of frame ``frames2d[k]`` is ``keypoints2d.data[k]``.
    """
    from mocap.keypoints.containers import Keypoints2D, Keypoints3D

    folder = Path(folder)
    try:
        session = json.loads((folder / "session.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{folder}: not a live recording (session.json: {e})") from None
    cams, js, fps = session["cameras"], session["joint_set"], float(session["fps"])
    rows2 = _lines(folder / "frames2d.jsonl")
    kp2 = None
    if rows2:
        P = max([len(r["cams"][c]) for r in rows2 for c in cams if r["cams"].get(c)] or [1])
        J = next((len(r["cams"][c][0]) for r in rows2 for c in cams if r["cams"].get(c)), 0)
        data = np.full((len(rows2), len(cams), P, J, 3), np.nan)
        for k, r in enumerate(rows2):
            for c, name in enumerate(cams):
                a = r["cams"].get(name)
                if a:
                    arr = _nan(a)
                    data[k, c, :len(arr)] = arr
        kp2 = Keypoints2D(data, js, cams, timestamps=np.array([r["t"] for r in rows2]), fps=fps)
    from mocap.skeletons import list_joint_sets

    known = set(list_joint_sets())
    rows3 = [r for r in _lines(folder / "frames3d.jsonl") if "i" in r and r["js"] in known]
    if not rows3:  # a fitted body was streamed: the triangulated keypoints are kept apart
        rows3 = [r for r in _lines(folder / "keypoints3d.jsonl") if "i" in r]
    kp3 = None
    if rows3:
        jset = rows3[0]["js"]
        rows3 = [r for r in rows3 if r["js"] == jset]
        ids = sorted({p["id"] for r in rows3 for p in r["people"] if p["X"] is not None and p["state"] != "lost"})
        J = next(len(p["X"]) for r in rows3 for p in r["people"] if p["X"] is not None)
        data = np.full((len(rows3), max(len(ids), 1), J, 4), np.nan)
        for k, r in enumerate(rows3):
            for p in r["people"]:
                if p["id"] in ids and p["X"] is not None and p["state"] != "lost":
                    s = ids.index(p["id"])
                    data[k, s, :, :3] = _nan(p["X"])
                    data[k, s, :, 3] = np.nan_to_num(_nan(p["c"]))
        kp3 = Keypoints3D(data, jset, timestamps=np.array([r["t"] for r in rows3]), fps=fps,
                          person_ids=np.array(ids or [0]))
    return {"keypoints2d": kp2, "keypoints3d": kp3, "frames2d": [r["i"] for r in rows2],
            "frames3d": [r["i"] for r in rows3], "session": session, "motion": _motion(folder, fps)}


def _motion(folder: Path, fps: float):  # noqa: ANN202
    """The fitted body of the first person with one (a :class:`~mocap.body.motion.BodyMotion`), or None."""
    from mocap.body.motion import BodyMotion

    lines = _lines(folder / "frames3d.jsonl")
    desc = next((r["describe"] for r in lines if "describe" in r and r["describe"]["body_model"]), None)
    if desc is None:
        return None
    rows = [(r["t"], p) for r in lines if "i" in r and r["js"] == desc["joint_set"] for p in r["people"]
            if p.get("q") is not None and p.get("r") is not None and p["state"] != "lost"]
    if not rows:
        return None
    pid = rows[0][1]["id"]
    rows = [(t, p) for t, p in rows if p["id"] == pid]
    q = np.stack([_nan(p["q"]) for _, p in rows])
    return BodyMotion(desc["body_model"], list(desc["joint_names"]), np.array(desc["parents"]),
                      np.nan_to_num(_nan(desc["rest_offsets"])), np.zeros(0), np.stack([_nan(p["r"]) for _, p in rows]),
                      q[:, 0].copy(), q, fps, timestamps=np.array([t for t, _ in rows]), meta={"person_id": pid})
