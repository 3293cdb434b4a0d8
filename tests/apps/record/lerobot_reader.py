"""Run LeRobot's own dataset reader (``.venv-lerobot``, set up by ``scripts/lerobot_check/setup.sh``) on a dataset."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
VENV_PY = REPO / ".venv-lerobot" / "bin" / "python"
SCRIPT = REPO / "scripts" / "lerobot_check" / "read_dataset.py"


def have_reader() -> bool:
    return VENV_PY.is_file() and (VENV_PY.parents[1] / ".mocap-lerobot").is_file()  # setup finished


def read_with_lerobot(root: Path, frames: list[int], tmp: Path) -> dict:
    """What LeRobotDataset saw (see scripts/lerobot_check/read_dataset.py)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp / "hf"),
                "HF_LEROBOT_HOME": str(tmp / "hf" / "lerobot"), "HF_DATASETS_CACHE": str(tmp / "hf" / "datasets")})
    p = subprocess.run([str(VENV_PY), str(SCRIPT), str(root), *map(str, frames)], capture_output=True, text=True,
                       env=env, timeout=600)
    assert p.returncode == 0, f"LeRobot's reader failed:\n{p.stderr[-4000:]}"
    return json.loads(p.stdout.strip().splitlines()[-1])
