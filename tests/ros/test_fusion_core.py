"""The fusion node's ROS-free logic: triangulation through the library, missing cameras, wrong joint counts."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.reconstruct import triangulate
from tests.ros.conftest import import_pure

fusion_core = import_pure("fusion_core")


@pytest.fixture(scope="module")
def capture(shared_data):
    from mocap.synthetic import make_capture

    return make_capture(shared_data / "bvh" / "131_01.bvh", n_cameras=4, frame_step=4, max_frames=10)


def _frames(kp2d, i, drop=()):
    return {c: (None if c in drop else kp2d.data[i, k]) for k, c in enumerate(kp2d.camera_names)}


def test_matches_library_triangulation_and_missing_camera(capture):
    rig, kp2d, gt = capture
    core = fusion_core.FusionCore(rig, "coco17", filter="none", use_prior=False)
    for i in range(3):
        res = core.process(float(kp2d.timestamps[i]), _frames(kp2d, i))
        ref = triangulate(rig, kp2d.data[i, :, 0, :, :2], kp2d.data[i, :, 0, :, 2]).X
        assert len(res.skeletons) == 1 and res.joint_set == "coco17"
        np.testing.assert_allclose(res.skeletons[0].X, ref, atol=1e-9)
        err = np.nanmedian(np.linalg.norm(res.skeletons[0].X - gt[i, 0], axis=1))
        assert err < 0.05  # 2 px noise: centimetres from the BVH truth
    # one camera missing: the other three still give a skeleton
    res = core.process(float(kp2d.timestamps[3]), _frames(kp2d, 3, drop=("cam02",)))
    ref = triangulate(rig.subset(["cam01", "cam03", "cam04"]), kp2d.data[3, [0, 2, 3], 0, :, :2],
                      kp2d.data[3, [0, 2, 3], 0, :, 2]).X
    np.testing.assert_allclose(res.skeletons[0].X, ref, atol=1e-9)
    # all cameras missing: no skeleton, no exception
    assert core.process(float(kp2d.timestamps[4]), _frames(kp2d, 4, drop=tuple(rig.names))).skeletons == []


def test_wrong_joint_count_is_reported(capture):
    rig, kp2d, _ = capture
    core = fusion_core.FusionCore(rig, "coco17")
    assert core.check_frame("cam01", kp2d.data[0, 0]) is None
    msg = core.check_frame("cam01", np.zeros((1, 33, 3)))
    assert msg and "33 joints" in msg and "coco17 has 17" in msg and "cam01" in msg


def test_filter_smooths_and_reset(capture):
    rig, kp2d, _ = capture
    core = fusion_core.FusionCore(rig, "coco17", filter="one_euro")
    a = [core.process(float(kp2d.timestamps[i]), _frames(kp2d, i)).skeletons[0].X for i in range(5)]
    raw = [triangulate(rig, kp2d.data[i, :, 0, :, :2], kp2d.data[i, :, 0, :, 2]).X for i in range(5)]
    assert not np.allclose(a[-1], raw[-1])  # filtered output differs from the raw frame
    core.reset()
    first = core.process(float(kp2d.timestamps[0]), _frames(kp2d, 0)).skeletons[0].X
    np.testing.assert_allclose(first, raw[0], atol=1e-6)  # a reset filter passes the first frame through
