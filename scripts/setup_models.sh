#!/usr/bin/env bash
# Model files of the built-in detectors: MediaPipe's BlazePose pose_detection.tflite + pose_landmark_full.tflite
# (Apache-2.0), copied from the installed mediapipe==0.10.21 wheel (or extracted from that wheel, downloaded with pip)
# into ~/.cache/mocap/models/blazepose ($MOCAP_CACHE/models/blazepose) and checked against their sha256.
# Idempotent (a second run only checks; ~1 s, 9.4 MB). Usage: bash scripts/setup_models.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON_VENV:-.venv/bin/python}
"$PY" -m mocap.keypoints2d.models "$@"
