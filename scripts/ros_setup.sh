#!/usr/bin/env bash
# Install ROS 2 Kilted (PyPI wheels) into ./.venv and build the mocap ROS 2 workspace into the venv, so that
# `.venv/bin/python -c "import mocap_msgs.msg, mocap_ros"` works with no sourced environment.
# Idempotent: a rerun skips pip when the pins are unchanged and only rebuilds what changed (seconds).
# Usage: bash scripts/ros_setup.sh            (after scripts/setup.sh)
#        MOCAP_ROS_NO_TEST_MSGS=1 bash ...    (skip the test-only tf2_msgs copy; use it next to a real ROS 2)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=$ROOT/.venv
PY=$VENV/bin/python
[ -x "$PY" ] || { echo "[ros] no .venv: run scripts/setup.sh first" >&2; exit 1; }

PINS=(
  'ros-kilted-rclpy[fastrtps]==9.1.2' ros-kilted-std-msgs==5.5.1 ros-kilted-geometry-msgs==5.5.1
  ros-kilted-sensor-msgs==5.5.1 ros-kilted-visualization-msgs==5.5.1 ros-kilted-trajectory-msgs==5.5.1
  ros-kilted-rosidl-default-generators==1.7.1 ros-kilted-rosidl-core-generators==0.3.1
  ros-kilted-ament-cmake==2.7.3 ros-kilted-ament-cmake-include-directories==2.7.3
  ros-kilted-ament-cmake-ros-core==0.14.5 ros-kilted-ament-package==0.17.2
  catkin-pkg==1.1.1 colcon-common-extensions==0.3.0
  numpy==1.26.4 protobuf==4.25.9
  # teleop (pinocchio IK, UR5/Panda URDFs) and recorder (rosbag2 MCAP, LeRobot parquet); newer pin/pyarrow need numpy 2
  pin==2.7.0 example-robot-data==6.0.0 rosbags==0.11.9 pyarrow==21.0.0
)
stamp=$VENV/.mocap-ros-wheels
want=$(printf '%s\n' "${PINS[@]}" | sha1sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[ros] installing the ROS 2 Kilted wheels into .venv"
  "$PY" -m pip install -q "${PINS[@]}"
  echo "$want" > "$stamp"
fi

# The wheels hard-code their build machine's Python paths in the exported CMake files: point them at ours.
inc=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
npinc=$("$PY" -c 'import numpy; print(numpy.get_include())')
files=$(grep -l '/opt/python/cp311-cp311' "$VENV"/share/*/cmake/*.cmake 2>/dev/null || true)
if [ -n "$files" ]; then
  echo "[ros] fixing hard-coded paths in $(echo "$files" | wc -l) CMake files"
  # shellcheck disable=SC2086
  sed -i -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$npinc#g" \
         -e "s#/opt/python/cp311-cp311/include/python3.11#$inc#g" $files
fi

export AMENT_PREFIX_PATH=$VENV CMAKE_PREFIX_PATH=$VENV PATH=$VENV/bin:$PATH
build_pkg() {  # build_pkg SRC_DIR NAME: configure once, then incremental build + install into the venv
  local src=$1 name=$2 bld=$ROOT/ros2_ws/build/$2
  if [ ! -f "$bld/CMakeCache.txt" ]; then
    cmake -S "$src" -B "$bld" -DCMAKE_INSTALL_PREFIX="$VENV" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
      -DPython3_EXECUTABLE="$PY" -DPYTHON_EXECUTABLE="$PY" -Wno-dev >"$bld.configure.log" 2>&1 \
      || { mkdir -p "$bld"; cat "$bld.configure.log" >&2; echo "[ros] configuring $name failed" >&2; exit 1; }
  fi
  cmake --build "$bld" -j 2 >"$bld.build.log" 2>&1 || { tail -40 "$bld.build.log" >&2; echo "[ros] building $name failed" >&2; exit 1; }
  cmake --install "$bld" >"$bld.install.log" 2>&1 || { tail -20 "$bld.install.log" >&2; exit 1; }
  echo "[ros] built $name"
}
mkdir -p "$ROOT/ros2_ws/build"
build_pkg "$ROOT/ros2_ws/src/mocap_msgs" mocap_msgs
if [ "${MOCAP_ROS_NO_TEST_MSGS:-0}" != 1 ] && ! "$PY" -c 'import tf2_msgs.msg' 2>/dev/null \
   || [ -f "$ROOT/ros2_ws/build/tf2_msgs/CMakeCache.txt" ]; then
  # tf2_msgs is not on PyPI: a local copy (identical definition and type hash) lets the tests receive /tf.
  [ "${MOCAP_ROS_NO_TEST_MSGS:-0}" != 1 ] && build_pkg "$ROOT/ros2_ws/test_support/tf2_msgs" tf2_msgs
fi
# the installed Python module is a copy: drop it first so modules moved or deleted in the source do not linger
rm -rf "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/mocap_ros"
build_pkg "$ROOT/ros2_ws/src/mocap" mocap
"$PY" -c 'import rclpy, mocap_msgs.msg, mocap_ros' && echo "[ros] ready: rclpy, mocap_msgs, mocap_ros import from .venv"
