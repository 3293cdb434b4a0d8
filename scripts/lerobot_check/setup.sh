#!/usr/bin/env bash
# Test-only: LeRobot's own dataset reader (lerobot.datasets.LeRobotDataset) in its own venv ./.venv-lerobot, used by
# the recorder tests (tests/apps/record/test_lerobot_reader.py) to load what mocap's recorder writes.
#
# lerobot 0.4.4 is the newest release for Python 3.11 (0.5+ needs 3.12). It declares torch<2.11, but the only CPU
# build of torch installable here is 2.13.0 (any other version resolves to a multi-GB CUDA build), so lerobot is
# installed with --no-deps next to torch 2.13.0 (CPU), torchvision 0.28.0 (its match) and the subset of lerobot's
# dependencies the dataset reader imports. Video decoding: torchcodec (needs FFmpeg's shared libraries: apt).
# torchvision's compiled ops do not load on CPU torch (PyPI's wheel is a CUDA build); read_dataset.py declares the
# two op schemas torchvision's import needs (the dataset reader never calls them).
# Idempotent. Usage: bash scripts/lerobot_check/setup.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
V=.venv-lerobot
PINS=(
  torch==2.13.0 torchvision==0.28.0 torchcodec==0.13.0
  "datasets>=4.0,<5" "huggingface-hub>=0.34.2,<0.36" pandas pyarrow==21.0.0 av==15.1.0 numpy==1.26.4
  "packaging>=24.2,<26" jsonlines==4.0.0 draccus==0.10.0 "pillow" "fsspec" "termcolor" "deepdiff>=7,<9"
  "accelerate>=1.10,<2" "einops>=0.8,<0.9"
)
if ! ldconfig -p 2>/dev/null | grep -q 'libavcodec.so.59'; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "[lerobot_check] installing FFmpeg's shared libraries (apt) for torchcodec"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libavcodec59 libavformat59 libavutil57 libswscale6 \
    libswresample4 libavdevice59 libavfilter8 >/dev/null
fi
[ -x $V/bin/python ] || "$PY" -m venv $V
stamp=$V/.mocap-lerobot
want=$(printf '%s\n' lerobot==0.4.4 "${PINS[@]}" | sha1sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[lerobot_check] installing lerobot 0.4.4 (dataset reader) + torch 2.13.0 CPU into $V"
  $V/bin/python -m pip install -q "${PINS[@]}"
  $V/bin/python -m pip install -q --no-deps lerobot==0.4.4
  echo "$want" > "$stamp"
fi
$V/bin/python -c 'import torch; assert not torch.version.cuda, "CUDA build of torch: refusing"' 
$V/bin/python -c 'import sys; sys.path.insert(0, "scripts/lerobot_check"); import read_dataset as r; r.declare_torchvision_ops()
from lerobot.datasets.lerobot_dataset import LeRobotDataset; import torchcodec' \
  && echo "[lerobot_check] ready: lerobot $($V/bin/python -c 'import importlib.metadata as m; print(m.version("lerobot"))') in $V"
