#!/usr/bin/env bash
# Create the peers' own virtual environment (never mixed with mocap's): aniposelib and Pose2Sim's triangulation.
#
# Pose2Sim 0.10.49 declares heavy dependencies (opensim, openvino, PySide6, rtmlib, caliscope) that its
# triangulation and filtering code does not use; we install it with --no-deps plus exactly the modules that
# Pose2Sim/triangulation.py, Pose2Sim/filtering.py and Pose2Sim/common.py import.
# Usage: bash benchmarks/peers/setup_peers.sh [VENV_DIR]   (default: .venv-peers at the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${1:-.venv-peers}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check \
  numpy==1.26.4 scipy==1.17.1 opencv-contrib-python==4.11.0.86 \
  aniposelib==0.8.0 numba==0.61.2 toml==0.10.2 tqdm==4.67.1 pandas==2.2.3 \
  rtoml==0.12.0 anytree==2.13.0 c3d==0.5.2 matplotlib==3.10.3 \
  statsmodels==0.14.4 patsy==1.0.3 filterpy==1.4.5
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps pose2sim==0.10.49
"$VENV/bin/python" - <<'PY'
import aniposelib, numba
from Pose2Sim.triangulation import triangulation_from_best_cameras  # noqa: F401
from Pose2Sim.filtering import butterworth_filter_1d, hampel_filter  # noqa: F401
from importlib.metadata import version
print("peers ready: aniposelib", version("aniposelib"), "pose2sim", version("pose2sim"), "numba", numba.__version__)
PY
