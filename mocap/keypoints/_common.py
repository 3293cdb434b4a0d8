"""Helpers shared by the keypoint file formats: joint names, frame numbers, JSON-safe metadata."""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Joint set name used when a file's joint names match no registered joint set.
CUSTOM_JOINT_SET = "custom"


def lookup_joint_set(name: str):
    """The registered :class:`~mocap.skeletons.base.JointSet` called ``name``, or ``None`` if unknown."""
    try:
        from mocap.skeletons import get_joint_set
    except ImportError:  # the registry is optional for file I/O
        return None
    try:
        return get_joint_set(name)
    except Exception:  # unknown names raise KeyError or a MocapError, depending on the registry
        return None


# Joint counts of the standard sets, used to check files when the skeleton registry is not importable.
KNOWN_JOINT_COUNTS = {"coco17": 17, "coco18": 18, "halpe26": 26, "body25": 25, "body25b": 25,
                      "coco_wholebody133": 133, "body135": 135, "mediapipe33": 33, "shelf15": 15, "smplx55": 55}


def joint_count(name: str | None) -> int | None:
    """Number of joints of the joint set ``name`` (registry first, then :data:`KNOWN_JOINT_COUNTS`), or ``None``."""
    if not name:
        return None
    js = lookup_joint_set(name)
    return len(js.joints) if js is not None else KNOWN_JOINT_COUNTS.get(name)


def joint_names(joint_set: str, n_joints: int, meta: dict | None = None) -> list[str]:
    """Names of the ``n_joints`` joints of ``joint_set``.

    Order of preference: the registered joint set (when its size matches), ``meta["joint_names"]`` (kept by
    readers of files whose names match no registered set), then ``joint_0 .. joint_{J-1}``.
    """
    js = lookup_joint_set(joint_set)
    if js is not None and len(js.joints) == n_joints:
        return list(js.joints)
    names = (meta or {}).get("joint_names")
    if names is not None and len(names) == n_joints:
        return [str(n) for n in names]
    return [f"joint_{j}" for j in range(n_joints)]


def match_joint_set(names: list[str]) -> str | None:
    """The registered joint set whose joint names equal ``names`` (in order), or ``None``."""
    try:
        from mocap.skeletons import list_joint_sets

        candidates = list(list_joint_sets())
    except ImportError:
        candidates = list(KNOWN_JOINT_COUNTS)
    lowered = [n.strip().lower() for n in names]
    for c in candidates:
        js = lookup_joint_set(c)
        if js is not None and [j.lower() for j in js.joints] == lowered:
            return js.name
    return None


def frame_indices(meta: dict, n_frames: int) -> np.ndarray:
    """``(T,)`` integer frame numbers: ``meta["frame_indices"]`` when it has ``T`` entries, else ``0..T-1``."""
    fi = meta.get("frame_indices") if meta else None
    if fi is not None and len(fi) == n_frames:
        return np.asarray(fi, dtype=int)
    return np.arange(n_frames)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, set | tuple):
        return list(o)
    return str(o)


def meta_to_json(meta: dict) -> str:
    """Serialise metadata to JSON; numpy values become lists/scalars, anything else its ``str``."""
    return json.dumps(meta, default=_json_default, sort_keys=True)


def fmt_float(x: float) -> str:
    """Shortest text that reads back to exactly ``x``; ``""`` for NaN."""
    return "" if not np.isfinite(x) else repr(float(x))
