"""Bone-length estimation, stability and constraint."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.reconstruct.bones import (
    RunningBoneLengths,
    bone_length_stability,
    bones_of,
    constrain_bone_lengths,
    estimate_bone_lengths,
    rigid_bones,
)
from mocap.skeletons import get_joint_set


def _chain_motion(rng, T=200):
    """A 4-joint chain (lengths 0.4, 0.3, 0.25) waving around: (T, 1, 4, 3) and the lengths."""
    lengths = np.array([0.4, 0.3, 0.25])
    ang = np.cumsum(rng.normal(0, 0.05, (T, 3, 2)), axis=0)
    X = np.zeros((T, 4, 3))
    for k in range(3):
        th, ph = ang[:, k, 0], ang[:, k, 1]
        d = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], -1)
        X[:, k + 1] = X[:, k] + lengths[k] * d
    return X[:, None], lengths


def test_bones_of_forms():
    assert bones_of([-1, 0, 1, 1]) == [(0, 1), (1, 2), (1, 3)]
    assert bones_of([(0, 1), (1, 2)]) == [(0, 1), (1, 2)]
    b = bones_of("coco17")
    assert len(b) == 16 and (13, 15) in b


def test_estimate_and_constrain(rng):
    X, lengths = _chain_motion(rng)
    bones = bones_of([-1, 0, 1, 2])
    noisy = X + rng.normal(0, 0.01, X.shape)
    noisy[5, 0, 2] = np.nan
    conf = np.ones(noisy.shape[:3])
    conf[7] = 0.1  # ignored frames
    L = estimate_bone_lengths(noisy, bones, conf, min_conf=0.5)
    assert L.shape == (1, 3)
    np.testing.assert_allclose(L[0], lengths, atol=0.005)
    before = bone_length_stability(noisy, bones)
    fixed = constrain_bone_lengths(noisy, L, bones, conf)
    after = bone_length_stability(fixed, bones)
    ok = np.isfinite(fixed).all(-1).all(-1)[:, 0]
    got = np.linalg.norm(np.diff(fixed[ok, 0], axis=1), axis=-1)
    np.testing.assert_allclose(got, np.broadcast_to(L[0], got.shape), atol=1e-4)
    assert after.summary()["std_mm"] < 0.05 * before.summary()["std_mm"]
    assert np.isnan(fixed[5, 0, 2]).all()  # missing joints stay missing
    # constraining moves joints towards the truth, not away from it
    err = lambda a: np.nanmean(np.linalg.norm(a - X, axis=-1))  # noqa: E731
    assert err(fixed) < err(noisy)


def test_constrain_accepts_single_person_layout(rng):
    X, lengths = _chain_motion(rng, T=20)
    out = constrain_bone_lengths(X[:, 0] * 1.1, lengths, [(0, 1), (1, 2), (2, 3)])
    assert out.shape == (20, 4, 3)
    np.testing.assert_allclose(np.linalg.norm(np.diff(out, axis=1), axis=-1), np.broadcast_to(lengths, (20, 3)),
                               atol=1e-4)


def test_rigid_bones_exclude_neck_and_trunk_links():
    js = get_joint_set("coco17")
    named = {(js.joints[a], js.joints[b]) for a, b in rigid_bones("coco17")}
    assert ("left_knee", "left_ankle") in named and ("right_elbow", "right_wrist") in named
    assert ("nose", "left_shoulder") not in named and ("left_shoulder", "left_hip") not in named
    assert len(named) == 12
    b25 = get_joint_set("body25")
    named25 = {(b25.joints[a], b25.joints[b]) for a, b in rigid_bones(b25)}
    assert ("left_ankle", "left_heel") in named25 and not any("neck" in a or "neck" in b for a, b in named25)


def test_bone_deviation_and_inconsistent_joints(rng):
    from mocap.reconstruct.bones import bone_deviation, inconsistent_joints

    X, lengths = _chain_motion(rng, T=30)  # chain 0-1-2-3
    bones = [(0, 1), (1, 2), (2, 3)]
    bad = X.copy()
    bad[5, 0, 3] += [0.3, 0.0, 0.0]  # a wrong distal joint: only its own bone breaks
    bad[9, 0, 1] += [0.0, 0.4, 0.0]  # a wrong middle joint: both of its bones break
    bad[12, 0, 2:] += [0.0, 0.0, 0.5]  # a wrong distal segment (2 and 3 together): only bone 1-2 breaks
    dev = bone_deviation(bad, lengths, bones)
    assert dev.shape == (30, 1, 3)
    assert np.nanmax(bone_deviation(X, lengths, bones)) < 1e-9
    assert dev[5, 0, 2] > 1 and (dev[5, 0, :2] < 1e-9).all()
    flag = inconsistent_joints(bad, lengths, bones)
    assert flag.shape == (30, 1, 4)
    assert np.flatnonzero(flag[5, 0]).tolist() == [3]
    assert np.flatnonzero(flag[9, 0]).tolist() == [1]  # not its neighbours 0 and 2
    assert np.flatnonzero(flag[12, 0]).tolist() == [2]  # the proximal end of the broken segment's run
    assert flag.sum() == 3
    # tolerance: max(25 %, 5 cm): a 4 cm error on a 0.25 m bone is within it, 7 cm is not
    small = X.copy()
    small[3, 0, 3] += 0.04 * (X[3, 0, 3] - X[3, 0, 2]) / 0.25
    small[4, 0, 3] += 0.07 * (X[4, 0, 3] - X[4, 0, 2]) / 0.25
    f2 = inconsistent_joints(small[:, 0], lengths, bones)  # (T, J, 3) layout
    assert f2.shape == (30, 4) and not f2[3].any() and f2[4, 3]


def test_running_bone_lengths_is_a_causal_windowed_median(rng):
    X, lengths = _chain_motion(rng, T=80)
    X = X[:, 0] + rng.normal(0, 0.01, (80, 4, 3))
    conf = np.full((80, 4), 0.9)
    conf[::7, 2] = 0.2  # joint 2 unsure every 7th frame: its two bones skip those frames
    bones = [(0, 1), (1, 2), (2, 3)]
    rb = RunningBoneLengths(bones, window=30, min_samples=5)
    per_frame = np.linalg.norm(X[:, [1, 2, 3]] - X[:, [0, 1, 2]], axis=-1)  # (T, 3)
    for t in range(80):
        out = rb.update(X[t], conf[t])
        for k, (a, c) in enumerate(bones):
            ok = (conf[: t + 1, a] >= 0.5) & (conf[: t + 1, c] >= 0.5)
            seen = per_frame[: t + 1, k][ok][-30:]  # only the past, the last `window` confident samples
            if seen.size < 5:
                assert np.isnan(out[k])
            else:
                assert out[k] == pytest.approx(np.median(seen), abs=1e-12)
    np.testing.assert_allclose(rb.lengths, lengths, atol=0.01)
    rb.update(np.full((4, 3), np.nan))  # missing joints change nothing
    np.testing.assert_array_equal(rb.lengths, out)
    rb.reset()
    assert np.isnan(rb.lengths).all()
