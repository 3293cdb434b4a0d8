"""Fixtures of the teleop tests: the recorded operator (CMU 131_01) and a controller + simulated robot rig."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pinocchio", reason="pin (pinocchio) not installed: pip install pin==2.7.0 example-robot-data")

from mocap.apps.teleop.controller import TeleopConfig, TeleopController  # noqa: E402
from mocap.apps.teleop.sim_robot import SimulatedJTC  # noqa: E402
from tests.apps.teleop.operator import cmu_operator  # noqa: E402
from tests.apps.teleop.rig import Rig  # noqa: E402

#: robot started this far from home on every joint (issue 14's acceptance)
OFFSET_FROM_HOME = 0.5


@pytest.fixture(scope="session")
def operator(shared_data):
    """``(description, [(t, SkeletonFrame)])`` of CMU 131_01 at 30 Hz, t from 0."""
    return cmu_operator(shared_data / "bvh" / "131_01.bvh")


def make_rig(desc, robot: str = "ur5", t0: float = 100.0, **cfg) -> Rig:
    """Controller (position tracking of the right arm, scaled 0.6) + simulated arm 0.5 rad from home."""
    base = {"robot": robot, "orientation": "none", "scale": [0.6, 0.6, 0.6]}
    ctl = TeleopController(TeleopConfig(**{**base, **cfg}), desc)
    lim = ctl.robot.limits
    q0 = lim.clip_positions(ctl.robot.home + OFFSET_FROM_HOME, 0.01)
    return Rig(ctl, SimulatedJTC(lim, q0), t=t0)


def shifted(frames, t0: float):
    """The frames re-timed to start at ``t0``."""
    return [(t0 + t, f) for t, f in frames]


def arm_rig(rig: Rig, desc, frames, settle: float = 0.2) -> None:
    """Publish state and heartbeat for ``settle`` s, feed the first frame, arm (asserting it works)."""
    rig.run(rig.t + settle)
    rig.ctl.on_skeleton(frames[0][1], rig.t)
    ok, msg = rig.ctl.arm(rig.t)
    assert ok, msg


def following(desc, frames, n: int, **cfg) -> tuple[Rig, list]:
    """A rig armed on the operator and following its first ``n`` frames; ``(rig, re-timed frames)``."""
    rig = make_rig(desc, **cfg)
    fr = shifted(frames, rig.t + 0.2)
    arm_rig(rig, desc, fr)
    rig.run(fr[n][0], fr[: n + 1])
    return rig, fr


def executed_limits_ratio(rig: Rig, t_from: float = -np.inf) -> tuple[float, float]:
    """Max |v| / limit and |a| / limit over the executed states after ``t_from``."""
    lim = rig.ctl.robot.limits
    V = np.array([v for t, _, v, _ in rig.states if t >= t_from])
    A = np.array([a for t, _, _, a in rig.states if t >= t_from])
    return float((np.abs(V) / lim.velocity).max()), float((np.abs(A) / lim.acceleration).max())
