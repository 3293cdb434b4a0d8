"""Shape contracts as code: check array shapes at public entry points with a clear message."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mocap.errors import MocapError


def check_shape(arr: np.ndarray, shape: Sequence[int | str | None], name: str, where: str = "") -> np.ndarray:
    """Check that ``arr`` has ``shape``; ``None`` or a string matches any size, ``...`` is not supported.

    A leading ``"*"`` entry matches any number of leading (batch) dimensions.

    Args:
        arr: the array to check.
        shape: expected shape, e.g. ``(3, 3)``, ``("*", 3)`` or ``("T", "C", "P", "J", 3)``.
        name: the array's name for the message.
        where: context for the message (file, camera).

    Returns:
        ``arr`` as a numpy array.

    Raises:
        MocapError: with the expected and actual shapes.
    """
    a = np.asarray(arr)
    spec = list(shape)
    loc = f" in {where}" if where else ""
    if spec and spec[0] == "*":
        tail = spec[1:]
        ok = a.ndim >= len(tail) and all(
            (s is None or isinstance(s, str) or a.shape[a.ndim - len(tail) + i] == s) for i, s in enumerate(tail)
        )
    else:
        ok = a.ndim == len(spec) and all(
            (s is None or isinstance(s, str) or a.shape[i] == s) for i, s in enumerate(spec)
        )
    if not ok:
        want = "(" + ", ".join("..." if s == "*" else str(s) for s in spec) + ")"
        raise MocapError(f"{name}{loc} has shape {tuple(a.shape)}, expected {want}")
    return a
