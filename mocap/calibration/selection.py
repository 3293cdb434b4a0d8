"""Choose each camera's intrinsic model by the uncertainty it yields, in the joint (all cameras) bundle adjustment.

Weak data (a small board, few views) cannot support every parameter. Instead of deciding from the image coverage
alone, the models are compared inside the multi-camera bundle adjustment, where every camera's view of a board
pose constrains the others (the board's depth seen by one camera pins down another's focal length):

1. principal point: estimated when its standard deviation is under :data:`PRINCIPAL_MAX_PX`, else held at the
   image centre;
2. distortion: grown along ``k1 -> k1k2 -> k1k2p -> full`` while every newly added coefficient is significant
   (``|value| >= SIGNIFICANT_Z`` standard deviations);
3. aspect ratio: ``fy = fx`` (square pixels) unless they differ significantly.

The models the data could not tell apart from the chosen one (every trial differs from it only by changes the data
did not support) are kept: the spread of each camera's focal length and centre among them is added to the
statistical uncertainty (``CameraUncertainty.focal_model_px``, ``center_model_m``), so a value that depends on an
undecidable modelling choice is reported as uncertain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from mocap.calibration.bundle import BundleResult, bundle_adjust
from mocap.calibration.intrinsics import DIST_MODELS, dist_free_mask

log = logging.getLogger(__name__)

#: principal point estimated when its standard deviation (both axes) stays under this, pixels.
PRINCIPAL_MAX_PX = 10.0
#: a coefficient (or fx - fy) counts as determined when it is this many standard deviations from zero.
SIGNIFICANT_Z = 3.0


@dataclass
class ModelChoice:
    """The model of one camera and why."""

    dist_model: str = "k1"
    center_free: bool = False
    aspect_fixed: bool = True
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """E.g. ``"distortion model 'k1k2', principal point estimated, fx = fy"``."""
        pp = "estimated" if self.center_free else "at the image centre"
        aspect = "fx = fy" if self.aspect_fixed else "fx, fy"
        return f"distortion model '{self.dist_model}', principal point {pp}, {aspect}"


def _z(value: float, std: float) -> float:
    return abs(value) / std if std > 0 else float("inf")


def select_models(rig, board_poses, observations, fixed_camera: int, refine: list[bool],  # noqa: ANN001
                  start: dict[int, str] | None = None, loss: str = "trim"
                  ) -> tuple[BundleResult, dict[int, ModelChoice]]:
    """Pick the intrinsic model of every refined camera by its uncertainty in the joint bundle adjustment.

    Args:
        rig, board_poses, observations, fixed_camera: as :func:`mocap.calibration.bundle.bundle_adjust`.
        refine: per camera, whether its intrinsics are estimated (others keep theirs and are not touched).
        start: per camera index, the smallest distortion model to try (default ``"k1"``).

    Returns:
        The bundle adjustment of the chosen models (with ``uncertainty`` including the model spread of the
        focal lengths) and the choice per refined camera.
    """
    C = len(rig)
    cams = list(range(C))
    free = [c for c in cams if refine[c]]
    choice = {c: ModelChoice(dist_model=(start or {}).get(c, "k1")) for c in free}
    # every camera starts with fx, fy free (to test the aspect ratio) and its principal point free (to test it)
    base = rig.copy()

    def run(cfg: dict[int, ModelChoice], centre: dict[int, bool] | None = None) -> BundleResult:
        dist_free = [dist_free_mask(cfg[c].dist_model, len(base[c].dist)) if c in cfg
                     else np.ones(len(base[c].dist), bool) for c in cams]
        init = base.copy()
        for c in cfg:  # a reduced model starts from (and keeps) zeros in its unused terms
            init[c].dist = np.where(dist_free[c], init[c].dist, 0.0)
        cf = [(centre or {}).get(c, cfg[c].center_free) if c in cfg else True for c in cams]
        af = [cfg[c].aspect_fixed if c in cfg else False for c in cams]
        return bundle_adjust(init, board_poses, observations, fixed_camera=fixed_camera, refine_intrinsics=refine,
                             loss=loss, dist_free=dist_free, center_free=cf, aspect_fixed=af)

    # 1. principal point and aspect ratio, with the starting distortion model
    trial = {c: ModelChoice(choice[c].dist_model, True, False) for c in free}
    res = run(trial)
    trials = [res.rig]  # every trial differs from the final model only by changes the data could not support
    for c in free:
        u = res.uncertainty.get(rig[c].name)
        if u is None:
            continue
        K = res.rig[c].K
        ch = choice[c]
        ch.center_free = max(u.cx, u.cy) <= PRINCIPAL_MAX_PX
        ch.reasons.append(f"principal point +-{max(u.cx, u.cy):.1f} px -> "
                          + ("estimated" if ch.center_free else "held at the image centre"))
        z = _z(K[1, 1] - K[0, 0], float(np.hypot(u.fx, u.fy)))
        ch.aspect_fixed = z < SIGNIFICANT_Z
        ch.reasons.append(f"fy - fx = {K[1, 1] - K[0, 0]:+.1f} px ({z:.1f} sigma) -> "
                          + ("fx = fy" if ch.aspect_fixed else "fx and fy estimated"))
        if ch.aspect_fixed:
            base[c].K[1, 1] = base[c].K[0, 0]
        if not ch.center_free:
            w, h = rig[c].size
            base[c].K[0, 2], base[c].K[1, 2] = (w - 1) / 2, (h - 1) / 2
    # 2. distortion terms, while the added ones are significant
    growing = set(free)
    while growing:
        trial = {c: ModelChoice(choice[c].dist_model, choice[c].center_free, choice[c].aspect_fixed) for c in free}
        tried = []
        for c in sorted(growing):
            k = DIST_MODELS.index(choice[c].dist_model)
            if k + 1 >= len(DIST_MODELS) or len(rig[c].dist) < 5 or rig[c].model != "pinhole":
                growing.discard(c)
                continue
            trial[c].dist_model = DIST_MODELS[k + 1]
            tried.append(c)
        if not tried:
            break
        tres = run(trial)
        trials.append(tres.rig)
        for c in tried:
            u = tres.uncertainty.get(rig[c].name)
            new = dist_free_mask(trial[c].dist_model, 5) & ~dist_free_mask(choice[c].dist_model, 5)
            d = tres.rig[c].dist[:5]
            zs = [_z(d[i], u.dist[i]) for i in np.flatnonzero(new)] if u is not None else [0.0]
            if min(zs) >= SIGNIFICANT_Z:
                choice[c].reasons.append(f"{trial[c].dist_model}: added terms at {min(zs):.1f} sigma -> kept")
                choice[c].dist_model = trial[c].dist_model
            else:
                choice[c].reasons.append(f"{trial[c].dist_model}: added terms at {min(zs):.1f} sigma (< "
                                         f"{SIGNIFICANT_Z:g}) -> not supported by the data")
                growing.discard(c)
    final = run(choice)
    for c in cams:  # model spread: how far the plausible models put each camera's focal length and centre
        n = rig[c].name
        u = final.uncertainty.get(n)
        if u is None or final.converged is False:
            continue
        K, cen = final.rig[c].K, final.rig[c].center
        if c in choice:
            u.focal_model_px = float(max((max(abs(r[c].K[0, 0] - K[0, 0]), abs(r[c].K[1, 1] - K[1, 1]))
                                          for r in trials), default=0.0))
        if c != fixed_camera:
            d = np.max(np.abs(np.stack([r[c].center for r in trials]) - cen), axis=0)
            u.center_cov = u.center_cov + np.diag(d ** 2)
            u.center_model_m = d
    for c in free:
        n = rig[c].name
        log.info("%s intrinsic model: %s (%s)", n, choice[c].label, "; ".join(choice[c].reasons))
    return final, choice


def trial_focal(res: BundleResult, name: str) -> float:
    """The focal length ``fx`` of camera ``name`` in a bundle-adjustment result."""
    return float(res.rig[name].K[0, 0])
