"""Per-view left/right swap correction against the consensus of the other views."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.reconstruct.association import reconstruct_frame
from mocap.reconstruct.swaps import apply_swaps, detect_swaps, fix_swaps
from mocap.reconstruct.triangulation import triangulate
from tests.conftest import make_ring_rig
from tests.reconstruct.test_association import LR_PAIRS, observe, random_centres, random_person


def _scene(seed: int, n_people: int = 3, n_cams: int = 5):
    rng = np.random.default_rng(seed)
    rig = make_ring_rig(n_cams, radius=4.5)
    people = np.stack([random_person(rng, c) for c in random_centres(rng, n_people)])
    uv = rig.project(people) + rng.normal(0, 1.0, (n_cams, n_people, 15, 2))  # (C, P, J, 2)
    conf = rng.uniform(0.6, 1.0, (n_cams, n_people, 15))
    return rig, people, uv, conf


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_injected_swap_is_detected_and_fixed(seed):
    rig, people, uv, conf = _scene(seed)
    swaps = np.zeros(uv.shape[:2] + (len(LR_PAIRS),), dtype=bool)
    swaps[2, 1, [3, 4, 5]] = True  # camera 2 swaps the legs of person 1
    swaps[4, 0, :] = True  # camera 4 sees person 0 mirrored (all pairs)
    bad_uv, bad_conf = apply_swaps(uv, conf, swaps, LR_PAIRS)
    found = detect_swaps(rig, bad_uv, bad_conf, LR_PAIRS)
    np.testing.assert_array_equal(found, swaps)
    fixed_uv, _, _ = fix_swaps(rig, bad_uv, bad_conf, LR_PAIRS)
    np.testing.assert_allclose(fixed_uv, uv)
    # fixing matters: the swapped joints triangulate worse without the fix (the robust triangulation alone
    # cannot drop the swapped view of a pair seen in several cameras)
    err_bad = np.linalg.norm(triangulate(rig, bad_uv, bad_conf, reproj_threshold_px=1e3).X - people, axis=-1)
    err_fix = np.linalg.norm(triangulate(rig, fixed_uv, bad_conf, reproj_threshold_px=1e3).X - people, axis=-1)
    assert err_fix[1, 11:].max() < 0.03 < err_bad[1, 11:].max()


def test_clean_views_are_left_alone():
    rig, _, uv, conf = _scene(5, n_people=4)
    assert not detect_swaps(rig, uv, conf, LR_PAIRS).any()


def test_reconstruct_frame_fixes_swaps_in_the_pipeline():
    rng = np.random.default_rng(11)
    rig = make_ring_rig(5, radius=4.5)
    people = np.stack([random_person(rng, c) for c in random_centres(rng, 2)])
    people2d, truth = observe(rig, people, rng, noise_px=1.0, p_miss_joint=0.0, p_miss_person=0.0, n_false=0)
    row = int(np.flatnonzero(truth[1] == 0)[0])
    perm = np.arange(15)
    for a, b in LR_PAIRS[3:]:
        perm[a], perm[b] = b, a
    people2d[1][row] = people2d[1][row][perm]  # camera 1 swaps person 0's legs
    rec = reconstruct_frame(rig, people2d, lr_pairs=LR_PAIRS)
    k = int(np.argmin(np.linalg.norm(rec.people[:, 0, :3] - people[0, 0], axis=-1)))
    assert rec.swapped[k, 1, 3:].all() and rec.swapped.sum() == 3
    assert np.nanmax(np.linalg.norm(rec.people[k, :, :3] - people[0], axis=-1)) < 0.03


def test_two_views_have_no_consensus():
    rig, _, uv, conf = _scene(0, n_cams=2)
    assert not detect_swaps(rig, uv, conf, LR_PAIRS).any()
