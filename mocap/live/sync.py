"""Time synchronisation of N cameras' keypoint messages by header stamp (no ROS import).

Messages of different cameras whose stamps lie within ``tolerance_s`` of a group's reference stamp (the first
stamp seen for it) form one group. A group is emitted when every camera has contributed, when a newer group is
complete (cameras publish in time order, so an older group cannot grow any more), or ``max_wait_s`` of wall time
after it was opened. Groups with fewer than ``min_cameras`` cameras are dropped (counted). Emitted stamps are
strictly increasing; a message older than the last emitted group is late (dropped, reported); a stamp that jumps
back or forward by more than ``clock_jump_s`` resets the synchroniser and is reported as a clock jump so the
caller can reset its filters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Group:
    """One synchronised set of camera messages.

    Attributes:
        stamp: reference stamp, seconds (the earliest stamp of the group).
        frames: camera name -> payload for every camera of the synchroniser (``None`` = missing).
        opened_wall: wall time the group was opened, seconds.
    """

    stamp: float
    frames: dict[str, Any]
    opened_wall: float
    stamps: dict[str, float] = field(default_factory=dict)

    @property
    def n_present(self) -> int:
        return sum(v is not None for v in self.frames.values())

    @property
    def missing(self) -> list[str]:
        return [k for k, v in self.frames.items() if v is None]

    @property
    def spread_s(self) -> float:
        """Largest stamp difference between the cameras present, seconds."""
        s = list(self.stamps.values())
        return max(s) - min(s) if s else 0.0


@dataclass
class SyncEvent:
    """Something the node should warn about: ``kind`` in ``unknown_camera``, ``late``, ``clock_jump``,
    ``dropped_group`` (fewer than ``min_cameras``), with a human-readable ``message``."""

    kind: str
    message: str
    camera: str = ""


class FrameSynchronizer:
    """Group per-camera messages by stamp.

    Args:
        cameras: the camera names expected.
        tolerance_s: stamps within this of a group's reference belong to it (e.g. half a frame period).
        max_wait_s: wall time after which an incomplete group is emitted anyway.
        min_cameras: groups with fewer cameras are dropped.
        clock_jump_s: a stamp this far before the last emitted one, or after the newest seen, is a clock jump.
    """

    def __init__(self, cameras: list[str], tolerance_s: float = 0.008, max_wait_s: float = 0.1,
                 min_cameras: int = 2, clock_jump_s: float = 1.0) -> None:
        if not cameras:
            raise ValueError("FrameSynchronizer needs at least one camera name")
        if tolerance_s <= 0 or max_wait_s <= 0:
            raise ValueError(f"tolerance_s and max_wait_s must be > 0 (got {tolerance_s}, {max_wait_s})")
        self.cameras = list(cameras)
        self.tolerance_s = float(tolerance_s)
        self.max_wait_s = float(max_wait_s)
        self.min_cameras = int(min_cameras)
        self.clock_jump_s = float(clock_jump_s)
        self.counts = {"emitted": 0, "incomplete": 0, "dropped": 0, "late": 0, "clock_jumps": 0}
        self.reset()

    def reset(self) -> None:
        """Forget pending groups and the stamp history."""
        self.pending: list[Group] = []
        self.last_emitted: float | None = None
        self.newest: float | None = None

    def add(self, camera: str, stamp: float, payload: Any, now: float) -> tuple[list[Group], list[SyncEvent]]:
        """Add one camera message; returns the groups ready now (stamp order) and events to report."""
        events: list[SyncEvent] = []
        if camera not in self.cameras:
            return [], [SyncEvent("unknown_camera", f"message from camera {camera!r}, which is not one of the "
                                  f"configured cameras {self.cameras}; ignored", camera)]
        out: list[Group] = []
        jumped_back = self.last_emitted is not None and stamp < self.last_emitted - self.clock_jump_s
        jumped_fwd = self.newest is not None and stamp > self.newest + self.clock_jump_s
        if jumped_back or jumped_fwd:
            ref = self.last_emitted if jumped_back else self.newest
            self.counts["clock_jumps"] += 1
            events.append(SyncEvent("clock_jump", f"camera {camera!r}: stamp {stamp:.3f} s jumped "
                                    f"{'back' if jumped_back else 'forward'} by {abs(stamp - ref):.3f} s; "
                                    "resetting synchronisation and filters", camera))
            if jumped_fwd:
                out += self._flush(everything=True, events=events)
            self.reset()
        elif self.last_emitted is not None and stamp <= self.last_emitted + self.tolerance_s * 0.5 \
                and not self._fits_pending(camera, stamp):
            self.counts["late"] += 1
            return [], [SyncEvent("late", f"camera {camera!r}: message stamped {stamp:.4f} s arrived after the group "
                                  f"at {self.last_emitted:.4f} s was processed (out of sync by "
                                  f"{self.last_emitted - stamp:+.4f} s); dropped", camera)]
        self.newest = stamp if self.newest is None else max(self.newest, stamp)
        g = self._find(camera, stamp)
        if g is None:
            g = Group(stamp, dict.fromkeys(self.cameras), now)
            self.pending.append(g)
            self.pending.sort(key=lambda x: x.stamp)
        g.frames[camera] = payload
        g.stamps[camera] = stamp
        g.stamp = min(g.stamp, stamp)
        # emit up to the newest complete group
        done = [i for i, p in enumerate(self.pending) if p.n_present == len(self.cameras)]
        if done:
            out += self._emit_upto(done[-1], events)
        return out, events

    def poll(self, now: float) -> tuple[list[Group], list[SyncEvent]]:
        """Emit groups that waited longer than ``max_wait_s`` (call from a timer)."""
        events: list[SyncEvent] = []
        idx = [i for i, p in enumerate(self.pending) if now - p.opened_wall >= self.max_wait_s]
        if not idx:
            return [], events
        return self._emit_upto(idx[-1], events), events

    # ------------------------------------------------------------------ internals
    def _fits_pending(self, camera: str, stamp: float) -> bool:
        return self._find(camera, stamp) is not None

    def _find(self, camera: str, stamp: float) -> Group | None:
        best = None
        for p in self.pending:
            if p.frames[camera] is None and abs(p.stamp - stamp) <= self.tolerance_s:
                if best is None or abs(p.stamp - stamp) < abs(best.stamp - stamp):
                    best = p
        return best

    def _emit_upto(self, last: int, events: list[SyncEvent]) -> list[Group]:
        ready, self.pending = self.pending[:last + 1], self.pending[last + 1:]
        return self._finish(ready, events)

    def _flush(self, everything: bool, events: list[SyncEvent]) -> list[Group]:
        ready, self.pending = (self.pending, []) if everything else ([], self.pending)
        return self._finish(ready, events)

    def _finish(self, ready: list[Group], events: list[SyncEvent]) -> list[Group]:
        out = []
        for g in ready:
            if g.n_present < self.min_cameras:
                self.counts["dropped"] += 1
                events.append(SyncEvent("dropped_group", f"frame at {g.stamp:.4f} s has only {g.n_present} of "
                                        f"{len(self.cameras)} cameras (missing: {', '.join(g.missing)}); "
                                        f"need {self.min_cameras}; skipped"))
                continue
            if g.n_present < len(self.cameras):
                self.counts["incomplete"] += 1
            self.counts["emitted"] += 1
            self.last_emitted = g.stamp if self.last_emitted is None else max(self.last_emitted, g.stamp)
            out.append(g)
        return out
