"""Build a :class:`JointSet` from readable ``(joint, parent_name)`` lists; left/right pairs come from the names."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mocap.skeletons.base import KEYPOINT, JointSet


def mirror_name(name: str) -> str | None:
    """The name with its ``left``/``right`` token swapped (``"face_left_eye" -> "face_right_eye"``), or ``None``."""
    tokens = name.split("_")
    swap = {"left": "right", "right": "left"}
    if not any(t in swap for t in tokens):
        return None
    return "_".join(swap.get(t, t) for t in tokens)


def lr_pairs_from_names(joints: Sequence[str], set_name: str = "?") -> tuple[tuple[int, int], ...]:
    """``(left_index, right_index)`` for every joint whose name has a ``left`` token and a ``right`` partner.

    Raises:
        ValueError: a sided name has no partner (a typo in a definition).
    """
    index = {j: i for i, j in enumerate(joints)}
    pairs = []
    for i, j in enumerate(joints):
        partner = mirror_name(j)
        if partner is None:
            continue
        if partner not in index:
            raise ValueError(f"joint set {set_name}: {j!r} has no mirrored partner {partner!r}")
        if "left" in j.split("_"):
            pairs.append((i, index[partner]))
    return tuple(pairs)


def build(
    name: str,
    spec: Iterable[tuple[str, str | None]],
    *,
    extra_edges: Iterable[tuple[str, str]] = (),
    kinds: Sequence[str] | None = None,
    source: str = "",
) -> JointSet:
    """A joint set from ``(joint, parent_name or None)`` in data order.

    Args:
        name: registry name.
        spec: joints in data order with the name of their parent (``None`` for a root).
        extra_edges: drawing edges between joint names that are not parent links.
        kinds: per-joint kinds, default all :data:`~mocap.skeletons.base.KEYPOINT`.
        source: where the order comes from.
    """
    spec = list(spec)
    joints = tuple(j for j, _ in spec)
    index = {j: i for i, j in enumerate(joints)}
    missing = [p for _, p in spec if p is not None and p not in index]
    if missing:
        raise ValueError(f"joint set {name}: unknown parents {missing}")
    parents = tuple(-1 if p is None else index[p] for _, p in spec)
    extra = tuple((index[a], index[b]) for a, b in extra_edges)
    kinds_t = tuple(kinds) if kinds is not None and any(k != KEYPOINT for k in kinds) else ()
    return JointSet(name=name, joints=joints, parents=parents, lr_pairs=lr_pairs_from_names(joints, name),
                    extra_bones=extra, kinds=kinds_t, source=source)
