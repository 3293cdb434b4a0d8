#!/usr/bin/env bash
# Run the ROS 2 tests (tests/ros) with DDS confined to loopback: inside a fresh network namespace (unshare -n)
# whose only interface is lo, and with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST. Every message is checked field by
# field (ROS_PYTHON_CHECK_FIELDS=1). Needs scripts/ros_setup.sh first.
#
# The launch tests replay a `mocap demo` session: it is made once per machine, before entering the namespace (the
# demo data may have to come from PyPI), with `mocap demo --fit none --export ''` into $MOCAP_ROS_DEMO_SESSION
# (default ~/.cache/mocap/ros-demo-session); MOCAP_ROS_DEMO_SESSION=none skips it (those tests are then skipped).
# Usage: bash scripts/ros_test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST MPLBACKEND=Agg MOCAP_NO_PROGRESS=1 MOCAP_ROS_NETNS=1
export ROS_PYTHON_CHECK_FIELDS=1
export AMENT_PREFIX_PATH=$ROOT/.venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH} PATH=$ROOT/.venv/bin:$PATH
export MOCAP_ROS_DEMO_SESSION=${MOCAP_ROS_DEMO_SESSION:-$HOME/.cache/mocap/ros-demo-session}
if [ "$MOCAP_ROS_DEMO_SESSION" != none ] && [ ! -f "$MOCAP_ROS_DEMO_SESSION/keypoints3d.npz" ]; then
  echo "[ros-test] preparing the demo session in $MOCAP_ROS_DEMO_SESSION (mocap demo, once)"
  .venv/bin/mocap demo --out "$MOCAP_ROS_DEMO_SESSION" --fit none --export '' \
    || echo "[ros-test] mocap demo failed: the demo-session tests will be skipped" >&2
fi
UNSHARE=(unshare -n)
if ! unshare -n true 2>/dev/null; then
  if unshare -rn true 2>/dev/null; then UNSHARE=(unshare -rn)  # unprivileged: user + network namespace
  else echo "[ros-test] cannot create a network namespace (unshare -n); refusing to run DDS on shared interfaces" >&2
       exit 1
  fi
fi
exec "${UNSHARE[@]}" sh -c 'ip link set lo up && exec .venv/bin/python -m pytest -q tests/ros "$@"' ros_test "$@"
