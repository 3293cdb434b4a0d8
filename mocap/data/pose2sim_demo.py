"""The Pose2Sim demo sessions (BSD-3-Clause), fetched from the ``pose2sim`` wheels on PyPI into a cache.

* ``"single"``: ``pose2sim==0.10.49``'s ``Demo_SinglePerson``: 4 synchronised videos (60 fps, 100 frames), a
  Qualisys calibration (``calibration/Calib.qca.txt``, millimetres) and checkerboard images (4x7 inner corners,
  60 mm squares).
* ``"multi"``: ``pose2sim==0.10.49``'s ``Demo_MultiPerson``: the same rig filming two people (4 videos, 100 frames).
* ``"openpose"``: ``pose2sim==0.4.15``'s ``Demo``: the raw OpenPose BODY_25B 2D keypoints of every detected person
  (``pose/cam<k>_json/``, 100 frames, 60 fps; a bystander in two cameras) of 4 cameras with their Qualisys
  calibration (``calibration/Calib.qca.txt``); no videos.

Nothing is committed to the repository; each wheel is downloaded once with ``pip download``.
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
#: demo name -> (pose2sim version, folder in the wheel, sub-paths extracted (None: all))
DEMOS = {"single": (POSE2SIM_VERSION, "Demo_SinglePerson", None),
         "multi": (POSE2SIM_VERSION, "Demo_MultiPerson", None),
         "openpose": ("0.4.15", "Demo", ("pose/", "calibration/Calib.qca.txt"))}
WHEEL_MB = {"0.10.49": 51, "0.4.15": 16}


def cache_dir() -> Path:
    """Where mocap caches downloads: ``$MOCAP_CACHE`` or ``~/.cache/mocap``."""
    return Path(os.environ.get("MOCAP_CACHE", Path.home() / ".cache" / "mocap"))


def pose2sim_demo(which: str = "single", cache: Path | None = None, quiet: bool = False) -> Path:
    """Return the folder of a Pose2Sim demo session, downloading and extracting it on first use.

    Args:
        which: ``"single"`` (Demo_SinglePerson), ``"multi"`` (Demo_MultiPerson) or ``"openpose"`` (0.4.15's
            Demo: OpenPose BODY_25B 2D of every person and the calibration).
        cache: cache folder (default :func:`cache_dir`).
        quiet: do not print what is fetched.

    Returns:
        Path to the extracted ``Demo*`` folder (contains ``calibration/`` and ``videos/`` or, for ``"openpose"``,
        ``pose/``).
    """
    if which not in DEMOS:
        raise DataError(f"unknown Pose2Sim demo {which!r}; choose one of {sorted(DEMOS)}")
    version, folder, parts = DEMOS[which]
    root = (cache or cache_dir()) / f"pose2sim-{version}"
    demo = root / "Pose2Sim" / folder
    marker = root / f".extracted-{which}"
    if marker.exists() and demo.is_dir():
        return demo
    root.mkdir(parents=True, exist_ok=True)
    wheels = sorted(root.glob(f"pose2sim-{version}-*.whl"))
    if not wheels:
        msg = (f"fetching pose2sim=={version} from PyPI (a ~{WHEEL_MB.get(version, 50)} MB wheel with the demo data, "
               f"BSD-3-Clause) into {root}")
        if not quiet:
            print(msg, file=sys.stderr)
        log.info(msg)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
               f"pose2sim=={version}", "-d", str(root)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(root.glob(f"pose2sim-{version}-*.whl"))
        if res.returncode != 0 or not wheels:
            raise DataError(
                f"could not download pose2sim=={version} with pip: {res.stderr.strip()[-300:]}",
                hint="check that PyPI is reachable, or place the wheel in " + str(root),
            )
    prefix = f"Pose2Sim/{folder}/"
    try:
        with zipfile.ZipFile(wheels[0]) as zf:
            members = [m for m in zf.namelist() if m.startswith(prefix)
                       and (parts is None or any(m[len(prefix):].startswith(p) for p in parts))]
            if not members:
                raise DataError(f"{wheels[0]} has no {prefix} folder")
            zf.extractall(root, members)
    except zipfile.BadZipFile as e:
        wheels[0].unlink(missing_ok=True)
        raise DataError(f"{wheels[0]} is not a valid wheel ({e}); deleted it, run again to re-download") from e
    marker.touch()
    return demo
