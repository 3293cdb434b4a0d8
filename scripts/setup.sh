#!/usr/bin/env bash
# Set up everything mocap needs in ./.venv (Debian 12 / Ubuntu, Python 3.11).
# Idempotent: a second run only checks. Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

# System library needed by pyrealsense2 (and open3d).
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "[setup] installing libusb-1.0-0 (apt)"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libusb-1.0-0 >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.mocap-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "[setup] installing mocap and its pinned dependencies (~3 GB, a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev,viewer]"
  touch "$stamp"
fi
bash scripts/setup_models.sh --quiet  # BlazePose model files (from the mediapipe wheel) into ~/.cache/mocap/models
echo "[setup] ready: $(.venv/bin/mocap --version 2>/dev/null || echo 'mocap installed')"
