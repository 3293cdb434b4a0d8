"""The joint-set registry: look sets up by name (case-insensitive, with common aliases), register new ones."""

from __future__ import annotations

from collections.abc import Callable

from mocap.errors import MocapError
from mocap.skeletons.base import JointSet


class UnknownJointSetError(MocapError, KeyError):
    """A joint-set name that is not registered (also a ``KeyError``)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


_FACTORIES: dict[str, Callable[[], JointSet]] = {}
_CACHE: dict[str, JointSet] = {}

#: Other spellings accepted by :func:`get_joint_set` (file formats and tools name the same sets differently).
ALIASES = {
    "coco": "coco17", "coco_17": "coco17", "halpe": "halpe26", "halpe_26": "halpe26", "body_25": "body25",
    "openpose": "body25", "body_25b": "body25b", "coco_wholebody": "coco_wholebody133", "coco_133": "coco_wholebody133",
    "coco133": "coco_wholebody133", "wholebody": "coco_wholebody133", "blazepose": "mediapipe33",
    "mediapipe": "mediapipe33", "mediapipe_pose": "mediapipe33", "hand21": "mediapipe_hand21",
    "mediapipe_hand": "mediapipe_hand21", "holistic": "mediapipe_holistic", "shelf": "shelf15", "campus": "shelf15",
    "smplx": "smplx55", "smpl_x": "smplx55",
}


def _normalise(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_")
    seen = set()
    while key in ALIASES and key not in _FACTORIES and key not in seen:
        seen.add(key)
        key = ALIASES[key]
    return key


def register_joint_set(joint_set: JointSet | Callable[[], JointSet], name: str | None = None, *,
                       overwrite: bool = False) -> None:
    """Register a joint set (or a zero-argument factory building one) under ``name`` (default its own name).

    Raises:
        ValueError: the name is taken and ``overwrite`` is false.
    """
    if isinstance(joint_set, JointSet):
        key = (name or joint_set.name).lower()
        js = joint_set
        factory: Callable[[], JointSet] = lambda: js  # noqa: E731
    else:
        if name is None:
            raise ValueError("register_joint_set needs a name when given a factory")
        key, factory = name.lower(), joint_set
    if key in _FACTORIES and not overwrite:
        raise ValueError(f"joint set {key!r} is already registered (pass overwrite=True to replace it)")
    _FACTORIES[key] = factory
    _CACHE.pop(key, None)


def unregister_joint_set(name: str) -> None:
    """Remove a registered joint set (no error if absent)."""
    key = str(name).lower()
    _FACTORIES.pop(key, None)
    _CACHE.pop(key, None)


def get_joint_set(name: str | JointSet) -> JointSet:
    """The registered joint set called ``name`` (a :class:`JointSet` is returned as is).

    Raises:
        UnknownJointSetError: no such set; the message lists the registered names.
    """
    if isinstance(name, JointSet):
        return name
    key = _normalise(name)
    if key not in _CACHE:
        if key not in _FACTORIES:
            raise UnknownJointSetError(f"unknown joint set {name!r}",
                                       hint=f"use one of {', '.join(list_joint_sets())}")
        js = _FACTORIES[key]()
        _CACHE[key] = js
    return _CACHE[key]


def list_joint_sets() -> list[str]:
    """Names of the registered joint sets, in registration order."""
    return list(_FACTORIES)


#: Same as :func:`list_joint_sets` (name used by some callers).
registered_joint_sets = list_joint_sets


def _register_builtin() -> None:
    from mocap.skeletons import body, smplx_joints, wholebody

    for f in (body.coco17, wholebody.coco_wholebody133, body.halpe26, body.body25, body.body25b, body.mediapipe33,
              wholebody.mediapipe_hand21, wholebody.mediapipe_holistic, body.shelf15, body.skel19,
              smplx_joints.smplx55, smplx_joints.smplx_with_extras, smplx_joints.smplx_with_extras_contour,
              body.coco18, wholebody.body135):
        register_joint_set(f, f.__name__)


_register_builtin()
