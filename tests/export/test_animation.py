"""Animation container: forward kinematics, axis changes, filling gaps, resampling, BodyMotion conversion."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import DataError
from mocap.export.animation import (
    YUP_TO_ZUP,
    ZUP_TO_YUP,
    Animation,
    change_basis,
    fill_missing,
    from_body_motion,
    resample,
)
from mocap.geometry.rotations import quat_xyzw_to_matrix, rotvec_to_quat_xyzw
from tests.export.helpers import chain_animation


def _naive_fk(anim: Animation) -> np.ndarray:
    """Per-frame, per-joint loop (reference for the vectorised version)."""
    out = np.zeros((anim.n_frames, anim.n_joints, 3))
    for t in range(anim.n_frames):
        G = [None] * anim.n_joints
        for j in range(anim.n_joints):
            L = quat_xyzw_to_matrix(anim.local_rotations[t, j])
            p = anim.parents[j]
            if p < 0:
                G[j], out[t, j] = L, anim.root_translation[t]
            else:
                G[j] = G[p] @ L
                out[t, j] = out[t, p] + G[p] @ anim.offsets[j]
    return out


def test_forward_kinematics_matches_naive(rng):
    anim = chain_animation(rng, T=7, J=9)
    np.testing.assert_allclose(anim.world_positions(), _naive_fk(anim), atol=1e-12)


def test_rest_positions_are_identity_pose(rng):
    anim = chain_animation(rng, T=3, J=5)
    still = anim.copy(local_rotations=np.tile([0, 0, 0, 1.0], (3, 5, 1)),
                      root_translation=np.tile(anim.offsets[0], (3, 1)))
    np.testing.assert_allclose(still.world_positions()[1], still.rest_positions(), atol=1e-12)


def test_change_basis_rotates_world_positions(rng):
    anim = chain_animation(rng)
    y = change_basis(anim, ZUP_TO_YUP, scale=100.0)
    np.testing.assert_allclose(y.world_positions(), 100.0 * anim.world_positions() @ ZUP_TO_YUP.T, atol=1e-9)
    back = change_basis(y, YUP_TO_ZUP, scale=0.01)
    np.testing.assert_allclose(back.world_positions(), anim.world_positions(), atol=1e-12)


def test_fill_missing_interpolates_and_flags(rng):
    anim = chain_animation(rng, T=10)
    holes = anim.copy()
    holes.local_rotations[3:6] = np.nan
    holes.root_translation[0] = np.nan
    filled = fill_missing(holes)
    assert np.isfinite(filled.local_rotations).all() and np.isfinite(filled.root_translation).all()
    assert filled.valid.tolist() == [False, True, True, False, False, False, True, True, True, True]
    np.testing.assert_allclose(filled.root_translation[0], anim.root_translation[1])  # held at the start
    # frame 4 is the slerp midpoint between frames 2 and 6: same angle to both
    R2, R4, R6 = (quat_xyzw_to_matrix(filled.local_rotations[t]) for t in (2, 4, 6))
    a24 = np.arccos(np.clip((np.trace(np.swapaxes(R2, -1, -2) @ R4, axis1=-2, axis2=-1) - 1) / 2, -1, 1))
    a46 = np.arccos(np.clip((np.trace(np.swapaxes(R4, -1, -2) @ R6, axis1=-2, axis2=-1) - 1) / 2, -1, 1))
    np.testing.assert_allclose(a24, a46, atol=1e-9)


def test_fill_missing_all_nan_raises(rng):
    anim = chain_animation(rng, T=4)
    anim.local_rotations[:] = np.nan
    with pytest.raises(DataError, match="no valid frame"):
        fill_missing(anim)


def test_resample_keeps_duration_and_endpoints(rng):
    anim = chain_animation(rng, T=21, fps=50.0)
    r = resample(anim, 25.0)
    assert r.n_frames == 11 and r.fps == 25.0
    np.testing.assert_allclose(r.world_positions()[[0, -1]], anim.world_positions()[[0, -1]], atol=1e-9)
    np.testing.assert_allclose(r.world_positions()[5], anim.world_positions()[10], atol=1e-9)


def test_validation_messages(rng):
    anim = chain_animation(rng)
    with pytest.raises(DataError, match="offsets has shape"):
        Animation(anim.joint_names, anim.parents, anim.offsets[:-1], anim.root_translation, anim.local_rotations, 30)
    with pytest.raises(DataError, match="not unique"):
        Animation(["a"] * anim.n_joints, anim.parents, anim.offsets, anim.root_translation, anim.local_rotations, 30)
    bad = anim.parents.copy()
    bad[2] = 5
    with pytest.raises(DataError, match="parents must come before"):
        Animation(anim.joint_names, bad, anim.offsets, anim.root_translation, anim.local_rotations, 30)


def test_from_body_motion_matches_its_forward_kinematics(rng):
    from mocap.body.motion import BodyMotion

    T, J = 6, 5
    parents = np.array([-1, 0, 1, 1, 3])
    rest = rng.normal(scale=0.2, size=(J, 3))
    q = rotvec_to_quat_xyzw(rng.normal(scale=0.5, size=(T, J, 3)))
    motion = BodyMotion(model="smplx", joint_names=[f"b{j}" for j in range(J)], parents=parents, rest_offsets=rest,
                        shape=np.zeros(10), root_translation=rng.normal(size=(T, 3)), root_orientation=q[:, 0],
                        local_rotations=q, fps=30.0)
    anim = from_body_motion(motion)
    np.testing.assert_allclose(anim.world_positions(), motion.world_joints(), atol=1e-12)
    assert anim.meta["model"] == "smplx"
