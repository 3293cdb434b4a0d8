"""Time synchronisation of N cameras' keypoint messages by capture stamp (no ROS import).

Messages of different cameras whose stamps lie within ``tolerance_s`` of a group's reference stamp (the first
stamp seen for it) form one group. A group is emitted when every *active* camera has contributed, when a newer
group is complete (cameras publish in time order, so an older group cannot grow any more), or about ``max_wait_s``
of wall time after it was opened (see :meth:`FrameSynchronizer.poll`). Groups with fewer than ``min_cameras``
cameras are dropped (counted). Emitted stamps are strictly increasing; a message older than the last emitted group
is late (dropped, reported); a stamp that jumps back or forward by more than ``clock_jump_s`` resets the
synchroniser and is reported as a clock jump so the caller can reset its filters.

Liveness: a camera that has sent nothing for ``camera_timeout_s`` of wall time is *silent*: groups stop waiting
for it (so a dead camera costs no latency beyond its first ``camera_timeout_s``) until it speaks again. A camera
never heard counts as active for ``camera_timeout_s`` after the first message of any camera.

Time offsets: ``offsets_s[camera]`` is subtracted from that camera's stamps (its frame stamped ``t`` shows the
moment ``t - offset``), the convention of :func:`mocap.sources.offset.estimate_offsets_calibrated` divided by the
frame rate. Cameras with an offset (relative to the smallest one) do not open groups; each group takes their
keypoints linearly interpolated at its stamp between their two messages around it (``interpolate``), exactly what
the offline path does with :func:`mocap.sources.offset.apply_offsets`; the group then waits for their next message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Options of the synchroniser (ROS fusion-node parameter names) and their defaults.
SYNC_PARAMS: dict[str, Any] = {
    "sync_tolerance_s": 0.008,  # stamps within this belong to the same frame (about half a frame period)
    "max_wait_s": 0.1,  # emit a group without a late camera after this wall time
    "min_cameras": 2,
    "clock_jump_s": 1.0,
    "camera_timeout_s": 0.3,  # a camera silent this long is not waited for until it speaks again
    "time_offsets": [""],  # "camera:seconds" entries: that camera's frame stamped t shows the moment t - seconds
}


@dataclass
class Group:
    """One synchronised set of camera messages.

    Attributes:
        stamp: reference stamp, seconds (the earliest stamp of the group, offsets applied).
        frames: camera name -> payload for every camera of the synchroniser (``None`` = missing).
        opened_wall: wall time the group was opened, seconds.
        stamps: camera name -> stamp (offset applied) of the message(s) used.
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
    ``dropped_group`` (fewer than ``min_cameras``), ``silent`` (a camera stopped; not waited for any more),
    ``resumed`` (a silent camera speaks again), with a human-readable ``message``."""

    kind: str
    message: str
    camera: str = ""


def interpolate_keypoints(a: Any, b: Any, w: float) -> Any:
    """Linear interpolation ``(1 - w) a + w b`` of two ``(P, J, 3)`` keypoint arrays of one camera (NaN where
    either is missing, like :func:`mocap.sources.offset.apply_offsets`); the nearer one when they cannot be paired
    (other shapes, or several people whose order may differ)."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and a.shape[:1] == (1,):
        if w <= 0:
            return a
        return (1 - w) * a + w * b
    return b if w >= 0.5 else a


