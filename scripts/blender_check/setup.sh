#!/usr/bin/env bash
# Test-only: Blender as a Python module (GPL) in its own venv ./.venv-blender, used by the slow export checks
# (tests/export/test_blender.py) and the glTF validator from npm in ./.cache/gltf-validator.
# Idempotent. Usage: bash scripts/blender_check/setup.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
BPY_PIN="bpy==4.5.15"
if [ ! -x .venv-blender/bin/python ]; then
  "$PY" -m venv .venv-blender
fi
if ! .venv-blender/bin/python -c "import bpy" >/dev/null 2>&1; then
  echo "[blender_check] installing $BPY_PIN (~1 GB) into .venv-blender"
  .venv-blender/bin/python -m pip install -q "$BPY_PIN" "numpy==1.26.4"
fi
if command -v npm >/dev/null 2>&1 && [ ! -d .cache/gltf-validator/node_modules/gltf-validator ]; then
  echo "[blender_check] installing gltf-validator (npm) into .cache/gltf-validator"
  mkdir -p .cache/gltf-validator
  (cd .cache/gltf-validator && npm install --silent --no-audit --no-fund gltf-validator@2.0.0-dev.3.10 >/dev/null)
fi
echo "[blender_check] ready: $(.venv-blender/bin/python -c 'import bpy; print("bpy", bpy.app.version_string)' 2>/dev/null)"
