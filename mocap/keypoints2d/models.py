"""Model files of the built-in detectors: where they are cached, their sha256, and how to fetch them.

The multi-person BlazePose backend runs MediaPipe's own pose models (Apache-2.0, Google), taken from the
``mediapipe==0.10.21`` wheel on PyPI, never from a model hub:

* ``pose_detection.tflite``: the BlazePose person detector (an SSD with 2254 anchors, 224x224 input);
* ``pose_landmark_full.tflite``: the BlazePose GHUM 3D landmark model ("full", 256x256 input, 33 landmarks).

``python -m mocap.keypoints2d.models`` (run by ``scripts/setup_models.sh``, which ``scripts/setup.sh`` calls) copies
them from the installed ``mediapipe`` package, or extracts them from the wheel downloaded with pip when that package is
absent, into ``<cache>/models/blazepose/`` (``$MOCAP_CACHE`` or ``~/.cache/mocap``) and checks their sha256. At run
time :func:`model_path` only checks: a missing or corrupt file raises a one-line :class:`~mocap.errors.DataError`
saying what to run. Nothing is downloaded at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mocap.errors import DataError

MEDIAPIPE_WHEEL = "mediapipe==0.10.21"
FETCH_COMMAND = "python -m mocap.keypoints2d.models"


@dataclass(frozen=True)
class ModelFile:
    """One model file: its name in the cache, its path inside the source wheel, its sha256 and size in bytes."""

    name: str
    member: str
    sha256: str
    size: int


BLAZEPOSE = {
    "detector": ModelFile("pose_detection.tflite", "mediapipe/modules/pose_detection/pose_detection.tflite",
                          "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c", 2959046),
    "landmark": ModelFile("pose_landmark_full.tflite", "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
                          "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f", 6440512),
}

PROVENANCE = """\
These files are MediaPipe's BlazePose models, copied unchanged from the {wheel} wheel (PyPI) by
`{cmd}` (mocap). Copyright Google LLC, licensed under the Apache License, Version 2.0
(https://www.apache.org/licenses/LICENSE-2.0); see the BlazePose GHUM model card
(https://storage.googleapis.com/mediapipe-assets/Model%20Card%20BlazePose%20GHUM%203D.pdf).
{files}
"""

_verified: dict[tuple[str, int, int], bool] = {}


def models_dir() -> Path:
    """Folder of the BlazePose model files: ``<cache>/models/blazepose`` (``$MOCAP_CACHE`` or ``~/.cache/mocap``)."""
    from mocap.data.pose2sim_demo import cache_dir

    return cache_dir() / "models" / "blazepose"


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_path(key: str, folder: str | Path | None = None) -> Path:
    """Path of a verified model file (``key`` = ``"detector"`` or ``"landmark"``).

    Raises:
        DataError: one line naming the file and the command to run when the file is missing or its sha256 differs.
    """
    spec = BLAZEPOSE[key]
    path = Path(folder) if folder is not None else models_dir()
    path = path / spec.name
    if not path.is_file():
        raise DataError(f"BlazePose model file {path} is missing",
                        hint=f"run `{FETCH_COMMAND}` (scripts/setup.sh does)")
    st = path.stat()
    memo = (str(path), st.st_size, st.st_mtime_ns)
    if memo not in _verified:
        digest = sha256_of(path)
        if digest != spec.sha256:
            raise DataError(f"BlazePose model file {path} is corrupt (sha256 {digest[:12]}..., expected "
                            f"{spec.sha256[:12]}...)", hint=f"run `{FETCH_COMMAND}` to replace it")
        _verified[memo] = True
    return path


def _installed_mediapipe() -> Path | None:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).parent


def _copy_checked(src_bytes_or_path: bytes | Path, spec: ModelFile, dest: Path) -> bool:
    data = src_bytes_or_path.read_bytes() if isinstance(src_bytes_or_path, Path) else src_bytes_or_path
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        return False
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, dest)
    return True


def fetch_models(folder: str | Path | None = None, quiet: bool = False) -> Path:
    """Put the BlazePose model files into ``folder`` (default :func:`models_dir`) and verify them.

    Files already present with the right sha256 are kept. Missing or corrupt ones are copied from the installed
    ``mediapipe`` package, else extracted from the ``mediapipe==0.10.21`` wheel downloaded with pip (about 35 MB,
    from the configured package index; the wheel is deleted afterwards).

    Returns:
        the folder. Raises :class:`DataError` when a file cannot be obtained with the right sha256.
    """
    dest = Path(folder) if folder is not None else models_dir()
    dest.mkdir(parents=True, exist_ok=True)
    say = (lambda *a: None) if quiet else (lambda *a: print("[models]", *a))
    todo = [s for s in BLAZEPOSE.values() if not (dest / s.name).is_file() or sha256_of(dest / s.name) != s.sha256]
    site = _installed_mediapipe()
    if todo and site is not None:
        for s in list(todo):
            src = site / s.member
            if src.is_file() and _copy_checked(src, s, dest / s.name):
                say(f"copied {s.name} from the installed mediapipe package ({src})")
                todo.remove(s)
    if todo:
        with tempfile.TemporaryDirectory() as tmp:
            say(f"downloading the {MEDIAPIPE_WHEEL} wheel with pip to extract {[s.name for s in todo]}")
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp,
                   MEDIAPIPE_WHEEL]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wheels = list(Path(tmp).glob("mediapipe-*.whl"))
            if proc.returncode != 0 or not wheels:
                raise DataError(f"could not download {MEDIAPIPE_WHEEL} with pip ({proc.stderr.strip()[-300:]})",
                                hint="check access to your package index, or `pip install mediapipe==0.10.21` first")
            with zipfile.ZipFile(wheels[0]) as zf:
                for s in list(todo):
                    if s.member in zf.namelist() and _copy_checked(zf.read(s.member), s, dest / s.name):
                        say(f"extracted {s.name} from {wheels[0].name}")
                        todo.remove(s)
    if todo:
        raise DataError(f"no copy of {[s.name for s in todo]} with the expected sha256 was found in {MEDIAPIPE_WHEEL}")
    files = "\n".join(f"  {s.name}  sha256 {s.sha256}  ({s.size} bytes)  from {s.member}" for s in BLAZEPOSE.values())
    (dest / "PROVENANCE.txt").write_text(PROVENANCE.format(wheel=MEDIAPIPE_WHEEL, cmd=FETCH_COMMAND, files=files))
    for key in BLAZEPOSE:
        model_path(key, dest)
    say(f"BlazePose models ready in {dest}")
    return dest


def main(argv: list[str] | None = None) -> int:
    """``python -m mocap.keypoints2d.models [--dir DIR] [--quiet]``: fetch and verify the model files."""
    ap = argparse.ArgumentParser(prog=FETCH_COMMAND, description=fetch_models.__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=None, help=f"target folder (default {models_dir()})")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        fetch_models(args.dir, quiet=args.quiet)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