class FrameSynchronizer:
    """Group per-camera messages by stamp.

    Args:
        cameras: the camera names expected.
        tolerance_s: stamps within this of a group's reference belong to it (e.g. half a frame period).
        max_wait_s: wall time after which an incomplete group is emitted anyway.
        min_cameras: groups with fewer cameras are dropped.
        clock_jump_s: a stamp this far before the last emitted one, or after the newest seen, is a clock jump.
        camera_timeout_s: wall time without a message after which a camera is silent (not waited for); None:
            ``max(0.25, 3 * max_wait_s)``.
        offsets_s: camera -> time offset, seconds (see the module docstring); missing = 0.
        interpolate: ``f(a, b, w)`` payload interpolation for cameras with an offset (default
            :func:`interpolate_keypoints`).
        max_interp_gap_s: two messages of an offset camera further apart than this are not interpolated between
            (the nearer one within ``tolerance_s`` is used instead).
    """

    def __init__(self, cameras: list[str], tolerance_s: float = 0.008, max_wait_s: float = 0.1,
                 min_cameras: int = 2, clock_jump_s: float = 1.0, camera_timeout_s: float | None = None,
                 offsets_s: Mapping[str, float] | None = None,
                 interpolate: Callable[[Any, Any, float], Any] = interpolate_keypoints,
                 max_interp_gap_s: float = 0.1) -> None:
        if not cameras:
            raise ValueError("FrameSynchronizer needs at least one camera name")
        if tolerance_s <= 0 or max_wait_s <= 0:
            raise ValueError(f"tolerance_s and max_wait_s must be > 0 (got {tolerance_s}, {max_wait_s})")
        unknown = [c for c in (offsets_s or {}) if c not in cameras]
        if unknown:
            raise ValueError(f"time offsets given for {unknown}, which are not among the cameras {list(cameras)}")
        self.cameras = list(cameras)
        self.tolerance_s = float(tolerance_s)
        self.max_wait_s = float(max_wait_s)
        self.min_cameras = int(min_cameras)
        self.clock_jump_s = float(clock_jump_s)
        self.camera_timeout_s = float(camera_timeout_s) if camera_timeout_s else max(0.25, 3 * self.max_wait_s)
        off = {c: float((offsets_s or {}).get(c, 0.0)) for c in self.cameras}
        base = min(off.values())
        #: per-camera offset relative to the earliest camera, seconds (subtracted from stamps)
        self.offsets_s = {c: o - base for c, o in off.items()}
        self.interp_cameras = [c for c in self.cameras if abs(self.offsets_s[c]) > 1e-9]
        self.interpolate = interpolate
        self.max_interp_gap_s = float(max_interp_gap_s)
        self.counts = {"emitted": 0, "incomplete": 0, "dropped": 0, "late": 0, "clock_jumps": 0}
        self.late_by_camera = dict.fromkeys(self.cameras, 0)
        self.last_heard: dict[str, float | None] = dict.fromkeys(self.cameras)
        self.silent: set[str] = set()
        self._first_wall: float | None = None
        self._adds = self._adds_at_poll = 0  # messages added in total / when poll() last ran
        self._spacing: dict[str, float] = {}  # offset camera -> stamp spacing of its last two messages
        self.reset()

    @classmethod
    def from_params(cls, cameras: list[str], params: Mapping[str, Any] | None = None) -> FrameSynchronizer:
        """Build from flat options named as in :data:`SYNC_PARAMS` (other keys ignored).

        ``time_offsets`` entries are ``"camera:seconds"``; a malformed entry raises ``ValueError``.
        """
        p = {**SYNC_PARAMS, **{k: v for k, v in (params or {}).items() if k in SYNC_PARAMS}}
        return cls(cameras, float(p["sync_tolerance_s"]), float(p["max_wait_s"]), int(p["min_cameras"]),
                   float(p["clock_jump_s"]), float(p["camera_timeout_s"]), parse_offsets(p["time_offsets"]))

    def reset(self) -> None:
        """Forget pending groups and the stamp history."""
        self.pending: list[Group] = []
        self.last_emitted: float | None = None
        self.newest: float | None = None
        self._prev: dict[str, tuple[float, Any]] = {}  # offset camera -> (stamp, payload) of its last message

    # ------------------------------------------------------------------ input
    def add(self, camera: str, stamp: float, payload: Any, now: float) -> tuple[list[Group], list[SyncEvent]]:
        """Add one camera message (``stamp``: its capture stamp, seconds; ``now``: wall time, seconds); returns the
        groups ready now (stamp order) and events to report."""
        events: list[SyncEvent] = []
        if camera not in self.cameras:
            return [], [SyncEvent("unknown_camera", f"message from camera {camera!r}, which is not one of the "
                                  f"configured cameras {self.cameras}; ignored", camera)]
        if self._first_wall is None:
            self._first_wall = now
        self._adds += 1
        self.last_heard[camera] = now
        if camera in self.silent:
            self.silent.discard(camera)
            events.append(SyncEvent("resumed", f"camera {camera!r} speaks again; waiting for it again", camera))
        stamp = stamp - self.offsets_s[camera]
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
        if camera in self.interp_cameras:
            self._add_interpolated(camera, stamp, payload)
        elif self.last_emitted is not None and stamp <= self.last_emitted + self.tolerance_s * 0.5 \
                and self._find(camera, stamp) is None:
            self.counts["late"] += 1
            self.late_by_camera[camera] += 1
            return out, events + [SyncEvent("late", f"camera {camera!r}: message stamped {stamp:.4f} s arrived after "
                                            f"the group at {self.last_emitted:.4f} s was processed (out of sync by "
                                            f"{self.last_emitted - stamp:+.4f} s); dropped", camera)]
        else:
            g = self._find(camera, stamp)
            if g is None:
                g = Group(stamp, dict.fromkeys(self.cameras), now)
                self.pending.append(g)
                self.pending.sort(key=lambda x: x.stamp)
                self._fill_from_prev(g)
            g.frames[camera] = payload
            g.stamps[camera] = stamp
            g.stamp = min(g.stamp, stamp)
        self.newest = stamp if self.newest is None else max(self.newest, stamp)
        out += self._emit_complete(now, events)
        return out, events

    def poll(self, now: float) -> tuple[list[Group], list[SyncEvent]]:
        """Emit groups that are complete now that a camera fell silent, or that waited too long (call from a timer);
        reports cameras falling silent.

        A group waits ``max_wait_s`` of wall time, plus, while it lacks a camera with a time offset, that offset
        and one frame period (that camera's frames arrive that much later by construction). It times out only when
        no message was added since the previous poll, or after three times its wait: a caller that stalled (a
        starved process) first takes the messages queued meanwhile instead of emitting groups whose other cameras'
        messages are already waiting in its queue.
        """
        events: list[SyncEvent] = []
        self._update_silent(now, events)
        out = self._emit_complete(now, events)
        quiet = self._adds == self._adds_at_poll
        self._adds_at_poll = self._adds
        idx = [i for i, p in enumerate(self.pending) if (age := now - p.opened_wall) >= (w := self._wait_s(p))
               and (quiet or age >= 3 * w)]
        if idx:
            out += self._emit_upto(idx[-1], events)
        return out, events

    def _wait_s(self, g: Group) -> float:
        extra = [self.offsets_s[c] + self._spacing.get(c, 0.0) for c in self.interp_cameras if g.frames[c] is None]
        return self.max_wait_s + max(extra, default=0.0)

    def active(self, camera: str, now: float) -> bool:
        """True while ``camera`` is waited for: heard within ``camera_timeout_s``, or never heard and the first
        message of any camera came less than ``camera_timeout_s`` ago."""
        t = self.last_heard[camera]
        ref = t if t is not None else self._first_wall
        return ref is None or now - ref <= self.camera_timeout_s

    # ------------------------------------------------------------------ internals
    def _update_silent(self, now: float, events: list[SyncEvent]) -> None:
        for c in self.cameras:
            if c not in self.silent and not self.active(c, now):
                self.silent.add(c)
                heard = self.last_heard[c]
                since = "never heard" if heard is None else f"silent for {now - heard:.2f} s"
                events.append(SyncEvent("silent", f"camera {c!r}: {since}; fusing the other cameras without "
                                        "waiting for it until it speaks again", c))

    def _add_interpolated(self, camera: str, stamp: float, payload: Any) -> None:
        prev = self._prev.get(camera)
        if prev is not None and stamp <= prev[0]:
            return  # out of order: keep the newer one
        for g in self.pending:
            if g.frames[camera] is None:
                self._fill(g, camera, prev, (stamp, payload))
        if prev is not None and stamp - prev[0] <= self.max_interp_gap_s:
            self._spacing[camera] = stamp - prev[0]
        self._prev[camera] = (stamp, payload)

    def _fill_from_prev(self, g: Group) -> None:
        """A new group takes an offset camera's last message when it is already at (or within tolerance of) its
        stamp; later messages fill it otherwise."""
        for c in self.interp_cameras:
            prev = self._prev.get(c)
            if prev is not None and abs(prev[0] - g.stamp) <= self.tolerance_s and prev[0] >= g.stamp:
                g.frames[c], g.stamps[c] = prev[1], prev[0]

    def _fill(self, g: Group, camera: str, prev: tuple[float, Any] | None, cur: tuple[float, Any]) -> None:
        (s1, p1), t = cur, g.stamp
        if prev is not None and prev[0] < t <= s1 and s1 - prev[0] <= self.max_interp_gap_s:
            s0, p0 = prev
            g.frames[camera] = self.interpolate(p0, p1, (t - s0) / (s1 - s0))
            g.stamps[camera] = t
        elif 0 <= s1 - t <= self.tolerance_s and (prev is None or not prev[0] < t <= s1 or
                                                  s1 - prev[0] > self.max_interp_gap_s):
            g.frames[camera], g.stamps[camera] = p1, s1

    def _complete(self, g: Group, now: float) -> bool:
        for c in self.cameras:
            if g.frames[c] is not None or not self.active(c, now):
                continue
            prev = self._prev.get(c)
            if c in self.interp_cameras and prev is not None and prev[0] > g.stamp + self.tolerance_s:
                continue  # the offset camera has passed this stamp without a usable pair: it cannot come
            return False
        return True

    def _emit_complete(self, now: float, events: list[SyncEvent]) -> list[Group]:
        done = [i for i, p in enumerate(self.pending) if self._complete(p, now)]
        return self._emit_upto(done[-1], events) if done else []

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


def parse_offsets(entries) -> dict[str, float]:
    """``["cam03:0.0568", ...]`` (empty entries ignored) -> ``{"cam03": 0.0568}``; ``ValueError`` naming a bad
    entry."""
    out: dict[str, float] = {}
    for e in entries or []:
        e = str(e).strip()
        if not e:
            continue
        name, sep, val = e.rpartition(":")
        try:
            if not sep or not name:
                raise ValueError
            out[name.strip()] = float(val)
        except ValueError:
            raise ValueError(f"time offset {e!r} must be 'camera:seconds', e.g. 'cam03:0.0568'") from None
    return out


__all__ = ["SYNC_PARAMS", "FrameSynchronizer", "Group", "SyncEvent", "interpolate_keypoints", "parse_offsets"]
