#!/usr/bin/env bash
# Set up everything and run the whole test suite (what CI runs). Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Test-only independent checkers: Blender (bpy, GPL) in its own venv and the Khronos glTF validator (npm).
bash scripts/blender_check/setup.sh
# LeRobot's own dataset reader (lerobot 0.4.4 + torch 2.13.0 CPU) in .venv-lerobot, for the recorder tests.
bash scripts/lerobot_check/setup.sh
# The peers (Pose2Sim 0.10.49's triangulation/filtering, aniposelib) in .venv-peers, for the benchmark-runner tests.
bash benchmarks/peers/setup_peers.sh
# The ROS 2 Kilted wheels + the `ros` extra (pinocchio, rosbags, pyarrow, av) before the library tests: the teleop
# and recorder library tests (tests/apps/teleop, tests/apps/record) need those packages, not ROS.
bash scripts/ros_setup.sh
echo "[test] ruff"
.venv/bin/ruff check .
echo "[test] pytest"
export MPLBACKEND=Agg MOCAP_NO_PROGRESS=1
.venv/bin/python -m pytest -q --ignore=tests/ros "$@"
echo "[test] every pinned distribution has a Python 3.12 wheel (pip download per pin)"
.venv/bin/python scripts/check_py312_wheels.py
echo "[test] ROS tests (in a private network namespace, loopback only)"
bash scripts/ros_test.sh
