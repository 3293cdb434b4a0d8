"""Files as a skeleton stream: 3D keypoints (``.npz``/``.trc``/``.csv``) or a fitted body motion (``.npz``).

Consumers see the same :class:`~mocap.live.stream.SkeletonDescription` + :class:`~mocap.live.stream.SkeletonFrame`
sequence as live, so gestures, VMC and the viewer run unchanged on recordings (``mocap events FILE``,
``mocap live --replay FILE``). :func:`play` feeds sinks, optionally paced in real time.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mocap.errors import DataError
from mocap.geometry.rotations import matrix_to_quat_xyzw, quat_xyzw_to_matrix
from mocap.live.stream import PersonSkeleton, SkeletonDescription, SkeletonFrame, SkeletonSink, identity_quats


@dataclass
class OfflineStream:
    """A recording as a stream: descriptions (sent first) and frames (a re-iterable sequence)."""

    descriptions: list[SkeletonDescription]
    frames: list[SkeletonFrame]
    fps: float
    source: str = ""

    @property
    def duration_s(self) -> float:
        return self.frames[-1].stamp - self.frames[0].stamp if self.frames else 0.0


def _orientations(X: np.ndarray, parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint-skeleton joint orientations (the convention of the ROS messages and the online core)."""
    from mocap.skeletons.orientations import joint_orientations

    return joint_orientations(X, parents)


def keypoints_stream(kp3d, orientations: bool = True) -> OfflineStream:  # noqa: ANN001 (Keypoints3D)
    """A :class:`mocap.keypoints.Keypoints3D` as a stream (one description for everybody, one frame per time).

    Missing people (all NaN in a frame) are left out of that frame; confidence NaN counts as 1.
    """
    from mocap.skeletons import get_joint_set
    from mocap.skeletons.orientations import offsets_in_parent_frames

    js = get_joint_set(kp3d.joint_set)
    parents = np.array([-1 if p is None or p < 0 else p for p in js.parents], dtype=np.int64)
    seen = np.isfinite(kp3d.data[..., :3]).all(-1).sum(-1)  # (T, P): the most complete person sets the rest pose
    t, k = np.unravel_index(int(np.argmax(seen)), seen.shape) if seen.size else (0, 0)
    X0 = kp3d.data[t, k, :, :3] if seen.size else np.zeros((len(js.joints), 3))
    rest = offsets_in_parent_frames(X0, parents, _orientations(X0, parents)[0])
    desc = SkeletonDescription(js.name, list(js.joints), parents, rest)
    frames = []
    for t in range(kp3d.n_frames):
        people = []
        for k, pid in enumerate(kp3d.person_ids):
            d = kp3d.data[t, k]
            X = d[:, :3]
            seen = np.isfinite(X).all(-1)
            if not seen.any():
                continue
            c = np.where(seen, np.nan_to_num(d[:, 3], nan=1.0), 0.0)
            g, loc = _orientations(X, parents) if orientations else (identity_quats(len(X)),) * 2
            people.append(PersonSkeleton(int(pid), X, c, loc, g))
        frames.append(SkeletonFrame(float(kp3d.timestamps[t]), t, people, js.name))
    return OfflineStream([desc], frames, float(kp3d.fps))


def motion_stream(motion, person_id: int = 0) -> OfflineStream:  # noqa: ANN001 (BodyMotion)
    """A :class:`mocap.body.motion.BodyMotion` as a stream of one person (positions by forward kinematics)."""
    par = np.asarray(motion.parents, dtype=np.int64)
    desc = SkeletonDescription(str(motion.model), list(motion.joint_names), par, np.asarray(motion.rest_offsets),
                               body_model=str(motion.model), shape=np.asarray(motion.shape, float),
                               person_id=person_id)
    q = np.array(motion.local_rotations, float)
    q[:, 0] = motion.root_orientation
    L = quat_xyzw_to_matrix(q)
    G = L.copy()
    for j in range(1, len(par)):
        G[:, j] = G[:, par[j]] @ L[:, j]
    gq = matrix_to_quat_xyzw(G)
    X = motion.world_joints()
    ones = np.ones(len(par))
    frames = [SkeletonFrame(float(motion.timestamps[t]), t,
                            [PersonSkeleton(person_id, X[t], ones, q[t], gq[t],
                                            root_translation=motion.root_translation[t])], desc.joint_set)
              for t in range(motion.n_frames)]
    return OfflineStream([desc], frames, float(motion.fps))


def load_stream(path: str | Path) -> OfflineStream:
    """Read a 3D keypoints file or a body-motion ``.npz`` as a stream.

    Raises:
        DataError: not a 3D keypoints or body-motion file.
    """
    from mocap.keypoints.containers import Keypoints3D
    from mocap.keypoints.files import load_keypoints

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as z:
            is_motion = "local_rotations" in z.files
        if is_motion:
            from mocap.body.motion import BodyMotion

            s = motion_stream(BodyMotion.load(path))
            s.source = str(path)
            return s
    kp = load_keypoints(path)
    if not isinstance(kp, Keypoints3D):
        raise DataError(f"{path} holds 2D keypoints; events and replays need 3D keypoints or a body motion",
                        hint="triangulate first: mocap triangulate --calib C --keypoints DIR --out kp3d.npz")
    s = keypoints_stream(kp)
    s.source = str(path)
    return s


def play(stream: OfflineStream, sinks: Iterable[SkeletonSink], realtime: bool = False, speed: float = 1.0,
         frames: Iterable[SkeletonFrame] | None = None, max_lateness_s: float = 0.25
         ) -> Iterator[tuple[SkeletonFrame, float]]:
    """Feed ``stream`` to ``sinks`` (descriptions first); yields ``(frame, lateness_s)`` after each frame.

    With ``realtime`` each frame is sent when ``(stamp - first stamp) / speed`` seconds have passed since the
    start (``lateness_s``: how late it went out, >= 0). A late frame goes at once; after a stall of more than
    ``max_lateness_s`` the clock is re-anchored (the replay slips) instead of bursting the backlog out.
    Sinks are not closed.
    """
    sinks = list(sinks)
    for d in stream.descriptions:
        for s in sinks:
            s.describe(d)
    t0 = s0 = None
    for f in (stream.frames if frames is None else frames):
        late = 0.0
        if realtime:
            if t0 is None:
                t0, s0 = time.perf_counter(), f.stamp
            due = t0 + (f.stamp - s0) / speed
            while (wait := due - time.perf_counter()) > 0:
                time.sleep(min(wait, 0.002) if wait < 0.004 else wait - 0.002)
            late = time.perf_counter() - due
            if late > max_lateness_s:
                t0 += late
        for s in sinks:
            s.send(f)
        yield f, late
