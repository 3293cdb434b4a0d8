"""Shared helpers of the ROS 2 tests: the workspace paths and the skip condition."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WS_SRC = REPO / "ros2_ws" / "src"
PKG_SRC = WS_SRC / "mocap"


def ros_built() -> bool:
    """True when rclpy, mocap_msgs and mocap_ros import (scripts/ros_setup.sh has run)."""
    return all(importlib.util.find_spec(m) is not None for m in ("rclpy", "mocap_msgs", "mocap_ros"))


NOT_BUILT = "ROS 2 workspace not built: run `bash scripts/ros_setup.sh`, then `bash scripts/ros_test.sh`"
needs_ros = pytest.mark.skipif(not ros_built(), reason=NOT_BUILT)
#: tests that start DDS participants run only inside scripts/ros_test.sh's loopback-only network namespace
needs_netns = pytest.mark.skipif(os.environ.get("MOCAP_ROS_NETNS") != "1",
                                 reason="starts DDS processes: run via `bash scripts/ros_test.sh` (loopback-only "
                                        "network namespace)")


@pytest.fixture(scope="session")
def ros_env() -> dict[str, str]:
    """Environment for ROS processes: DDS on loopback only, an isolated domain id."""
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["ROS_DOMAIN_ID"] = env["ROS_DOMAIN_ID"]
    return env


def import_pure(name: str):
    """Import a ROS-free module of mocap_ros from the source tree (works without the workspace built)."""
    if str(PKG_SRC) not in sys.path and importlib.util.find_spec("mocap_ros") is None:
        sys.path.insert(0, str(PKG_SRC))
    return importlib.import_module(f"mocap_ros.{name}")
