"""numpy <-> message conversions (needs the built workspace)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ros.conftest import needs_ros

pytestmark = [pytest.mark.ros, needs_ros]


def test_keypoints_round_trip_keeps_nan_and_float32():
    from mocap_ros import convert

    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 1000, (2, 17, 3))
    kp[0, 3] = np.nan
    msg = convert.keypoints_to_msg(kp, "cam01", "coco17", [f"j{i}" for i in range(17)], 12.3456789, (1280, 720), 7)
    assert msg.header.stamp.sec == 12 and abs(msg.header.stamp.nanosec - 345678900) <= 1
    assert msg.camera_name == "cam01" and msg.frame_index == 7 and msg.image_width == 1280
    back = convert.msg_to_keypoints(msg)
    np.testing.assert_allclose(back, kp.astype(np.float32), equal_nan=True)
    msg.people[1].u = msg.people[1].u[:5]
    with pytest.raises(ValueError, match="person 1 has 5"):
        convert.msg_to_keypoints(msg)


def test_skeleton_and_camera_info():
    from mocap_ros import convert
    from mocap.skeletons.orientations import joint_orientations

    from mocap.cameras import Camera

    par = np.array([-1, 0, 1, 0])
    X = np.array([[0, 0, 1.0], [0.3, 0, 1.0], [0.3, 0, 0.5], [np.nan] * 3])
    g, loc = joint_orientations(X, par)
    msg = convert.skeleton_msg(3, ["a", "b", "c", "d"], par, X, np.array([0.9, 0.8, 0.7, 0.5]), g, loc, 5.0,
                               "world", "anny", np.arange(3.0), X[0])
    X2, conf, g2, l2 = convert.skeleton_to_arrays(msg)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_allclose(conf, [0.9, 0.8, 0.7, 0.0], atol=1e-6)  # missing joint -> confidence 0
    np.testing.assert_allclose(g2, g)
    assert list(msg.parents) == [-1, 0, 1, 0] and msg.body_model == "anny" and msg.root_translation.z == 1.0
    tfs = convert.transforms(3, ["a", "b", "c", "d"], X, g, 5.0, "world")
    assert [t.child_frame_id for t in tfs] == ["mocap/person_3/a", "mocap/person_3/b", "mocap/person_3/c"]
    cam = Camera("cam01", (640, 480), np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]]),
                 np.array([0.1, -0.01, 0, 0, 0.001]))
    info = convert.camera_info_msg(cam, 1.0)
    assert info.distortion_model == "plumb_bob" and info.width == 640 and info.k[0] == 500.0
    assert list(info.d) == pytest.approx([0.1, -0.01, 0, 0, 0.001])
