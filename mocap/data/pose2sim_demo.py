"""The Pose2Sim demo sessions (BSD-3-Clause), fetched from the ``pose2sim`` wheel on PyPI into a cache.

``Demo_SinglePerson`` holds 4 synchronised videos (60 fps, 100 frames), a Qualisys calibration
(``calibration/Calib.qca.txt``, millimetres) and checkerboard images (4x7 inner corners, 60 mm squares).
Nothing is committed to the repository; the wheel is downloaded once with ``pip download``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from mocap.errors import DataError

log = logging.getLogger(__name__)

POSE2SIM_VERSION = "0.10.49"
DEMOS = {"single": "Demo_SinglePerson", "multi": "Demo_MultiPerson"}


def cache_dir() -> Path:
    """Where mocap caches downloads: ``$MOCAP_CACHE`` or ``~/.cache/mocap``."""
    return Path(os.environ.get("MOCAP_CACHE", Path.home() / ".cache" / "mocap"))


def pose2sim_demo(which: str = "single", cache: Path | None = None, quiet: bool = False) -> Path:
    """Return the folder of a Pose2Sim demo session, downloading and extracting it on first use.

    Args:
        which: ``"single"`` (Demo_SinglePerson) or ``"multi"`` (Demo_MultiPerson).
        cache: cache folder (default :func:`cache_dir`).
        quiet: do not print what is fetched.

    Returns:
        Path to the extracted ``Demo_*`` folder (contains ``videos/`` and ``calibration/``).
    """
    if which not in DEMOS:
        raise DataError(f"unknown Pose2Sim demo {which!r}; choose one of {sorted(DEMOS)}")
    root = (cache or cache_dir()) / f"pose2sim-{POSE2SIM_VERSION}"
    demo = root / "Pose2Sim" / DEMOS[which]
    marker = root / f".extracted-{which}"
    if marker.exists() and demo.is_dir():
        return demo
    root.mkdir(parents=True, exist_ok=True)
    wheels = sorted(root.glob(f"pose2sim-{POSE2SIM_VERSION}-*.whl"))
    if not wheels:
        msg = (f"fetching pose2sim=={POSE2SIM_VERSION} from PyPI (a ~51 MB wheel with the demo videos, "
               f"BSD-3-Clause) into {root}")
        if not quiet:
            print(msg, file=sys.stderr)
        log.info(msg)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
               f"pose2sim=={POSE2SIM_VERSION}", "-d", str(root)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(root.glob(f"pose2sim-{POSE2SIM_VERSION}-*.whl"))
        if res.returncode != 0 or not wheels:
            raise DataError(
                f"could not download pose2sim=={POSE2SIM_VERSION} with pip: {res.stderr.strip()[-300:]}",
                hint="check that PyPI is reachable, or place the wheel in " + str(root),
            )
    prefix = f"Pose2Sim/{DEMOS[which]}/"
    try:
        with zipfile.ZipFile(wheels[0]) as zf:
            members = [m for m in zf.namelist() if m.startswith(prefix)]
            if not members:
                raise DataError(f"{wheels[0]} has no {prefix} folder")
            zf.extractall(root, members)
    except zipfile.BadZipFile as e:
        wheels[0].unlink(missing_ok=True)
        raise DataError(f"{wheels[0]} is not a valid wheel ({e}); deleted it, run again to re-download") from e
    marker.touch()
    return demo
