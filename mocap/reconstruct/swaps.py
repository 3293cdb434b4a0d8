"""Left/right swap correction per view against the 3D consensus of the other views.

2D detectors often label a person's left and right limbs the wrong way round in one view (back views, crossed
legs). For every view ``c`` and every left/right joint pair, the pair is re-triangulated from the *other* views
(robustly) and projected into ``c``; when the flipped assignment reprojects clearly better than the detected one,
the view's two joints are exchanged. Decisions are per pair, so a swap of the legs alone is fixed as well as a
whole-body flip.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mocap.errors import KeypointsError
from mocap.reconstruct.triangulation import triangulate


def _swap_gains(rig, uv: np.ndarray, conf: np.ndarray, pairs: np.ndarray, min_conf: float,
                reproj_threshold_px: float, ratio: float, min_gain_px: float) -> tuple[np.ndarray, np.ndarray]:
    """One pass: ``(C, *B, n_pairs)`` flags (flip fits clearly better) and gains ``error_kept - error_flipped``."""
    C = len(rig)
    L, R = pairs[:, 0], pairs[:, 1]
    flags = np.zeros(uv.shape[:-2] + (len(pairs),), dtype=bool)
    gains = np.zeros(flags.shape)
    good = np.isfinite(uv).all(-1) & np.isfinite(conf) & (conf >= min_conf)
    for c in range(C):
        seen = good[c][..., L] & good[c][..., R]
        if not seen.any():
            continue
        cf = np.where(good, conf, 0.0)
        cf[c] = 0.0
        res = triangulate(rig, uv, cf, min_views=2, min_conf=min_conf, reproj_threshold_px=reproj_threshold_px)
        q = rig[c].project(res.X)  # (*B, J, 2)
        x = uv[c]
        keep = (np.linalg.norm(x[..., L, :] - q[..., L, :], axis=-1)
                + np.linalg.norm(x[..., R, :] - q[..., R, :], axis=-1))
        flip = (np.linalg.norm(x[..., L, :] - q[..., R, :], axis=-1)
                + np.linalg.norm(x[..., R, :] - q[..., L, :], axis=-1))
        ok = seen & np.isfinite(keep) & np.isfinite(flip)
        flags[c] = ok & (flip < ratio * keep) & (keep - flip > min_gain_px)
        gains[c] = np.where(ok, keep - flip, 0.0)
    return flags, gains


def detect_swaps(rig, uv: np.ndarray, conf: np.ndarray, lr_pairs: Sequence[tuple[int, int]], *,
                 min_conf: float = 0.1, reproj_threshold_px: float = 15.0, ratio: float = 0.5,
                 min_gain_px: float = 5.0, max_rounds: int | None = None) -> np.ndarray:
    """Find per view the left/right pairs whose flipped labelling fits the other views better.

    Several views of one person may be swapped at once, and a swapped view pollutes the consensus used to judge
    the others. So the check runs in rounds: in each round only the view with the largest gain is flipped for
    every (person, pair), and the check is repeated on the corrected data until nothing is flagged.

    Args:
        rig: calibrated rig of ``C`` cameras.
        uv: ``(C, *B, J, 2)`` raw pixels of the same people in every camera (e.g. ``B = (P,)``); NaN missing.
        conf: ``(C, *B, J)`` confidences.
        lr_pairs: ``(left, right)`` joint indices.
        min_conf: detections below this confidence are not used.
        reproj_threshold_px: outlier threshold of the leave-one-view-out triangulation.
        ratio: flip when ``error_flipped < ratio * error_kept`` ...
        min_gain_px: ... and the two errors differ by more than this (pixels, summed over the pair).
        max_rounds: at most this many rounds (default ``C - 1``).

    Returns:
        ``(C, *B, n_pairs)`` bool, True where the view's pair should be exchanged.
    """
    uv = np.asarray(uv, float)
    conf = np.asarray(conf, float)
    C = len(rig)
    if uv.ndim < 3 or uv.shape[0] != C or uv.shape[-1] != 2 or conf.shape != uv.shape[:-1]:
        raise KeypointsError(f"swap check got points {uv.shape} and confidences {conf.shape}; expected "
                             f"({C}, ..., J, 2) and ({C}, ..., J) for a rig of {C} cameras")
    pairs = np.asarray(lr_pairs, dtype=int).reshape(-1, 2)
    total = np.zeros(uv.shape[:-2] + (len(pairs),), dtype=bool)
    if C < 3 or len(pairs) == 0:
        return total  # with two views there is no independent consensus
    for _ in range(C - 1 if max_rounds is None else max_rounds):
        flags, gains = _swap_gains(rig, uv, conf, pairs, min_conf, reproj_threshold_px, ratio, min_gain_px)
        if not flags.any():
            break
        g = np.where(flags, gains, -np.inf)
        best = np.argmax(g, axis=0)  # (*B, n_pairs): the most convincing view per (person, pair)
        step = np.zeros_like(flags)
        np.put_along_axis(step, best[None], True, axis=0)
        step &= flags
        uv, conf = apply_swaps(uv, conf, step, pairs)
        total ^= step
    return total


def apply_swaps(uv: np.ndarray, conf: np.ndarray, swaps: np.ndarray,
                lr_pairs: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Exchange the flagged left/right pairs: ``uv (..., J, 2)``, ``conf (..., J)``, ``swaps (..., n_pairs)``."""
    uv = np.array(uv, float, copy=True)
    conf = np.array(conf, float, copy=True)
    for k, (a, b) in enumerate(np.asarray(lr_pairs, dtype=int).reshape(-1, 2)):
        m = swaps[..., k]
        ua, ub = uv[..., a, :].copy(), uv[..., b, :].copy()
        uv[..., a, :] = np.where(m[..., None], ub, ua)
        uv[..., b, :] = np.where(m[..., None], ua, ub)
        ca, cb = conf[..., a].copy(), conf[..., b].copy()
        conf[..., a] = np.where(m, cb, ca)
        conf[..., b] = np.where(m, ca, cb)
    return uv, conf


def fix_swaps(rig, uv: np.ndarray, conf: np.ndarray, lr_pairs: Sequence[tuple[int, int]],
              **opts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detect (:func:`detect_swaps`) and undo per-view left/right swaps.

    Returns:
        ``(uv, conf, swaps)``: corrected copies of the inputs and the ``(C, *B, n_pairs)`` swap mask.
    """
    swaps = detect_swaps(rig, uv, conf, lr_pairs, **opts)
    uv2, conf2 = apply_swaps(uv, conf, swaps, lr_pairs)
    return uv2, conf2, swaps


__all__ = ["detect_swaps", "apply_swaps", "fix_swaps"]
