"""``.npz`` files for :class:`Keypoints2D` and :class:`Keypoints3D`: every field, no pickle.

Layout (all plain arrays, readable with ``np.load(path, allow_pickle=False)``):

- ``kind``: ``"keypoints2d"`` or ``"keypoints3d"``; ``format_version``: ``1``.
- ``data``: ``(T, C, P, J, 3)`` or ``(T, P, J, 4)`` float64; ``timestamps`` ``(T,)`` seconds; ``fps`` scalar;
  ``joint_set`` string.
- 2D: ``camera_names`` ``(C,)`` strings. 3D: ``person_ids`` ``(P,)`` int64 and one ``quality/<name>`` array
  ``(T, P, J)`` per quality field.
- ``meta``: the metadata dict as a JSON string (numpy values become lists).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from mocap.errors import DataError, KeypointsError
from mocap.keypoints._common import meta_to_json
from mocap.keypoints.containers import Keypoints2D, Keypoints3D

FORMAT_VERSION = 1
KIND_2D = "keypoints2d"
KIND_3D = "keypoints3d"
_QUALITY_PREFIX = "quality/"


def save_npz(kp: Keypoints2D | Keypoints3D, path: str | Path, compressed: bool = True) -> Path:
    """Write keypoints to ``path`` (``.npz`` is appended if missing).

    Args:
        kp: 2D or 3D keypoints.
        path: output file.
        compressed: use ``np.savez_compressed`` (default) or plain ``np.savez``.

    Returns:
        The path written.
    """
    path = Path(path)
    if path.suffix.lower() != ".npz":
        path = path.with_name(path.name + ".npz")
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION),
        "data": np.asarray(kp.data, dtype=float),
        "joint_set": np.array(str(kp.joint_set)),
        "timestamps": np.asarray(kp.timestamps, dtype=float),
        "fps": np.array(float(kp.fps)),
        "meta": np.array(meta_to_json(kp.meta)),
    }
    if isinstance(kp, Keypoints2D):
        arrays["kind"] = np.array(KIND_2D)
        arrays["camera_names"] = np.array([str(c) for c in kp.camera_names], dtype=str).reshape(-1)
    elif isinstance(kp, Keypoints3D):
        arrays["kind"] = np.array(KIND_3D)
        arrays["person_ids"] = np.asarray(kp.person_ids, dtype=np.int64)
        for name, q in kp.quality.items():
            arrays[_QUALITY_PREFIX + str(name)] = np.asarray(q)
    else:
        raise KeypointsError(f"save_npz takes Keypoints2D or Keypoints3D, got {type(kp).__name__}")
    path.parent.mkdir(parents=True, exist_ok=True)
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def load_npz(path: str | Path) -> Keypoints2D | Keypoints3D:
    """Read keypoints written by :func:`save_npz`.

    Returns:
        :class:`Keypoints2D` or :class:`Keypoints3D`, as stored.

    Raises:
        DataError: the file is missing or not a readable ``.npz``.
        KeypointsError: the archive lacks a required array (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such keypoints file")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npz keypoints file ({e})",
                        hint="re-export it with mocap (save_npz) or check the download") from None

    def need(key: str) -> np.ndarray:
        if key not in arrays:
            raise KeypointsError(f"{path}: array '{key}' is missing; this is not a mocap keypoints .npz "
                                 f"(arrays: {sorted(arrays)})")
        return arrays[key]

    kind = str(need("kind"))
    try:
        meta = json.loads(str(arrays["meta"])) if "meta" in arrays else {}
    except json.JSONDecodeError as e:
        raise KeypointsError(f"{path}: array 'meta' is not valid JSON ({e})") from None
    common = dict(data=need("data"), joint_set=str(need("joint_set")), timestamps=need("timestamps"),
                  fps=float(need("fps")), meta=meta)
    try:
        if kind == KIND_2D:
            return Keypoints2D(camera_names=[str(c) for c in need("camera_names").reshape(-1)], **common)
        if kind == KIND_3D:
            quality = {k[len(_QUALITY_PREFIX):]: v for k, v in arrays.items() if k.startswith(_QUALITY_PREFIX)}
            return Keypoints3D(person_ids=need("person_ids"), quality=quality, **common)
    except KeypointsError as e:
        raise KeypointsError(f"{path}: {e}") from None
    raise KeypointsError(f"{path}: array 'kind' is {kind!r}; expected {KIND_2D!r} or {KIND_3D!r}")


def is_keypoints_npz(path: str | Path) -> bool:
    """Whether ``path`` is an ``.npz`` archive written by :func:`save_npz` (has a ``kind`` array)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return "kind" in z.files and "data" in z.files
    except Exception:  # not a zip, unreadable, or a single .npy
        return False
