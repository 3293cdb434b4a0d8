"""The teleoperation safety state machine: robot- and transport-agnostic, no ROS.

States (:class:`SafetyState`) and what moves them:

- ``disarmed``: no motion. :meth:`SafetySupervisor.arm` -> ``armed`` only when every gate holds: e-stop released,
  a fresh robot state, a fresh heartbeat (when required), a fresh skeleton frame and exactly one operator chosen
  (:func:`choose_operator`: the configured person id, else the one person raising both hands, else the only
  person in view). Arming locks onto that person id.
- ``armed``: the operator drives the robot. Any of these -> ``stopped`` (with the reason): e-stop set; heartbeat
  older than ``heartbeat_timeout_s``; robot state older than ``state_timeout_s``; the operator missing from a frame
  or marked lost; the operator not measured for ``operator_timeout_s``. Another person in view changes nothing:
  only the locked id is ever read. :meth:`SafetySupervisor.disarm` -> ``disarmed``.
- ``stopped``: latched. No motion until :meth:`SafetySupervisor.arm` succeeds again (a released e-stop, a heartbeat
  or an operator that comes back do NOT resume motion), which chooses the operator anew.

Times are seconds on one monotonic clock chosen by the caller (``now`` arguments).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from mocap.errors import MocapError
from mocap.live.stream import PersonSkeleton, SkeletonDescription, SkeletonFrame, TrackState


class SafetyState(str, Enum):
    """``disarmed`` (idle), ``armed`` (following the operator), ``stopped`` (latched until re-armed)."""

    DISARMED = "disarmed"
    ARMED = "armed"
    STOPPED = "stopped"


@dataclass
class SafetyConfig:
    """Gates and timeouts of :class:`SafetySupervisor` (seconds)."""

    heartbeat_timeout_s: float = 0.3
    require_heartbeat: bool = True
    state_timeout_s: float = 0.1
    operator_timeout_s: float = 0.5
    operator_id: int = -1               # -1: chosen at arming (both hands raised, or the only person in view)
    raise_margin_m: float = 0.1         # both hands raised = both wrists this far above their shoulders

    def validate(self) -> None:
        """Raise :class:`~mocap.errors.MocapError` naming an invalid value."""
        for k in ("heartbeat_timeout_s", "state_timeout_s", "operator_timeout_s"):
            v = getattr(self, k)
            if not (np.isfinite(v) and v > 0):
                raise MocapError(f"{k} must be > 0 s, got {v}")
        if self.operator_id < -1:
            raise MocapError(f"operator_id must be -1 (choose at arming) or a person id >= 0, got {self.operator_id}")


@dataclass
class SafetyStatus:
    """A snapshot: state, why (for ``stopped``/refusals), the locked operator (-1 none), e-stop latched."""

    state: SafetyState
    reason: str
    operator_id: int
    estop: bool

    def text(self) -> str:
        """One line for ``~/state``: ``armed (operator 3)``, ``stopped: heartbeat lost ...``, ``disarmed``."""
        if self.state == SafetyState.ARMED:
            return f"armed (operator {self.operator_id})"
        return f"{self.state.value}: {self.reason}" if self.reason else self.state.value


def hands_raised(person: PersonSkeleton, description: SkeletonDescription, margin: float = 0.1) -> bool:
    """True when both wrists are at least ``margin`` m above their shoulders (world Z up)."""
    names = description.joint_names
    try:
        idx = [names.index(n) for n in ("left_wrist", "left_shoulder", "right_wrist", "right_shoulder")]
    except ValueError:
        return False
    P = person.positions[idx]
    if not np.all(np.isfinite(P)) or np.any(person.joint_confidence[idx] <= 0):
        return False
    return bool(P[0, 2] > P[1, 2] + margin and P[2, 2] > P[3, 2] + margin)


def choose_operator(frame: SkeletonFrame, description: SkeletonDescription, operator_id: int = -1,
                    margin: float = 0.1) -> tuple[int | None, str]:
    """The person to lock onto at arming, or None and why.

    Rules: a configured ``operator_id`` (>= 0) must be in the frame and measured; otherwise the only person raising
    both hands; otherwise the only person in view. Several candidates and no gesture: refused (never guess).
    """
    seen = [p for p in frame.people if p.state in (TrackState.NEW, TrackState.TRACKED)]
    if operator_id >= 0:
        p = frame.person(operator_id)
        if p is None or p.state not in (TrackState.NEW, TrackState.TRACKED):
            return None, (f"operator {operator_id} is not tracked in the current frame "
                          f"(seen: {[q.person_id for q in seen]})")
        return operator_id, ""
    if not seen:
        return None, "nobody is tracked in the current frame"
    raised = [p.person_id for p in seen if hands_raised(p, description, margin)]
    if len(raised) == 1:
        return raised[0], ""
    if len(raised) > 1:
        return None, f"several people raise both hands ({raised}): set operator_id"
    if len(seen) == 1:
        return seen[0].person_id, ""
    return None, (f"{len(seen)} people in view ({[p.person_id for p in seen]}): the operator raises both hands "
                  "while arming, or set operator_id")


class SafetySupervisor:
    """See the module docstring. Feed it events; read :attr:`status`; it never commands motion itself."""

    def __init__(self, cfg: SafetyConfig | None = None) -> None:
        self.cfg = cfg or SafetyConfig()
        self.cfg.validate()
        self.state = SafetyState.DISARMED
        self.reason = ""
        self.operator_id = -1
        self.estop = False
        self.last_heartbeat: float | None = None
        self.last_robot_state: float | None = None
        self.last_frame: float | None = None
        self.last_operator_seen: float | None = None

    @property
    def status(self) -> SafetyStatus:
        return SafetyStatus(self.state, self.reason, self.operator_id, self.estop)

    @property
    def armed(self) -> bool:
        return self.state == SafetyState.ARMED

    # ------------------------------------------------------------------ events
    def heartbeat(self, now: float) -> None:
        """The dead-man signal (a pedal, a gamepad button) was seen at ``now``."""
        self.last_heartbeat = now

    def robot_state(self, now: float) -> None:
        """A robot joint state arrived at ``now``."""
        self.last_robot_state = now

    def set_estop(self, on: bool, now: float) -> bool:
        """Latch (True) or release (False) the e-stop; True when this stopped an armed system. Releasing never
        re-arms."""
        was_armed = self.armed
        if on:
            self.estop = True
            if self.state != SafetyState.DISARMED:
                self._stop("e-stop")
            else:
                self.reason = "e-stop"
        else:
            if self.estop and self.state == SafetyState.STOPPED:
                self.reason = "e-stop released: re-arm to move"
            elif self.estop and self.state == SafetyState.DISARMED:
                self.reason = ""
            self.estop = False
        return was_armed and not self.armed

    def arm(self, now: float, frame: SkeletonFrame | None, description: SkeletonDescription | None,
            frame_time: float | None = None) -> tuple[bool, str]:
        """Try to arm; ``(ok, message)``. ``frame`` is the newest skeleton frame, received at ``frame_time``."""
        c = self.cfg
        if self.estop:
            return False, "e-stop is set: release it first"
        if self.last_robot_state is None:
            return False, "no robot state received yet"
        if now - self.last_robot_state > c.state_timeout_s:
            return False, f"robot state is stale ({now - self.last_robot_state:.2f} s old)"
        if c.require_heartbeat:
            if self.last_heartbeat is None:
                return False, "no heartbeat received yet: hold the dead-man button"
            if now - self.last_heartbeat > c.heartbeat_timeout_s:
                return False, f"heartbeat is stale ({now - self.last_heartbeat:.2f} s old): hold the dead-man button"
        if frame is None or description is None:
            return False, "no skeleton frame received yet"
        if frame_time is not None and now - frame_time > c.operator_timeout_s:
            return False, f"the newest skeleton frame is {now - frame_time:.2f} s old"
        pid, why = choose_operator(frame, description, c.operator_id, c.raise_margin_m)
        if pid is None:
            return False, why
        self.state, self.reason, self.operator_id = SafetyState.ARMED, "", pid
        self.last_operator_seen = now
        return True, f"armed: operator {pid}"

    def disarm(self, reason: str = "disarmed by request") -> bool:
        """-> ``disarmed``; True when this stopped an armed system."""
        was = self.armed
        self.state, self.reason, self.operator_id = SafetyState.DISARMED, reason if was else "", -1
        return was

    def observe(self, frame: SkeletonFrame, now: float) -> tuple[PersonSkeleton | None, bool]:
        """A skeleton frame arrived at ``now``: ``(the operator's skeleton if measured in it, stopped_now)``.

        Only the locked operator is read. Missing or ``lost`` -> stopped at once; ``predicted`` -> no measurement
        (the operator timeout keeps running).
        """
        self.last_frame = now
        if not self.armed:
            return None, False
        p = frame.person(self.operator_id)
        if p is None or p.state == TrackState.LOST:
            self._stop(f"operator {self.operator_id} lost" + (" (tracking state lost)" if p is not None else
                                                             f" (people in view: {frame.person_ids})"))
            return None, True
        if p.state == TrackState.PREDICTED:
            return None, self.check(now)
        self.last_operator_seen = now
        return p, self.check(now)

    def check(self, now: float) -> bool:
        """Apply the timeouts at ``now``; True when this stopped an armed system."""
        if not self.armed:
            return False
        c = self.cfg
        if c.require_heartbeat and (self.last_heartbeat is None or now - self.last_heartbeat > c.heartbeat_timeout_s):
            age = float("inf") if self.last_heartbeat is None else now - self.last_heartbeat
            self._stop(f"heartbeat lost ({age:.2f} s > {c.heartbeat_timeout_s:.2f} s)")
            return True
        if self.last_robot_state is None or now - self.last_robot_state > c.state_timeout_s:
            age = float("inf") if self.last_robot_state is None else now - self.last_robot_state
            self._stop(f"robot state stale ({age:.2f} s > {c.state_timeout_s:.2f} s)")
            return True
        if self.last_operator_seen is not None and now - self.last_operator_seen > c.operator_timeout_s:
            self._stop(f"operator {self.operator_id} not measured for {now - self.last_operator_seen:.2f} s")
            return True
        return False

    def stop(self, reason: str) -> bool:
        """Stop for a reason found elsewhere (the robot not following, an internal error); True when it was armed."""
        was = self.armed
        if self.state != SafetyState.DISARMED:
            self._stop(reason)
        return was

    def _stop(self, reason: str) -> None:
        self.state, self.reason, self.operator_id = SafetyState.STOPPED, f"{reason}; re-arm to move", -1
