"""Demonstrations for imitation learning: synchronised robot state, operator skeleton, commanded joints and camera
images, sampled at a fixed rate into a LeRobot v3.0 dataset (:class:`~mocap.apps.record.lerobot.LeRobotWriter`).

At every :meth:`DemonstrationRecorder.tick` (``fps`` times a second, on the caller's clock) during an episode, one
frame holds the newest value of each stream (zero-order hold):

- ``observation.state`` = robot joint positions (rad, the robot's joint order) + the operator's skeleton joint
  positions (m, world frame, ``J * 3``; missing joints 0);
- ``action`` = the commanded joint positions: the newest joint trajectory evaluated at the frame's time (linear
  between its points; its first point before it starts, its last after it ends), or the measured positions while
  nothing was commanded;
- ``observation.images.<camera>`` = the newest image of each camera (video).

A frame whose newest robot state, skeleton or image is older than ``max_age_s`` is still written (the dataset
needs a fixed rate) and counted in :attr:`DemonstrationRecorder.stale_frames`. The operator is ``person_id`` or,
with -1, the lowest id tracked. No ROS; the recorder node is a thin adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mocap.apps.record.lerobot import LeRobotWriter
from mocap.errors import MocapError
from mocap.live.stream import SkeletonDescription, SkeletonFrame, TrackState


@dataclass
class RecorderConfig:
    """Parameters of :class:`DemonstrationRecorder`."""

    fps: int = 30
    person_id: int = -1
    max_age_s: float = 0.2
    cameras: list = field(default_factory=list)  # camera names; images arrive through on_image
    robot_type: str = ""
    codec: str = "libx264"


@dataclass
class _Trajectory:
    start: float
    times: np.ndarray
    positions: np.ndarray  # (m, n), robot joint order


class DemonstrationRecorder:
    """See the module docstring.

    Args:
        root: the LeRobot dataset folder (resumed when it exists with the same features).
        cfg: parameters.
    """

    def __init__(self, root: str | Path, cfg: RecorderConfig | None = None) -> None:
        self.root = Path(root)
        self.cfg = cfg or RecorderConfig()
        self.description: SkeletonDescription | None = None
        self.robot_names: list[str] | None = None
        self.robot_q: tuple[float, np.ndarray] | None = None
        self.skeleton: tuple[float, np.ndarray] | None = None
        self.trajectory: _Trajectory | None = None
        self.images: dict[str, tuple[float, np.ndarray]] = {}
        self.writer: LeRobotWriter | None = None
        self.stale_frames = 0
        self.pending_task: str | None = None

    # ------------------------------------------------------------------ inputs
    def describe(self, description: SkeletonDescription) -> None:
        """The skeleton stream's description (its joint names set the state's layout)."""
        if self.writer is not None and description.joint_names != self.description.joint_names:
            raise MocapError("the skeleton description changed while recording: start a new dataset")
        self.description = description

    def on_robot_state(self, t: float, names: list[str], q) -> None:
        """Measured joint positions at ``t`` (the first message fixes the joint order)."""
        names = list(names)
        if self.robot_names is None:
            self.robot_names = names
        idx = [names.index(n) for n in self.robot_names if n in names]
        if len(idx) != len(self.robot_names):
            return  # another robot's joints on the same topic: not ours
        self.robot_q = (t, np.asarray(q, float)[idx])

    def on_skeleton(self, frame: SkeletonFrame, t: float) -> None:
        """A skeleton frame received at ``t``; keeps the operator's joint positions."""
        people = [p for p in frame.people if p.state != TrackState.LOST]
        if self.cfg.person_id >= 0:
            people = [p for p in people if p.person_id == self.cfg.person_id]
        if not people or self.description is None:
            return
        p = min(people, key=lambda p: p.person_id)
        if p.n_joints != self.description.n_joints:
            return
        X = np.where(p.valid()[:, None], p.positions, 0.0)
        self.skeleton = (t, X.reshape(-1))

    def on_trajectory(self, start: float, names: list[str], times, positions) -> None:
        """A commanded joint trajectory: start time (s, stamp; 0 = now is the caller's job), point times ``(m,)``
        from the start, positions ``(m, n)`` in ``names`` order."""
        if self.robot_names is None:
            return
        names = list(names)
        try:
            order = [names.index(n) for n in self.robot_names]
        except ValueError:
            return
        P = np.asarray(positions, float)[:, order]
        self.trajectory = _Trajectory(float(start), np.asarray(times, float), P)

    def on_image(self, camera: str, t: float, image: np.ndarray) -> None:
        """An RGB ``(H, W, 3)`` uint8 image of ``camera`` at ``t``."""
        if camera in self.cfg.cameras:
            self.images[camera] = (t, np.asarray(image, np.uint8))

    # ------------------------------------------------------------------ episodes
    def missing(self) -> list[str]:
        """Streams not received yet (an episode cannot start without them)."""
        out = []
        if self.robot_q is None:
            out.append("robot joint state")
        if self.skeleton is None:
            out.append("operator skeleton" if self.description is not None else "skeleton description")
        out += [f"camera {c}" for c in self.cfg.cameras if c not in self.images]
        return out

    def _ensure_writer(self) -> LeRobotWriter:
        if self.writer is None:
            J = self.description.joint_names
            state_names = [*self.robot_names, *(f"{j}.{a}" for j in J for a in "xyz")]
            feats = {"observation.state": {"dtype": "float32", "shape": [len(state_names)], "names": state_names},
                     "action": {"dtype": "float32", "shape": [len(self.robot_names)], "names": self.robot_names}}
            videos = {f"observation.images.{c}": self.images[c][1].shape[:2] for c in self.cfg.cameras}
            self.writer = LeRobotWriter(self.root, self.cfg.fps, feats, videos, self.cfg.robot_type, self.cfg.codec)
        return self.writer

    def start_episode(self, task: str) -> tuple[bool, str]:
        """Start an episode (one in progress is saved first); ``(ok, message)``."""
        missing = self.missing()
        if missing:
            return False, f"cannot start an episode: no {', '.join(missing)} received yet"
        w = self._ensure_writer()
        saved = self.stop_episode() if w.recording else None
        w.start_episode(task)
        return True, (f"episode {w.n_episodes} started ({task!r})"
                      + (f"; episode {saved} saved" if saved is not None else ""))

    def stop_episode(self) -> int | None:
        """Save the episode in progress (atomically); its index, or None (none / no frame)."""
        if self.writer is None or not self.writer.recording:
            return None
        return self.writer.save_episode()

    def discard_episode(self) -> bool:
        """Drop the episode in progress; True when there was one."""
        if self.writer is None or not self.writer.recording:
            return False
        self.writer.discard_episode()
        return True

    def action_at(self, t: float) -> np.ndarray:
        """Commanded joint positions at ``t``."""
        tr = self.trajectory
        if tr is None:
            return self.robot_q[1]
        rel = t - tr.start
        if rel <= tr.times[0]:
            return tr.positions[0]
        if rel >= tr.times[-1]:
            return tr.positions[-1]
        return np.array([np.interp(rel, tr.times, tr.positions[:, k]) for k in range(tr.positions.shape[1])])

    def tick(self, t: float) -> bool:
        """Sample one frame at ``t`` when an episode is being recorded; True when a frame was added."""
        if self.writer is None or not self.writer.recording:
            return False
        ages = [t - self.robot_q[0], t - self.skeleton[0], *(t - self.images[c][0] for c in self.cfg.cameras)]
        if max(ages) > self.cfg.max_age_s:
            self.stale_frames += 1
        state = np.concatenate([self.robot_q[1], self.skeleton[1]])
        images = {f"observation.images.{c}": self.images[c][1] for c in self.cfg.cameras}
        self.writer.add_frame({"observation.state": state, "action": self.action_at(t)}, images)
        return True

    def close(self) -> None:
        """Save the episode in progress and release the writer."""
        if self.writer is not None:
            self.stop_episode()
            self.writer.close()
