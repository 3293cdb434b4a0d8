#!/usr/bin/env bash
# Run the ROS 2 tests (tests/ros) with DDS confined to loopback: inside a fresh network namespace (unshare -n)
# whose only interface is lo, and with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST. Needs scripts/ros_setup.sh first.
# Usage: bash scripts/ros_test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST MPLBACKEND=Agg MOCAP_NO_PROGRESS=1 MOCAP_ROS_NETNS=1
UNSHARE=(unshare -n)
if ! unshare -n true 2>/dev/null; then
  if unshare -rn true 2>/dev/null; then UNSHARE=(unshare -rn)  # unprivileged: user + network namespace
  else echo "[ros-test] cannot create a network namespace (unshare -n); refusing to run DDS on shared interfaces" >&2
       exit 1
  fi
fi
exec "${UNSHARE[@]}" sh -c 'ip link set lo up && exec .venv/bin/python -m pytest -q tests/ros "$@"' ros_test "$@"
