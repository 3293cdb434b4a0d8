"""A closed loop without ROS for the teleop tests: TeleopController <-> SimulatedJTC on one simulated clock.

The robot state is published every ``state_dt`` (like ``/joint_states``), heartbeats every ``heartbeat_dt``, the
controller's timeout check runs every ``tick_dt``, and skeleton frames are fed when their time comes. Every
trajectory the controller returns goes through the simulated controller's acceptance rules; the rig keeps all
of them with the verdicts, and the executed joint states.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mocap.apps.teleop.controller import TeleopController, TrajectoryCommand
from mocap.apps.teleop.sim_robot import SimulatedJTC, Trajectory, TrajectoryPoint


def to_trajectory(cmd: TrajectoryCommand) -> Trajectory:
    """A controller command as the message the simulated controller receives."""
    return Trajectory(cmd.start_time, list(cmd.joint_names),
                      [TrajectoryPoint(float(t), q.tolist(), v.tolist(), a.tolist())
                       for t, q, v, a in zip(cmd.times, cmd.positions, cmd.velocities, cmd.accelerations)])


@dataclass
class Rig:
    ctl: TeleopController
    sim: SimulatedJTC
    t: float = 100.0
    state_dt: float = 0.01
    heartbeat_dt: float = 0.05
    tick_dt: float = 0.02
    heartbeat_on: bool = True
    state_on: bool = True
    sent: list = field(default_factory=list)       # (time, command, accepted, reason)
    states: list = field(default_factory=list)     # (time, q, v, a) executed
    _next: dict = field(default_factory=dict)

    def send(self, cmd: TrajectoryCommand | None) -> None:
        if cmd is None:
            return
        ok, why = self.sim.receive(to_trajectory(cmd), self.t)
        self.sent.append((self.t, cmd, ok, why))

    def run(self, until: float, frames=(), on_frame=None) -> None:
        """Advance the clock to ``until`` in ``state_dt`` steps, feeding ``frames`` ``[(time, SkeletonFrame)]``."""
        frames = list(frames)
        k = 0
        while self.t < until - 1e-12:
            self.t = round(self.t + self.state_dt, 9)
            q, v, a = self.sim.advance(self.t)
            self.states.append((self.t, q, v, a))
            if self.state_on:
                self.ctl.on_robot_state(self.t, self.sim.joint_names, q, v)
            if self.heartbeat_on and self.t >= self._next.get("hb", -1):
                self.ctl.on_heartbeat(self.t)
                self._next["hb"] = self.t + self.heartbeat_dt - 1e-9
            if self.t >= self._next.get("tick", -1):
                self.send(self.ctl.tick(self.t))
                self._next["tick"] = self.t + self.tick_dt - 1e-9
            while k < len(frames) and frames[k][0] <= self.t + 1e-9:
                cmd = self.ctl.on_skeleton(frames[k][1], self.t)
                self.send(cmd)
                if on_frame is not None:
                    on_frame(self, frames[k], cmd)
                k += 1

    def moved_since(self, t0: float) -> float:
        """Largest joint displacement (rad) of the executed state after ``t0`` relative to the state at ``t0``."""
        qs = np.array([q for t, q, _, _ in self.states if t >= t0])
        return float(np.abs(qs - qs[0]).max()) if len(qs) else 0.0
