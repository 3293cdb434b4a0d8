"""Refining a rig from the people it films, refusals, and the bumped-camera detector (synthetic CMU captures)."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

from mocap.calibration.refine import (
    DriftMonitor,
    RefineRefused,
    camera_drift,
    person_height_m,
    refine_from_keypoints,
    similarity,
)
from mocap.geometry.rotations import rotvec_to_matrix
from mocap.keypoints import Keypoints2D

BVH = "bvh/131_01.bvh"


def perturb(rig, deg: float = 2.0, metres: float = 0.05, seed: int = 0):
    """Every camera turned by ``deg`` about a random axis and moved by ``metres`` in a random direction."""
    rng = np.random.default_rng(seed)
    out = rig.copy()
    for c in out.cameras:
        a, d = rng.normal(size=3), rng.normal(size=3)
        centre = c.center + metres * d / np.linalg.norm(d)
        c.R = rotvec_to_matrix(np.radians(deg) * a / np.linalg.norm(a)) @ c.R
        c.t = -c.R @ centre
    return out


@functools.lru_cache(maxsize=2)
def _capture(data: str, n_cameras: int = 5):
    from mocap.synthetic.capture import make_capture

    return make_capture(data, n_cameras=n_cameras, noise_px=2.0, outlier_rate=0.05, dropout_rate=0.05, seed=1,
                        frame_step=4)


def mpjpe_mm(rig, kp, gt) -> tuple[float, float]:
    """MPJPE in the world frame and after one rigid alignment of the whole clip (the world frame's pose is not
    observable from people), millimetres."""
    from mocap.reconstruct.sequence import triangulate_keypoints

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = triangulate_keypoints(rig, kp).xyz
    ok = np.isfinite(X).all(-1)
    _, R, t = similarity(X[ok], gt[ok], with_scale=False)
    return (1000 * float(np.linalg.norm(X[ok] - gt[ok], axis=-1).mean()),
            1000 * float(np.linalg.norm(X[ok] @ R.T + t - gt[ok], axis=-1).mean()))


@pytest.mark.slow
def test_refinement_restores_mpjpe(shared_data):
    rig, kp, gt = _capture(str(shared_data / BVH))
    bad = perturb(rig)
    _, true_mm = mpjpe_mm(rig, kp, gt)
    _, bad_mm = mpjpe_mm(bad, kp, gt)
    res = refine_from_keypoints(bad, kp)
    world_mm, fixed_mm = mpjpe_mm(res.rig, kp, gt)
    assert bad_mm > 3 * true_mm  # the perturbation matters (robust triangulation already hides part of it)
    assert fixed_mm <= 1.10 * true_mm, (true_mm, bad_mm, fixed_mm, world_mm)
    assert res.mean_after_px < 0.7 * res.mean_before_px and res.evaluated_on == "frames not used for the fit"
    assert all(1.0 < res.rotation_change_deg[n] < 3.0 for n in rig.names)
    # scale kept from the calibration: camera distances as the truth's within 1 %
    d_true = np.linalg.norm(rig.centers[:, None] - rig.centers[None], axis=-1)
    d_new = np.linalg.norm(res.rig.centers[:, None] - res.rig.centers[None], axis=-1)
    assert abs(d_new.sum() / d_true.sum() - 1) < 0.01
    lines = res.lines()
    assert lines[0].startswith("reprojection error (frames not used for the fit):")
    assert all(any(ln.strip().startswith(f"{n}:") and "moved" in ln and "turned" in ln for ln in lines)
               for n in rig.names)


@pytest.mark.slow
def test_scale_from_known_height(shared_data):
    from mocap.synthetic.capture import COCO17

    rig, kp, gt = _capture(str(shared_data / BVH))
    big = perturb(rig, 1.0, 0.02, seed=3).transformed(scale=1.2)  # a calibration 20 % too large
    height = person_height_m(gt[:, 0], list(COCO17))
    res = refine_from_keypoints(big, kp, height=height)
    d_true = np.linalg.norm(rig.centers[:, None] - rig.centers[None], axis=-1).sum()
    d_new = np.linalg.norm(res.rig.centers[:, None] - res.rig.centers[None], axis=-1).sum()
    assert abs(d_new / d_true - 1) < 0.02 and "stated height" in res.scale


def test_refuses_static_person_and_too_few_frames(shared_data):
    rig, kp, gt = _capture(str(shared_data / BVH), 4)
    still = kp.data.copy()
    still[:] = kp.data[40]  # the same pose in every frame: nothing moves
    with pytest.raises(RefineRefused, match=r"barely move.*centre spans 0\.00 m"):
        refine_from_keypoints(rig, Keypoints2D(still, "coco17", kp.camera_names, fps=kp.fps))
    with pytest.raises(RefineRefused, match=r"only 12 frames have a person seen by 2\+ cameras"):
        refine_from_keypoints(rig, kp.frames(slice(0, 12)))


def _bumped(shared_data, camera: int = 2, at: int = 150):
    from mocap.synthetic.capture import bvh_markers, corrupt_2d, ring_rig

    gt, fps = bvh_markers(shared_data / BVH, frame_step=4)
    rig = ring_rig(gt, 5, seed=3)
    moved = rig.copy()
    c = moved.cameras[camera]
    centre = c.center + np.array([0.03, 0.0, 0.0])
    c.R = rotvec_to_matrix(np.radians([0.0, 1.5, 0.0])) @ c.R
    c.t = -c.R @ centre
    exact = np.moveaxis(rig.project(gt), 0, 1)
    exact[at:] = np.moveaxis(moved.project(gt[at:]), 0, 1)
    uv, conf = corrupt_2d(exact, (1280, 720), 2.0, 0.05, 0.05, np.random.default_rng(0))
    return rig, Keypoints2D(np.concatenate([uv, conf[..., None]], -1)[:, :, None], "coco17", rig.names, fps=fps), \
        at / fps


def test_bumped_camera_named_within_one_second(shared_data):
    rig, kp, t_bump = _bumped(shared_data)
    series, events = camera_drift(rig, kp)
    assert series.shape == (kp.n_frames, 5)
    assert [e.camera for e in events] == ["cam03"], [e.message() for e in events]
    e = events[0]
    assert t_bump <= e.detected_s <= t_bump + 1.0 and abs(e.changed_s - t_bump) <= 1.0
    assert e.after_px > 5 * e.before_px and "cam03 moved at" in e.message()


def test_no_drift_on_a_steady_rig(shared_data):
    rig, kp, _ = _capture(str(shared_data / BVH))
    _, events = camera_drift(rig, kp)
    assert events == []


def test_drift_monitor_online():
    mon = DriftMonitor(["a", "b"], fps=30.0, window_s=0.2, baseline_s=1.0)
    rng = np.random.default_rng(0)
    events = []
    for i in range(90):
        events += [(i, e) for e in mon.step(np.array([2.0, 2.0 if i < 60 else 20.0]) + rng.normal(0, 0.2, 2))]
    assert len(events) == 1 and events[0][1].camera == "b" and 60 <= events[0][0] <= 66
