"""Fixtures of the 2D detection tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def pose2sim_multi() -> Path:
    """The Pose2Sim Demo_MultiPerson folder (two people, 4 cameras), fetched from PyPI into the cache on first use."""
    from mocap.data.pose2sim_demo import pose2sim_demo

    return pose2sim_demo("multi", quiet=True)
