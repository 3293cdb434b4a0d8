"""flip_left_right and skeleton_edges."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.errors import KeypointsError
from mocap.skeletons import flip_left_right, get_joint_set, list_joint_sets, skeleton_edges
from mocap.skeletons.parts import FACE68, FACE_MESH


@pytest.mark.parametrize("name", list_joint_sets())
def test_flip_is_an_involution_that_swaps_sides(name, rng):
    js = get_joint_set(name)
    x = rng.normal(size=(3, len(js), 4))
    f = flip_left_right(x, name)
    np.testing.assert_array_equal(flip_left_right(f, name), x)
    for left, right in js.lr_pairs:
        np.testing.assert_array_equal(f[:, left], x[:, right])
    unpaired = np.setdiff1d(np.arange(len(js)), np.asarray(js.lr_pairs).ravel())
    np.testing.assert_array_equal(f[:, unpaired], x[:, unpaired])


def test_flip_named_joints_and_axis(rng):
    js = get_joint_set("body25")
    x = rng.normal(size=(len(js), 2))
    f = flip_left_right(x, "body25")
    np.testing.assert_array_equal(f[js.index("left_wrist")], x[js.index("right_wrist")])
    np.testing.assert_array_equal(f[js.index("neck")], x[js.index("neck")])
    conf = rng.uniform(size=(5, len(js)))
    np.testing.assert_array_equal(flip_left_right(conf, "body25", axis=-1)[:, js.index("right_heel")],
                                  conf[:, js.index("left_heel")])
    with pytest.raises(KeypointsError, match="body25"):
        flip_left_right(rng.normal(size=(17, 2)), "body25")


@pytest.mark.parametrize("name", list_joint_sets())
def test_edges_are_valid_unique_and_connect_the_body(name):
    js = get_joint_set(name)
    e = skeleton_edges(name)
    assert e.ndim == 2 and e.shape[1] == 2 and e.dtype.kind == "i"
    assert ((e >= 0) & (e < len(js))).all() and (e[:, 0] != e[:, 1]).all()
    assert len({frozenset(p) for p in e.tolist()}) == len(e)
    assert {frozenset(b) for b in js.bones} <= {frozenset(p) for p in e.tolist()}
    # Every joint that is not a face point is reachable from the root through the edges.
    face = set(FACE68[17:]) | set(FACE68[:17]) | set(FACE_MESH)
    body = {i for i, n in enumerate(js.joints) if n not in face or js.parents[i] >= 0}
    adj: dict[int, set[int]] = {}
    for a, b in e.tolist():
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    root = next(r for r in js.roots if r in body)
    seen, todo = {root}, [root]
    while todo:
        for n in adj.get(todo.pop(), ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    assert body <= seen, [js.joints[i] for i in sorted(body - seen)]


def test_face_outline_edges():
    js = get_joint_set("coco_wholebody133")
    e = {frozenset(p) for p in skeleton_edges(js).tolist()}
    assert frozenset((js.index("right_jaw_1"), js.index("right_jaw_2"))) in e
    assert frozenset((js.index("right_eye_lower_outer"), js.index("right_eye_outer"))) in e  # closed eye loop
    assert frozenset((js.index("left_hip"), js.index("right_hip"))) in e
    hol = get_joint_set("mediapipe_holistic")
    assert not any(min(p) >= 75 for p in skeleton_edges(hol).tolist()), "the face mesh has no drawing edges"


@pytest.mark.parametrize("name", list_joint_sets())
def test_edges_are_mirror_symmetric(name):
    """Flipping left and right maps the drawing edges onto themselves (catches mislabelled sided points)."""
    js = get_joint_set(name)
    perm = js.flip_permutation
    edges = {frozenset(p) for p in skeleton_edges(js).tolist()}
    assert {frozenset((int(perm[a]), int(perm[b]))) for a, b in map(tuple, edges)} == edges
